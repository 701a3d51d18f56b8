package fragstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
)

// Queries see only fragments that are durable and not expired. Every query
// asks the retention callback before taking the index lock.

// Get returns the fragment numbered number in stream.
func (s *Store) Get(stream, number string) (Info, bool) {
	num, ok := parseNumber(number)
	if !ok {
		return Info{}, false
	}
	c := s.cutoffFor(stream)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.streams[stream].visible(num, c)
}

// ByProducerTime returns the fragment of stream with exactly this producer
// timestamp.
func (s *Store) ByProducerTime(stream string, producerMs int64) (Info, bool) {
	c := s.cutoffFor(stream)
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.streams[stream]
	if st == nil {
		return Info{}, false
	}
	num, ok := st.byProducer[producerMs]
	if !ok {
		return Info{}, false
	}
	return st.visible(num, c)
}

// After returns up to max fragments of stream numbered above number, in
// number order; "" starts at the oldest live fragment. A number that is not
// decimal yields nothing.
func (s *Store) After(stream, number string, max int) []Info {
	return s.Range(stream, false, minInt64, maxInt64, number, max)
}

const (
	minInt64 = -1 << 63
	maxInt64 = 1<<63 - 1
)

// Last returns the newest (highest-numbered) live fragment of stream.
func (s *Store) Last(stream string) (Info, bool) {
	c := s.cutoffFor(stream)
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.streams[stream]
	if st == nil {
		return Info{}, false
	}
	for i := len(st.frags) - 1; i >= 0; i-- {
		if c.visible(&st.frags[i]) {
			return st.info(&st.frags[i]), true
		}
	}
	return Info{}, false
}

// Range returns up to max live fragments of stream whose start (ServerMs if
// byServer, else ProducerMs) lies in [startMs, endMs], ordered by number and
// numbered above afterNumber ("" = from the start) for pagination.
func (s *Store) Range(stream string, byServer bool, startMs, endMs int64, afterNumber string, max int) []Info {
	if max <= 0 || startMs > endMs {
		return nil
	}
	c := s.cutoffFor(stream)
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.streams[stream]
	if st == nil {
		return nil
	}
	i, ok := st.firstAfter(afterNumber)
	if !ok {
		return nil
	}
	var out []Info
	for ; i < len(st.frags) && len(out) < max; i++ {
		e := &st.frags[i]
		if t := e.start(byServer); t >= startMs && t <= endMs && c.visible(e) {
			out = append(out, st.info(e))
		}
	}
	return out
}

// AtTime returns the live fragment of stream that contains ms (start <= ms <
// start+duration, the lowest-numbered if several do); failing that, the one
// with the earliest start at or after ms. Start is ServerMs if byServer, else
// ProducerMs.
func (s *Store) AtTime(stream string, byServer bool, ms int64) (Info, bool) {
	c := s.cutoffFor(stream)
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.streams[stream]
	if st == nil {
		return Info{}, false
	}
	next := -1
	for i := range st.frags {
		e := &st.frags[i]
		if !c.visible(e) {
			continue
		}
		t := e.start(byServer)
		// t <= ms, so the unsigned difference is exact even across the int64 range.
		if t <= ms && uint64(ms)-uint64(t) < uint64(e.durationMs) {
			return st.info(e), true
		}
		if t >= ms && (next < 0 || t < st.frags[next].start(byServer)) {
			next = i
		}
	}
	if next < 0 {
		return Info{}, false
	}
	return st.info(&st.frags[next]), true
}

// Read returns the payload of a stored fragment, its checksum verified.
func (s *Store) Read(info Info) ([]byte, error) { return s.ReadAppend(nil, info) }

// ReadAppend appends the payload of a stored fragment to dst, its checksum
// verified. ErrNotFound means the fragment was deleted or compacted away.
func (s *Store) ReadAppend(dst []byte, info Info) ([]byte, error) {
	if info.seg == 0 || info.Size < 0 || info.Size > MaxFragmentBytes ||
		info.Stream == "" || len(info.Stream) > MaxStreamNameBytes {
		return dst, fmt.Errorf("%w: Info does not come from this store", ErrInvalid)
	}
	num, ok := parseNumber(info.Number)
	if !ok {
		return dst, fmt.Errorf("%w: fragment number %q", ErrInvalid, info.Number)
	}
	s.mu.RLock()
	seg := s.segs[info.seg]
	s.mu.RUnlock()
	if seg == nil {
		return dst, fmt.Errorf("%w: %s/%s", ErrNotFound, info.Stream, info.Number)
	}
	metaLen := fragmentMetaLen(len(info.Stream))
	var headBuf [headerSize + fragmentFixedMeta + 256]byte
	head := headBuf[:0]
	head = grow(head, headerSize+metaLen)
	if err := readAt(seg, head, info.off); err != nil {
		return dst, s.readError(err, seg, info)
	}
	corrupt := func(why string) error {
		return fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, seg.path, info.off, why)
	}
	if string(head[:3]) != magic || recordKind(head[3]) != kindFragment ||
		int64(binary.LittleEndian.Uint32(head[4:8])) != int64(metaLen)+info.Size {
		return dst, corrupt("record header does not match the index")
	}
	m, err := decodeFragmentMeta(head[headerSize:])
	if err != nil || m.stream != info.Stream || m.number != num {
		return dst, corrupt("record meta does not match the index")
	}
	start := len(dst)
	dst = slices.Grow(dst, int(info.Size))[:start+int(info.Size)]
	if err := readAt(seg, dst[start:], info.off+int64(len(head))); err != nil {
		return dst[:start], s.readError(err, seg, info)
	}
	crc := crc32.Update(0, castagnoli, head[:8])
	crc = crc32.Update(crc, castagnoli, head[headerSize:])
	crc = crc32.Update(crc, castagnoli, dst[start:])
	if crc != binary.LittleEndian.Uint32(head[8:12]) {
		return dst[:start], corrupt("checksum mismatch")
	}
	return dst, nil
}

func readAt(seg *segment, b []byte, off int64) error {
	_, err := seg.f.ReadAt(b, off)
	return err
}

func (s *Store) readError(err error, seg *segment, info Info) error {
	switch {
	case errors.Is(err, os.ErrClosed):
		if s.closing.Load() {
			return ErrClosed
		}
		return fmt.Errorf("%w: %s/%s", ErrNotFound, info.Stream, info.Number) // compacted meanwhile
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %s at offset %d: record runs past the end of the file", ErrCorrupt, seg.path, info.off)
	}
	return fmt.Errorf("fragstore: read %s: %w", seg.path, err)
}
