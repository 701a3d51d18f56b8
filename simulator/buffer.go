package simulator

import (
	"sort"
	"sync"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
)

// fragment is one buffered fragment: its Cluster bytes exactly as sent
// (so a resend is byte-identical) and what the service said about it.
type fragment struct {
	id     uint64 // position in the camera's fragment sequence
	tc     int64  // cluster timecode, epoch ms
	frames SeqRange
	data   fragmentData // Cluster start, envelope block, SimpleBlocks; grows while open

	complete bool // its last frame is in data
	sent     bool // sent in full at least once
	// ACK flags of the latest send; a resend clears buffering and received.
	buffering, received, persisted bool
	skip                           bool // non-retriable ERROR: never sent again
	// orphan: RECEIVED on a session that ended before its PERSISTED. The
	// SDK does not resend it (rollback stops after the last RECEIVED), so
	// it waits in the buffer for an ACK that cannot come until evicted.
	orphan    bool
	firstByte time.Time
}

// run is the state one Camera.Run shares between its capture (timer or loop),
// its uploader and the ACK readers of its sessions.
type run struct {
	c   *Camera
	res *CameraResult

	mu     sync.Mutex
	frags  []*fragment // oldest first; ids are consecutive
	nextID uint64      // id the next fragment gets
	bytes  int64       // buffered data bytes
	open   *fragment   // fragment capture is appending to
	done   bool        // capture has ended: no more frames
	// captureErr is what stopped capture early (a frame the writer or the
	// sealer refused).
	captureErr error
	// settled counts fragments the service acknowledged as final:
	// PERSISTED, or RECEIVED on a stream without retention.
	settled int
	// changed wakes the uploader: new bytes, a closed fragment, an ACK that
	// trims or fails, the end of capture. space wakes an Offline capture
	// waiting for the buffer to drain.
	changed chan struct{}
	space   chan struct{}
}

func newRun(c *Camera, res *CameraResult) *run {
	return &run{c: c, res: res, changed: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// byID returns the buffered fragment with id, or nil. r.mu must be held.
func (r *run) byID(id uint64) *fragment {
	if len(r.frags) == 0 || id < r.frags[0].id || id >= r.frags[0].id+uint64(len(r.frags)) {
		return nil
	}
	return r.frags[id-r.frags[0].id]
}

// byTimecode finds the buffered fragment an ACK names. r.mu must be held.
func (r *run) byTimecode(tc int64) *fragment {
	i := sort.Search(len(r.frags), func(i int) bool { return r.frags[i].tc >= tc })
	if i < len(r.frags) && r.frags[i].tc == tc {
		return r.frags[i]
	}
	return nil
}

// overLimit reports whether the buffer holds more than the camera may keep
// once a fragment at tc is added. r.mu must be held.
func (r *run) overLimit(tc int64) bool {
	if len(r.frags) == 0 || r.frags[0] == r.open {
		return false
	}
	cfg := &r.c.cfg
	if cfg.BufferBytes > 0 && r.bytes > cfg.BufferBytes {
		return true
	}
	return time.Duration(tc-r.frags[0].tc)*time.Millisecond > cfg.BufferDuration
}

// discardHead removes the oldest fragment and accounts for it: nothing to
// record if it was PERSISTED or skipped; unconfirmed if its sending had
// begun (a blocked write may still deliver it, or it was stored without
// its ACK reaching us); otherwise its frames are dropped for reason.
// r.mu must be held.
func (r *run) discardHead(reason DropReason) {
	f := r.frags[0]
	r.removeHead()
	switch {
	case f.persisted || f.skip:
	case f.sent || f.orphan || !f.firstByte.IsZero():
		r.res.Ledger.Unconfirm(f.frames)
	default:
		r.res.Ledger.Drop(f.frames, reason, true)
	}
}

func (r *run) removeHead() {
	f := r.frags[0]
	r.frags[0] = nil
	r.frags = r.frags[1:]
	r.bytes -= int64(f.data.Len())
	notify(r.space)
}

// trim frees fragments from the old end that need nothing more: PERSISTED
// or skipped. Like the SDK it stops at the first one still waiting, so one
// fragment whose PERSISTED never comes holds the buffer until it is
// evicted. r.mu must be held.
func (r *run) trim() {
	for len(r.frags) > 0 {
		f := r.frags[0]
		if f == r.open || !(f.persisted || f.skip) {
			return
		}
		r.removeHead()
	}
}

// handleAck applies one ACK to the buffer (kvs-protocol.md §4.3). It
// returns what is known of the fragment, and whether the ACK is an ERROR
// that must end its session.
func (r *run) handleAck(a kvsapi.Ack, now time.Time) (info AckInfo, fatal bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var f *fragment
	if a.HasTimecode {
		f = r.byTimecode(a.FragmentTimecode)
	}
	if f != nil {
		info.Bytes = f.data.Len()
		if !f.firstByte.IsZero() {
			info.Latency = now.Sub(f.firstByte)
		}
	}
	switch a.EventType {
	case kvsapi.EventIdle:
		r.res.Idle++
	case kvsapi.EventBuffering, kvsapi.EventReceived, kvsapi.EventPersisted:
		if f == nil {
			r.res.UnmatchedAcks++
			break
		}
		switch a.EventType {
		case kvsapi.EventBuffering:
			f.buffering = true
		case kvsapi.EventReceived:
			f.received = true
			if r.res.RetentionHours == 0 && f.complete && !f.persisted {
				// Without retention RECEIVED is the last ACK and frees
				// the fragment (§4.3); nothing is stored to acknowledge.
				f.persisted = true
				r.settled++
				r.trim()
				notify(r.changed)
			}
		case kvsapi.EventPersisted:
			if !f.persisted && f.complete {
				f.persisted = true
				r.settled++
				r.res.Ledger.Ack(f.tc, f.frames)
				r.trim()
				notify(r.changed)
			}
		}
	case kvsapi.EventError:
		fatal = true
		r.res.Counters.AckErrors++
		e := AckError{FragmentTimecode: a.FragmentTimecode, FragmentNumber: a.FragmentNumber, ErrorID: a.ErrorID, ErrorCode: a.ErrorCode}
		if len(r.res.AckErrorsKept) < maxAckErrorsKept {
			r.res.AckErrorsKept = append(r.res.AckErrorsKept, e)
		}
		if f != nil && !a.ErrorID.Retriable() && !f.skip && !f.persisted {
			// The SDK marks every frame of the fragment "skip" and never
			// resends it (§4.4).
			f.skip = true
			r.res.Ledger.Drop(f.frames, DropRejected, true)
			r.trim()
		}
		notify(r.changed)
	}
	return info, fatal
}
