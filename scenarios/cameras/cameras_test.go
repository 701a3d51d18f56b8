package cameras_test

import (
	"context"
	"net/http"

	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/scenarios/cameras"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/stack/stacktest"
)

// target starts the reference stack in-process and returns it as a target.
func target(t *testing.T) simulator.Target {
	t.Helper()
	st, err := stacktest.Start(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	hc := st.HTTPClient()
	t.Cleanup(hc.CloseIdleConnections)
	return simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Credentials: st.AdminCredentials(), Region: st.Region}
}

// collector keeps every emitted sample.
type collector struct {
	mu      sync.Mutex
	samples []results.Sample
}

func (c *collector) emit(s ...results.Sample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.samples = append(c.samples, s...)
}

// matching returns the samples of metric whose tags include want.
func (c *collector) matching(metric string, want map[string]string) []results.Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []results.Sample
next:
	for _, s := range c.samples {
		if s.Metric.Name != metric {
			continue
		}
		for k, v := range want {
			if s.Tags[k] != v {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

func (c *collector) sum(metric string, want map[string]string) float64 {
	var total float64
	for _, s := range c.matching(metric, want) {
		total += s.Value
	}
	return total
}

// small is a cheap, quick camera configuration.
func small(tg simulator.Target, prefix string, profiles fleet.Weights) cameras.Config {
	return cameras.Config{
		Target: tg, StreamPrefix: prefix, Seed: 3,
		Mix:       fleet.Weights{{Name: fleet.KindSynthetic, Weight: 1}},
		Profiles:  profiles,
		Synthetic: media.SyntheticConfig{BitrateBps: 128_000, FPS: 15, GOP: time.Second, Width: 320, Height: 240},
		Camera:    fleet.CameraTuning{FinalAckTimeout: 10 * time.Second, DrainTimeout: 10 * time.Second},
	}
}

// indices finds n indices of each profile, in order.
func indices(f *cameras.Fleet, n map[string]int) []int64 {
	var out []int64
	for i := int64(0); len(n) > 0; i++ {
		p := f.Identity(i).Profile
		if n[p] > 0 {
			out = append(out, i)
			if n[p]--; n[p] == 0 {
				delete(n, p)
			}
		}
	}
	return out
}

func stopAll(t *testing.T, running []*cameras.Running) {
	t.Helper()
	for _, r := range running {
		r.Stop()
	}
	for _, r := range running {
		select {
		case <-r.Done():
		case <-time.After(30 * time.Second):
			t.Fatalf("camera %s not done 30 s after Stop", r.Identity().Stream)
		}
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	cfg := cameras.Config{
		Mix:            fleet.Weights{{Name: "webcam", Weight: 1}},
		Profiles:       fleet.Weights{{Name: "dialup", Weight: -1}},
		RetentionHours: -1,
		KEM:            7,
		StreamPrefix:   "has space",
		Camera:         fleet.CameraTuning{Staleness: -time.Second},
	}
	_, err := cameras.New(cfg, nil, nil)
	require.ErrorIs(t, err, cameras.ErrInvalidConfig)
	for _, want := range []string{"Target.ControlPlaneURL", "Target.HTTP", `camera kind "webcam" unknown`, `profile "dialup" unknown`,
		"negative weight", "RetentionHours is -1", "KEM is", "Camera.Staleness", "StreamPrefix", "no metrics registry"} {
		require.Contains(t, err.Error(), want, "New(%+v) = %v", cfg, err)
	}
	// A metric name already defined with another type is a conflict.
	reg := results.NewRegistry()
	reg.MustDefine(cameras.MetricLost, results.Trend, results.Default)
	_, err = cameras.New(cameras.Config{Target: simulator.Target{ControlPlaneURL: "https://x", HTTP: &http0}}, reg, nil)
	require.ErrorIs(t, err, results.ErrMetric, "New with %s already a Trend", cameras.MetricLost)
}

func TestCamerasStreamEmitAndVerify(t *testing.T) {
	t.Parallel()
	tg := target(t)
	var col collector
	reg := results.NewRegistry()
	f, err := cameras.New(small(tg, "emit", fleet.Weights{{Name: "perfect", Weight: 1}, {Name: "flaky-reset", Weight: 1}}), reg, col.emit)
	require.NoError(t, err)
	defer f.Close()
	for _, name := range []string{cameras.MetricAckLatency, cameras.MetricFragmentsPersisted, cameras.MetricViewerLatency} {
		require.NotNil(t, reg.Get(name), "New defines %s", name)
	}

	ctx := context.Background()
	tags := map[string]string{"scenario": "s1"}
	var running []*cameras.Running
	for _, i := range indices(f, map[string]int{"perfect": 2, "flaky-reset": 1}) {
		running = append(running, f.Start(ctx, i, tags))
	}
	tags["scenario"] = "changed after Start" // Start copies the tags
	require.Equal(t, 3, f.Started())
	require.Equal(t, 3, f.Active())

	// A viewer tails the first stream while the cameras run.
	tail := f.Tail(ctx, running[0].Identity().Stream, 3500*time.Millisecond, map[string]string{"scenario": "viewers"})
	require.Positive(t, tail.Fragments, "Tail for 3.5 s of a camera with 1 s GOPs: %+v", tail)
	require.Zero(t, tail.IntegrityFailures, "Tail: %+v", tail)
	require.Len(t, col.matching(cameras.MetricViewerFragments, map[string]string{"scenario": "viewers", cameras.TagProfile: running[0].Identity().Profile}), tail.Fragments)
	require.NotEmpty(t, col.matching(cameras.MetricViewerLatency, map[string]string{"scenario": "viewers"}))

	stopAll(t, running)
	require.Equal(t, 0, f.Active())

	var produced, persisted, sent int
	for _, r := range running {
		res := r.Result()
		require.Nil(t, res.Failure, "camera %s: %v", res.StreamName, res.Failure)
		produced += res.Counters.Fragments
		persisted += res.Ledger.AckedFragments
		sent += int(res.Counters.Bytes)
	}
	require.Positive(t, persisted)
	for _, p := range []string{"perfect", "flaky-reset"} {
		lat := col.matching(cameras.MetricAckLatency, map[string]string{"scenario": "s1", cameras.TagAck: cameras.AckPersisted, cameras.TagProfile: p})
		require.NotEmpty(t, lat, "PERSISTED latency samples of the %s cameras", p)
		require.Equal(t, fleet.KindSynthetic, lat[0].Tags[cameras.TagKind])
		require.True(t, strings.HasPrefix(lat[0].Metadata[cameras.MetaCamera], "emit-"), "metadata %v", lat[0].Metadata)
		require.NotContains(t, lat[0].Tags, cameras.MetaCamera, "the camera is metadata, not a tag")
	}
	require.NotEmpty(t, col.matching(cameras.MetricAckLatency, map[string]string{cameras.TagAck: cameras.AckBuffering}))
	require.Empty(t, col.matching(cameras.MetricAckLatency, map[string]string{"scenario": "changed after Start"}))
	require.Equal(t, float64(persisted), col.sum(cameras.MetricFragmentsPersisted, nil), "PERSISTED fragments counted once each")
	require.Equal(t, float64(produced), col.sum(cameras.MetricFragments, nil))
	require.Equal(t, float64(sent), col.sum(cameras.MetricBytes, nil))

	sum := f.Verify(ctx, 2)
	require.True(t, sum.OK(), "Verify: %+v", sum)
	require.Equal(t, 3, sum.Streams)
	require.Len(t, sum.Worst, 3, "a summary per camera (at most results.MaxWorstCameras)")
	for _, w := range sum.Worst {
		require.NotEmpty(t, w.Stream)
		require.NotEmpty(t, w.Profile)
		require.Positive(t, w.Fragments, "camera %s", w.Stream)
	}
	require.Equal(t, persisted, sum.AckedFragments)
	require.Zero(t, sum.LostFragments)
	require.Len(t, col.matching(cameras.MetricLost, map[string]string{"scenario": "s1"}), 3, "one camera_lost sample per camera")
	require.Zero(t, col.sum(cameras.MetricLost, nil))
	require.Zero(t, col.sum(cameras.MetricIntegrityFailures, nil))
	require.Len(t, f.Streams(), 3)
}

func TestOutageCausesReconnectsAndLosesNothing(t *testing.T) {
	t.Parallel()
	tg := target(t)
	var col collector
	cfg := small(tg, "outage", fleet.Weights{{Name: "perfect", Weight: 2}, {Name: "lte-good", Weight: 1}})
	cfg.Camera.Staleness = time.Second // notice the dead connection soon
	f, err := cameras.New(cfg, results.NewRegistry(), col.emit)
	require.NoError(t, err)
	defer f.Close()
	ctx := context.Background()
	var running []*cameras.Running
	for _, i := range indices(f, map[string]int{"perfect": 2, "lte-good": 1}) {
		running = append(running, f.Start(ctx, i, map[string]string{"scenario": "storm"}))
	}
	waitFor(t, 10*time.Second, "every camera has a fragment PERSISTED", func() bool {
		return len(col.matching(cameras.MetricFragmentsPersisted, nil)) >= 3
	})
	f.Outage(2 * time.Second)
	time.Sleep(4 * time.Second) // the outage, then time to reconnect and resend
	stopAll(t, running)

	reconnects := col.sum(cameras.MetricReconnects, map[string]string{"scenario": "storm"})
	require.GreaterOrEqual(t, reconnects, 3.0, "every camera, perfect ones too, reconnects after the outage")
	for _, r := range running {
		res := r.Result()
		require.Positive(t, res.Counters.Reconnects, "camera %s (%s)", res.StreamName, r.Identity().Profile)
		require.Nil(t, res.Failure, "camera %s: %v", res.StreamName, res.Failure)
	}
	sum := f.Verify(ctx, 0)
	require.True(t, sum.OK(), "Verify: %+v", sum)
	require.Zero(t, sum.LostFragments)
	require.Zero(t, col.sum(cameras.MetricLost, nil))
}

func TestStartAfterCloseAndBadIndexFail(t *testing.T) {
	var col collector
	// The longest prefix that leaves room for six digits.
	prefix := strings.Repeat("x", 256-7)
	f, err := cameras.New(cameras.Config{Target: simulator.Target{ControlPlaneURL: "https://127.0.0.1:1", HTTP: &http0}, StreamPrefix: prefix},
		results.NewRegistry(), col.emit)
	require.NoError(t, err)
	for _, tc := range []struct {
		index int64
		want  string
	}{{-1, "negative"}, {1_000_000, "StreamName"}} {
		r := f.Start(context.Background(), tc.index, nil)
		<-r.Done()
		res := r.Result()
		require.NotNil(t, res.Failure, "Start(%d)", tc.index)
		require.Contains(t, res.Failure.Message, tc.want, "Start(%d)", tc.index)
	}
	require.Equal(t, 0, f.Active())
	f.Close()
	r := f.Start(context.Background(), 0, nil)
	<-r.Done()
	require.Contains(t, r.Result().Failure.Message, "closed")
	require.Equal(t, 2, f.Started(), "a Start after Close is not counted")
	require.Equal(t, 0, f.Active())
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// http0 is an HTTP client for configs that are never dialled.
var http0 = http.Client{}

// TestDropsAreEmittedByReason: a camera whose buffer holds a second of
// media evicts what it films during a longer outage, and camera_drops
// counts those fragments under reason overflow.
func TestDropsAreEmittedByReason(t *testing.T) {
	t.Parallel()
	tg := target(t)
	var col collector
	cfg := small(tg, "drops", fleet.Weights{{Name: "perfect", Weight: 1}})
	cfg.Camera.Staleness = 500 * time.Millisecond
	cfg.Camera.BufferDuration = time.Second
	f, err := cameras.New(cfg, results.NewRegistry(), col.emit)
	require.NoError(t, err)
	defer f.Close()
	r := f.Start(context.Background(), 0, map[string]string{"scenario": "drops"})
	waitFor(t, 10*time.Second, "a fragment PERSISTED", func() bool {
		return len(col.matching(cameras.MetricFragmentsPersisted, nil)) > 0
	})
	f.Outage(4 * time.Second)
	time.Sleep(5 * time.Second)
	stopAll(t, []*cameras.Running{r})
	res := r.Result()
	require.Positive(t, res.Ledger.DroppedFragments, "a 1 s buffer through a 4 s outage: ledger %+v", res.Ledger)
	require.Equal(t, float64(res.Ledger.DroppedFragments), col.sum(cameras.MetricDrops, map[string]string{"scenario": "drops"}),
		"camera_drops over the ledger's dropped runs %+v", res.Ledger.Dropped)
	require.Positive(t, col.sum(cameras.MetricDrops, map[string]string{cameras.TagReason: cameras.DropOverflow}))
	sum := f.Verify(context.Background(), 1)
	require.Zero(t, sum.LostFragments, "Verify: %+v", sum)
}
