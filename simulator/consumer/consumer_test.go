package consumer_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/fixtures"
	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/consumer"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/stack"
)

func startStack(t *testing.T, dataDir string) (*stack.Stack, simulator.Target) {
	t.Helper()
	st, err := stack.StartEmbedded(context.Background(), stack.Options{DataDir: dataDir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	hc := st.HTTPClient()
	t.Cleanup(hc.CloseIdleConnections)
	return st, simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Credentials: st.AdminCredentials(), Region: st.Region}
}

// seededRand is a deterministic random source for keys and content keys.
type seededRand struct{ r *rand.ChaCha8 }

func newSeededRand(seed byte) seededRand {
	var s [32]byte
	s[0] = seed
	return seededRand{rand.NewChaCha8(s)}
}

func (s seededRand) Read(p []byte) (int, error) { return s.r.Read(p) }

func consumerKey(t *testing.T, seed byte) *e2ee.PrivateKey {
	t.Helper()
	k, err := e2ee.GenerateKey(e2ee.KEMX25519, newSeededRand(seed))
	require.NoError(t, err)
	return k
}

func newSealer(t *testing.T, stream string, seed byte, keys ...*e2ee.PrivateKey) *e2ee.Sealer {
	t.Helper()
	var recipients []e2ee.PublicKey
	for _, k := range keys {
		recipients = append(recipients, k.Public())
	}
	s, err := e2ee.NewSealer(e2ee.SealerConfig{Stream: stream, Recipients: recipients, Rand: newSeededRand(seed)})
	require.NoError(t, err)
	return s
}

func syntheticSource(t *testing.T, seed int64) media.Source {
	t.Helper()
	src, err := media.NewSynthetic(media.SyntheticConfig{BitrateBps: 400_000, FPS: 15, GOP: time.Second, Seed: seed, Width: 320, Height: 240})
	require.NoError(t, err)
	return src
}

// testFrame is one frame a test camera sends; rel is its time after the
// start of its fragment.
type testFrame struct {
	seq  uint64
	rel  int64
	key  bool
	data []byte
}

// testFragment is one fragment a test camera sends.
type testFragment struct {
	tc     int64
	frames []testFrame
	// order, when set, lists the frame indexes to write (after sealing):
	// how a broken or malicious path duplicates or reorders frames.
	order []int
	// envelopes overrides how many envelope blocks the fragment carries
	// (0: the contract's one).
	envelopes int
	// unacked: the camera does not record the fragment in its ledger even
	// when it is acknowledged (it was still in flight when it stopped).
	unacked bool
}

// gopReader cuts a source into fragments, one per GOP, numbering frames.
type gopReader struct {
	src     media.Source
	pending *media.Frame
	seq     uint64
	base    int64 // epoch ms of the source's PTS 0
}

func (g *gopReader) next() media.Frame {
	if g.pending != nil {
		f := *g.pending
		g.pending = nil
		return f
	}
	f := g.src.Next()
	f.Data = slices.Clone(f.Data)
	return f
}

// fragments returns the next n GOPs as fragments.
func (g *gopReader) fragments(n int) []testFragment {
	var out []testFragment
	for len(out) < n || g.pending == nil {
		f := g.next()
		ms := g.base + f.PTS.Milliseconds()
		if f.Key {
			if len(out) == n {
				g.pending = &f
				break
			}
			out = append(out, testFragment{tc: ms})
		}
		cur := &out[len(out)-1]
		cur.frames = append(cur.frames, testFrame{seq: g.seq, rel: ms - cur.tc, key: f.Key, data: f.Data})
		g.seq++
	}
	return out
}

// skip drops n frames from the source: sequence numbers the camera uses up
// without sending.
func (g *gopReader) skip(n int) {
	for range n {
		g.next()
		g.seq++
	}
}

// testCamera pushes MKV with PutMedia the way a camera does — the
// contract's 2-track layout when it seals — and keeps a ledger of what was
// acknowledged PERSISTED.
type testCamera struct {
	t      *testing.T
	target simulator.Target
	stream string
	track  mkv.TrackSpec
	sealer *e2ee.Sealer
	Ledger simulator.Ledger
}

func newTestCamera(t *testing.T, target simulator.Target, stream string, track mkv.TrackSpec, sealer *e2ee.Sealer) *testCamera {
	t.Helper()
	err := kvsclient.Call(context.Background(), target.Client(), target.ControlPlaneURL, kvsapi.PathCreateStream,
		kvsapi.CreateStreamInput{StreamName: stream, MediaType: "video/h264", DataRetentionInHours: 2}, nil)
	if !kvsclient.IsException(err, kvsapi.ExcResourceInUse) {
		require.NoError(t, err)
	}
	return &testCamera{t: t, target: target, stream: stream, track: track, sealer: sealer, Ledger: simulator.Ledger{Stream: stream}}
}

func dataEndpoint(t *testing.T, target simulator.Target, stream, api string) string {
	t.Helper()
	var out kvsapi.GetDataEndpointOutput
	require.NoError(t, kvsclient.Call(context.Background(), target.Client(), target.ControlPlaneURL, kvsapi.PathGetDataEndpoint,
		kvsapi.GetDataEndpointInput{StreamRef: kvsapi.StreamRef{StreamName: stream}, APIName: api}, &out))
	return out.DataEndpoint
}

// put sends frags in one PutMedia session, waits for every ACK and
// returns the fragment numbers by timecode.
func (c *testCamera) put(frags []testFragment) map[int64]string {
	t := c.t
	t.Helper()
	ctx := context.Background()
	pm, err := kvsclient.StartPutMedia(ctx, c.target.Client(), dataEndpoint(t, c.target, c.stream, "PUT_MEDIA"),
		kvsclient.PutMediaOptions{StreamName: c.stream})
	require.NoError(t, err)
	defer pm.Close()
	bw := bufio.NewWriterSize(pm, 256<<10)
	w := mkv.NewWriter(bw)
	tracks := []mkv.TrackSpec{c.track}
	if c.sealer != nil {
		tracks = append(tracks, mkv.TrackSpec{Number: 2, UID: 2, Type: mkv.TrackMetadata, CodecID: e2ee.CodecID, Name: e2ee.TrackName})
	}
	require.NoError(t, w.WriteHeader(mkv.Header{Tracks: tracks}))
	for _, f := range frags {
		require.NoError(t, w.StartCluster(f.tc))
		blocks := make([][]byte, len(f.frames))
		for i, fr := range f.frames {
			blocks[i] = fr.data
		}
		if c.sealer != nil {
			env, err := c.sealer.BeginFragment(f.tc)
			require.NoError(t, err)
			for range max(f.envelopes, 1) {
				require.NoError(t, w.WriteFrame(2, f.tc, true, env))
			}
			for i, fr := range f.frames {
				blocks[i], err = c.sealer.SealFrame(nil, uint32(i), i == len(f.frames)-1, fr.seq, fr.data)
				require.NoError(t, err)
			}
		}
		order := f.order
		if order == nil {
			for i := range f.frames {
				order = append(order, i)
			}
		}
		for _, i := range order {
			fr := f.frames[i]
			require.NoError(t, w.WriteFrame(1, f.tc+fr.rel, fr.key, blocks[i]))
		}
		require.NoError(t, bw.Flush())
	}
	require.NoError(t, w.EndFragment())
	require.NoError(t, bw.Flush())
	require.NoError(t, pm.CloseWrite())
	persisted := map[int64]string{}
	for {
		a, err := pm.NextAck()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.NotEqual(t, kvsapi.EventError, a.EventType, "ERROR ACK %+v", a)
		if a.EventType == kvsapi.EventPersisted {
			persisted[a.FragmentTimecode] = a.FragmentNumber
		}
	}
	for _, f := range frags {
		require.Contains(t, persisted, f.tc, "fragment at %d ms acknowledged PERSISTED", f.tc)
		c.record(f, !f.unacked)
	}
	return persisted
}

// record enters a fragment into the ledger as the camera would.
func (c *testCamera) record(f testFragment, acked bool) {
	l := &c.Ledger
	first, last := f.frames[0].seq, f.frames[0].seq
	for _, fr := range f.frames {
		first, last = min(first, fr.seq), max(last, fr.seq)
	}
	if acked {
		l.Ack(f.tc, simulator.SeqRange{First: first, Last: last})
	}
	l.Produced = max(l.Produced, last+1)
	start, end := time.UnixMilli(f.tc), time.UnixMilli(f.tc)
	if l.Start.IsZero() || start.Before(l.Start) {
		l.Start = start
	}
	if end.After(l.End) {
		l.End = end
	}
}

func baseMs() int64 { return time.Now().Add(-10 * time.Minute).Truncate(time.Second).UnixMilli() }

// e2eeCamera starts an encrypting camera on a new stream with a synthetic source.
func e2eeCamera(t *testing.T, target simulator.Target, stream string, key *e2ee.PrivateKey, seed byte) (*testCamera, *gopReader) {
	src := syntheticSource(t, int64(seed))
	cam := newTestCamera(t, target, stream, src.Track(), newSealer(t, stream, seed+100, key))
	return cam, &gopReader{src: src, base: baseMs()}
}

func requireClean(t *testing.T, v consumer.Verification) {
	t.Helper()
	require.True(t, v.OK(), "problems %v in %+v", v.Problems(), v)
	require.Empty(t, v.Problems())
}

// TestVerifyCleanEncryptedStream: everything the camera saw PERSISTED comes
// back, authenticated, exactly once and in order.
func TestVerifyCleanEncryptedStream(t *testing.T) {
	_, target := startStack(t, "")
	key := consumerKey(t, 1)
	cam, gops := e2eeCamera(t, target, "clean", key, 1)
	cam.put(gops.fragments(3))
	cam.put(gops.fragments(2)) // a second session (a reconnect) continues the sequence

	v := consumer.Verify(context.Background(), target, &cam.Ledger, e2ee.NewOpener("clean", key))
	requireClean(t, v)
	require.True(t, v.SequenceChecked)
	require.True(t, v.Encrypted)
	require.Equal(t, consumer.Verification{
		Stream: "clean", Produced: 75, AckedFragments: 5, AckedFrames: 75,
		Stored: 5, Received: 5, SequenceChecked: true, Encrypted: true, Delivered: 75,
	}, v)
}

// TestVerifyReportsAckedFragmentNeverStored: a fragment the camera recorded
// as PERSISTED that the service does not have is lost, frames and fragment.
func TestVerifyReportsAckedFragmentNeverStored(t *testing.T) {
	_, target := startStack(t, "")
	key := consumerKey(t, 2)
	cam, gops := e2eeCamera(t, target, "lossy", key, 2)
	cam.put(gops.fragments(2))
	phantom := gops.fragments(1)[0] // produced and "acknowledged", never sent
	cam.record(phantom, true)
	cam.put(gops.fragments(1))

	v := consumer.Verify(context.Background(), target, &cam.Ledger, e2ee.NewOpener("lossy", key))
	require.False(t, v.OK())
	require.Empty(t, v.Err)
	require.Equal(t, uint64(15), v.LostFrames)
	require.Equal(t, 1, v.LostFragments)
	require.Equal(t, []simulator.SeqRange{{First: 30, Last: 44}}, v.LostHoles)
	require.Zero(t, v.Gaps, "an acknowledged hole is a loss, not an unexplained gap")
	require.Zero(t, v.IntegrityFailures)
	require.Equal(t, uint64(45), v.Delivered)
	require.Equal(t, 3, v.Stored)
}

// TestVerifyDuplicatedAndReorderedFramesFailIntegrity: frames duplicated or
// swapped inside a fragment do not authenticate; the fragments are reported
// and their frames after the failure count as lost.
func TestVerifyDuplicatedAndReorderedFramesFailIntegrity(t *testing.T) {
	_, target := startStack(t, "")
	key := consumerKey(t, 3)
	cam, gops := e2eeCamera(t, target, "tampered", key, 3)
	frags := gops.fragments(4)
	frags[1].order = []int{0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14} // frame 3 twice
	frags[2].order = []int{0, 1, 2, 3, 5, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14}    // 4 and 5 swapped
	frags[3].order = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}        // the final frame cut off
	numbers := cam.put(frags)

	v := consumer.Verify(context.Background(), target, &cam.Ledger, e2ee.NewOpener("tampered", key))
	require.False(t, v.OK())
	require.Empty(t, v.Err)
	require.Equal(t, 3, v.IntegrityFailures, "%+v", v)
	require.Len(t, v.IntegrityErrors, 3)
	for i, e := range v.IntegrityErrors {
		require.Equal(t, numbers[frags[i+1].tc], e.Fragment)
		require.Contains(t, e.Error, e2ee.ErrAuth.Error())
	}
	// Frames before the failure authenticate; the rest of each fragment is lost.
	require.Equal(t, []simulator.SeqRange{{First: 19, Last: 29}, {First: 34, Last: 44}, {First: 58, Last: 59}}, v.LostHoles)
	require.Equal(t, uint64(11+11+2), v.LostFrames)
	require.Equal(t, 3, v.LostFragments)
	require.Equal(t, 12+11+1, v.IntegrityFailedFrames) // blocks from the first failure on
	require.Zero(t, v.DuplicateFrames, "a duplicate never authenticates, so it is never delivered")
	require.Zero(t, v.OutOfOrder)
}

