package main

import (
	"context"
	"errors"
)

// Exit codes. One table, so scripts and CI can rely on them.
const (
	exitOK          = 0
	exitFailure     = 1   // the harness could not do its job (bad environment, I/O, stack failed)
	exitUsage       = 2   // wrong flags or arguments
	exitVerifyFail  = 3   // the target under test failed: data lost or corrupted, cameras failed
	exitInterrupted = 130 // stopped by SIGINT/SIGTERM before finishing
)

var (
	// errUsage marks errors in how the command was called.
	errUsage = errors.New("usage")
	// errVerificationFailed marks a run whose target failed verification
	// (as opposed to the harness failing).
	errVerificationFailed = errors.New("verification failed")
	// errSilent marks errors already reported to the user.
	errSilent = errors.New("already reported")
)

func exitCode(err error) int {
	var coded *codedError
	switch {
	case errors.As(err, &coded):
		return coded.code
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.Is(err, errVerificationFailed):
		return exitVerifyFail
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	default:
		return exitFailure
	}
}
