package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/stack/ingest/fragstore"
	"github.com/prometheus/client_golang/prometheus"
)

// getMediaBatch is how many fragments GetMedia looks up at a time.
const getMediaBatch = 32

// errConsumerGone reports a media response that can no longer be written.
var errConsumerGone = errors.New("ingest: media consumer stopped reading")

// mediaReaders counts a stream's open GetMedia connections; gone is closed
// when the stream is deleted, which ends them.
type mediaReaders struct {
	count int
	gone  chan struct{}
}

// addReader admits one more GetMedia reader of the stream, up to
// Config.MaxGetMediaPerStream.
func (s *Server) addReader(name string, st *stream) (*mediaReaders, *kvsapi.Exception) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The stream may have been deleted since it was resolved; streamDeleted
	// runs after the removal, so checking under s.mu closes the gap.
	if cur, ok := s.streams.byName(name); !ok || cur != st {
		return nil, notFound("The requested stream is not found or not active.")
	}
	mr := s.readers[name]
	if mr == nil {
		mr = &mediaReaders{gone: make(chan struct{})}
		s.readers[name] = mr
	}
	if mr.count >= s.cfg.MaxGetMediaPerStream {
		return nil, &kvsapi.Exception{Status: http.StatusBadRequest, Type: kvsapi.ExcConnectionLimitExceeded,
			Message: fmt.Sprintf("stream %s already has %d GetMedia connections, the limit", name, mr.count)}
	}
	mr.count++
	return mr, nil
}

func (s *Server) removeReader(name string, mr *mediaReaders) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mr.count--
	if mr.count == 0 && s.readers[name] == mr {
		delete(s.readers, name)
	}
}

// startPosition is where GetMedia begins: first (if set) is sent first, then
// every fragment numbered after after.
type startPosition struct {
	first *fragstore.Info
	after string
}

// startAt resolves a StartSelector (§3).
func (s *Server) startAt(name string, sel kvsapi.StartSelector) (startPosition, *kvsapi.Exception) {
	var pos startPosition
	switch sel.StartSelectorType {
	case kvsapi.StartNow:
		// KVS: "the latest chunk, then tails".
		if last, ok := s.store.Last(name); ok {
			pos.first, pos.after = &last, last.Number
		}
	case kvsapi.StartEarliest:
	case kvsapi.StartFragmentNumber:
		if !validFragmentNumber(sel.AfterFragmentNumber) {
			return pos, invalidArgument("AfterFragmentNumber must be 1-128 decimal digits, got %q", sel.AfterFragmentNumber)
		}
		pos.after = sel.AfterFragmentNumber
	case kvsapi.StartServerTimestamp, kvsapi.StartProducerTimestamp:
		if sel.StartTimestamp == nil {
			return pos, invalidArgument("StartSelectorType %s needs StartTimestamp", sel.StartSelectorType)
		}
		byServer := sel.StartSelectorType == kvsapi.StartServerTimestamp
		if info, ok := s.store.AtTime(name, byServer, sel.StartTimestamp.UnixMilli()); ok {
			pos.first, pos.after = &info, info.Number
		} else if last, ok := s.store.Last(name); ok {
			pos.after = last.Number // nothing at or after that time yet: tail
		}
	case kvsapi.StartContinuationToken:
		// Tokens this service issues are fragment numbers (§2.5).
		if !validFragmentNumber(sel.ContinuationToken) {
			return pos, invalidArgument("ContinuationToken %q was not issued by this service", sel.ContinuationToken)
		}
		pos.after = sel.ContinuationToken
	default:
		return pos, invalidArgument("StartSelectorType must be one of %s, %s, %s, %s, %s, %s; got %q",
			kvsapi.StartNow, kvsapi.StartEarliest, kvsapi.StartFragmentNumber, kvsapi.StartServerTimestamp,
			kvsapi.StartProducerTimestamp, kvsapi.StartContinuationToken, sel.StartSelectorType)
	}
	return pos, nil
}

