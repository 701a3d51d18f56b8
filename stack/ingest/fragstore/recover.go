package fragstore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

const scanBufferBytes = 1 << 20

// listSegments returns the ids of the segment files in dir, ascending.
func listSegments(dir string) ([]uint32, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("fragstore: list %s: %w", dir, err)
	}
	var ids []uint32
	for _, e := range ents {
		if id, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

func parseSegmentName(name string) (uint32, bool) {
	digits, ok := strings.CutPrefix(name, "seg-")
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, ".log")
	if !ok || len(digits) != 12 {
		return 0, false
	}
	v, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || v == 0 {
		return 0, false
	}
	return uint32(v), true
}

// recover replays every segment in order and leaves the writer attached to
// the last one. Damage in the last segment is a torn tail from a crash and is
// cut away; damage in an older segment (always fsynced whole before the next
// one was created) is reported as ErrCorrupt.
func (s *Store) recover() error {
	ids, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	for i, id := range ids {
		last := i == len(ids)-1
		path := s.segmentPath(id)
		flag := os.O_RDONLY
		if last {
			flag = os.O_RDWR
		}
		f, err := os.OpenFile(path, flag, 0)
		if err != nil {
			return fmt.Errorf("fragstore: open segment: %w", err)
		}
		seg := &segment{id: id, path: path, f: f}
		s.segs[id] = seg
		s.segIDs = append(s.segIDs, id)
		end, fileSize, bad, err := s.scanSegment(seg)
		if err != nil {
			return err
		}
		if bad != nil {
			if !last {
				return fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, path, bad.off, bad.reason)
			}
			if err := f.Truncate(end); err != nil {
				return fmt.Errorf("fragstore: truncate torn tail of %s: %w", path, err)
			}
			if err := fdatasync(f); err != nil {
				return fmt.Errorf("fragstore: fsync %s: %w", path, err)
			}
			s.stats.TruncatedTailBytes = fileSize - end
			s.opts.Logf("fragstore: cut %d bytes of torn tail from %s at offset %d (%s)", fileSize-end, path, end, bad.reason)
		}
		seg.size = end
	}
	if len(ids) == 0 {
		seg, err := s.createSegment(1)
		if err != nil {
			return err
		}
		s.stats.DirFsyncs++
		s.segs[1] = seg
		s.segIDs = append(s.segIDs, 1)
	}
	s.active = s.segs[s.segIDs[len(s.segIDs)-1]]
	orphans := 0
	for _, st := range s.streams {
		if !st.hasRecord {
			orphans++
		}
	}
	if orphans > 0 {
		s.opts.Logf("fragstore: %d streams have fragments but no stream record", orphans)
	}
	return s.w.attach(s.active, s.active.size)
}

type badRecord struct {
	off    int64
	reason string
}

// scanSegment applies every intact record of seg and returns where the intact
// log ends; bad says why it ends before the end of the file.
func (s *Store) scanSegment(seg *segment) (end, fileSize int64, bad *badRecord, err error) {
	fi, err := seg.f.Stat()
	if err != nil {
		return 0, 0, nil, fmt.Errorf("fragstore: stat %s: %w", seg.path, err)
	}
	size := fi.Size()
	r := bufio.NewReaderSize(io.NewSectionReader(seg.f, 0, size), scanBufferBytes)
	var (
		off int64
		h   [headerSize]byte
		buf []byte
	)
	ioErr := func(err error) (int64, int64, *badRecord, error) {
		return 0, 0, nil, fmt.Errorf("fragstore: read %s at offset %d: %w", seg.path, off, err)
	}
	stop := func(reason string) (int64, int64, *badRecord, error) {
		return off, size, &badRecord{off: off, reason: reason}, nil
	}
	for off < size {
		if size-off < headerSize {
			return stop("truncated record header")
		}
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return ioErr(err)
		}
		if string(h[:3]) != magic {
			return stop("bad record magic")
		}
		kind := recordKind(h[3])
		limit, known := maxPayload(kind)
		if !known {
			return stop(fmt.Sprintf("unknown record kind %#x", h[3]))
		}
		n := int64(binary.LittleEndian.Uint32(h[4:8]))
		if n > int64(limit) {
			return stop(fmt.Sprintf("record length %d exceeds %d", n, limit))
		}
		if n > size-off-headerSize {
			return stop("record runs past the end of the file")
		}
		want := binary.LittleEndian.Uint32(h[8:12])
		crc := crc32.Update(0, castagnoli, h[:8])
		pos := position{seg: seg.id, off: off}

		if kind == kindFragment {
			if n < fragmentFixedMeta {
				return stop("fragment record too short")
			}
			buf = grow(buf, 2)
			if _, err := io.ReadFull(r, buf); err != nil {
				return ioErr(err)
			}
			metaLen := int64(fragmentMetaLen(int(binary.LittleEndian.Uint16(buf))))
			if metaLen > n {
				return stop("fragment meta longer than the record")
			}
			buf = grow(buf, int(metaLen))
			if _, err := io.ReadFull(r, buf[2:]); err != nil {
				return ioErr(err)
			}
			crc = crc32.Update(crc, castagnoli, buf)
			if crc, err = crcFromReader(r, crc, n-metaLen); err != nil {
				return ioErr(err)
			}
			if crc != want {
				return stop("checksum mismatch")
			}
			m, err := decodeFragmentMeta(buf)
			if err != nil {
				return stop(err.Error())
			}
			s.noteNumber(m.number)
			s.applyFragmentLocked(m.stream, entry{
				num: m.number, producerMs: m.producerMs, serverMs: m.serverMs, durationMs: m.duration,
				off: off, seg: seg.id, size: uint32(n - metaLen),
			})
		} else {
			buf = grow(buf, int(n))
			if _, err := io.ReadFull(r, buf); err != nil {
				return ioErr(err)
			}
			if crc32.Update(crc, castagnoli, buf) != want {
				return stop("checksum mismatch")
			}
			if reason := s.replaySmall(kind, buf, pos); reason != "" {
				return stop(reason)
			}
		}
		off += headerSize + n
	}
	return off, size, nil, nil
}

// replaySmall applies a stream or mark record; it returns a reason when the
// payload does not decode.
func (s *Store) replaySmall(kind recordKind, p []byte, pos position) string {
	switch kind {
	case kindStreamPut:
		name, meta, err := decodeName(p)
		if err != nil {
			return err.Error()
		}
		s.applyPutLocked(name, append([]byte{}, meta...), pos)
	case kindStreamDelete:
		name, horizon, err := decodeDelete(p)
		if err != nil {
			return err.Error()
		}
		if pos.less(horizon) {
			return "delete horizon lies after the record"
		}
		s.applyDeleteLocked(name, horizon, pos.seg)
	case kindMark:
		if len(p) != 8 {
			return "bad mark length"
		}
		s.noteNumber(binary.LittleEndian.Uint64(p))
	}
	return ""
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		nb := make([]byte, n)
		copy(nb, b)
		return nb
	}
	return b[:n]
}

// crcFromReader folds the next n bytes of r into crc without copying them out.
func crcFromReader(r *bufio.Reader, crc uint32, n int64) (uint32, error) {
	for n > 0 {
		k := r.Size()
		if int64(k) > n {
			k = int(n)
		}
		b, err := r.Peek(k)
		crc = crc32.Update(crc, castagnoli, b)
		if _, derr := r.Discard(len(b)); derr != nil {
			return crc, derr
		}
		n -= int64(len(b))
		if err != nil && n > 0 {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return crc, err
		}
	}
	return crc, nil
}
