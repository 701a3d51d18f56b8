package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/stack/ingest/fragstore"
)

// PutMedia (kvs-protocol.md §1). One request is one session: the headers are
// validated, the 200 goes out before any body byte is read, and then three
// goroutines cooperate:
//
//   - the handler reads the MKV body through the demuxer and assembles
//     fragments (assemble.go), sending BUFFERING and RECEIVED;
//   - a persister appends complete fragments to the store and sends PERSISTED
//     once each append returned (after fsync), so parsing continues while
//     fsyncing;
//   - the ACK writer (ackwriter.go) owns the ResponseWriter.
//
// How a session ends, and what the producer sees:
//
//   - clean end of body: the open fragment completes (RECEIVED), every
//     fragment gets its PERSISTED, then the response ends;
//   - an error in the media (limits, malformed MKV): ERROR with the ErrorId
//     after the PERSISTED of the fragments completed before it; the failing
//     fragment is not stored;
//   - a newer PutMedia for the same stream (the newest wins, §1.5) or the
//     server closing: reading stops at once, fragments already received are
//     still persisted and acknowledged, the fragment in progress is dropped
//     without RECEIVED, and the response ends without an ERROR;
//   - the stream deleted: like the above, but the response ends with ERROR
//     4008 STREAM_NOT_ACTIVE (the id the public API documents; the PIC's 4507
//     is not in it) and nothing more is stored;
//   - MaxConnectionDuration reached: ERROR 4003 (retriable);
//   - IdleTimeout of silence: the response simply ends (KVS closes the
//     request); fewer than MinReadBytes in a SlowReadWindow: ERROR 4000;
//   - a failed append: ERROR 5001 ARCHIVAL_ERROR for that fragment.
//
// Every response carries Connection: close, so the connection ends with the
// session. Streams with DataRetentionInHours 0 store nothing and get no
// PERSISTED (RECEIVED is their last ACK); KVS's five-minute host buffer for
// such streams is not modelled, so GetMedia returns nothing for them. The
// x-amzn-fragment-acknowledgment-required header is ignored: ACKs are always
// sent.

// persistQueueLen bounds the complete fragments waiting for the store; with
// the one being appended and the one being read, a session holds at most
// persistQueueLen+2 fragments, each at most kvsapi.MaxFragmentSize.
const persistQueueLen = 2

// stopReason says why a session was ended from outside its read loop.
type stopReason int

const (
	stopNone        stopReason = iota
	stopSuperseded             // a newer PutMedia for the stream, or the server is closing
	stopDeleted                // the stream was deleted
	stopMaxDuration            // MaxConnectionDuration reached
	stopClientGone             // ACKs can no longer be written
	stopArchival               // the store failed an append
)

// putSession is one PutMedia request.
type putSession struct {
	s        *Server
	name     string
	st       *stream
	relative bool  // RELATIVE timecodes
	startMs  int64 // producer start timestamp (RELATIVE)
	rc       *http.ResponseController
	// keyDenied: the caller may not have the stream's KMS key used for
	// writing, so every fragment fails as KMS would fail it.
	keyDenied error

	stopping atomic.Bool
	mu       sync.Mutex
	reason   stopReason
	finished bool // the handler returned; rc must not be used

	acks        *ackWriter
	persistQ    chan *inboundFragment
	persistDone chan struct{}
	archivalErr *kvsapi.Ack // written by the persister before persistDone closes
	doneStoring func()      // releases Server.storing once; nothing more is appended

	faults *sessionFaults // Config.SessionHook's view of the session; nil without one
}

// supersede ends this session because a newer PutMedia for the same stream
// arrived or the server is closing.
func (ps *putSession) supersede() { ps.stop(stopSuperseded) }

// stop ends the session from another goroutine: the first reason wins, and a
// read blocked on the body returns at once.
func (ps *putSession) stop(r stopReason) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.reason == stopNone {
		ps.reason = r
	}
	ps.stopping.Store(true)
	if !ps.finished && ps.rc != nil {
		_ = ps.rc.SetReadDeadline(time.Unix(1, 0))
	}
}

func (ps *putSession) stopReason() stopReason {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.reason
}

func (ps *putSession) markFinished() {
	ps.mu.Lock()
	ps.finished = true
	ps.mu.Unlock()
}

