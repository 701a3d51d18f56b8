package main

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/camstorm/camstorm/results/live"
	"github.com/camstorm/camstorm/simulator/fleet"
)

func TestMetricsAddrFlag(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"run", "../../scenarios/smoke.js", "-e", "DURATION=2s", "--metrics-addr", "127.0.0.1:0"}, exitOK, "camstorm run: Prometheus metrics at http://127.0.0.1:"},
		{[]string{"fleet", "--cameras", "2", "--duration", "2s", "--mix", "synthetic=1", "--metrics-addr", "127.0.0.1:0"}, exitOK, "camstorm fleet: Prometheus metrics at http://127.0.0.1:"},
		{[]string{"fleet", "--cameras", "1", "--duration", "1s", "--metrics-addr", taken.Addr().String()}, exitFailure, "--metrics-addr: live: listening for /metrics on " + taken.Addr().String()},
	} {
		_, stderr, code := runCamstorm(t, tc.args...)
		if code != tc.wantCode || !strings.Contains(stderr, tc.want) {
			t.Errorf("camstorm %s: exit %d, want %d, and stderr with %q; stderr:\n%s", strings.Join(tc.args, " "), code, tc.wantCode, tc.want, stderr)
		}
	}
}

func TestFleetProgressAsMetrics(t *testing.T) {
	reg := live.NewRegistry()
	exp, err := live.NewExporter(reg, live.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lm := &liveMetrics{exp: exp}
	var none *liveMetrics
	none.fleetProgress(fleet.Progress{Streaming: 1}) // nil: no --metrics-addr
	for _, p := range []fleet.Progress{
		{Phase: fleet.PhaseStreaming, Streaming: 3, Persisted: 10, Errors: 1, Reconnects: 2},
		{Phase: fleet.PhaseVerifying, Streaming: 3, Finished: 3, Persisted: 12, Errors: 1, Reconnects: 2, Verified: 2},
	} {
		lm.fleetProgress(p)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "camstorm_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			got = append(got, fmt.Sprintf("%s{%s} %g", mf.GetName(), strings.Join(ls, ","), v))
		}
	}
	slices.Sort(got)
	want := []string{
		"camstorm_camera_ack_errors_total{} 1",
		"camstorm_camera_fragments_persisted_total{} 12",
		"camstorm_camera_reconnects_total{} 2",
		"camstorm_cameras{state=finished} 3",
		"camstorm_cameras{state=streaming} 0",
		"camstorm_exporter_dropped_series_total{} 0",
		"camstorm_fleet_streams_verified{} 2",
	}
	if !slices.Equal(got, want) {
		t.Errorf("after a streaming then a verifying snapshot:\n got %q\nwant %q", got, want)
	}
}
