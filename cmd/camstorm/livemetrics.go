package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/camstorm/camstorm/results/live"
	"github.com/camstorm/camstorm/simulator/fleet"
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

// fleetProgress maps a fleet snapshot onto the names camstorm run's
// samples have, so the same dashboard shows both; nil does nothing.
func (l *liveMetrics) fleetProgress(p fleet.Progress) {
	if l == nil {
		return
	}
	streaming := float64(p.Streaming)
	if p.Phase != fleet.PhaseStreaming {
		streaming = 0
	}
	// Names and labels are constants, so these cannot fail.
	_ = l.exp.SetGauge("camstorm_cameras", map[string]string{"state": "streaming"}, streaming)
	_ = l.exp.SetGauge("camstorm_cameras", map[string]string{"state": "finished"}, float64(p.Finished))
	_ = l.exp.SetGauge("camstorm_fleet_streams_verified", nil, float64(p.Verified))
	_ = l.exp.SetCounter("camstorm_camera_fragments_persisted_total", nil, float64(p.Persisted))
	_ = l.exp.SetCounter("camstorm_camera_ack_errors_total", nil, float64(p.Errors))
	_ = l.exp.SetCounter("camstorm_camera_reconnects_total", nil, float64(p.Reconnects))
}