func (s *Server) putMedia(w http.ResponseWriter, r *http.Request) {
	// A rejected PutMedia leaves its streaming body unread; closing the
	// connection keeps the server from waiting to drain it before answering.
	w.Header().Set("Connection", "close") // one connection carries one session
	ref := kvsapi.StreamRef{StreamName: r.Header.Get(kvsapi.HeaderStreamName), StreamARN: r.Header.Get(kvsapi.HeaderStreamARN)}
	if !s.authorize(w, r, Access{Action: ActionPutMedia, Resource: s.streamResource(ref)}) {
		return
	}
	ps, e := s.newPutSession(r, ref)
	if e != nil {
		writeError(w, e)
		return
	}
	defer ps.markFinished()
	rc := http.NewResponseController(w)
	// HTTP/1 servers stop reading a request body once the response starts
	// unless full duplex is on; PutMedia must answer 200 before reading.
	if err := rc.EnableFullDuplex(); err != nil {
		writeError(w, internalError(fmt.Errorf("full-duplex HTTP is unavailable: %w", err)))
		return
	}
	ps.rc = rc
	if !s.registerSession(ps) {
		writeError(w, &kvsapi.Exception{Status: http.StatusServiceUnavailable, Type: kvsapi.ExcServiceUnavailable,
			Message: "the ingest is shutting down"})
		return
	}
	defer s.unregisterSession(ps)
	conns := s.metrics.connections.WithLabelValues("put_media")
	conns.Inc()
	defer conns.Dec()

	ps.faults = s.startFaults(r, ps)
	h := w.Header()
	h.Set("Content-Type", kvsapi.JSONContentType)
	h.Set(kvsapi.HeaderRequestID, requestID())
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return // the client is gone
	}
	ps.run(w, ps.faults.body(r.Body))
	ps.faults.cutConnection(rc)
}

// newPutSession validates the request headers (§1.1) and resolves the stream.
func (s *Server) newPutSession(r *http.Request, ref kvsapi.StreamRef) (*putSession, *kvsapi.Exception) {
	ps := &putSession{s: s}
	switch tt := r.Header.Get(kvsapi.HeaderFragmentTimecodeType); tt {
	case kvsapi.TimecodeTypeAbsolute:
	case kvsapi.TimecodeTypeRelative:
		ps.relative = true
	default:
		return nil, invalidArgument("header %s must be %s or %s, got %q", kvsapi.HeaderFragmentTimecodeType,
			kvsapi.TimecodeTypeAbsolute, kvsapi.TimecodeTypeRelative, tt)
	}
	// The start timestamp only matters in RELATIVE mode; there, without it,
	// the session starts when the request arrived (the SDKs send their wall
	// clock at that moment).
	ps.startMs = s.cfg.Now().UnixMilli()
	if v := r.Header.Get(kvsapi.HeaderProducerStartTime); v != "" {
		ms, ok := parseEpochSeconds(v)
		if !ok {
			return nil, invalidArgument("header %s must be epoch seconds with an optional fraction, got %q", kvsapi.HeaderProducerStartTime, v)
		}
		ps.startMs = ms
	}
	st, e := s.streams.resolve(ref)
	if e != nil {
		return nil, e
	}
	rec := st.record()
	if rec.Status != kvsapi.StatusActive {
		return nil, notFound("The requested stream is not found or not active.")
	}
	ps.st, ps.name = st, rec.Name
	ps.keyDenied = s.keyUse(r.Context(), KeyActionWrite, rec.KmsKeyID)
	ps.persistQ = make(chan *inboundFragment, persistQueueLen)
	ps.persistDone = make(chan struct{})
	return ps, nil
}

// parseEpochSeconds reads "1700000000.123" (or "0") as epoch milliseconds.
func parseEpochSeconds(v string) (int64, bool) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return 0, false
	}
	return int64(math.Round(f * 1000)), true
}

// registerSession makes ps its stream's live session, ending the previous one.
func (s *Server) registerSession(ps *putSession) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closed:
		return false
	default:
	}
	if old := s.sessions[ps.name]; old != nil {
		old.supersede()
	}
	s.sessions[ps.name] = ps
	s.storing.Add(1) // under s.mu and before closed: Close's Wait sees it
	ps.doneStoring = sync.OnceFunc(s.storing.Done)
	return true
}

func (s *Server) unregisterSession(ps *putSession) {
	ps.doneStoring()
	s.mu.Lock()
	if s.sessions[ps.name] == ps {
		delete(s.sessions, ps.name)
	}
	s.mu.Unlock()
}

// streamDeleted ends the stream's live PutMedia (ERROR 4008) and its GetMedia
// readers.
func (s *Server) streamDeleted(name string) {
	s.mu.Lock()
	ps := s.sessions[name]
	if mr := s.readers[name]; mr != nil {
		close(mr.gone)
		delete(s.readers, name)
	}
	s.mu.Unlock()
	if ps != nil {
		ps.stop(stopDeleted)
	}
}

// run serves the session after the 200 went out.
func (ps *putSession) run(w http.ResponseWriter, body io.Reader) {
	cfg := &ps.s.cfg
	bytesIn := ps.s.metrics.bytes.WithLabelValues("in")
	br := newBodyReader(body, ps.rc, &ps.stopping, cfg, kvsapi.MaxFragmentSize, func(n int) { bytesIn.Add(float64(n)) })
	ps.acks = newAckWriter(w, ps.rc, ps.s.metrics, &br.lastDataNs, cfg, ps.s.closed, func() { ps.stop(stopClientGone) })
	if ps.faults != nil {
		ps.acks.tap = ps.faults.ack
	}
	go ps.acks.run()
	go ps.persist()
	maxAge := time.AfterFunc(cfg.MaxConnectionDuration, func() { ps.stop(stopMaxDuration) })

	final := newAssembler(ps, br).run()

	maxAge.Stop()
	close(ps.persistQ)
	<-ps.persistDone // PERSISTED of completed fragments precede a final ERROR
	if ps.archivalErr != nil {
		final = ps.archivalErr
	}
	final = ps.faults.finish(final)
	if final != nil {
		ps.acks.send(*final, time.Time{})
	}
	close(ps.acks.queue)
	<-ps.acks.done
}