// TestVerifyEnvelopeAndPlaintextSubstitution: a fragment with two
// envelopes, and a plaintext fragment slipped into an encrypted stream,
// are integrity failures.
func TestVerifyEnvelopeAndPlaintextSubstitution(t *testing.T) {
	_, target := startStack(t, "")
	key := consumerKey(t, 12)
	cam, gops := e2eeCamera(t, target, "swapped", key, 12)
	frags := gops.fragments(2)
	frags[1].envelopes = 2
	numbers := cam.put(frags)
	intruder := newTestCamera(t, target, "swapped", cam.track, nil)
	plain := gops.fragments(1)
	numbers[plain[0].tc] = intruder.put(plain)[plain[0].tc]
	cam.record(plain[0], true) // the camera sent these frames sealed and saw them acknowledged

	v := consumer.Verify(context.Background(), target, &cam.Ledger, e2ee.NewOpener("swapped", key))
	require.Equal(t, 2, v.IntegrityFailures, "%+v", v)
	require.Equal(t, numbers[frags[1].tc], v.IntegrityErrors[0].Fragment)
	require.Contains(t, v.IntegrityErrors[0].Error, consumer.ErrEnvelope.Error())
	require.Equal(t, numbers[plain[0].tc], v.IntegrityErrors[1].Fragment)
	require.Contains(t, v.IntegrityErrors[1].Error, consumer.ErrNotEncrypted.Error())
	require.Equal(t, uint64(30), v.LostFrames)
	require.Equal(t, uint64(15), v.Delivered)
}

