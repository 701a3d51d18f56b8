package simulator_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/simulator"
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
	return simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc}
}

func source(t *testing.T, gop time.Duration) media.Source {
	t.Helper()
	src, err := media.NewSynthetic(media.SyntheticConfig{BitrateBps: 200_000, FPS: 10, GOP: gop, Seed: 1, Width: 160, Height: 120})
	require.NoError(t, err)
	return src
}

func TestNewCameraReportsEveryProblem(t *testing.T) {
	_, err := simulator.NewCamera(simulator.CameraConfig{StreamName: "bad name!", RetentionHours: -1, FinalAckTimeout: -1}, simulator.Target{})
	require.ErrorIs(t, err, simulator.ErrInvalidCamera)
	for _, want := range []string{"StreamName", "Source is nil", "RetentionHours", "FinalAckTimeout", "ControlPlaneURL", "Target.HTTP"} {
		require.Contains(t, err.Error(), want)
	}
}

func TestCameraRecordsUnreachableControlPlane(t *testing.T) {
	target := embedded(t)
	target.ControlPlaneURL = "https://127.0.0.1:1"
	cam, err := simulator.NewCamera(simulator.CameraConfig{StreamName: "nowhere", Source: source(t, time.Second)}, target)
	require.NoError(t, err)
	r := cam.Run(context.Background(), time.Now().Add(time.Second))
	require.NotNil(t, r.Failure)
	require.Equal(t, simulator.PhaseDescribe, r.Failure.Phase)
	require.Equal(t, simulator.KindConnection, r.Failure.Kind, "%v", r.Failure)
	require.Empty(t, r.Fragments)
}

// TestCameraRecordsErrorAck sends a 12 s GOP: the service answers the
// over-long fragment with ERROR 4002 and closes; the camera records it as
// the failure that ended its session.
func TestCameraRecordsErrorAck(t *testing.T) {
	target := embedded(t)
	var acks []kvsapi.EventType
	cam, err := simulator.NewCamera(simulator.CameraConfig{StreamName: "long-gop", Source: source(t, 12*time.Second),
		OnAck: func(a kvsapi.Ack, _ time.Duration) { acks = append(acks, a.EventType) }}, target)
	require.NoError(t, err)
	r := cam.Run(context.Background(), time.Now().Add(13*time.Second))
	require.NotNil(t, r.Failure, "%+v", r)
	require.Equal(t, simulator.PhaseStream, r.Failure.Phase)
	require.Equal(t, "ERROR ACK 4002 MAX_FRAGMENT_DURATION_REACHED", r.Failure.Kind)
	require.Equal(t, 1, r.AckErrorCount)
	require.Len(t, r.AckErrors, 1)
	require.Equal(t, kvsapi.ErrorID(4002), r.AckErrors[0].ErrorID)
	require.NotNil(t, r.Fragments[0].Error, "the ERROR is attached to its fragment")
	require.False(t, r.Fragments[0].Persisted.Seen)
	require.Contains(t, acks, kvsapi.EventError, "OnAck sees every ACK")
}

// TestCameraUsesInjectedClock: timecodes and latencies come from the clock.
func TestCameraUsesInjectedClock(t *testing.T) {
	target := embedded(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var ticks atomic.Int64 // the clock is read by the sender and the ACK reader
	clock := func() time.Time { return base.Add(time.Duration(ticks.Add(int64(time.Millisecond)))) }
	cam, err := simulator.NewCamera(simulator.CameraConfig{StreamName: "clocked", Source: source(t, time.Second), Clock: clock}, target)
	require.NoError(t, err)
	r := cam.Run(context.Background(), base.Add(2*time.Second))
	require.Nil(t, r.Failure)
	require.Len(t, r.Fragments, 2)
	require.InDelta(t, base.UnixMilli(), r.Fragments[0].Timecode, 100, "cluster timecodes follow the injected clock")
	require.Equal(t, int64(1000), r.Fragments[1].Timecode-r.Fragments[0].Timecode)
	require.Equal(t, 2, r.Persisted())
}

// TestCameraOnStreamWithoutRetention: the camera uses an existing stream as
// it is; with retention 0 the service sends no PERSISTED, and that is not a
// failure.
func TestCameraOnStreamWithoutRetention(t *testing.T) {
	target := embedded(t)
	require.NoError(t, kvsclient.Call(context.Background(), target.HTTP, target.ControlPlaneURL, kvsapi.PathCreateStream,
		kvsapi.CreateStreamInput{StreamName: "ephemeral"}, nil))
	cam, err := simulator.NewCamera(simulator.CameraConfig{StreamName: "ephemeral", Source: source(t, time.Second)}, target)
	require.NoError(t, err)
	r := cam.Run(context.Background(), time.Now().Add(2*time.Second))
	require.Nil(t, r.Failure, "%v", r.Failure)
	require.False(t, r.CreatedStream)
	require.Zero(t, r.RetentionHours)
	require.Len(t, r.Fragments, 2)
	require.Zero(t, r.Persisted())
	for _, f := range r.Fragments {
		require.True(t, f.Received.Seen)
	}
}