// stopAck is the final ACK for a session stopped from outside.
func (ps *putSession) stopAck(open *inboundFragment) *kvsapi.Ack {
	var id kvsapi.ErrorID
	switch ps.stopReason() {
	case stopDeleted:
		id = kvsapi.ErrStreamNotActive
	case stopMaxDuration:
		id = kvsapi.ErrMaxConnectionDuration
	default: // superseded, closing, client gone, or the persister's own ERROR
		return nil
	}
	return errorAckFor(id, open)
}

// errorAckFor builds an ERROR ACK naming the fragment in progress, if any.
func errorAckFor(id kvsapi.ErrorID, f *inboundFragment) *kvsapi.Ack {
	ack := &kvsapi.Ack{EventType: kvsapi.EventError, ErrorID: id}
	if f != nil {
		ack.FragmentNumber, ack.FragmentTimecode, ack.HasTimecode = f.number, f.timecode, true
	}
	return ack
}

// seal encrypts a fragment's payload for storage under the stream's
// current data key (encryption at rest).
func (ps *putSession) seal(keys *dataKeys, f *inboundFragment, parts [][]byte) ([]byte, error) {
	if ps.keyDenied != nil {
		return nil, ps.keyDenied
	}
	rec := ps.st.record()
	ctx, cancel := context.WithTimeout(context.Background(), kmsCallTimeout)
	defer cancel()
	key, err := keys.forWriting(ctx, rec.ARN, rec.KmsKeyID)
	if err != nil {
		return nil, err
	}
	return sealPayloadWith(key, rec.ARN, f.number, parts, ps.s.cfg.Defects.ReuseNonce)
}

// kmsCallTimeout bounds one KMS call of the ingest.
const kmsCallTimeout = 10 * time.Second

// persist appends complete fragments in order and acknowledges each once it is
// durable. After a failure it drops the rest.
func (ps *putSession) persist() {
	defer ps.doneStoring()
	defer close(ps.persistDone)
	outcomes := ps.s.metrics.fragments
	failed := false
	for f := range ps.persistQ {
		// A fragment held up (say, by a producer slow to read its ACKs) past
		// a DeleteStream must not land in a stream re-created under the
		// same name: the store knows streams only by name.
		if cur, ok := ps.s.streams.byName(ps.name); !failed && (!ok || cur != ps.st) {
			failed = true
			ps.stop(stopDeleted)
		}
		if failed || ps.s.crashed.Load() { // a crash stores nothing more
			f.release()
			continue
		}
		if f.duplicate { // stored before under f.number: durable already
			ps.acks.send(kvsapi.Ack{EventType: kvsapi.EventPersisted, FragmentNumber: f.number,
				FragmentTimecode: f.timecode, HasTimecode: true}, f.firstByte)
			outcomes.WithLabelValues("duplicate").Inc()
			continue
		}
		frag := f.storeFragment(ps.name)
		if keys := ps.s.keys; keys != nil {
			sealed, err := ps.seal(keys, f, frag.Parts)
			if err != nil {
				f.release()
				failed = true
				ps.s.cfg.Logf("ingest: %s: encrypting fragment %s: %v", ps.name, f.number, err)
				ps.archivalErr = errorAckFor(ps.s.errorIDFor(err), f)
				ps.stop(stopArchival)
				continue
			}
			frag.Parts = [][]byte{sealed}
		}
		frag.StoreResent = ps.s.cfg.Defects.DuplicateResentFragment
		if d := ps.s.delayed; d != nil { // deliberate defect: PERSISTED before the write
			d.add(frag)
			f.release()
			ps.acks.send(kvsapi.Ack{EventType: kvsapi.EventPersisted, FragmentNumber: f.number,
				FragmentTimecode: f.timecode, HasTimecode: true}, f.firstByte)
			outcomes.WithLabelValues("persisted").Inc()
			continue
		}
		info, err := ps.s.store.Append(context.Background(), frag)
		f.release()
		if err != nil {
			failed = true
			switch {
			case errors.Is(err, fragstore.ErrNoStream):
				ps.stop(stopDeleted)
			case errors.Is(err, fragstore.ErrClosed):
				ps.stop(stopSuperseded)
			default:
				ps.s.cfg.Logf("ingest: %s: storing fragment %s: %v", ps.name, f.number, err)
				ps.archivalErr = errorAckFor(kvsapi.ErrArchival, f)
				ps.stop(stopArchival)
			}
			continue
		}
		number, outcome := f.number, "persisted"
		if info.Duplicate { // another session stored the same producer timestamp first
			number, outcome = info.Number, "duplicate"
		}
		ps.acks.send(kvsapi.Ack{EventType: kvsapi.EventPersisted, FragmentNumber: number,
			FragmentTimecode: f.timecode, HasTimecode: true}, f.firstByte)
		outcomes.WithLabelValues(outcome).Inc()
	}
}
