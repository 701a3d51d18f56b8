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

// filming is capture's state: the source, the writer into the buffer and
// where the run is. A real-time camera films on a timer — each frame is
// taken in a short-lived timer goroutine, so an idle camera holds no
// goroutine stack between frames; an Offline camera films in a loop,
// because it blocks when its buffer is full.
type filming struct {
	r     *run
	ctx   context.Context
	until time.Time
	w     *mkv.Writer
	start time.Time
	base  int64 // start in epoch ms

	mu       sync.Mutex // serialises timer callbacks and the stop on ctx's end
	next     media.Frame
	seq      uint64 // of next
	index    uint32 // next frame's index within the open fragment
	lastPTS  int64
	timer    *time.Timer
	unwatch  func() bool // ends the watch on ctx (real time)
	finished bool
	done     chan struct{}
}

// capture starts filming until `until` or ctx's end and returns a channel
// closed when filming has ended. Frames come from the source (paced in real
// time unless Offline), are sealed when E2EE is on and appended to the
// buffer, one fragment per GOP. A frame is sealed as final when the source
// says a key frame follows, or when it is the last before the end; if ctx
// ends while a frame waits for its time, that frame goes out at once as the
// final one, so no fragment is left open.
func (r *run) capture(ctx context.Context, until time.Time) <-chan struct{} {
	cfg := &r.c.cfg
	fm := &filming{r: r, ctx: ctx, until: until, w: mkv.NewWriter(fragmentAppender{r}), done: make(chan struct{})}
	fm.start = cfg.Clock()
	fm.base = fm.start.UnixMilli()
	fm.lastPTS = fm.base
	r.mu.Lock()
	r.res.Ledger.Start = time.UnixMilli(fm.base)
	r.mu.Unlock()
	if err := fm.w.WriteHeader(mkv.Header{Tracks: r.c.tracks}); err != nil {
		r.captureFailed(err) // validated by NewCamera: cannot happen
		fm.finish()
		return fm.done
	}
	fm.next = cfg.Source.Next()
	if !fm.due().Before(until) {
		fm.finish()
		return fm.done
	}
	if cfg.Offline {
		go fm.loop()
		return fm.done
	}
	fm.mu.Lock()
	defer fm.mu.Unlock()
	fm.timer = time.AfterFunc(fm.due().Sub(cfg.Clock()), fm.tick)
	fm.unwatch = context.AfterFunc(ctx, fm.stop)
	return fm.done
}

func (fm *filming) due() time.Time { return fm.start.Add(fm.next.PTS) }

// take emits the pending frame and fetches the one after it. It reports
// whether filming goes on. fm.mu must be held.
func (fm *filming) take(stopping bool) bool {
	r := fm.r
	nextPTS, nextKey := fm.r.c.cfg.Source.Peek()
	final := stopping || nextKey || !fm.start.Add(nextPTS).Before(fm.until)
	fm.lastPTS = fm.base + fm.next.PTS.Milliseconds()
	r.mu.Lock()
	r.res.Ledger.Produced = fm.seq + 1
	r.mu.Unlock()
	var err error
	if fm.index, err = r.emit(fm.ctx, fm.w, fm.next, fm.lastPTS, fm.seq, fm.index, final); err != nil {
		r.captureFailed(err)
		return false
	}
	if stopping {
		return false
	}
	fm.seq++
	fm.next = r.c.cfg.Source.Next()
	return fm.due().Before(fm.until)
}

// tick takes the frame that is due and schedules the next.
func (fm *filming) tick() {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	if fm.finished {
		return
	}
	if !fm.take(fm.ctx.Err() != nil) {
		fm.finish()
		return
	}
	fm.timer.Reset(fm.due().Sub(fm.r.c.cfg.Clock()))
}

// stop ends real-time filming when ctx ends: the waiting frame goes out
// now, as the last.
func (fm *filming) stop() {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	if fm.finished {
		return
	}
	fm.timer.Stop()
	fm.take(true)
	fm.finish()
}

// loop films an Offline camera: every frame at once, as the buffer allows.
func (fm *filming) loop() {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	for fm.take(fm.ctx.Err() != nil) {
	}
	fm.finish()
}

// finish marks capture as ended. fm.mu must be held (or filming never
// started).
func (fm *filming) finish() {
	if fm.finished {
		return
	}
	fm.finished = true
	if fm.unwatch != nil {
		fm.unwatch()
	}
	r := fm.r
	r.mu.Lock()
	r.res.Ledger.End = time.UnixMilli(fm.lastPTS + 1)
	r.done = true
	r.mu.Unlock()
	notify(r.changed)
	close(fm.done)
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
