package simulator

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/simulator/media"
)

// sealPool holds scratch buffers for sealed frames, borrowed per frame
// rather than kept per camera, because a fleet has thousands of cameras.
var sealPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// fragmentAppender is the capture Writer's destination: the open
// fragment's data, or nowhere while no fragment is open (the header the
// Writer writes once to learn the tracks).
type fragmentAppender struct{ r *run }

func (a fragmentAppender) Write(b []byte) (int, error) {
	r := a.r
	r.mu.Lock()
	if f := r.open; f != nil {
		f.data.Append(b)
		r.bytes += int64(len(b))
	}
	r.mu.Unlock()
	return len(b), nil
}

// capture films until `until` or ctx's end: it takes frames from the
// source (paced in real time unless Offline), seals them when E2EE is on,
// and appends them to the buffer, one fragment per GOP. A frame is sealed
// as final when the source says a key frame follows, or when it is the
// last before the end; if ctx ends while a frame waits for its time, that
// frame goes out at once as the final one, so no fragment is left open.
func (r *run) capture(ctx context.Context, until time.Time) {
	defer func() {
		r.mu.Lock()
		r.done = true
		r.mu.Unlock()
		notify(r.changed)
	}()
	cfg := &r.c.cfg
	src := cfg.Source
	w := mkv.NewWriter(fragmentAppender{r})
	if err := w.WriteHeader(mkv.Header{Tracks: r.c.tracks}); err != nil {
		r.captureFailed(err) // validated by NewCamera: cannot happen
		return
	}
	start := cfg.Clock()
	base := start.UnixMilli()
	lastPTS := base
	r.mu.Lock()
	r.res.Ledger.Start = time.UnixMilli(base)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.res.Ledger.End = time.UnixMilli(lastPTS + 1)
		r.mu.Unlock()
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var index uint32 // frame index within the open fragment
	for seq := uint64(0); ; seq++ {
		f := src.Next()
		due := start.Add(f.PTS)
		if !due.Before(until) {
			return
		}
		stopping := false
		if !cfg.Offline {
			if d := due.Sub(cfg.Clock()); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-ctx.Done():
					timer.Stop()
					stopping = true
				}
			}
		}
		stopping = stopping || ctx.Err() != nil
		nextPTS, nextKey := src.Peek()
		final := stopping || nextKey || !start.Add(nextPTS).Before(until)
		lastPTS = base + f.PTS.Milliseconds()
		r.mu.Lock()
		r.res.Ledger.Produced = seq + 1
		r.mu.Unlock()
		var err error
		if index, err = r.emit(ctx, w, f, lastPTS, seq, index, final); err != nil {
			r.captureFailed(err)
			return
		}
		if stopping {
			return
		}
	}
}

// Upper bounds of what the MKV writer puts before a cluster's blocks and
// before each block's payload, so a frame's bytes land in one piece.
const (
	clusterPrefix = 18
	blockPrefix   = 16
)

// expect announces the size of what the capture Writer writes next into
// the open fragment.
func (r *run) expect(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.open != nil {
		r.open.data.expect(n)
	}
}

// captureFailed records what stopped capture; the run reports it.
func (r *run) captureFailed(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.captureErr == nil {
		r.captureErr = err
	}
}

// emit appends one frame at pts: it opens a fragment on a key frame, seals
// the frame (final when it ends its fragment) and closes the fragment after
// its final frame. It returns the next frame's index.
func (r *run) emit(ctx context.Context, w *mkv.Writer, fr media.Frame, pts int64, seq uint64, index uint32, final bool) (uint32, error) {
	one := SeqRange{First: seq, Last: seq}
	if fr.Key {
		opened, err := r.openFragment(ctx, w, pts, seq)
		if err != nil {
			return 0, err
		}
		if !opened {
			r.mu.Lock()
			r.res.Ledger.Drop(one, DropOverflow, true)
			r.mu.Unlock()
			return 0, nil
		}
		index = 0
	}
	r.mu.Lock()
	f := r.open
	switch {
	case f == nil:
		r.res.Ledger.Drop(one, DropBeforeKeyFrame, false)
	case f.skip:
		// Rejected while still being assembled: the SDK skips the rest of
		// the GOP up to the next key frame.
		r.res.Ledger.Drop(one, DropRejected, false)
	default:
		f.frames.Last = seq
	}
	r.mu.Unlock()
	if f == nil || f.skip {
		return index + 1, nil
	}
	payload := fr.Data
	if s := r.c.sealer; s != nil {
		sealed := sealPool.Get().(*[]byte)
		defer sealPool.Put(sealed)
		var err error
		if *sealed, err = s.SealFrame((*sealed)[:0], index, final, seq, payload); err != nil {
			return 0, fmt.Errorf("sealing frame %d: %w", seq, err)
		}
		payload = *sealed
	}
	r.expect(blockPrefix + len(payload))
	if err := w.WriteFrame(1, pts, fr.Key, payload); err != nil {
		return 0, fmt.Errorf("frame %d: %w", seq, err)
	}
	r.mu.Lock()
	if final {
		f.complete = true
		r.open = nil
		r.res.Counters.Fragments++
	}
	r.mu.Unlock()
	notify(r.changed)
	return index + 1, nil
}

// openFragment starts a fragment at tc whose first frame is seq, making
// room first: evicting the oldest fragments in real time, waiting for
// PERSISTED when Offline. It reports false if there is no room (Offline
// and ctx ended).
func (r *run) openFragment(ctx context.Context, w *mkv.Writer, tc int64, seq uint64) (bool, error) {
	r.mu.Lock()
	for r.overLimit(tc) {
		if !r.c.cfg.Offline {
			r.discardHead(DropOverflow)
			continue
		}
		r.mu.Unlock()
		select {
		case <-r.space:
		case <-ctx.Done():
			return false, nil
		}
		r.mu.Lock()
	}
	f := &fragment{id: r.nextID, tc: tc, frames: SeqRange{First: seq, Last: seq}}
	r.nextID++
	r.frags = append(r.frags, f)
	r.open = f
	r.mu.Unlock()
	var envelope []byte
	if s := r.c.sealer; s != nil {
		var err error
		if envelope, err = s.BeginFragment(tc); err != nil {
			return false, fmt.Errorf("E2EE fragment at %d: %w", tc, err)
		}
	}
	r.expect(clusterPrefix + blockPrefix + len(envelope))
	if err := w.StartCluster(tc); err != nil {
		return false, err
	}
	if envelope != nil {
		if err := w.WriteFrame(KeyTrack.Number, tc, true, envelope); err != nil {
			return false, fmt.Errorf("E2EE envelope at %d: %w", tc, err)
		}
	}
	return true, nil
}
