package fleet_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/stack"
)

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	cfg := fleet.Config{
		Cameras:         -3,
		Duration:        -time.Second,
		Mix:             fleet.Mix{Clip: -1, Synthetic: 5},
		Ramp:            -2 * time.Second,
		StreamPrefix:    "has space",
		RetentionHours:  -1,
		FinalAckTimeout: -time.Second,
		Synthetic:       media.SyntheticConfig{BitrateBps: -1, FPS: 15, GOP: 20 * time.Second, Width: 641, Height: 360},
	}
	err := cfg.Validate()
	require.ErrorIs(t, err, fleet.ErrInvalidConfig)
	for _, want := range []string{"Cameras is -3", "Duration is -1s", "negative weight", "Ramp is -2s", "StreamPrefix",
		"RetentionHours is -1", "FinalAckTimeout", "Synthetic.GOP is 20s", "BitrateBps is -1", "Width is 641"} {
		require.Contains(t, err.Error(), want, "Validate() = %v", err)
	}
	require.NoError(t, fleet.Config{}.Validate(), "the defaults are valid")
}

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want fleet.Mix
		errs []string
	}{
		{in: "clip=20,synthetic=80", want: fleet.Mix{Clip: 20, Synthetic: 80}},
		{in: " synthetic = 1 ", want: fleet.Mix{Synthetic: 1}},
		{in: "clip=0,synthetic=0", errs: []string{"no camera kind"}},
		{in: "clip=x,webcam=3,clip=2,synthetic=-1", errs: []string{`"clip=x"`, `"webcam" unknown`, `"synthetic=-1"`}},
	} {
		got, err := fleet.ParseMix(tc.in)
		if len(tc.errs) == 0 {
			require.NoError(t, err, "ParseMix(%q)", tc.in)
			require.Equal(t, tc.want, got, "ParseMix(%q)", tc.in)
			again, err := fleet.ParseMix(got.String())
			require.NoError(t, err)
			require.Equal(t, got, again, "String() round-trips")
			continue
		}
		require.ErrorIs(t, err, fleet.ErrInvalidConfig, "ParseMix(%q)", tc.in)
		for _, e := range tc.errs {
			require.Contains(t, err.Error(), e, "ParseMix(%q)", tc.in)
		}
	}
}

// TestRunSmallFleet runs a small mixed fleet on the embedded stack and checks
// the report adds up.
func TestRunSmallFleet(t *testing.T) {
	st, err := stack.StartEmbedded(context.Background(), stack.Options{})
	require.NoError(t, err)
	defer st.Close(context.Background())
	hc := st.HTTPClient()
	defer hc.CloseIdleConnections()
	target := simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc}

	var mu sync.Mutex
	var progress []fleet.Progress
	rep, err := fleet.Run(context.Background(), fleet.Config{
		Cameras: 4, Duration: 2500 * time.Millisecond, Mix: fleet.Mix{Clip: 1, Synthetic: 1}, Seed: 7,
		Synthetic:    media.SyntheticConfig{BitrateBps: 300_000, FPS: 10, GOP: time.Second, Width: 320, Height: 240},
		StreamPrefix: "small",
	}, target, func(p fleet.Progress) {
		mu.Lock()
		progress = append(progress, p)
		mu.Unlock()
	})
	require.NoError(t, err)
	require.True(t, rep.Passed(), "problems: %v", rep.Problems())
	require.Equal(t, map[string]int{fleet.KindClip: 2, fleet.KindSynthetic: 2}, rep.Cameras)
	require.Len(t, rep.PerCamera, 4)
	require.Equal(t, "small-0000", rep.PerCamera[0].Stream)
	require.Positive(t, rep.Fragments)
	require.Equal(t, rep.Fragments, rep.Persisted)
	require.Equal(t, rep.Persisted, rep.Verification.Persisted)
	require.Equal(t, rep.Persisted, rep.Verification.Delivered)
	require.Equal(t, 4, rep.Verification.Streams)
	require.Equal(t, 2, rep.Verification.SequenceChecked)
	require.Empty(t, rep.Errors)
	for _, typ := range []string{"BUFFERING", "RECEIVED", "PERSISTED"} {
		l := rep.AckLatency[typ]
		require.Equal(t, int64(rep.Persisted), l.Count, typ)
		require.True(t, l.P50 > 0 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max, "%s: %+v", typ, l)
	}
	require.Greater(t, rep.AckLatency["PERSISTED"].P50, rep.AckLatency["BUFFERING"].P50,
		"a fragment is PERSISTED after its GOP arrived; BUFFERING at its first byte")
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, progress, "progress about once a second")
	require.Equal(t, fleet.PhaseStreaming, progress[0].Phase)
}

func TestRunStopsOnCancel(t *testing.T) {
	st, err := stack.StartEmbedded(context.Background(), stack.Options{})
	require.NoError(t, err)
	defer st.Close(context.Background())
	hc := st.HTTPClient()
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	rep, err := fleet.Run(ctx, fleet.Config{
		Cameras: 2, Duration: time.Minute, Mix: fleet.Mix{Synthetic: 1}, StreamPrefix: "cancel",
		Synthetic: media.SyntheticConfig{BitrateBps: 300_000, FPS: 10, GOP: 500 * time.Millisecond, Width: 320, Height: 240},
	}, simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc}, nil)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "err = %v", err)
	require.Less(t, time.Since(start), 20*time.Second)
	require.Zero(t, rep.Verification.Streams, "no verification after cancel")
	require.Positive(t, rep.Persisted, "the open fragments were closed and persisted: %+v", rep.PerCamera)
	require.True(t, rep.Interrupted)
	require.Zero(t, rep.CamerasFailed, "cancellation is not a camera failure")
	require.Equal(t, []string{"the run was interrupted, so nothing was verified"}, rep.Problems())
}
