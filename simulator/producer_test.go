package simulator_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/consumer"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/simulator/netem"
)

// Behaviour tests of the producer (kvs-protocol.md §4) against the embedded
// stack, with faults injected by a netem link on the camera's side at exact
// times. Every camera encrypts; every run is read back and decrypted by a
// consumer and measured against the camera's ledger.

// Frames are 100 ms apart and fragments (GOPs) 1 s long, so a fragment's
// cluster timecode is Ledger.Start plus a whole number of seconds and fault
// times like 3.5 s fall in the middle of a fragment.
const (
	testFPS = 10
	testGOP = time.Second
)

// smallSource is the synthetic 128 kbps, 10 fps, 160x120 source every
// producer test films.
func smallSource(t *testing.T) media.Source {
	t.Helper()
	src, err := media.NewSynthetic(media.SyntheticConfig{BitrateBps: 128_000, FPS: testFPS, GOP: testGOP, Seed: 3, Width: 160, Height: 120})
	require.NoError(t, err)
	return src
}

// ackLog records, in order, every session a camera opened and every ACK it
// read, to check what the rollback resent.
type ackLog struct {
	mu     sync.Mutex
	events []ackEvent
}

type ackEvent struct {
	session  int              // sessions opened before the event
	kind     kvsapi.EventType // "" for a session opening
	timecode int64
	id       kvsapi.ErrorID // of an ERROR
}

func (l *ackLog) onAck(a kvsapi.Ack, _ simulator.AckInfo) {
	if !a.HasTimecode {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ackEvent{session: l.sessions(), kind: a.EventType, timecode: a.FragmentTimecode, id: a.ErrorID})
}

func (l *ackLog) onSession(bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ackEvent{session: l.sessions() + 1})
}

// sessions counts the sessions opened so far; l.mu is held.
func (l *ackLog) sessions() int {
	n := 0
	for _, e := range l.events {
		if e.kind == "" {
			n++
		}
	}
	return n
}

// count is how many ACKs of kind named the fragment at timecode.
func (l *ackLog) count(kind kvsapi.EventType, timecode int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.kind == kind && e.timecode == timecode {
			n++
		}
	}
	return n
}

// resentAfter lists the fragments the service saw again (a new BUFFERING)
// after it had acknowledged them with kind.
func (l *ackLog) resentAfter(kind kvsapi.EventType) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[int64]bool{}
	var out []int64
	for _, e := range l.events {
		switch e.kind {
		case kind:
			seen[e.timecode] = true
		case kvsapi.EventBuffering:
			if seen[e.timecode] && !slices.Contains(out, e.timecode) {
				out = append(out, e.timecode)
			}
		}
	}
	return out
}

// persistedTwice lists fragments acknowledged PERSISTED more than once.
func (l *ackLog) persistedTwice() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := map[int64]int{}
	var out []int64
	for _, e := range l.events {
		if e.kind == kvsapi.EventPersisted {
			if n[e.timecode]++; n[e.timecode] == 2 {
				out = append(out, e.timecode)
			}
		}
	}
	return out
}

// errors lists the ERROR ACKs that named a fragment.
func (l *ackLog) errors() []ackEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []ackEvent
	for _, e := range l.events {
		if e.kind == kvsapi.EventError {
			out = append(out, e)
		}
	}
	return out
}

func (l *ackLog) last() ackEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) == 0 {
		return ackEvent{}
	}
	return l.events[len(l.events)-1]
}

// faultRig is one embedded stack, the consumer's key, and a camera whose
// every connection (control plane and PutMedia) goes through a netem link.
type faultRig struct {
	direct  simulator.Target // the stack's own client, for reading back
	key     *e2ee.PrivateKey
	profile netem.Profile
	sched   netem.Schedule
	linkOpt []netem.Option
	link    *netem.Link
	acks    ackLog
}

func newFaultRig(t *testing.T, profile netem.Profile, sched netem.Schedule, opts ...netem.Option) *faultRig {
	t.Helper()
	return &faultRig{direct: embedded(t), key: consumerKey(t), profile: profile, sched: sched, linkOpt: opts}
}

