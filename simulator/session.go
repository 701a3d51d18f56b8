package simulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/internal/mkv"
)

// session is one PutMedia connection: the uploader writes the buffer to it
// while its ACK reader applies ACKs to the buffer.
type session struct {
	u        *uploader
	pm       *kvsclient.PutMedia
	rotateAt time.Time
	firstID  uint64 // first fragment this session sends
	// endID is one past the last fragment it sent in full (r.mu guards it):
	// once rotated out, u.next belongs to the next session.
	endID uint64

	mu sync.Mutex
	// pendingSince is when the session started a fragment with no
	// BUFFERING ACK since: staleness is measured from it (§4.5).
	pendingSince time.Time
	readerDone   chan struct{}
	readErr      error           // why the ACK stream ended (nil: clean end)
	errorAck     *kvsapi.ErrorID // the ERROR ACK that ended the session
	persisted    bool            // some PERSISTED arrived
}

// outcome is how a session ended, for the uploader's next step.
type outcome struct {
	alive              bool // resume after the last RECEIVED, not a full replay
	progress           bool // the service acknowledged something
	rotated            bool // a planned rotation: reconnect at once
	invalidateEndpoint bool // go back to DescribeStream/GetDataEndpoint
}

func newSession(u *uploader, pm *kvsclient.PutMedia, rotateAt time.Time) *session {
	s := &session{u: u, pm: pm, rotateAt: rotateAt, firstID: u.next, endID: u.next, readerDone: make(chan struct{})}
	go s.readAcks()
	return s
}

func (s *session) readAcks() {
	defer close(s.readerDone)
	r := s.u.r
	onAck := s.u.c.cfg.OnAck
	for {
		a, err := s.pm.NextAck()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			s.mu.Lock()
			s.readErr = err
			s.mu.Unlock()
			notify(r.changed)
			return
		}
		now := s.u.c.cfg.Clock()
		info, fatal := r.handleAck(a, now)
		s.mu.Lock()
		switch a.EventType {
		case kvsapi.EventBuffering:
			s.pendingSince = time.Time{}
		case kvsapi.EventPersisted:
			s.persisted = true
		}
		if fatal {
			id := a.ErrorID
			s.errorAck = &id
		}
		s.mu.Unlock()
		if onAck != nil {
			onAck(a, info)
		}
		if fatal {
			// The SDK ends the session itself on any ERROR (§4.3).
			_ = s.pm.Close()
			return
		}
	}
}

