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

func embedded(t *testing.T) simulator.Target {
	t.Helper()
	st, err := stack.StartEmbedded(context.Background(), stack.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	hc := st.HTTPClient()
	t.Cleanup(hc.CloseIdleConnections)
	return simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Credentials: st.AdminCredentials(), Region: st.Region}
}

// secured starts the embedded stack and returns it with its consumers'
// target (the consumer role's temporary credentials) and where cameras
// enrol as devices: least privilege, as a deployment runs.
func secured(t *testing.T) (*stack.Stack, simulator.Target, *fleet.Devices) {
	t.Helper()
	st, err := stack.StartEmbedded(context.Background(), stack.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	hc := st.HTTPClient()
	t.Cleanup(hc.CloseIdleConnections)
	target := simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Region: st.Region,
		Credentials: st.AssumeRole(st.ConsumerRoleARN, "fleet-consumer")}
	return st, target, &fleet.Devices{EnrollURL: st.EnrollURL, EnrollToken: st.EnrollmentToken,
		CredentialsURL: st.IoTCredentialsURL, RoleAlias: st.CameraRoleAlias}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	cfg := fleet.Config{
		Cameras:        -3,
		Duration:       -time.Second,
		Mix:            fleet.Weights{{Name: "clip", Weight: -1}, {Name: "webcam", Weight: 5}},
		Profiles:       fleet.Weights{{Name: "dialup", Weight: 1}},
		Ramp:           -2 * time.Second,
		StreamPrefix:   "has space",
		RetentionHours: -1,
		KEM:            7,
		Camera:         fleet.CameraTuning{FinalAckTimeout: -time.Second},
		Synthetic:      media.SyntheticConfig{BitrateBps: -1, FPS: 15, GOP: 20 * time.Second, Width: 641, Height: 360},
	}
	err := cfg.Validate()
	require.ErrorIs(t, err, fleet.ErrInvalidConfig)
	for _, want := range []string{"Cameras is -3", "Duration is -1s", "negative weight", `camera kind "webcam" unknown`,
		`profile "dialup" unknown`, "Ramp is -2s", "StreamPrefix", "RetentionHours is -1", "KEM is", "Camera.FinalAckTimeout"} {
		require.Contains(t, err.Error(), want, "Validate() = %v", err)
	}
	require.NoError(t, fleet.Config{}.Validate(), "the defaults are valid")
}

func TestParseWeights(t *testing.T) {
	known := []string{"a", "b", "c"}
	for _, tc := range []struct {
		in   string
		want fleet.Weights
		errs []string
	}{
		{in: "a=20,b=80", want: fleet.Weights{{Name: "a", Weight: 20}, {Name: "b", Weight: 80}}},
		{in: " b , c ", want: fleet.Weights{{Name: "b", Weight: 1}, {Name: "c", Weight: 1}}},
		{in: "a=0,b=0", errs: []string{"no thing a weight above 0"}},
		{in: "a=x,z=3,a=2,b=-1", errs: []string{`"a=x"`, `thing "z" unknown (known: a, b, c)`, `"b=-1"`}},
	} {
		got, err := fleet.ParseWeights(tc.in, "thing", known)
		if len(tc.errs) == 0 {
			require.NoError(t, err, "ParseWeights(%q)", tc.in)
			require.Equal(t, tc.want, got, "ParseWeights(%q)", tc.in)
			again, err := fleet.ParseWeights(got.String(), "thing", known)
			require.NoError(t, err)
			require.Equal(t, got, again, "String() round-trips")
			continue
		}
		require.ErrorIs(t, err, fleet.ErrInvalidConfig, "ParseWeights(%q)", tc.in)
		for _, e := range tc.errs {
			require.Contains(t, err.Error(), e, "ParseWeights(%q)", tc.in)
		}
	}
}

// TestRunSmallFleet runs a small mixed, encrypted fleet on the embedded
// stack and checks the report adds up.
func TestRunSmallFleet(t *testing.T) {
	target := embedded(t)
	var mu sync.Mutex
	var progress []fleet.Progress
	rep, err := fleet.Run(context.Background(), fleet.Config{
		Cameras: 4, Duration: 2500 * time.Millisecond, Mix: fleet.Weights{{Name: "clip", Weight: 1}, {Name: "synthetic", Weight: 1}}, Seed: 7,
		Synthetic:    media.SyntheticConfig{BitrateBps: 300_000, FPS: 10, GOP: time.Second, Width: 320, Height: 240},
		StreamPrefix: "small", LiveConsumers: 2,
	}, target, func(p fleet.Progress) {
		mu.Lock()
		progress = append(progress, p)
		mu.Unlock()
	})
	require.NoError(t, err)
	require.True(t, rep.Passed(), "problems: %v", rep.Problems())
	require.Empty(t, rep.Warnings())
	require.Equal(t, map[string]int{fleet.KindClip: 2, fleet.KindSynthetic: 2}, rep.Cameras)
	require.Len(t, rep.PerCamera, 4)
	require.Equal(t, "small-0000", rep.PerCamera[0].Stream)
	v := rep.Verification
	require.Equal(t, 4, v.Streams)
	require.Equal(t, 4, v.Encrypted, "every stream was decrypted")
	require.Equal(t, 4, v.SequenceChecked)
	require.Positive(t, v.AckedFrames)
	require.Equal(t, v.Produced, v.AckedFrames, "every frame acknowledged")
	require.Equal(t, v.AckedFrames, v.Delivered)
	require.Equal(t, rep.Producer.Fragments, v.AckedFragments)
	require.Empty(t, rep.Errors)
	for _, typ := range []string{"BUFFERING", "RECEIVED", "PERSISTED"} {
		l := rep.AckLatency[typ]
		require.Equal(t, int64(v.AckedFragments), l.Count, typ)
		require.True(t, l.P50 > 0 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max, "%s: %+v", typ, l)
	}
	require.Greater(t, rep.AckLatency["PERSISTED"].P50, rep.AckLatency["BUFFERING"].P50,
		"a fragment is PERSISTED after its GOP arrived; BUFFERING at its first byte")
	require.NotNil(t, rep.EndToEnd, "live consumers measured end-to-end latency")
	require.Positive(t, rep.EndToEnd.Count)
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, progress, "progress about once a second")
	require.Equal(t, fleet.PhaseStreaming, progress[0].Phase)
}

func TestRunStopsOnCancel(t *testing.T) {
	target := embedded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	rep, err := fleet.Run(ctx, fleet.Config{
		Cameras: 2, Duration: time.Minute, Mix: fleet.Weights{{Name: "synthetic", Weight: 1}}, StreamPrefix: "cancel",
		Synthetic: media.SyntheticConfig{BitrateBps: 300_000, FPS: 10, GOP: 500 * time.Millisecond, Width: 320, Height: 240},
	}, target, nil)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "err = %v", err)
	require.Less(t, time.Since(start), 20*time.Second)
	require.Zero(t, rep.Verification.Streams, "no verification after cancel")
	require.Positive(t, rep.Producer.Fragments)
	require.True(t, rep.Interrupted)
	require.Equal(t, []string{"the run was interrupted, so nothing was verified"}, rep.Problems())
}
