package ingest

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/mkv"
)

// SessionHook lets a device check watch PutMedia sessions and inject
// server-side faults into them (camstorm device-check). It is the ingest's
// only extension point for faults; nil (the default) costs nothing.
type SessionHook interface {
	// PutMediaSession is called when a PutMedia session for stream has
	// been accepted, before its 200 goes out. It returns the session's tap,
	// or nil to leave the session alone. It must not block.
	PutMediaSession(stream string, r *http.Request) SessionTap
}

// SessionTap watches one PutMedia session and decides its faults. Its
// methods are called from the session's goroutines (Event and Read from the
// reader, Ack from any sender); they must be quick, apart from the pause
// Read asks for, which the ingest sleeps.
type SessionTap interface {
	// Event sees every MKV event of the body in order (ev.Raw only during
	// the call). A non-nil Fault ends the session as it says.
	Event(ev mkv.Event) *Fault
	// Read is told of n body bytes just read and returns how long to pause
	// before the next read (throttling, stalls); 0 reads on at once.
	Read(n int) time.Duration
	// Ack sees each ACK the session is about to send and returns how long
	// to hold it back (0: send now) or drop to never send it.
	Ack(ack kvsapi.Ack) (hold time.Duration, drop bool)
	// Ended is told the session's final ACK (nil: none) once nothing more
	// will be sent.
	Ended(final *kvsapi.Ack)
}

// Fault ends a session from a SessionTap.Event.
type Fault struct {
	// ErrorID, when Close is false, is sent as the session's final ERROR
	// ACK, naming the fragment in progress (the fragments completed before
	// it are persisted and acknowledged first, as for a real error).
	ErrorID kvsapi.ErrorID
	// Close cuts the connection: the fragment in progress is dropped, no
	// further ACK is sent and the response is never finished, as when a
	// network path dies mid-fragment. Completed fragments are still stored.
	Close bool
}

// sessionFaults is a PutMedia session's glue to its tap. A nil
// *sessionFaults (no hook, or the hook declined) does nothing.
type sessionFaults struct {
	tap  SessionTap
	ps   *putSession
	cut  atomic.Bool // a Close fault fired: no ACK goes out any more
	stop *atomic.Bool

	mu      sync.Mutex
	held    []ackItem // in order; released when their time comes
	release time.Time
	timer   *time.Timer
	ended   bool
}

// closeMarker is the final ACK the assembler returns for a Close fault;
// finish turns it into no ACK at all.
var closeMarker = &kvsapi.Ack{EventType: kvsapi.EventError}

func (s *Server) startFaults(r *http.Request, ps *putSession) *sessionFaults {
	if s.cfg.SessionHook == nil {
		return nil
	}
	tap := s.cfg.SessionHook.PutMediaSession(ps.name, r)
	if tap == nil {
		return nil
	}
	return &sessionFaults{tap: tap, ps: ps, stop: &ps.stopping}
}

// event passes a demuxed event to the tap; a fault becomes the assembler's
// final ACK.
func (sf *sessionFaults) event(ev mkv.Event, open *inboundFragment) *kvsapi.Ack {
	if sf == nil {
		return nil
	}
	f := sf.tap.Event(ev)
	switch {
	case f == nil:
		return nil
	case f.Close:
		sf.cut.Store(true)
		return closeMarker
	default:
		return errorAckFor(f.ErrorID, open)
	}
}

// body wraps the request body so the tap can pace the reads.
func (sf *sessionFaults) body(b io.Reader) io.Reader {
	if sf == nil {
		return b
	}
	return pacedBody{b: b, sf: sf}
}

type pacedBody struct {
	b  io.Reader
	sf *sessionFaults
}

// pauseStep bounds each sleep of a pause, so a stopped session notices.
const pauseStep = 50 * time.Millisecond

func (p pacedBody) Read(b []byte) (int, error) {
	n, err := p.b.Read(b)
	if n > 0 {
		end := time.Now().Add(p.sf.tap.Read(n))
		for d := time.Until(end); d > 0 && !p.sf.stop.Load(); d = time.Until(end) {
			time.Sleep(min(d, pauseStep))
		}
	}
	return n, err
}

// ack is the ACK writer's tap: it reports whether the ACK was taken (held
// back or dropped) rather than queued.
func (sf *sessionFaults) ack(it ackItem) bool {
	if sf.cut.Load() {
		return true
	}
	sf.mu.Lock()
	defer sf.mu.Unlock()
	if sf.ended {
		return false
	}
	hold, drop := sf.tap.Ack(it.ack)
	if drop {
		return true
	}
	if hold <= 0 {
		return false // ACKs of types not held overtake the held ones
	}
	sf.held = append(sf.held, it)
	if at := time.Now().Add(hold); at.After(sf.release) {
		sf.release = at
		if sf.timer == nil {
			sf.timer = time.AfterFunc(hold, sf.releaseHeld)
		} else {
			sf.timer.Reset(hold)
		}
	}
	return true
}

func (sf *sessionFaults) releaseHeld() {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	if sf.ended {
		return
	}
	sf.flushLocked()
}

func (sf *sessionFaults) flushLocked() {
	for _, it := range sf.held {
		if !sf.cut.Load() {
			sf.ps.acks.enqueue(it)
		}
	}
	sf.held = nil
}

// finish runs once the persister is done: held ACKs go out, and the final
// ACK is what the faults make of it (none after a Close).
func (sf *sessionFaults) finish(final *kvsapi.Ack) *kvsapi.Ack {
	if sf == nil {
		return final
	}
	sf.mu.Lock()
	if sf.timer != nil {
		sf.timer.Stop()
	}
	sf.flushLocked()
	sf.ended = true
	sf.mu.Unlock()
	if final == closeMarker || sf.cut.Load() {
		final = nil
	}
	sf.tap.Ended(final)
	return final
}

// cutConnection ends a connection a Close fault cut: past deadlines make
// the server give up on the body and on finishing the response, so the
// producer sees the connection die without the response's last chunk.
func (sf *sessionFaults) cutConnection(rc *http.ResponseController) {
	if sf == nil || !sf.cut.Load() {
		return
	}
	_ = rc.SetReadDeadline(time.Unix(1, 0))
	_ = rc.SetWriteDeadline(time.Unix(1, 0))
}
