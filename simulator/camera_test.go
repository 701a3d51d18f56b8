package simulator_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/e2ee"
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
	return simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Credentials: st.AdminCredentials(), Region: st.Region}
}

func source(t *testing.T, gop time.Duration) media.Source {
	t.Helper()
	src, err := media.NewSynthetic(media.SyntheticConfig{BitrateBps: 200_000, FPS: 10, GOP: gop, Seed: 1, Width: 160, Height: 120})
	require.NoError(t, err)
	return src
}

func consumerKey(t *testing.T) *e2ee.PrivateKey {
	t.Helper()
	k, err := e2ee.GenerateKey(e2ee.KEMX25519, nil)
	require.NoError(t, err)
	return k
}

// listed returns the producer timestamps (ms) ListFragments holds for stream.
func listed(t *testing.T, target simulator.Target, stream string) []int64 {
	t.Helper()
	ctx := context.Background()
	ref := kvsapi.StreamRef{StreamName: stream}
	var ep kvsapi.GetDataEndpointOutput
	require.NoError(t, kvsclient.Call(ctx, target.Client(), target.ControlPlaneURL, kvsapi.PathGetDataEndpoint,
		kvsapi.GetDataEndpointInput{StreamRef: ref, APIName: "LIST_FRAGMENTS"}, &ep))
	var out kvsapi.ListFragmentsOutput
	require.NoError(t, kvsclient.Call(ctx, target.Client(), ep.DataEndpoint, kvsapi.PathListFragments,
		kvsapi.ListFragmentsInput{StreamRef: ref, MaxResults: 1000}, &out))
	var tcs []int64
	for _, f := range out.Fragments {
		tcs = append(tcs, f.ProducerTimestamp.UnixMilli())
	}
	return tcs
}

func TestNewCameraReportsEveryProblem(t *testing.T) {
	_, err := simulator.NewCamera(simulator.CameraConfig{StreamName: "bad name!", RetentionHours: -1, FinalAckTimeout: -1,
		Staleness: -time.Second, BufferBytes: -1}, simulator.Target{})
	require.ErrorIs(t, err, simulator.ErrInvalidCamera)
	for _, want := range []string{"StreamName", "Source is nil", "RetentionHours", "FinalAckTimeout", "Staleness", "BufferBytes",
		"ControlPlaneURL", "Target.HTTP"} {
		require.Contains(t, err.Error(), want)
	}
}

// TestCameraDeliversEverything: a clean run gets every fragment PERSISTED,
// its ledger accounts for every frame in one run, and the service holds
// exactly the fragments the camera produced.
func TestCameraDeliversEverything(t *testing.T) {
	target := embedded(t)
	var acks atomic.Int64
	base := time.Now().Truncate(time.Millisecond)
	cam, err := simulator.NewCamera(simulator.CameraConfig{StreamName: "clean", Source: source(t, time.Second),
		Recipients: []e2ee.PublicKey{consumerKey(t).Public()}, Offline: true, Clock: func() time.Time { return base },
		OnAck: func(kvsapi.Ack, simulator.AckInfo) { acks.Add(1) }}, target)
	require.NoError(t, err)
	r := cam.Run(context.Background(), base.Add(3*time.Second))
	require.Nil(t, r.Failure, "%v", r.Failure)
	require.True(t, r.Encrypted)
	require.True(t, r.CreatedStream)
	l := r.Ledger
	require.Equal(t, uint64(30), l.Produced, "3 s at 10 fps")
	require.Equal(t, 3, r.Fragments)
	require.Equal(t, []simulator.AckedRun{{FirstTimecode: l.Start.UnixMilli(), LastTimecode: l.Start.UnixMilli() + 2000,
		Frames: simulator.SeqRange{First: 0, Last: 29}, Fragments: 3}}, l.Acked)
	require.Empty(t, l.Dropped)
	require.Empty(t, l.Unconfirmed)
	require.Equal(t, 1, r.Sessions)
	require.Zero(t, r.Reconnects)
	require.Equal(t, int64(9), acks.Load(), "BUFFERING, RECEIVED, PERSISTED for each fragment")
	require.Len(t, listed(t, target, "clean"), 3)
}

