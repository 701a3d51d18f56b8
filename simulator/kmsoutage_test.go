package simulator_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/consumer"
	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/containers"
	"github.com/camstorm/camstorm/stack/ingest"
)

// TestProducersLiveThroughKMSOutage: the ingest loses its KMS for 30 s
// while three cameras stream. Fragments that need a data key then get
// ERROR 4503 (KMS_KEY_UNAVAILABLE); that id is non-retriable in the
// producer SDK (kvs-protocol.md §1.3, §4.4), so each camera skips the
// fragment, ends the session and opens a new one, again and again, until
// the KMS is back. Afterwards every camera streams normally, and
// everything acknowledged reads back and decrypts: nothing acknowledged
// is lost, and what was skipped is accounted as rejected, inside the
// outage.
//
// The same runs against the stack as containers, where the outage is the
// KMS container disconnected from the stack's network for 20 s.
func TestProducersLiveThroughKMSOutage(t *testing.T) {
	t.Parallel()
	// Data keys live 1 s, so every fragment in the outage needs the KMS.
	opts := stack.Options{Ingest: ingest.Config{DataKeyMaxAge: time.Second}}
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		st, err := stack.StartEmbedded(context.Background(), opts)
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close(context.Background()) })
		liveThroughKMSOutage(t, st, 30*time.Second, time.Second)
	})
	t.Run("containers", func(t *testing.T) {
		t.Parallel()
		require.NoError(t, containers.DisableReaper())
		containers.SkipIfNoDocker(t)
		st, err := stack.StartContainers(context.Background(), opts, stack.ContainersOptions{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close(context.Background()) })
		// Reconnecting a container to its network, and the ingest's new
		// connection to the KMS, take a moment after the heal.
		liveThroughKMSOutage(t, st, 20*time.Second, 5*time.Second)
	})
}

// liveThroughKMSOutage runs the test against st; fragments up to
// healSlack after the heal may still meet the outage.
func liveThroughKMSOutage(t *testing.T, st *stack.Stack, outageFor, healSlack time.Duration) {
	const (
		cameras  = 3
		outageAt = 5 * time.Second
	)
	runFor := outageAt + outageFor + 10*time.Second
	hc := st.HTTPClient()
	t.Cleanup(hc.CloseIdleConnections)
	target := simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Credentials: st.AdminCredentials(), Region: st.Region}
	key := consumerKey(t)

	start := time.Now()
	cut := time.AfterFunc(outageAt, func() { st.SetKMSReachable(false) })
	heal := time.AfterFunc(outageAt+outageFor, func() { st.SetKMSReachable(true) })
	t.Cleanup(func() { cut.Stop(); heal.Stop(); st.SetKMSReachable(true) })

	results := make([]simulator.CameraResult, cameras)
	logs := make([]ackLog, cameras)
	var wg sync.WaitGroup
	for i := range cameras {
		wg.Go(func() {
			cam, err := simulator.NewCamera(simulator.CameraConfig{
				StreamName: fmt.Sprintf("kms-outage-%d", i), Seed: uint64(i + 1), Source: smallSource(t),
				Recipients: []e2ee.PublicKey{key.Public()},
				OnAck:      logs[i].onAck, OnSession: logs[i].onSession,
				BackoffCap: time.Second,
			}, target)
			if err != nil {
				t.Error(err)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), runFor+time.Minute)
			defer cancel()
			results[i] = cam.Run(ctx, start.Add(runFor))
		})
	}
	wg.Wait()

	outageStart, outageEnd := start.Add(outageAt).UnixMilli(), start.Add(outageAt+outageFor).UnixMilli()
	for i := range cameras {
		res := &results[i]
		why := fmt.Sprintf("camera %d: %+v\nledger %+v", i, res.Counters, res.Ledger)
		// The camera reports the rejected fragments as its outcome.
		require.NotNil(t, res.Failure, why)
		// Not acknowledged: the fragments rejected with 4503, and those sent
		// into sessions that died while the ingest waited on the KMS (a
		// partition that drops packets rather than refusing) — unconfirmed:
		// stored or not, the camera cannot know.
		require.Contains(t, res.Failure.Message, fmt.Sprintf("%d of %d fragments were not acknowledged",
			res.Ledger.DroppedFragments+res.Ledger.UnconfirmedFragments, res.Fragments), why)
		// (Its last problem may be the connection the ERROR ACK closed, not
		// the ERROR itself: the ACKs below say what the errors were.)

		// The outage was felt: ERROR 4503 ACKs, each ending a session.
		unavailable := 0
		for _, e := range logs[i].errors() {
			require.Equal(t, kvsapi.ErrKMSKeyUnavailable, e.id, why)
			require.True(t, e.timecode >= outageStart-1000 && e.timecode <= outageEnd+healSlack.Milliseconds(),
				"ERROR at %d outside the outage [%d, %d]; %s", e.timecode, outageStart, outageEnd, why)
			unavailable++
		}
		require.GreaterOrEqual(t, unavailable, 2, "the camera kept retrying through the outage; %s", why)
		require.GreaterOrEqual(t, res.Reconnects, unavailable, why)

		// What was skipped was rejected, and only frames from the outage.
		l := &res.Ledger
		require.Positive(t, l.DroppedFrames, why)
		for _, d := range l.Dropped {
			require.Equal(t, simulator.DropRejected, d.Reason, why)
			for _, seq := range []uint64{d.Frames.First, d.Frames.Last} {
				at := l.Start.Add(frameTime(seq)).UnixMilli()
				require.True(t, at >= outageStart-2000 && at <= outageEnd+healSlack.Milliseconds(),
					"frame %d (at %d) dropped outside the outage; %s", seq, at, why)
			}
		}
		// Streaming resumed: the last fragments were acknowledged.
		require.NotEmpty(t, l.Acked, why)
		lastAcked := l.Acked[len(l.Acked)-1].Frames.Last
		require.Greater(t, l.Start.Add(frameTime(lastAcked)).UnixMilli(), outageEnd+5000, "PERSISTED again after the KMS came back; %s", why)

		// Nothing acknowledged is lost, and what was rejected is not served.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		v := consumer.Verify(ctx, target, l, e2ee.NewOpener(res.StreamName, key))
		cancel()
		why = fmt.Sprintf("verification %+v\n%s", v, why)
		require.Empty(t, v.Err, why)
		require.Zero(t, v.LostFrames, why)
		require.Zero(t, v.LostFragments, why)
		require.Zero(t, v.IntegrityFailures, why)
		require.Zero(t, v.NotServed, why)
		require.Zero(t, v.DroppedDelivered, why)
		require.Zero(t, v.Gaps, why)
		require.GreaterOrEqual(t, v.Delivered, l.AckedFrames, why)
	}
}
