package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/containers"
)

// startContainers starts the stack in containers mode for a command,
// logging the build and start progress.
func startContainers(ctx context.Context, log *slog.Logger) (*stack.Stack, error) {
	if err := containers.DisableReaper(); err != nil {
		return nil, err
	}
	return stack.StartContainers(ctx, stack.Options{}, stack.ContainersOptions{
		Image: containers.ImageOptions{PreferExecutable: true},
		Logf:  func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) },
	})
}
