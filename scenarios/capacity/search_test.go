package capacity_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/camstorm/camstorm/scenarios/cameras"
	"github.com/camstorm/camstorm/scenarios/capacity"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/stack/stacktest"
)

func TestSearchAgainstEmbeddedStack(t *testing.T) {
	st, err := stacktest.Start(context.Background())
	if err != nil {
		t.Fatalf("starting the stack: %v", err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	hc := st.HTTPClient()
	t.Cleanup(hc.CloseIdleConnections)
	tg := simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Credentials: st.AdminCredentials(), Region: st.Region}

	slo, err := capacity.ParseSLO("persisted_p99<10s,error_rate<1%,lost<=0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := capacity.Config{
		Cameras: cameras.Config{Target: tg, Seed: 1},
		SLO:     slo, Start: 1, Step: 1, Max: 3, Warmup: 2 * time.Second, Hold: 2 * time.Second, Drain: 3 * time.Second,
	}
	var seen []capacity.Step
	began := time.Now()
	got, err := capacity.Search(context.Background(), cfg, func(s capacity.Step) { seen = append(seen, s) })
	if err != nil {
		t.Fatalf("Search(%+v) error %v", cfg, err)
	}
	if len(got.Steps) != 3 || len(seen) != 3 {
		t.Fatalf("Search steps %+v (progress saw %d), want 3: 1, 2, 3 cameras", got.Steps, len(seen))
	}
	for i, s := range got.Steps {
		if s.Cameras != i+1 || !s.OK || s.Throughput <= 0 || s.PersistedP99 <= 0 {
			t.Errorf("step %d = %+v, want %d cameras meeting the SLO with PERSISTED ACKs", i, s, i+1)
		}
	}
	if got.Sustainable != 3 || got.Stop != capacity.StopMaxReached || got.SLO != slo.String() {
		t.Errorf("Search = sustainable %d, stop %q, slo %q; want 3, %q, %q", got.Sustainable, got.Stop, got.SLO, capacity.StopMaxReached, slo.String())
	}
	if got.USL == nil {
		t.Errorf("Search gave no USL fit for %+v", got.Steps)
	}
	// Bounded: 3 × (warm-up + hold) + drain, with slack for read-back.
	if d := time.Since(began); d > 3*4*time.Second+3*time.Second+20*time.Second {
		t.Errorf("Search took %v, want it bounded by steps × (warm-up + hold) + drain", d)
	}
}

func TestSearchStopsAtFirstBrokenStep(t *testing.T) {
	// An SLO no real ingest meets: the first step breaks it.
	st, err := stacktest.Start(context.Background())
	if err != nil {
		t.Fatalf("starting the stack: %v", err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	hc := st.HTTPClient()
	t.Cleanup(hc.CloseIdleConnections)
	tg := simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Credentials: st.AdminCredentials(), Region: st.Region}
	slo, _ := capacity.ParseSLO("persisted_p99<1ms")
	cfg := capacity.Config{Cameras: cameras.Config{Target: tg}, SLO: slo, Start: 1, Step: 1, Max: 5,
		Warmup: time.Second, Hold: time.Second, Drain: 2 * time.Second}
	got, err := capacity.Search(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Search error %v", err)
	}
	if len(got.Steps) != 1 || got.Steps[0].OK || got.Sustainable != 0 || got.Stop != capacity.StopSLOBroken {
		t.Errorf("Search(%s) = %+v, want one failing step, sustainable 0, stop %q", slo, got, capacity.StopSLOBroken)
	}
}

func TestSearchRejectsBadConfig(t *testing.T) {
	cfg := capacity.Config{Start: -1, Step: -1, Max: -5, Hold: time.Millisecond}
	_, err := capacity.Search(context.Background(), cfg, nil)
	if !errors.Is(err, capacity.ErrInvalidConfig) {
		t.Fatalf("Search(%+v) error %v, want ErrInvalidConfig", cfg, err)
	}
	for _, want := range []string{"no terms", "Start", "Step", "Max", "Hold"} {
		if !contains(err.Error(), want) {
			t.Errorf("Search(%+v) error %q, want it to mention %q", cfg, err, want)
		}
	}
}

func TestSearchCancelled(t *testing.T) {
	slo, _ := capacity.ParseSLO("persisted_p99<2s")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := capacity.Config{Cameras: cameras.Config{Target: simulator.Target{ControlPlaneURL: "https://127.0.0.1:1", HTTP: &http0}},
		SLO: slo, Start: 1, Step: 1, Max: 2, Hold: time.Second}
	got, err := capacity.Search(ctx, cfg, nil)
	if !errors.Is(err, context.Canceled) || got == nil || got.Stop != capacity.StopCancelled {
		t.Fatalf("Search(cancelled) = %+v, %v; want stop %q and context.Canceled", got, err, capacity.StopCancelled)
	}
}

var http0 = http.Client{}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