// TestVerifyGapsAgainstDropped: sequence numbers nobody accounted for are a
// gap; the same hole recorded as dropped by the camera is not; a frame the
// camera says it dropped that shows up is reported.
func TestVerifyGapsAgainstDropped(t *testing.T) {
	_, target := startStack(t, "")
	key := consumerKey(t, 4)
	cam, gops := e2eeCamera(t, target, "gappy", key, 4)
	before := gops.fragments(2)
	cam.put(before)
	gops.skip(15) // frames 30..44 produced, never sent
	after := gops.fragments(2)
	cam.put(after)
	cam.Ledger.Produced = max(cam.Ledger.Produced, 75)
	opener := e2ee.NewOpener("gappy", key)

	v := consumer.Verify(context.Background(), target, &cam.Ledger, opener)
	require.Equal(t, 1, v.Gaps, "%+v", v)
	require.Equal(t, uint64(15), v.GapFrames)
	require.Equal(t, []simulator.SeqRange{{First: 30, Last: 44}}, v.GapRanges)
	require.Zero(t, v.LostFrames)
	require.False(t, v.OK())

	explained := cam.Ledger
	explained.Drop(simulator.SeqRange{First: 30, Last: 44}, simulator.DropOverflow, true)
	v = consumer.Verify(context.Background(), target, &explained, opener)
	requireClean(t, v)
	require.Equal(t, uint64(15), v.CameraDroppedFrames)
	require.Equal(t, 1, v.CameraDroppedFragments)

	// A camera that claims it dropped frames 45..59, which it in fact sent.
	lying := simulator.Ledger{Stream: "gappy", Start: cam.Ledger.Start, End: cam.Ledger.End, Produced: 75}
	lying.Ack(before[0].tc, simulator.SeqRange{First: 0, Last: 14})
	lying.Ack(before[1].tc, simulator.SeqRange{First: 15, Last: 29})
	lying.Drop(simulator.SeqRange{First: 30, Last: 44}, simulator.DropOverflow, true)
	lying.Drop(simulator.SeqRange{First: 45, Last: 59}, simulator.DropRejected, true)
	lying.Ack(after[1].tc, simulator.SeqRange{First: 60, Last: 74})
	v = consumer.Verify(context.Background(), target, &lying, opener)
	require.Equal(t, uint64(15), v.DroppedDelivered, "%+v", v)
	require.Equal(t, []simulator.SeqRange{{First: 45, Last: 59}}, v.DroppedDeliveredRanges)
	require.Zero(t, v.Gaps)
	require.Zero(t, v.LostFrames)
	require.False(t, v.OK())
}