// TestCameraReportsUnreachableControlPlane: the camera retries each
// control-plane step, resets its stream after five failures like the SDK,
// and in the end reports what it could not deliver and why.
func TestCameraReportsUnreachableControlPlane(t *testing.T) {
	target := embedded(t)
	target.ControlPlaneURL = "https://127.0.0.1:1"
	cam, err := simulator.NewCamera(simulator.CameraConfig{StreamName: "nowhere", Source: source(t, time.Second),
		BackoffBase: time.Millisecond, BackoffCap: 5 * time.Millisecond, DrainTimeout: 200 * time.Millisecond}, target)
	require.NoError(t, err)
	r := cam.Run(context.Background(), time.Now().Add(1500*time.Millisecond))
	require.NotNil(t, r.Failure)
	require.Equal(t, simulator.KindNotPersisted, r.Failure.Kind)
	require.Contains(t, r.Failure.Message, "describe: connection")
	require.GreaterOrEqual(t, r.ControlFailures, 5)
	require.GreaterOrEqual(t, r.StreamResets, 1)
	require.Zero(t, r.Sessions)
	require.Empty(t, r.Ledger.Acked)
	require.Equal(t, r.Ledger.Produced, r.Ledger.DroppedFrames, "every frame is accounted for as dropped")
}

// TestCameraSkipsRejectedFragments: a 12 s GOP makes the service answer
// ERROR 4002, which the SDK does not retry: the fragment is skipped and
// counted, the camera reconnects, and the next fragment goes on.
func TestCameraSkipsRejectedFragments(t *testing.T) {
	target := embedded(t)
	var errorAcks atomic.Int64
	cam, err := simulator.NewCamera(simulator.CameraConfig{StreamName: "long-gop", Source: source(t, 12*time.Second), Offline: true,
		BackoffBase: time.Millisecond, OnAck: func(a kvsapi.Ack, _ simulator.AckInfo) {
			if a.EventType == kvsapi.EventError {
				errorAcks.Add(1)
			}
		}}, target)
	require.NoError(t, err)
	r := cam.Run(context.Background(), time.Now().Add(24*time.Second))
	require.NotNil(t, r.Failure)
	require.Equal(t, simulator.KindNotPersisted, r.Failure.Kind)
	require.Contains(t, r.Failure.Message, "2 of 2 fragments")
	require.Equal(t, 2, r.AckErrors)
	require.Equal(t, int64(2), errorAcks.Load(), "OnAck sees every ACK")
	require.Equal(t, kvsapi.ErrorID(4002), r.AckErrorsKept[0].ErrorID)
	require.GreaterOrEqual(t, r.Sessions, 2, "a new session after the ERROR")
	require.Empty(t, r.Ledger.Acked)
	require.Equal(t, 2, r.Ledger.DroppedFragments)
	require.Equal(t, r.Ledger.Produced, r.Ledger.DroppedFrames)
	for _, d := range r.Ledger.Dropped {
		require.Equal(t, simulator.DropRejected, d.Reason)
	}
}

// TestCameraUsesInjectedClock: timecodes come from the clock.
func TestCameraUsesInjectedClock(t *testing.T) {
	target := embedded(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var ticks atomic.Int64 // read by capture, the uploader and the ACK reader
	clock := func() time.Time { return base.Add(time.Duration(ticks.Add(int64(time.Millisecond)))) }
	cam, err := simulator.NewCamera(simulator.CameraConfig{StreamName: "clocked", Source: source(t, time.Second), Clock: clock, Offline: true}, target)
	require.NoError(t, err)
	r := cam.Run(context.Background(), base.Add(2*time.Second))
	require.Nil(t, r.Failure, "%v", r.Failure)
	require.Len(t, r.Ledger.Acked, 1)
	run := r.Ledger.Acked[0]
	require.InDelta(t, base.UnixMilli(), run.FirstTimecode, 100, "cluster timecodes follow the injected clock")
	require.Equal(t, int64(1000), run.LastTimecode-run.FirstTimecode)
	require.Equal(t, 2, run.Fragments)
}

// TestCameraOnStreamWithoutRetention: the camera uses an existing stream as
// it is; with retention 0 the service sends no PERSISTED, RECEIVED frees
// the buffer, and that is not a failure.
func TestCameraOnStreamWithoutRetention(t *testing.T) {
	target := embedded(t)
	require.NoError(t, kvsclient.Call(context.Background(), target.Client(), target.ControlPlaneURL, kvsapi.PathCreateStream,
		kvsapi.CreateStreamInput{StreamName: "ephemeral"}, nil))
	cam, err := simulator.NewCamera(simulator.CameraConfig{StreamName: "ephemeral", Source: source(t, time.Second), Offline: true}, target)
	require.NoError(t, err)
	r := cam.Run(context.Background(), time.Now().Add(2*time.Second))
	require.Nil(t, r.Failure, "%v", r.Failure)
	require.False(t, r.CreatedStream)
	require.Zero(t, r.RetentionHours)
	require.Equal(t, 2, r.Fragments)
	require.Empty(t, r.Ledger.Acked, "nothing is stored, so nothing is acknowledged PERSISTED")
	require.Empty(t, r.Ledger.Unconfirmed)
}
