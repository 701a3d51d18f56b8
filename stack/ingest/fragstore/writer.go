package fragstore

import (
	"bufio"
	"fmt"
	"math"
	"os"
)

// request is one record on its way through the writer.
type request struct {
	kind     recordKind
	relocate bool // compaction re-appending a live stream record or tombstone
	stream   string

	// fragment
	frag Fragment
	num  uint64
	size int64
	key  pendingKey
	head []byte // record header + meta; its CRC already covers the payload

	meta    []byte   // stream put
	from    position // relocation: where the record being moved sits
	horizon position // stream delete: set by the writer, or kept when relocating
	mark    uint64   // number high-water mark

	// set by the writer
	skip bool // not written (rejected, or a relocation that became moot)
	pos  position
	info Info
	err  error
	done chan struct{} // closed when the request is finished
}

func (r *request) recordLen() int64 {
	switch r.kind {
	case kindFragment:
		return int64(len(r.head)) + r.size
	case kindStreamPut:
		return int64(putRecordLen(r.stream, r.meta))
	case kindStreamDelete:
		return int64(deleteRecordLen(r.stream))
	default:
		return markRecordLen
	}
}

// writer is the state of the single goroutine that appends to the log.
type writer struct {
	seg     *segment // active segment
	bw      *bufio.Writer
	off     int64 // bytes written to the active segment, durable or not
	hasData bool  // the active segment holds more than marks
	scratch []byte

	// counters handed to Stats at the end of each batch
	records, fsyncs, dirFsyncs int64
}

func (w *writer) attach(seg *segment, size int64) error {
	if _, err := seg.f.Seek(size, 0); err != nil {
		return fmt.Errorf("fragstore: seek %s: %w", seg.path, err)
	}
	w.seg = seg
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(seg.f, writeBufferBytes)
	} else {
		w.bw.Reset(seg.f)
	}
	w.off = size
	w.hasData = size > markRecordLen
	return nil
}

// runWriter batches whatever is queued into one write and one fsync.
// Batching needs no timer: while one fsync runs, the next batch queues up.
func (s *Store) runWriter() {
	defer close(s.writerDone)
	batch := make([]*request, 0, maxBatchRecords)
	for {
		r, ok := <-s.queue
		if !ok {
			return
		}
		batch = append(batch[:0], r)
		bytes := r.recordLen()
		open := true
	drain:
		for len(batch) < maxBatchRecords && bytes < maxBatchBytes {
			select {
			case r, ok := <-s.queue:
				if !ok {
					open = false
					break drain
				}
				batch = append(batch, r)
				bytes += r.recordLen()
			default:
				break drain
			}
		}
		s.commit(batch)
		clear(batch)
		if !open {
			return
		}
	}
}

func (s *Store) commit(batch []*request) {
	s.mu.Lock()
	if s.failed != nil {
		err := fmt.Errorf("%w: %w", ErrFailed, s.failed)
		for _, r := range batch {
			r.skip, r.err = true, err
		}
		s.finishLocked(batch)
		s.mu.Unlock()
		s.release(batch)
		return
	}
	s.batchSeg = s.w.seg.id // compaction must not touch segments this batch writes to
	s.decideLocked(batch)
	s.mu.Unlock()

	err := s.writeBatch(batch)

	s.mu.Lock()
	s.batchSeg = 0
	s.stats.Records += s.w.records
	s.stats.Fsyncs += s.w.fsyncs
	s.stats.DirFsyncs += s.w.dirFsyncs
	s.w.records, s.w.fsyncs, s.w.dirFsyncs = 0, 0, 0
	if err != nil {
		s.failed = err
		for _, r := range batch {
			if !r.skip {
				r.skip, r.err = true, fmt.Errorf("%w: %w", ErrFailed, err)
			}
		}
		s.opts.Logf("fragstore: writer failed, store is read-only until reopened: %v", err)
	} else {
		s.w.seg.size = s.w.off
		for _, r := range batch {
			if !r.skip {
				s.applyLocked(r)
			}
		}
	}
	s.finishLocked(batch)
	s.mu.Unlock()
	s.release(batch)
}