// run films for d in real time and returns when the camera has delivered
// what it could. The link's schedule starts just before the camera does,
// so event times are offsets into the recording.
func (r *faultRig) run(t *testing.T, cfg simulator.CameraConfig, d time.Duration) simulator.CameraResult {
	t.Helper()
	link, err := netem.NewLink(r.profile, 1, append([]netem.Option{netem.WithSchedule(r.sched)}, r.linkOpt...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = link.Close() })
	r.link = link
	tr := &http.Transport{DialContext: link.DialContext, TLSClientConfig: r.direct.HTTP.Transport.(*http.Transport).TLSClientConfig,
		DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	cfg.Source = smallSource(t)
	cfg.Recipients = []e2ee.PublicKey{r.key.Public()}
	cfg.OnAck, cfg.OnSession = r.acks.onAck, r.acks.onSession
	cam, err := simulator.NewCamera(cfg, simulator.Target{ControlPlaneURL: r.direct.ControlPlaneURL, HTTP: &http.Client{Transport: tr}, Credentials: r.direct.Credentials, Region: r.direct.Region})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	return cam.Run(ctx, link.Start().Add(d))
}

// verify reads the stream back with the consumer's key and requires what
// must hold in every case: nothing acknowledged lost, nothing forged,
// duplicated after de-duplication, reordered or unexplained.
func (r *faultRig) verify(t *testing.T, res *simulator.CameraResult) consumer.Verification {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v := consumer.Verify(ctx, r.direct, &res.Ledger, e2ee.NewOpener(res.StreamName, r.key))
	why := fmt.Sprintf("verification %+v\ncamera %+v\nledger %+v", v, res.Counters, res.Ledger)
	require.Empty(t, v.Err, why)
	require.True(t, v.Encrypted, why)
	require.True(t, v.SequenceChecked, why)
	require.Zero(t, v.LostFrames, why)
	require.Zero(t, v.LostFragments, why)
	require.Zero(t, v.IntegrityFailures, why)
	require.Zero(t, v.DuplicateFramesAfterDedup, why)
	require.Zero(t, v.Gaps, why)
	require.Zero(t, v.OutOfOrder, why)
	require.Zero(t, v.NotServed, why)
	require.Zero(t, v.UnnumberedFrames, why)
	require.Zero(t, v.DroppedDelivered, why)
	require.Zero(t, v.Unexpected, why)
	return v
}

// requireEverythingAcked: every frame produced is in one acknowledged run,
// each fragment counted once, and the consumer decrypted every frame.
func requireEverythingAcked(t *testing.T, res *simulator.CameraResult, v consumer.Verification) {
	t.Helper()
	l := &res.Ledger
	why := fmt.Sprintf("camera %+v\nledger %+v", res.Counters, *l)
	require.Nil(t, res.Failure, why)
	require.Positive(t, res.Fragments, why)
	require.Equal(t, res.Fragments, l.AckedFragments, "each fragment acknowledged exactly once in the ledger; %s", why)
	require.Len(t, l.Acked, 1, why)
	require.Equal(t, simulator.SeqRange{First: 0, Last: l.Produced - 1}, l.Acked[0].Frames, why)
	require.Equal(t, l.Produced, l.AckedFrames, why)
	require.Empty(t, l.Dropped, why)
	require.Empty(t, l.Unconfirmed, why)
	require.Equal(t, l.Produced, v.Delivered, "every frame read back and decrypted; %s", why)
}

// fragmentAt is the cluster timecode of the fragment that starts at offset
// into the recording.
func fragmentAt(res *simulator.CameraResult, offset time.Duration) int64 {
	return res.Ledger.Start.UnixMilli() + offset.Milliseconds()
}

// requireResumedMidFragment checks the rollback after a connection died in
// the fragment that started at offset: nothing PERSISTED was sent again,
// but the interrupted fragment was (a second BUFFERING).
func requireResumedMidFragment(t *testing.T, r *faultRig, res *simulator.CameraResult, offset time.Duration) {
	t.Helper()
	require.Empty(t, r.acks.resentAfter(kvsapi.EventPersisted), "no PERSISTED fragment is sent again")
	require.Empty(t, r.acks.persistedTwice())
	require.GreaterOrEqual(t, r.acks.count(kvsapi.EventBuffering, fragmentAt(res, offset)), 2,
		"the fragment cut off at %v is sent again from its start", offset)
}

// TestProducerResetMidStream: a TCP reset in the middle of a fragment. The
// camera reconnects, sends again what was not yet PERSISTED (a reset is a
// "dead host" result, §4.4, so it replays rather than trusting RECEIVED)
// and nothing is lost or counted twice.
func TestProducerResetMidStream(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, netem.Profile{Name: "reset"}, netem.Schedule{{At: 3500 * time.Millisecond, Kind: netem.KindReset}})
	res := r.run(t, simulator.CameraConfig{StreamName: "reset-mid-stream", Seed: 1, Staleness: time.Second}, 7*time.Second)
	v := r.verify(t, &res)
	requireEverythingAcked(t, &res, v)
	require.Equal(t, int64(1), r.link.Stats().Resets)
	require.GreaterOrEqual(t, res.Reconnects, 1)
	require.GreaterOrEqual(t, res.Resent, 0)
	require.Equal(t, res.Reconnects+1, res.Sessions)
	requireResumedMidFragment(t, r, &res, 3*time.Second)
}

