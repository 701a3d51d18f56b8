package stack

import (
	"context"

	"github.com/camstorm/camstorm/stack/containers"
)

// RunOption configures Run.
type RunOption func(*runConfig)

type runConfig struct {
	opts       Options
	containers bool
	co         ContainersOptions
}

// WithContainers runs the stack as Docker containers of camstorm's own
// image instead of in this process; it needs a Docker engine.
func WithContainers() RunOption { return func(c *runConfig) { c.containers = true } }

// WithOptions sets the embedded stack's options (data directory, clocks,
// ingest settings). In containers mode only Hosts applies.
func WithOptions(o Options) RunOption { return func(c *runConfig) { c.opts = o } }

// WithLogf sends the stack's log lines (and, in containers mode, the image
// build and container start progress) to logf.
func WithLogf(logf func(format string, args ...any)) RunOption {
	return func(c *runConfig) { c.opts.Ingest.Logf, c.co.Logf = logf, logf }
}

// Run starts the reference stack in the testcontainers style: embedded by
// default, or as containers with WithContainers. The returned Stack
// carries the endpoints and credentials (Endpoints), clients that trust
// its CA (HTTPClient, AdminClient, AssumeRole), and Terminate. In
// containers mode Run turns testcontainers' reaper off first
// (containers.DisableReaper): it is an image, and the stack pulls none.
func Run(ctx context.Context, opts ...RunOption) (*Stack, error) {
	var c runConfig
	for _, o := range opts {
		o(&c)
	}
	if !c.containers {
		return StartEmbedded(ctx, c.opts)
	}
	if err := containers.DisableReaper(); err != nil {
		return nil, err
	}
	return StartContainers(ctx, c.opts, c.co)
}

// Terminate stops the stack and removes what it made: its temporary data
// directory, and in containers mode every container, volume and network.
func (s *Stack) Terminate(ctx context.Context) error { return s.Close(ctx) }