// validFragmentNumber checks the API pattern ^[0-9]+$, at most 128 characters.
func validFragmentNumber(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// getMedia streams a stream's fragments as media chunks from the selected
// start, then tails live data until the client goes away, the stream is
// deleted or the server closes.
func (s *Server) getMedia(w http.ResponseWriter, r *http.Request) {
	var in kvsapi.GetMediaInput
	st, ok := s.streamRequest(w, r, ActionGetMedia, &in, &in.StreamRef)
	if !ok {
		return
	}
	name := st.record().Name
	pos, e := s.startAt(name, in.StartSelector)
	if e != nil {
		writeError(w, e)
		return
	}
	mr, e := s.addReader(name, st)
	if e != nil {
		writeError(w, e)
		return
	}
	defer s.removeReader(name, mr)

	cw, ok := s.startMediaResponse(w)
	if ok {
		cw.keys, cw.streamARN = s.keys, st.record().ARN
		cw.keyDenied = s.keyUse(r.Context(), KeyActionRead, st.record().KmsKeyID)
	}
	if !ok {
		return
	}
	defer cw.close()
	stopped := func() bool {
		select {
		case <-r.Context().Done():
		case <-s.closed:
		case <-mr.gone:
		default:
			return false
		}
		return true
	}
	send := func(info fragstore.Info, behindMs int64) bool {
		err := cw.writeFragment(info, behindMs, true)
		switch {
		case err == nil, errors.Is(err, fragstore.ErrNotFound):
			return true // a fragment that aged out meanwhile is skipped
		case errors.Is(err, errConsumerGone):
			return false
		}
		s.cfg.Logf("ingest: GetMedia %s: fragment %s: %v", name, info.Number, err)
		_ = cw.writeError(info.Number, s.chunkErrorFor(err))
		return false
	}
	cursor := pos.after
	if pos.first != nil && !send(*pos.first, s.millisBehind(name, *pos.first)) {
		return
	}
	for !stopped() {
		// Watch before querying, so an append after the query wakes us.
		changed := s.store.Watch(name)
		batch := s.store.After(name, cursor, getMediaBatch)
		var newest int64
		if last, ok := s.store.Last(name); ok {
			newest = last.ServerMs
		}
		order := batch
		if s.cfg.Defects.ReorderFragments {
			order = pairwiseSwapped(batch) // deliberate defect
		}
		for _, info := range order {
			if stopped() || !send(info, max(0, newest-info.ServerMs)) {
				return
			}
		}
		if len(batch) > 0 {
			cursor = batch[len(batch)-1].Number
		}
		if len(batch) == getMediaBatch {
			continue
		}
		select {
		case <-changed:
		case <-r.Context().Done():
		case <-s.closed:
		case <-mr.gone:
		}
	}
}

// millisBehind is how far the fragment is behind the stream's latest one
// (AWS_KINESISVIDEO_MILLIS_BEHIND_NOW, API_dataplane_GetMedia.md).
func (s *Server) millisBehind(name string, info fragstore.Info) int64 {
	if last, ok := s.store.Last(name); ok {
		return max(0, last.ServerMs-info.ServerMs)
	}
	return 0
}

// chunkWriter writes stored fragments to a media response, one
// self-contained chunk each, flushed as it is written.
type chunkWriter struct {
	w            http.ResponseWriter
	rc           *http.ResponseController
	store        *fragstore.Store
	writeTimeout time.Duration
	bytesOut     prometheus.Counter
	close        func() // call when the handler is done with the response
	aborted      atomic.Bool

	payload, head, tail []byte
	tagScratch          []mkv.SimpleTag

	// keys and streamARN open fragments encrypted at rest; keyDenied
	// fails them when the caller may not have the stream's key used.
	keys      *dataKeys
	streamARN string
	keyDenied error
	// tamper is the deliberate defect Defects.TamperMedia.
	tamper bool
}

// startMediaResponse sends the 200 of GetMedia or GetMediaForFragmentList.
func (s *Server) startMediaResponse(w http.ResponseWriter) (*chunkWriter, bool) {
	conns := s.metrics.connections.WithLabelValues("get_media")
	conns.Inc()
	cw := &chunkWriter{
		w: w, rc: http.NewResponseController(w), store: s.store, tamper: s.cfg.Defects.TamperMedia,
		writeTimeout: s.cfg.IdleTimeout,
		bytesOut:     s.metrics.bytes.WithLabelValues("out"),
		close:        conns.Dec,
	}
	h := w.Header()
	h.Set("Content-Type", kvsapi.MediaContentType)
	h.Set(kvsapi.HeaderRequestID, requestID())
	w.WriteHeader(http.StatusOK)
	if err := cw.rc.Flush(); err != nil {
		cw.close()
		return nil, false
	}
	// A write blocked on a consumer that stopped reading would hold Close
	// up for writeTimeout; closing the server cuts it short. The watcher is
	// gone before the handler returns, so it never touches the connection's
	// next request.
	handlerDone, watcherDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-s.closed:
			cw.abort()
		case <-handlerDone:
		}
	}()
	cw.close = func() {
		close(handlerDone)
		<-watcherDone
		conns.Dec()
	}
	return cw, true
}