// TestProducerCutMidFragment: the connection dies after a byte budget that
// runs out inside a fragment (and inside a TLS record). Same guarantees as
// a reset.
func TestProducerCutMidFragment(t *testing.T) {
	t.Parallel()
	// 128 kbps is 16 KB/s: 6 KB after 3.2 s ends the connection near 3.6 s.
	r := newFaultRig(t, netem.Profile{Name: "cut"}, netem.Schedule{{At: 3200 * time.Millisecond, Kind: netem.KindCut, Bytes: 6000}})
	res := r.run(t, simulator.CameraConfig{StreamName: "cut-mid-fragment", Seed: 2, Staleness: time.Second}, 7*time.Second)
	v := r.verify(t, &res)
	requireEverythingAcked(t, &res, v)
	require.Equal(t, int64(1), r.link.Stats().Cuts)
	require.GreaterOrEqual(t, res.Reconnects, 1)
	require.GreaterOrEqual(t, res.Resent, 0)
	requireResumedMidFragment(t, r, &res, 3*time.Second)
}

// TestProducerHalfOpenBlackHole: the connection goes silent both ways
// without an error. Only the missing BUFFERING ACKs show it: the camera
// resets the connection after Staleness, resumes after the last RECEIVED
// fragment (a staleness reset leaves the host "alive", §4.5) and delivers
// everything.
func TestProducerHalfOpenBlackHole(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, netem.Profile{Name: "half-open"}, netem.Schedule{{At: 3500 * time.Millisecond, Kind: netem.KindBlackHole}})
	res := r.run(t, simulator.CameraConfig{StreamName: "half-open", Seed: 3, Staleness: time.Second}, 8*time.Second)
	v := r.verify(t, &res)
	requireEverythingAcked(t, &res, v)
	require.Equal(t, int64(1), r.link.Stats().BlackHoles)
	require.GreaterOrEqual(t, res.StaleResets, 1)
	require.GreaterOrEqual(t, res.Reconnects, 1)
	// The fragment from 3 s was sent in full into the black hole and never
	// RECEIVED, so it is sent again; nothing RECEIVED before is.
	require.GreaterOrEqual(t, res.Resent, 1)
	require.Empty(t, r.acks.resentAfter(kvsapi.EventReceived), "the rollback resumes after the last RECEIVED")
	requireResumedMidFragment(t, r, &res, 3*time.Second)
}