// ended reports how the ACK stream ended, if it has.
func (s *session) ended() (done bool, o outcome) {
	select {
	case <-s.readerDone:
	default:
		return false, o
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o.progress = s.persisted
	switch {
	case s.errorAck != nil:
		id := *s.errorAck
		o.alive = aliveError(id)
		o.invalidateEndpoint = id == kvsapi.ErrStreamNotActive || id == kvsapi.ErrInternal
	case s.readErr == nil:
		o.alive = true // the service ended the response: result 200
	}
	return true, o
}

// stale reports a session whose fragments have had no BUFFERING ACK for
// Staleness.
func (s *session) stale(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.pendingSince.IsZero() && now.Sub(s.pendingSince) > s.u.c.cfg.Staleness
}

// stream sends the buffer from u.next until the session ends, and returns
// how it ended. Fragments are sent byte-identical to their first send.
func (s *session) stream(ctx context.Context) outcome {
	u, r, cfg := s.u, s.u.r, &s.u.c.cfg
	res := r.res
	if err := s.write(u.c.header); err != nil {
		return s.abort(err, false)
	}
	var (
		cur   *fragment // fragment u.next, being sent
		off   int       // bytes of it already sent
		timer = time.NewTimer(time.Hour)
	)
	defer timer.Stop()
	for {
		if done, o := s.ended(); done {
			s.markOrphans()
			_ = s.pm.Close()
			switch {
			case s.errorAck != nil:
				res.fail(PhaseStream, AckError{ErrorID: *s.errorAck, ErrorCode: s.errorAck.Code()}.Kind(), errors.New("an ERROR ACK ended the session"))
			case s.readErr != nil:
				res.fail(PhaseStream, KindConnection, fmt.Errorf("reading ACKs: %w", s.readErr))
			default:
				res.fail(PhaseStream, KindConnection, errors.New("the service ended the session"))
			}
			return o
		}
		now := cfg.Clock()
		if s.stale(time.Now()) {
			r.mu.Lock()
			res.Counters.StaleResets++
			r.mu.Unlock()
			res.fail(PhaseStream, "stale connection", fmt.Errorf("no BUFFERING ACK for %v", cfg.Staleness))
			return s.abort(nil, true)
		}
		r.mu.Lock()
		f := r.byID(u.next)
		switch {
		case off > 0:
			// A fragment begun is finished even if it was evicted meanwhile:
			// a cluster cut short would reach the service as a truncated
			// fragment once the next one starts.
			f = cur
		case f == nil && len(r.frags) > 0 && u.next < r.frags[0].id:
			u.next = r.frags[0].id // evicted while waiting: go on with the oldest
			f = r.frags[0]
		}
		cur = f
		if f != nil && off == 0 && (f.skip || f.persisted) {
			u.next++
			r.mu.Unlock()
			continue
		}
		if f == nil || (off == f.data.Len() && !f.complete) {
			allSent := f == nil && r.done
			r.mu.Unlock()
			if allSent {
				return s.finishSession(ctx)
			}
			if off == 0 && !now.Before(s.rotateAt) {
				return s.rotate(ctx)
			}
			if !s.wait(ctx, timer) {
				return s.abort(ctx.Err(), false)
			}
			continue
		}
		if off == 0 {
			if !now.Before(s.rotateAt) {
				r.mu.Unlock()
				return s.rotate(ctx)
			}
			if f.sent {
				res.Counters.Resent++
			}
			f.firstByte, f.buffering, f.received, f.orphan = now, false, false, false
			s.mu.Lock()
			if s.pendingSince.IsZero() {
				s.pendingSince = time.Now()
			}
			s.mu.Unlock()
		}
		chunk := f.data.From(off)
		complete := f.complete
		r.mu.Unlock()
		if len(chunk) > 0 {
			if err := s.write(chunk); err != nil {
				return s.abort(err, false)
			}
			off += len(chunk)
		}
		if complete {
			r.mu.Lock()
			if off == f.data.Len() {
				f.sent = true
				u.next++
				s.endID = u.next
				off = 0
			}
			r.mu.Unlock()
		}
	}
}

// write sends b, bounded so a connection that stops taking data fails
// instead of hanging. Deadlines are wall-clock time, whatever the Clock.
func (s *session) write(b []byte) error {
	_ = s.pm.SetWriteDeadline(time.Now().Add(s.u.c.cfg.Staleness + time.Second))
	n, err := s.pm.Write(b)
	s.u.r.mu.Lock()
	s.u.r.res.Counters.Bytes += int64(n)
	s.u.r.mu.Unlock()
	return err
}

// wait blocks until the buffer changes, the ACK stream ends, a staleness
// check is due or ctx ends.
func (s *session) wait(ctx context.Context, timer *time.Timer) bool {
	timer.Reset(s.u.c.cfg.Staleness / 4)
	defer timer.Stop()
	select {
	case <-s.u.r.changed:
	case <-s.readerDone:
	case <-timer.C:
	case <-ctx.Done():
		return false
	}
	return true
}

// abort ends the session at once. A write or read failure looks like a
// dead host (full replay); a staleness reset is a clean reset (§4.5).
func (s *session) abort(err error, stale bool) outcome {
	_ = s.pm.Close()
	<-s.readerDone
	s.markOrphans()
	if err != nil {
		s.u.r.res.fail(PhaseStream, failureKind(err), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return outcome{alive: stale, progress: s.persisted}
}

// markOrphans flags fragments this session got RECEIVED for but not
// PERSISTED: the session that could have acknowledged them is gone.
func (s *session) markOrphans() {
	r := s.u.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := s.firstID; id < s.endID; id++ {
		if f := r.byID(id); f != nil && f.received && !f.persisted && !f.skip {
			f.orphan = true
		}
	}
}

// endOfFragment is the Tags element that closes a fragment (§4.6).
var endOfFragment = func() []byte {
	sw := &sliceWriter{}
	_ = mkv.NewWriter(sw).EndFragment()
	return sw.b
}()

// endFragment closes the last fragment sent with END_OF_FRAGMENT.
func (s *session) endFragment() error { return s.write(endOfFragment) }

// awaitPersisted waits until every fragment this session sent is
// PERSISTED (or skipped), the ACK stream ends, or timeout passes. The
// current session wakes on r.changed; a rotated-out one polls, so it
// never takes a wake-up meant for its successor.
func (s *session) awaitPersisted(ctx context.Context, timeout time.Duration, current bool) bool {
	r := s.u.r
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var wake <-chan struct{}
	if current {
		wake = r.changed
	}
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for {
		r.mu.Lock()
		settled := true
		for id := s.firstID; id < s.endID; id++ {
			if f := r.byID(id); f != nil && !f.persisted && !f.skip {
				settled = false
				break
			}
		}
		r.mu.Unlock()
		if settled {
			return true
		}
		select {
		case <-wake:
		case <-poll.C:
		case <-s.readerDone:
			return false
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// finishSession ends a session with nothing left to send: END_OF_FRAGMENT,
// then the last PERSISTED, then the end of the body (§4.6).
func (s *session) finishSession(ctx context.Context) outcome {
	if err := s.endFragment(); err != nil {
		return s.abort(err, false)
	}
	if !s.awaitPersisted(ctx, s.u.c.cfg.FinalAckTimeout, true) {
		if done, o := s.ended(); done {
			s.markOrphans()
			return o
		}
		return s.abort(errors.New("no PERSISTED for the last fragments before FinalAckTimeout"), false)
	}
	_ = s.pm.CloseWrite()
	select {
	case <-s.readerDone:
	case <-time.After(time.Second):
	}
	_ = s.pm.Close()
	<-s.readerDone
	s.mu.Lock()
	defer s.mu.Unlock()
	return outcome{alive: true, progress: s.persisted}
}

// rotate hands the connection over before its planned end (§4.7): the
// session closes its last fragment, and once the service has RECEIVED it a
// new session takes over while this one waits in the background for its
// last PERSISTED. If the last fragment is never RECEIVED, the next session
// resends it.
func (s *session) rotate(ctx context.Context) outcome {
	u, r := s.u, s.u.r
	r.mu.Lock()
	r.res.Counters.Rotations++
	r.mu.Unlock()
	if err := s.endFragment(); err != nil {
		return s.abort(err, false)
	}
	received := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		f := r.byID(u.next - 1)
		return u.next == s.firstID || f == nil || f.received || f.persisted || f.skip
	}
	deadline := time.Now().Add(u.c.cfg.Staleness)
	for !received() && time.Now().Before(deadline) {
		select {
		case <-r.changed:
		case <-s.readerDone:
			deadline = time.Time{}
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			deadline = time.Time{}
		}
	}
	u.draining.Go(func() {
		s.awaitPersisted(ctx, u.c.cfg.FinalAckTimeout, false)
		_ = s.pm.CloseWrite()
		_ = s.pm.Close()
		<-s.readerDone
		s.markOrphans()
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	return outcome{alive: true, progress: s.persisted, rotated: true}
}

// sliceWriter collects a Writer's output.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
