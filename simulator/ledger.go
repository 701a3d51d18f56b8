package simulator

import (
	"cmp"
	"slices"
	"time"
)

// SeqRange is an inclusive range of frame sequence numbers.
type SeqRange struct {
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
}

// Len is the number of sequence numbers in the range.
func (r SeqRange) Len() uint64 { return r.Last - r.First + 1 }

// AckedRun is a run of fragments acknowledged PERSISTED, consecutive in
// time, whose frames carry contiguous sequence numbers.
type AckedRun struct {
	FirstTimecode int64    `json:"first_timecode"` // cluster timecode of the first fragment, epoch ms
	LastTimecode  int64    `json:"last_timecode"`  // of the last fragment
	Frames        SeqRange `json:"frames"`
	Fragments     int      `json:"fragments"`
}

// DropReason says why a camera dropped frames it had produced.
type DropReason string

// Reasons a camera drops frames.
const (
	// DropOverflow: the buffer was full and its oldest fragment was evicted
	// before the service acknowledged it PERSISTED.
	DropOverflow DropReason = "buffer overflow"
	// DropRejected: the service answered a non-retriable ERROR ACK, so the
	// fragment is skipped, as the producer SDK does.
	DropRejected DropReason = "rejected by ERROR ACK"
	// DropBeforeKeyFrame: frames produced before the first key frame of a
	// fragment the camera could start (as the SDK does after a skip).
	DropBeforeKeyFrame DropReason = "before key frame"
	// DropUndelivered: never sent in full before the run ended (the
	// service was unreachable until the drain deadline).
	DropUndelivered DropReason = "not delivered before the end"
	// DropStreamReset: thrown away with the whole buffer when a
	// control-plane step kept failing (the SDK's continuous-retry reset).
	DropStreamReset DropReason = "stream reset"
)

// DroppedRun is a run of frames the camera itself dropped.
type DroppedRun struct {
	Frames SeqRange   `json:"frames"`
	Reason DropReason `json:"reason"`
}

// Ledger is a camera's account of one stream, compact enough to keep for
// hours: runs instead of per-fragment records, so it grows only with
// anomalies. A consumer checks what it reads back against it.
type Ledger struct {
	Stream string `json:"stream"`
	// Start and End bound the producer timestamps of everything the camera sent.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Produced counts frames the source produced; their sequence numbers
	// are 0..Produced-1.
	Produced uint64 `json:"produced"`
	// Acked are the fragments acknowledged PERSISTED, in sequence order,
	// merged where adjacent.
	Acked []AckedRun `json:"acked"`
	// Dropped are frames the camera dropped, in sequence order.
	Dropped []DroppedRun `json:"dropped,omitempty"`
	// Unconfirmed are frames sent in full at least once whose fragment was
	// never acknowledged PERSISTED (evicted, or still waiting at the end):
	// the service may or may not have stored them.
	Unconfirmed []SeqRange `json:"unconfirmed,omitempty"`
	// AckedFragments and AckedFrames total Acked; DroppedFrames and
	// DroppedFragments total Dropped (a fragment counts once, when its
	// first frame is dropped).
	AckedFragments   int    `json:"acked_fragments"`
	AckedFrames      uint64 `json:"acked_frames"`
	DroppedFrames    uint64 `json:"dropped_frames"`
	DroppedFragments int    `json:"dropped_fragments"`
	// UnconfirmedFragments counts the fragments behind Unconfirmed.
	UnconfirmedFragments int `json:"unconfirmed_fragments"`
}

// Ack records one fragment acknowledged PERSISTED: its cluster timecode and
// its frames. A fragment acknowledged twice (resent after a reconnect) is
// recorded once.
func (l *Ledger) Ack(timecode int64, frames SeqRange) {
	i, found := slices.BinarySearchFunc(l.Acked, frames.First, func(r AckedRun, first uint64) int {
		switch {
		case r.Frames.Last < first:
			return -1
		case r.Frames.First > first:
			return 1
		}
		return 0
	})
	if found {
		return // already inside a run: a resend
	}
	l.AckedFragments++
	l.AckedFrames += frames.Len()
	run := AckedRun{FirstTimecode: timecode, LastTimecode: timecode, Frames: frames, Fragments: 1}
	// Merge with the run before and the run after when the frames touch.
	if i > 0 && l.Acked[i-1].Frames.Last+1 == frames.First {
		prev := &l.Acked[i-1]
		prev.Frames.Last, prev.LastTimecode = frames.Last, timecode
		prev.Fragments++
		if i < len(l.Acked) && frames.Last+1 == l.Acked[i].Frames.First {
			next := l.Acked[i]
			prev.Frames.Last, prev.LastTimecode = next.Frames.Last, next.LastTimecode
			prev.Fragments += next.Fragments
			l.Acked = slices.Delete(l.Acked, i, i+1)
		}
		return
	}
	if i < len(l.Acked) && frames.Last+1 == l.Acked[i].Frames.First {
		next := &l.Acked[i]
		next.Frames.First, next.FirstTimecode = frames.First, timecode
		next.Fragments++
		return
	}
	l.Acked = slices.Insert(l.Acked, i, run)
}

// Drop records frames the camera dropped; fragment says whether they
// begin a fragment (so the fragment counts as dropped).
func (l *Ledger) Drop(frames SeqRange, reason DropReason, fragment bool) {
	l.DroppedFrames += frames.Len()
	if fragment {
		l.DroppedFragments++
	}
	i, _ := slices.BinarySearchFunc(l.Dropped, frames.First, func(r DroppedRun, first uint64) int {
		return cmp.Compare(r.Frames.First, first)
	})
	if i > 0 {
		prev := &l.Dropped[i-1]
		if prev.Reason == reason && prev.Frames.Last+1 == frames.First {
			prev.Frames.Last = frames.Last
			return
		}
	}
	l.Dropped = slices.Insert(l.Dropped, i, DroppedRun{Frames: frames, Reason: reason})
}

// Unconfirm records a fragment sent in full that was never acknowledged
// PERSISTED.
func (l *Ledger) Unconfirm(frames SeqRange) {
	l.UnconfirmedFragments++
	i, _ := slices.BinarySearchFunc(l.Unconfirmed, frames.First, func(r SeqRange, first uint64) int {
		return cmp.Compare(r.First, first)
	})
	if i > 0 && l.Unconfirmed[i-1].Last+1 == frames.First {
		l.Unconfirmed[i-1].Last = frames.Last
		return
	}
	l.Unconfirmed = slices.Insert(l.Unconfirmed, i, frames)
}

// IsAcked reports whether frame seq lies in an acknowledged fragment.
func (l *Ledger) IsAcked(seq uint64) bool {
	_, found := slices.BinarySearchFunc(l.Acked, seq, func(r AckedRun, s uint64) int {
		switch {
		case r.Frames.Last < s:
			return -1
		case r.Frames.First > s:
			return 1
		}
		return 0
	})
	return found
}
