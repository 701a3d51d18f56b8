package main

import (
	"context"
	"fmt"
	"log/slog"

	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/containers"
)

// startContainers starts the stack in containers mode for a command (of
// o, what StartContainers honours), logging the build and start progress.
func startContainers(ctx context.Context, log *slog.Logger, o stack.Options) (*stack.Stack, error) {
	if err := containers.DisableReaper(); err != nil {
		return nil, err
	}
	// testcontainers' own banner (the Docker engine's details) is noise on
	// a CLI's stderr; the stack's progress lines say what matters.
	tclog.SetDefault(tclog.NewNoopLogger())
	return stack.StartContainers(ctx, o, stack.ContainersOptions{
		Image: containers.ImageOptions{PreferExecutable: true},
		Logf:  func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) },
	})
}
