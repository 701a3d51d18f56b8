package simulator

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/kvsapi"
)

// testRun is a run over a buffer of n complete, sent fragments one second
// apart, 10 frames each, without a live capture.
func testRun(t *testing.T, n int, cfg CameraConfig) (*run, *uploader) {
	t.Helper()
	if cfg.BufferDuration == 0 {
		cfg.BufferDuration = DefaultBufferDuration
	}
	if cfg.ReplayDuration == 0 {
		cfg.ReplayDuration = 3 * time.Second
	}
	cfg.RetentionHours = 1
	c := &Camera{cfg: cfg}
	res := &CameraResult{RetentionHours: 1}
	r := newRun(c, res)
	for i := range n {
		f := &fragment{id: uint64(i), tc: int64(1000 * i), frames: SeqRange{uint64(10 * i), uint64(10*i + 9)},
			complete: true, sent: true}
		f.data.Append(make([]byte, 100))
		r.frags = append(r.frags, f)
		r.bytes += 100
	}
	r.nextID = uint64(n)
	res.Counters.Fragments = n
	return r, &uploader{c: c, r: r, next: uint64(n)}
}

func ack(r *run, typ kvsapi.EventType, tc int64) {
	r.handleAck(kvsapi.Ack{EventType: typ, FragmentTimecode: tc, HasTimecode: true}, time.Now())
}

// TestRollbackAfterLastReceived: with the host alive the next session
// starts after the newest RECEIVED fragment (§4.4 step 2).
func TestRollbackAfterLastReceived(t *testing.T) {
	r, u := testRun(t, 6, CameraConfig{})
	ack(r, kvsapi.EventReceived, 0)
	ack(r, kvsapi.EventReceived, 1000)
	ack(r, kvsapi.EventReceived, 2000)
	u.rollback(true)
	require.Equal(t, uint64(3), u.next)
}

// TestRollbackReplaysWhenHostDead: a dead host replays ReplayDuration
// regardless of ACKs (§4.4 step 3).
func TestRollbackReplaysWhenHostDead(t *testing.T) {
	r, u := testRun(t, 6, CameraConfig{ReplayDuration: 2 * time.Second})
	for tc := int64(0); tc <= 4000; tc += 1000 {
		ack(r, kvsapi.EventReceived, tc)
	}
	u.rollback(false)
	require.Equal(t, uint64(3), u.next, "fragment 5 at 5000 ms minus 2 s of replay lands on 3000 ms")
}

// TestRollbackWithoutReceivedCoversReplay: alive, but nothing RECEIVED
// within the replay window: walk back the replay duration.
func TestRollbackWithoutReceivedCoversReplay(t *testing.T) {
	_, u := testRun(t, 6, CameraConfig{ReplayDuration: 10 * time.Second})
	u.rollback(true)
	require.Equal(t, uint64(0), u.next, "never before the oldest buffered fragment")
}

// TestPersistedTrimsOnlyTheOldEnd: PERSISTED frees fragments from the old
// end; one still waiting holds the ones after it (as in the SDK).
func TestPersistedTrimsOnlyTheOldEnd(t *testing.T) {
	r, _ := testRun(t, 4, CameraConfig{})
	ack(r, kvsapi.EventPersisted, 1000)
	require.Len(t, r.frags, 4, "fragment 0 still waits")
	ack(r, kvsapi.EventPersisted, 0)
	require.Len(t, r.frags, 2)
	require.Equal(t, int64(200), r.bytes)
	require.Equal(t, []AckedRun{{FirstTimecode: 0, LastTimecode: 1000, Frames: SeqRange{0, 19}, Fragments: 2}}, r.res.Ledger.Acked)
	ack(r, kvsapi.EventPersisted, 0) // a duplicate ACK changes nothing
	require.Equal(t, 2, r.res.Ledger.AckedFragments)
	require.Equal(t, 2, r.settled)
}

// TestNonRetriableErrorSkipsTheFragment: ERROR 4004 marks the fragment
// skipped and drops its frames; a retriable 5000 leaves it for resending.
func TestNonRetriableErrorSkipsTheFragment(t *testing.T) {
	r, _ := testRun(t, 3, CameraConfig{})
	_, fatal := r.handleAck(kvsapi.Ack{EventType: kvsapi.EventError, FragmentTimecode: 1000, HasTimecode: true,
		ErrorID: kvsapi.ErrorID(4004), ErrorCode: "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS"}, time.Now())
	require.True(t, fatal)
	require.True(t, r.frags[1].skip)
	require.Equal(t, []DroppedRun{{Frames: SeqRange{10, 19}, Reason: DropRejected}}, r.res.Ledger.Dropped)
	r.handleAck(kvsapi.Ack{EventType: kvsapi.EventError, FragmentTimecode: 2000, HasTimecode: true,
		ErrorID: kvsapi.ErrorID(5000), ErrorCode: "INTERNAL_ERROR"}, time.Now())
	require.False(t, r.frags[2].skip, "5000 is retriable")
	require.Equal(t, 2, r.res.Counters.AckErrors)
	require.Len(t, r.res.AckErrorsKept, 2)
}

// TestOverflowEvictsOldest: beyond BufferDuration the oldest fragment is
// evicted; never-sent frames count as dropped, sent ones as unconfirmed.
func TestOverflowEvictsOldest(t *testing.T) {
	r, _ := testRun(t, 3, CameraConfig{BufferDuration: 1500 * time.Millisecond})
	r.frags[1].sent = false
	r.frags[2].sent = false
	r.mu.Lock()
	for r.overLimit(3500) {
		r.discardHead(DropOverflow)
	}
	r.mu.Unlock()
	require.Len(t, r.frags, 1, "3500 ms minus 1.5 s keeps only the fragment at 2000 ms")
	require.Equal(t, []SeqRange{{0, 9}}, r.res.Ledger.Unconfirmed)
	require.Equal(t, []DroppedRun{{Frames: SeqRange{10, 19}, Reason: DropOverflow}}, r.res.Ledger.Dropped)
	require.Equal(t, 1, r.res.Ledger.DroppedFragments)
}

// TestByteBoundEvicts: BufferBytes bounds the buffer too.
func TestByteBoundEvicts(t *testing.T) {
	r, _ := testRun(t, 4, CameraConfig{BufferBytes: 250})
	r.mu.Lock()
	for r.overLimit(4000) {
		r.discardHead(DropOverflow)
	}
	r.mu.Unlock()
	require.Len(t, r.frags, 2)
	require.Equal(t, int64(200), r.bytes)
}

// TestAliveErrors follows CONNECTION_DROPPED_HOST_ALIVE.
func TestAliveErrors(t *testing.T) {
	for id, alive := range map[kvsapi.ErrorID]bool{4000: true, 4003: true, 4008: true, 4500: true, 4507: true, 5000: true, 5001: true,
		4001: false, 4002: false, 4004: false, 4006: false, 4009: false, 7000: false} {
		require.Equal(t, alive, aliveError(id), "aliveError(%d)", id)
	}
}
