package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "camstorm",
		Short: "Load and conformance harness for encrypted video ingest (Kinesis Video Streams style)",
		Long: `camstorm streams simulated cameras into a KVS-compatible ingest and proves what
comes back. It bundles a reference stack (ingest over TLS with durable storage)
that every command starts in-process unless told otherwise.

Start with:
  camstorm fleet                 100 cameras for a minute, then every stream read back and verified
  camstorm stack up              run the reference stack for your own clients
  camstorm bench ingest          measure the ingest against a raw disk baseline`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w: %v (see %s --help)", errUsage, err, c.CommandPath())
	})
	root.AddCommand(newStackCommand(), newBenchCommand(), newFleetCommand())
	root.AddCommand(newDeviceCommand())
	root.AddCommand(newAuditCommand())
	root.AddCommand(newDeviceCheckCommand())
	root.AddCommand(newConformCommand())
	root.AddCommand(newRunCommand(), newResultsCommand())
	root.AddCommand(newReportCommand())
	root.AddCommand(newCapacityCommand())
	return root
}

// stderrLogger logs human-readable lines to stderr; stdout is for results.
func stderrLogger(verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func usageArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%w: %s takes %d arguments, got %d (see %s --help)", errUsage, cmd.Name(), n, len(args), cmd.CommandPath())
		}
		return nil
	}
}
