package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/camstorm/camstorm/results/live"
)

// liveMetrics serves a command's metrics at /metrics while it runs
// (--metrics-addr).
type liveMetrics struct {
	exp *live.Exporter
	srv *live.Server
}

// startLiveMetrics starts the exporter and its server on addr and says
// where to scrape on stderr.
func startLiveMetrics(addr, command string, stderr io.Writer) (*liveMetrics, error) {
	reg := live.NewRegistry()
	exp, err := live.NewExporter(reg, live.Options{})
	if err != nil {
		return nil, err
	}
	srv, err := live.Serve(addr, reg)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	fmt.Fprintf(stderr, "camstorm %s: Prometheus metrics at %s\n", command, srv.URL)
	return &liveMetrics{exp: exp, srv: srv}, nil
}

// close stops the server, giving a scrape in flight a moment to finish.
func (l *liveMetrics) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = l.srv.Close(ctx)
}