// decideLocked rejects or drops requests whose precondition no longer holds,
// judged in log order: earlier records of the same batch count.
func (s *Store) decideLocked(batch []*request) {
	var overlay map[string]bool // stream -> has a record, after earlier requests in this batch
	set := func(name string, v bool) {
		if overlay == nil {
			overlay = make(map[string]bool)
		}
		overlay[name] = v
	}
	for _, r := range batch {
		switch r.kind {
		case kindFragment:
			has, touched := overlay[r.frag.Stream]
			if !touched {
				st := s.streams[r.frag.Stream]
				has = st != nil && st.hasRecord
			}
			if !has {
				r.skip, r.err = true, fmt.Errorf("%w: %q", ErrNoStream, r.frag.Stream)
			}
		case kindStreamPut:
			if !r.relocate {
				set(r.stream, true)
				continue
			}
			st := s.streams[r.stream]
			_, touched := overlay[r.stream]
			if touched || st == nil || !st.hasRecord || st.put != r.from {
				r.skip = true // superseded: the newer record is durable elsewhere
				continue
			}
			r.meta = st.meta
		case kindStreamDelete:
			if r.relocate {
				if t, ok := s.tombs[r.stream]; !ok || t.horizon != r.horizon || t.at != r.from.seg {
					r.skip = true
				}
				continue
			}
			exists, touched := overlay[r.stream]
			if !touched {
				exists = s.streams[r.stream] != nil
			}
			if !exists {
				r.skip, r.err = true, fmt.Errorf("%w: %q", ErrNoStream, r.stream)
				continue
			}
			set(r.stream, false)
		}
	}
}

// writeBatch writes the batch, rotating segments as needed, and fsyncs once.
func (s *Store) writeBatch(batch []*request) error {
	w := &s.w
	wrote := false
	for _, r := range batch {
		if r.skip {
			continue
		}
		n := r.recordLen()
		if w.hasData && w.off+n > s.opts.SegmentBytes {
			if err := s.rotate(); err != nil {
				return err
			}
		}
		r.pos = position{seg: w.seg.id, off: w.off}
		if err := w.writeRecord(r); err != nil {
			return fmt.Errorf("fragstore: %w", err) // *os.PathError names the file
		}
		w.off += n
		w.records++
		if r.kind != kindMark {
			w.hasData = true
		}
		wrote = true
	}
	if !wrote {
		return nil
	}
	return w.sync()
}

func (w *writer) sync() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("fragstore: %w", err)
	}
	if err := fdatasync(w.seg.f); err != nil {
		return fmt.Errorf("fragstore: %w", err)
	}
	w.fsyncs++
	return nil
}

func (w *writer) writeRecord(r *request) error {
	switch r.kind {
	case kindFragment:
		if _, err := w.bw.Write(r.head); err != nil {
			return err
		}
		for _, p := range r.frag.Parts {
			if _, err := w.bw.Write(p); err != nil {
				return err
			}
		}
		return nil
	case kindStreamPut:
		w.scratch = appendPutRecord(w.scratch[:0], r.stream, r.meta)
	case kindStreamDelete:
		if !r.relocate {
			r.horizon = r.pos // everything logged before this record
		}
		w.scratch = appendDeleteRecord(w.scratch[:0], r.stream, r.horizon)
	case kindMark:
		w.scratch = appendMarkRecord(w.scratch[:0], r.mark)
	}
	_, err := w.bw.Write(w.scratch)
	if cap(w.scratch) > 64<<10 {
		w.scratch = nil // do not pin a large stream record
	}
	return err
}

// rotate makes everything in the active segment durable, then starts the
// next one with a number mark. Older segments are therefore always complete,
// which is why recovery treats damage in them as corruption, not a torn tail.
func (s *Store) rotate() error {
	w := &s.w
	if err := w.sync(); err != nil {
		return err
	}
	if w.seg.id == math.MaxUint32 {
		return fmt.Errorf("fragstore: segment ids exhausted")
	}
	old := w.seg
	seg, err := s.createSegment(old.id + 1)
	if err != nil {
		return err
	}
	w.dirFsyncs++
	s.mu.Lock()
	old.size = w.off
	s.segs[seg.id] = seg
	s.segIDs = append(s.segIDs, seg.id)
	s.active = seg
	s.mu.Unlock()
	if err := w.attach(seg, 0); err != nil {
		return err
	}
	s.numMu.Lock()
	last := s.lastNumber
	s.numMu.Unlock()
	w.scratch = appendMarkRecord(w.scratch[:0], last)
	if _, err := w.bw.Write(w.scratch); err != nil {
		return fmt.Errorf("fragstore: %w", err)
	}
	w.off += markRecordLen
	w.records++
	return nil
}