// TestProducerOutageCatchUp: the network is gone for 3 s. The open
// connection goes silent, new dials are refused until the outage ends, the
// camera backs off and retries, then sends its backlog; with the default
// 120 s buffer nothing is dropped.
func TestProducerOutageCatchUp(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, netem.Profile{Name: "outage"},
		netem.Schedule{{At: 3500 * time.Millisecond, Kind: netem.KindOutage, Duration: 3 * time.Second}})
	res := r.run(t, simulator.CameraConfig{StreamName: "outage-catch-up", Seed: 4, Staleness: time.Second}, 10*time.Second)
	v := r.verify(t, &res)
	requireEverythingAcked(t, &res, v)
	st := r.link.Stats()
	require.Equal(t, int64(1), st.Outages)
	require.GreaterOrEqual(t, st.DialsRefused, int64(1), "dials during the outage are refused")
	require.GreaterOrEqual(t, res.ConnectFailures, 1, "the camera retried while the network was down")
	require.GreaterOrEqual(t, res.Reconnects, 1)
	require.GreaterOrEqual(t, res.Resent, 1, "the fragment sent into the silent connection is sent again")
	require.Zero(t, res.Ledger.DroppedFrames)
	require.Zero(t, v.CameraDroppedFrames)
	require.Empty(t, r.acks.resentAfter(kvsapi.EventPersisted))
	require.Empty(t, r.acks.persistedTwice())
}

// TestProducerOutageOverflowsBuffer: an outage longer than the buffer. The
// camera evicts its oldest fragments (DROP_TAIL_ITEM): those it never
// started sending are dropped for overflow, those it was sending into the
// dead connection when the outage began are unconfirmed (they may have
// been stored). The consumer counts neither as lost or as gaps, and no
// dropped frame is delivered after all. The newest fragments, still
// buffered when the network returns, are delivered.
func TestProducerOutageOverflowsBuffer(t *testing.T) {
	t.Parallel()
	const (
		outageAt  = 2500 * time.Millisecond
		outageFor = 5 * time.Second
		buffer    = 2 * time.Second
		// With backoff capped at 1 s the camera is back by 8.5 s; at 8 s
		// it can have evicted the fragment from 5 s, not the one from 6 s.
		keptFrom = outageAt + outageFor - buffer + 500*time.Millisecond
	)
	r := newFaultRig(t, netem.Profile{Name: "long-outage"}, netem.Schedule{{At: outageAt, Kind: netem.KindOutage, Duration: outageFor}})
	res := r.run(t, simulator.CameraConfig{StreamName: "outage-overflow", Seed: 5, Staleness: time.Second,
		BufferDuration: buffer, BackoffCap: time.Second}, 11*time.Second)
	v := r.verify(t, &res)
	l := &res.Ledger
	why := fmt.Sprintf("camera %+v\nledger %+v\nverification %+v", res.Counters, *l, v)

	require.Positive(t, len(l.Dropped)+len(l.Unconfirmed), "something was evicted; %s", why)
	for _, d := range l.Dropped {
		require.Equal(t, simulator.DropOverflow, d.Reason, why)
		// Only what was filmed during the outage can have been evicted.
		require.GreaterOrEqual(t, frameTime(d.Frames.First), outageAt-testGOP/2, why)
		require.Less(t, frameTime(d.Frames.Last), keptFrom, why)
	}
	for _, u := range l.Unconfirmed {
		require.GreaterOrEqual(t, frameTime(u.First), outageAt-testGOP/2, why)
		require.Less(t, frameTime(u.Last), keptFrom, why)
	}
	require.Positive(t, l.DroppedFragments+l.UnconfirmedFragments, why)
	require.Equal(t, l.DroppedFrames, v.CameraDroppedFrames, "the consumer sees the camera's drops as drops; %s", why)
	require.Equal(t, l.DroppedFragments, v.CameraDroppedFragments, why)
	require.Zero(t, v.DroppedDelivered, why) // also in verify: no evicted frame reached the service

	// Every frame is accounted for exactly once.
	var unconfirmed uint64
	for _, u := range l.Unconfirmed {
		unconfirmed += u.Len()
	}
	require.Equal(t, l.Produced, l.AckedFrames+l.DroppedFrames+unconfirmed, why)
	require.Equal(t, res.Fragments, l.AckedFragments+l.DroppedFragments+l.UnconfirmedFragments, why)
	require.Equal(t, l.AckedFrames, v.Delivered, why)
	// What was filmed before the outage, and what the buffer still held
	// when it ended, is delivered: the oldest went, not the newest.
	for seq := range l.Produced {
		if at := frameTime(seq); at < outageAt-testGOP/2 || at >= keptFrom {
			require.True(t, l.IsAcked(seq), "frame %d (%v) acknowledged; %s", seq, at, why)
		}
	}
	require.NotNil(t, res.Failure, "a camera that dropped frames says so")
	require.Equal(t, simulator.KindNotPersisted, res.Failure.Kind)
	require.Empty(t, r.acks.resentAfter(kvsapi.EventPersisted))
}