// TestVerifyInFlightFramesAreNeitherLostNorGaps: fragments the camera never
// saw acknowledged may or may not be stored.
func TestVerifyInFlightFramesAreNeitherLostNorGaps(t *testing.T) {
	_, target := startStack(t, "")
	key := consumerKey(t, 5)
	cam, gops := e2eeCamera(t, target, "inflight", key, 5)
	frags := gops.fragments(4)
	frags[2].unacked, frags[3].unacked = true, true
	cam.put(frags[:3]) // fragment 3 stored, fragment 4 never arrived
	cam.record(frags[3], false)

	v := consumer.Verify(context.Background(), target, &cam.Ledger, e2ee.NewOpener("inflight", key))
	requireClean(t, v)
	require.Equal(t, uint64(15), v.UnackedDelivered)
	require.Equal(t, uint64(60), v.Produced)
	require.Equal(t, uint64(30), v.AckedFrames)
}

// TestVerifyWithAnotherConsumersKey: a consumer that is not a recipient
// authenticates nothing.
func TestVerifyWithAnotherConsumersKey(t *testing.T) {
	_, target := startStack(t, "")
	cam, gops := e2eeCamera(t, target, "private", consumerKey(t, 6), 6)
	cam.put(gops.fragments(3))

	v := consumer.Verify(context.Background(), target, &cam.Ledger, e2ee.NewOpener("private", consumerKey(t, 7)))
	require.Empty(t, v.Err)
	require.False(t, v.OK())
	require.Equal(t, 3, v.IntegrityFailures)
	require.Equal(t, 45, v.IntegrityFailedFrames)
	for _, e := range v.IntegrityErrors {
		require.Contains(t, e.Error, e2ee.ErrNotRecipient.Error())
	}
	require.Equal(t, uint64(45), v.LostFrames)
	require.Equal(t, 3, v.LostFragments)
	require.Zero(t, v.Delivered)
	require.True(t, v.SequenceChecked)

	// Read without any key, the stream is checked per fragment only.
	v = consumer.Verify(context.Background(), target, &cam.Ledger, nil)
	requireClean(t, v)
	require.False(t, v.SequenceChecked)
	require.True(t, v.Encrypted)
	require.Equal(t, uint64(45), v.Delivered)
}