// abort makes the current and every later write fail at once.
func (c *chunkWriter) abort() {
	c.aborted.Store(true)
	_ = c.rc.SetWriteDeadline(time.Unix(1, 0))
}

// writeFragment writes one fragment's chunk. With a continuation token
// (GetMedia) the trailing Tags carry MILLIS_BEHIND_NOW and the token.
func (c *chunkWriter) writeFragment(info fragstore.Info, behindMs int64, withToken bool) error {
	var err error
	if c.payload, err = c.store.ReadAppend(c.payload[:0], info); err != nil {
		return err
	}
	payload := c.payload
	if isSealed(payload) {
		if c.keys == nil {
			return fmt.Errorf("%w: fragment %s is encrypted at rest and this ingest has no KMS", errBadPayload, info.Number)
		}
		ctx, cancel := context.WithTimeout(context.Background(), kmsCallTimeout)
		payload, err = openPayload(ctx, payload, c.streamARN, info.Number, func(ctx context.Context, wrapped []byte) ([]byte, error) {
			if c.keyDenied != nil {
				return nil, c.keyDenied
			}
			return c.keys.forReading(ctx, c.streamARN, wrapped)
		})
		cancel()
		if err != nil {
			return err
		}
	}
	p, err := decodePayload(payload)
	if err != nil {
		return err
	}
	if c.tamper {
		tamperFirstBlock(p.cluster) // c's own buffer (or the opened payload)
	}
	c.head = appendChunkHead(c.head[:0], p.header, info.Number, info.ServerMs, info.ProducerMs)
	if !withToken {
		behindMs = -1
	}
	c.tail, c.tagScratch = appendChunkTail(c.tail[:0], c.tagScratch, p.tags, behindMs, info.Number)
	return c.write(c.head, p.cluster, c.tail)
}

// chunkErrorFor is the error chunk id for a fragment that failed to be
// served: the KMS ids (4500–4506) when KMS refused its data key.
func (s *Server) chunkErrorFor(err error) int {
	if errors.Is(err, errKMS) {
		return int(s.errorIDFor(err))
	}
	return chunkErrInternal
}

// writeError writes an error chunk for a fragment that cannot be served.
func (c *chunkWriter) writeError(number string, id int) error {
	c.head = appendErrorChunk(c.head[:0], number, id)
	return c.write(c.head)
}

func (c *chunkWriter) write(parts ...[]byte) error {
	// A consumer that accepts nothing for IdleTimeout is dropped.
	_ = c.rc.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	// An abort that raced with the line above may have had its deadline
	// replaced; the flag tells.
	if c.aborted.Load() {
		return errConsumerGone
	}
	n := 0
	for _, p := range parts {
		if _, err := c.w.Write(p); err != nil {
			return fmt.Errorf("%w: %w", errConsumerGone, err)
		}
		n += len(p)
	}
	if err := c.rc.Flush(); err != nil {
		return fmt.Errorf("%w: %w", errConsumerGone, err)
	}
	c.bytesOut.Add(float64(n))
	return nil
}