// createSegment creates an empty segment file and makes its name durable.
func (s *Store) createSegment(id uint32) (*segment, error) {
	path := s.segmentPath(id)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("fragstore: create segment: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return nil, err
	}
	return &segment{id: id, path: path, f: f}, nil
}

// writeMarkNow appends a number mark and fsyncs; used by Open before the
// writer goroutine starts.
func (w *writer) writeMarkNow(s *Store, last uint64) error {
	pos := w.off
	w.scratch = appendMarkRecord(w.scratch[:0], last)
	if _, err := w.bw.Write(w.scratch); err != nil {
		return fmt.Errorf("fragstore: %w", err)
	}
	if err := w.sync(); err != nil {
		return err
	}
	w.off = pos + markRecordLen
	w.seg.size = w.off
	s.stats.Records++
	s.stats.Fsyncs += w.fsyncs
	w.fsyncs = 0
	return nil
}

// applyLocked makes a durable record visible.
func (s *Store) applyLocked(r *request) {
	switch r.kind {
	case kindFragment:
		e := entry{
			num: r.num, producerMs: r.frag.ProducerMs, serverMs: r.frag.ServerMs, durationMs: r.frag.DurationMs,
			off: r.pos.off, seg: r.pos.seg, size: uint32(r.size),
		}
		st := s.applyFragmentLocked(r.frag.Stream, e)
		r.info = st.info(&e)
	case kindStreamPut:
		s.applyPutLocked(r.stream, r.meta, r.pos)
		if r.relocate {
			s.stats.RelocatedRecords++
		}
	case kindStreamDelete:
		s.applyDeleteLocked(r.stream, r.horizon, r.pos.seg)
		if r.relocate {
			s.stats.RelocatedRecords++
		}
	}
}

func (s *Store) applyFragmentLocked(name string, e entry) *streamState {
	st := s.streams[name]
	if st == nil { // only during replay: a relocated stream record comes later in the log
		st = newStreamState(name)
		s.streams[name] = st
	}
	st.insert(e)
	if seg := s.segs[e.seg]; seg != nil {
		seg.live++
	}
	return st
}

func (s *Store) applyPutLocked(name string, meta []byte, pos position) {
	st := s.streams[name]
	if st == nil {
		st = newStreamState(name)
		s.streams[name] = st
	}
	st.hasRecord, st.meta, st.put = true, meta, pos
}

// applyDeleteLocked drops everything of stream name logged before horizon and
// remembers the tombstone (held in segment at) for compaction.
func (s *Store) applyDeleteLocked(name string, horizon position, at uint32) {
	if st := s.streams[name]; st != nil {
		st.removeIf(func(e *entry) bool { return e.pos().less(horizon) }, func(e *entry) {
			if seg := s.segs[e.seg]; seg != nil {
				seg.live--
			}
		})
		if st.hasRecord && st.put.less(horizon) {
			st.hasRecord, st.meta = false, nil
		}
		if !st.hasRecord && len(st.frags) == 0 {
			delete(s.streams, name)
		}
	}
	switch t, ok := s.tombs[name]; {
	case !ok || t.horizon.less(horizon):
		s.tombs[name] = tombstone{horizon: horizon, at: at}
	case t.horizon == horizon:
		s.tombs[name] = tombstone{horizon: horizon, at: at} // relocated
	}
}

// finishLocked retires the batch's de-duplication entries together with the
// index update, so a concurrent Append sees either one or the other.
func (s *Store) finishLocked(batch []*request) {
	for _, r := range batch {
		if r.kind == kindFragment && s.pending[r.key] == r {
			delete(s.pending, r.key)
		}
	}
}

func (s *Store) release(batch []*request) {
	for _, r := range batch {
		if !r.skip && !r.relocate {
			switch r.kind {
			case kindFragment:
				s.notify(r.frag.Stream)
			case kindStreamDelete:
				s.notify(r.stream)
			}
		}
		close(r.done)
	}
}