// TestVerifyPlaintextSyntheticStream: without encryption the synthetic SEI
// numbers are checked; a frame missing inside an acknowledged fragment is lost.
func TestVerifyPlaintextSyntheticStream(t *testing.T) {
	_, target := startStack(t, "")
	src := syntheticSource(t, 8)
	cam := newTestCamera(t, target, "plain", src.Track(), nil)
	gops := &gopReader{src: src, base: baseMs()}
	cam.put(gops.fragments(3))

	v := consumer.Verify(context.Background(), target, &cam.Ledger, nil)
	requireClean(t, v)
	require.True(t, v.SequenceChecked)
	require.False(t, v.Encrypted)
	require.Equal(t, uint64(45), v.Delivered)

	// A broken path loses frame 50 of an acknowledged fragment.
	frags := gops.fragments(2)
	frags[0].order = []int{0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	cam.put(frags)
	v = consumer.Verify(context.Background(), target, &cam.Ledger, nil)
	require.False(t, v.OK())
	require.Equal(t, uint64(1), v.LostFrames)
	require.Equal(t, []simulator.SeqRange{{First: 50, Last: 50}}, v.LostHoles)
	require.Equal(t, 1, v.LostFragments)
	require.Zero(t, v.IntegrityFailures)

	// Reordered plaintext frames are out of order.
	frags = gops.fragments(1)
	frags[0].order = []int{0, 1, 2, 4, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	numbers := cam.put(frags)
	v = consumer.Verify(context.Background(), target, &cam.Ledger, nil)
	require.Equal(t, 1, v.OutOfOrder, "%+v", v)
	require.Len(t, v.Reorders, 1)
	require.Equal(t, consumer.Reorder{Fragment: numbers[frags[0].tc], After: 79, Seq: 78}, v.Reorders[0])
}

// TestVerifyOtherMediaUnderAcknowledgedTimestamps: a second session sends
// other frames under the same producer timestamps. The service keeps the
// first and acknowledges the second with its number, so the frames the
// camera saw acknowledged are not the ones stored: lost.
func TestVerifyOtherMediaUnderAcknowledgedTimestamps(t *testing.T) {
	_, target := startStack(t, "")
	key := consumerKey(t, 9)
	cam, gops := e2eeCamera(t, target, "twice", key, 9)
	frags := gops.fragments(2)
	cam.put(frags)
	opener := e2ee.NewOpener("twice", key)
	requireClean(t, consumer.Verify(context.Background(), target, &cam.Ledger, opener))

	again := newTestCamera(t, target, "twice", cam.track, newSealer(t, "twice", 10, key))
	resend := slices.Clone(frags)
	for i := range resend {
		resend[i].frames = slices.Clone(resend[i].frames)
		for j := range resend[i].frames {
			resend[i].frames[j].seq += 30 // the camera's next numbers, but the old timestamps
		}
	}
	again.put(resend)
	v := consumer.Verify(context.Background(), target, &again.Ledger, opener)
	require.False(t, v.OK())
	require.Equal(t, uint64(30), v.LostFrames, "%+v", v)
	require.Equal(t, 2, v.LostFragments)
	require.Zero(t, v.DuplicateFragments, "the reference ingest stores a producer timestamp once")

	// An identical resend is fine.
	cam.put(frags)
	requireClean(t, consumer.Verify(context.Background(), target, &cam.Ledger, opener))
}

// TestReadFragmentsBatchesAndReportsUnserved: every requested number
// reaches the callback once, in order, across batches; one the service
// does not have arrives with ErrNotServed.
func TestReadFragmentsBatchesAndReportsUnserved(t *testing.T) {
	_, target := startStack(t, "")
	key := consumerKey(t, 11)
	cam, gops := e2eeCamera(t, target, "batches", key, 11)
	cam.put(gops.fragments(7))
	r := &consumer.Reader{Target: target, Stream: "batches", Opener: e2ee.NewOpener("batches", key), BatchSize: 3}
	listed, err := r.List(context.Background(), cam.Ledger.Start, cam.Ledger.End)
	require.NoError(t, err)
	require.Len(t, listed, 7)
	var want []string
	for _, f := range listed {
		want = append(want, f.FragmentNumber)
	}
	unknown := "99999999999999999999999999999999999999999999999"
	ask := slices.Insert(slices.Clone(want), 4, unknown)

	var got []string
	var seqs []uint64
	err = r.ReadFragments(context.Background(), ask, func(f *consumer.Fragment) error {
		got = append(got, f.Number)
		if f.Number == unknown {
			require.ErrorIs(t, f.Err, consumer.ErrNotServed)
			return nil
		}
		require.NoError(t, f.Err)
		require.NoError(t, f.Integrity)
		require.True(t, f.Opened)
		require.Equal(t, f.ProducerTimestamp.UnixMilli(), f.Timecode)
		for _, fr := range f.Video().Frames {
			seqs = append(seqs, fr.Seq)
			_, numbered := media.SyntheticSequence(fr.Data)
			require.True(t, numbered, "the plaintext is the synthetic frame")
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, ask, got)
	require.Len(t, seqs, 105)
	for i, s := range seqs {
		require.Equal(t, uint64(i), s)
	}

	stop := errors.New("enough")
	calls := 0
	err = r.ReadFragments(context.Background(), want, func(*consumer.Fragment) error { calls++; return stop })
	require.Same(t, stop, err, "the callback's error comes back as is")
	require.Equal(t, 1, calls)
}

// TestCamerasStreamAndVerify runs real simulated cameras — encrypted and
// plaintext, synthetic and clip, paced and offline (as fast as possible) —
// into the embedded stack and verifies each against its ledger.
func TestCamerasStreamAndVerify(t *testing.T) {
	_, target := startStack(t, "")
	key := consumerKey(t, 40)
	clip, err := fixtures.H264()
	require.NoError(t, err)
	cams := []struct {
		name      string
		src       media.Source
		encrypted bool
		realTime  bool
		d         time.Duration
		seq       bool
	}{
		{"sealed-fast", syntheticSource(t, 1), true, false, 4 * time.Second, true},
		{"sealed-realtime", syntheticSource(t, 2), true, true, 2500 * time.Millisecond, true},
		{"plain-synthetic", syntheticSource(t, 3), false, false, 3 * time.Second, true},
		{"plain-clip", media.NewClip(clip), false, false, 6 * time.Second, false},
	}
	results := make([]simulator.CameraResult, len(cams))
	var wg sync.WaitGroup
	for i, c := range cams {
		cfg := simulator.CameraConfig{StreamName: c.name, Source: c.src, Seed: uint64(i + 1), Offline: !c.realTime}
		if c.encrypted {
			cfg.Recipients = []e2ee.PublicKey{key.Public()}
		}
		cam, err := simulator.NewCamera(cfg, target)
		require.NoError(t, err)
		wg.Go(func() { results[i] = cam.Run(context.Background(), time.Now().Add(c.d)) })
	}
	wg.Wait()
	for i, c := range cams {
		r := results[i]
		require.Nil(t, r.Failure, "camera %s failed", c.name)
		require.Positive(t, r.Ledger.AckedFragments, c.name)
		var opener *e2ee.Opener
		if c.encrypted {
			opener = e2ee.NewOpener(c.name, key)
		}
		v := consumer.Verify(context.Background(), target, &r.Ledger, opener)
		requireClean(t, v)
		require.Equal(t, c.seq, v.SequenceChecked, c.name)
		require.Equal(t, c.encrypted, v.Encrypted, c.name)
		require.Equal(t, r.Ledger.AckedFragments, v.Stored, c.name)
		if c.seq {
			require.Equal(t, r.Ledger.AckedFrames, v.Delivered, c.name)
		}
		t.Logf("%s: %d fragments, %d frames acknowledged and delivered", c.name, v.AckedFragments, v.Delivered)
	}
}