// TestProducerSlowUplinkOverflow: an uplink at half the camera's bitrate
// with a 4 KiB socket queue, so each write blocks while the backlog grows
// past a 2 s buffer. The camera must evict from the old end, and what it
// records as dropped must not reach the service; a fragment it was still
// writing when it evicted it may have been stored, so it can only be
// unconfirmed.
func TestProducerSlowUplinkOverflow(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, netem.Profile{Name: "slow-uplink", Faults: []netem.Fault{netem.Bandwidth{Up: 64 * netem.Kbps}}}, nil,
		netem.WithQueueBytes(4096))
	res := r.run(t, simulator.CameraConfig{StreamName: "slow-uplink", Seed: 9, BufferDuration: 2 * time.Second,
		DrainTimeout: 2 * time.Second, FinalAckTimeout: 2 * time.Second}, 6*time.Second)
	v := r.verify(t, &res) // fails: DroppedDelivered
	l := &res.Ledger
	why := fmt.Sprintf("camera %+v\nledger %+v\nverification %+v", res.Counters, *l, v)
	require.Positive(t, l.DroppedFragments+l.UnconfirmedFragments, "the buffer overflowed; %s", why)
	for _, d := range l.Dropped {
		require.Equal(t, simulator.DropOverflow, d.Reason, why)
	}
	var unconfirmed uint64
	for _, u := range l.Unconfirmed {
		unconfirmed += u.Len()
	}
	require.Equal(t, l.Produced, l.AckedFrames+l.DroppedFrames+unconfirmed, why)
}

// frameTime is when frame seq was filmed, from the start of the recording.
func frameTime(seq uint64) time.Duration { return time.Duration(seq) * time.Second / testFPS }

// TestProducerRotation: planned connection rotations (§4.7) every 1.5 s.
// Each closes its last fragment, hands over once it is RECEIVED and lets
// the old connection wait for its PERSISTED: no reconnects, nothing sent
// twice, nothing stored twice.
func TestProducerRotation(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, netem.Profile{Name: "rotation", Faults: []netem.Fault{netem.Latency{Delay: 20 * time.Millisecond}}}, nil)
	res := r.run(t, simulator.CameraConfig{StreamName: "rotation", Seed: 6, Rotation: 1500 * time.Millisecond}, 8*time.Second)
	v := r.verify(t, &res)
	requireEverythingAcked(t, &res, v)
	require.GreaterOrEqual(t, res.Rotations, 2)
	require.Zero(t, res.Reconnects, "a rotation is not a reconnect")
	// Every rotation but one that comes as capture ends opens a new session.
	require.GreaterOrEqual(t, res.Sessions, 3)
	require.Contains(t, []int{res.Rotations, res.Rotations + 1}, res.Sessions)
	require.Zero(t, res.StaleResets)
	require.Zero(t, res.Resent, "the old connection had its last fragment RECEIVED before the new one began")
	require.Zero(t, v.DuplicateFragments)
	require.Zero(t, v.DuplicateFrames)
	require.Len(t, listed(t, r.direct, "rotation"), res.Fragments)
}

