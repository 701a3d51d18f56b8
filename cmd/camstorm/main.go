// Command camstorm is the load-testing and conformance harness for encrypted
// video ingest. Each subcommand is a thin layer over a Go API; this package is
// the only one that reads flags, prints, handles signals and exits.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCommand().ExecuteContext(ctx)
	if err != nil && !errors.Is(err, errSilent) {
		fmt.Fprintln(os.Stderr, "camstorm:", err)
	}
	os.Exit(exitCode(err))
}