// TestProducerBackoffIsSeeded: with the control plane refusing every
// connection, the camera retries with exponential backoff and full jitter
// drawn from its seed. Two cameras with the same seed make their attempts
// on the same schedule; a third with another seed does not. Each attempt is
// counted where it happens, at the dialer.
func TestProducerBackoffIsSeeded(t *testing.T) {
	t.Parallel()
	const (
		base     = 100 * time.Millisecond
		ceiling  = time.Second
		minGaps  = 8
		slack    = 60 * time.Millisecond // scheduling noise between two cameras
		distinct = 150 * time.Millisecond
	)
	key := consumerKey(t)
	type attempts struct {
		res   simulator.CameraResult
		dials []time.Time
	}
	run := func(name string, seed uint64, until time.Time) *attempts {
		a := &attempts{}
		var mu sync.Mutex
		refused := &net.Dialer{}
		tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			a.dials = append(a.dials, time.Now())
			mu.Unlock()
			return refused.DialContext(ctx, network, addr)
		}}
		cam, err := simulator.NewCamera(simulator.CameraConfig{StreamName: name, Source: smallSource(t), Seed: seed,
			Recipients: []e2ee.PublicKey{key.Public()}, BackoffBase: base, BackoffCap: ceiling, DrainTimeout: 2 * time.Second},
			simulator.Target{ControlPlaneURL: "https://127.0.0.1:1", HTTP: &http.Client{Transport: tr}})
		require.NoError(t, err)
		a.res = cam.Run(context.Background(), until)
		return a
	}
	until := time.Now().Add(3 * time.Second)
	var same1, same2, other *attempts
	var wg sync.WaitGroup
	wg.Go(func() { same1 = run("seeded-a", 42, until) })
	wg.Go(func() { same2 = run("seeded-b", 42, until) })
	wg.Go(func() { other = run("seeded-c", 43, until) })
	wg.Wait()

	gaps := func(a *attempts) []time.Duration {
		var g []time.Duration
		for i := 1; i < len(a.dials); i++ {
			g = append(g, a.dials[i].Sub(a.dials[i-1]))
		}
		return g
	}
	for _, a := range []*attempts{same1, same2, other} {
		require.Equal(t, len(a.dials), a.res.ControlFailures, "every attempt is one dial, refused")
		require.Zero(t, a.res.Sessions)
		require.GreaterOrEqual(t, a.res.StreamResets, 1, "five failures of one step reset the stream")
		require.GreaterOrEqual(t, len(a.dials), minGaps+1)
		// Full jitter: the n-th wait is below min(cap, base·2^(n-1)).
		for i, g := range gaps(a) {
			require.Less(t, g, min(ceiling, base<<i)+slack, "wait %d of %v", i, gaps(a))
		}
	}
	g1, g2, g3 := gaps(same1), gaps(same2), gaps(other)
	n := min(len(g1), len(g2), len(g3))
	require.InDelta(t, same1.res.ControlFailures, same2.res.ControlFailures, 1, "same seed, same number of attempts")
	differs := false
	for i := range n {
		require.InDelta(t, g1[i], g2[i], float64(slack), "same seed, same wait %d:\n%v\n%v", i, g1, g2)
		if d := g1[i] - g3[i]; d > distinct || d < -distinct {
			differs = true
		}
	}
	require.True(t, differs, "another seed, other waits:\n%v\n%v", g1, g3)
}

// TestProducerCleanStopWaitsForPersisted: the network freezes for 2.5 s
// just before the end of the run, holding back the last fragment and its
// ACKs. The camera sends END_OF_FRAGMENT and keeps the connection until the
// last PERSISTED arrives (§4.6), however late: when Run returns nothing is
// unconfirmed, and the stream holds exactly the fragments it produced.
func TestProducerCleanStopWaitsForPersisted(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, netem.Profile{Name: "freeze-at-the-end"},
		netem.Schedule{{At: 4500 * time.Millisecond, Kind: netem.KindFreeze, Duration: 2500 * time.Millisecond}})
	res := r.run(t, simulator.CameraConfig{StreamName: "clean-stop", Seed: 8}, 5*time.Second)
	require.Equal(t, 1, res.Sessions)
	require.Zero(t, res.Reconnects)
	require.Zero(t, res.Resent)
	require.Equal(t, int64(1), r.link.Stats().Events[netem.KindFreeze])
	last := r.acks.last()
	require.Equal(t, ackEvent{session: 1, kind: kvsapi.EventPersisted, timecode: fragmentAt(&res, time.Duration(res.Fragments-1)*testGOP)}, last,
		"the last thing the camera heard was the PERSISTED of its last fragment")
	require.Len(t, listed(t, r.direct, "clean-stop"), res.Fragments)
	v := r.verify(t, &res)
	requireEverythingAcked(t, &res, v)
	require.Equal(t, res.Fragments, v.Stored)
	require.Zero(t, v.DuplicateFragments)
}
