package fragstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// On-disk record framing. Every record is
//
//	"csf" kind(1) | payload length (uint32 LE) | CRC-32C (uint32 LE) | payload
//
// where the CRC covers the first 8 header bytes and the payload, so a torn
// length or kind is caught as surely as a torn payload.
const (
	headerSize = 12
	magic      = "csf"
)

type recordKind byte

const (
	kindFragment     recordKind = 'F' // stream, number, timestamps, opaque payload
	kindStreamPut    recordKind = 'P' // stream name + opaque metadata
	kindStreamDelete recordKind = 'D' // stream name + horizon: drops everything of the stream logged before it
	kindMark         recordKind = 'M' // high-water mark of issued fragment numbers
)

// Size limits. They bound memory during recovery and keep the framing's
// 32-bit length far from overflow.
const (
	// MaxFragmentBytes is the largest fragment payload Append accepts
	// (KVS itself rejects fragments over 50 MB).
	MaxFragmentBytes = 256 << 20
	// MaxStreamMetaBytes is the largest stream record PutStream accepts.
	MaxStreamMetaBytes = 1 << 20
	// MaxStreamNameBytes is the longest stream name the store accepts
	// (KVS allows 256 characters).
	MaxStreamNameBytes = 1024
)

// fragment meta: name length u16, name, number u64, producer/server/duration i64.
const fragmentFixedMeta = 2 + 8 + 3*8

func fragmentMetaLen(nameLen int) int { return fragmentFixedMeta + nameLen }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// position is where a record starts in the log; log order is (seg, off) order.
type position struct {
	seg uint32
	off int64
}

func (p position) less(q position) bool {
	return p.seg < q.seg || (p.seg == q.seg && p.off < q.off)
}

func putHeader(h []byte, kind recordKind, payloadLen int) {
	copy(h, magic)
	h[3] = byte(kind)
	binary.LittleEndian.PutUint32(h[4:8], uint32(payloadLen))
}

// appendFragmentHead appends the header and meta of a fragment record; the
// CRC field is filled from crc, which must already cover header[0:8], meta
// and payload (see fragmentCRC).
func appendFragmentHead(dst []byte, f *Fragment, num uint64, size int) []byte {
	start := len(dst)
	metaLen := fragmentMetaLen(len(f.Stream))
	dst = append(dst, make([]byte, headerSize+metaLen)...)
	h := dst[start:]
	putHeader(h, kindFragment, metaLen+size)
	m := h[headerSize:]
	binary.LittleEndian.PutUint16(m[0:2], uint16(len(f.Stream)))
	n := 2 + copy(m[2:], f.Stream)
	binary.LittleEndian.PutUint64(m[n:], num)
	binary.LittleEndian.PutUint64(m[n+8:], uint64(f.ProducerMs))
	binary.LittleEndian.PutUint64(m[n+16:], uint64(f.ServerMs))
	binary.LittleEndian.PutUint64(m[n+24:], uint64(f.DurationMs))
	crc := crc32.Update(0, castagnoli, h[:8])
	crc = crc32.Update(crc, castagnoli, m)
	for _, p := range f.Parts {
		crc = crc32.Update(crc, castagnoli, p)
	}
	binary.LittleEndian.PutUint32(h[8:12], crc)
	return dst
}

// appendSmallRecord frames a record whose payload is already in memory.
func appendSmallRecord(dst []byte, kind recordKind, payload ...[]byte) []byte {
	n := 0
	for _, p := range payload {
		n += len(p)
	}
	start := len(dst)
	dst = append(dst, make([]byte, headerSize)...)
	putHeader(dst[start:], kind, n)
	crc := crc32.Update(0, castagnoli, dst[start:start+8])
	for _, p := range payload {
		dst = append(dst, p...)
		crc = crc32.Update(crc, castagnoli, p)
	}
	binary.LittleEndian.PutUint32(dst[start+8:start+12], crc)
	return dst
}

func nameField(name string) []byte {
	b := make([]byte, 2+len(name))
	binary.LittleEndian.PutUint16(b, uint16(len(name)))
	copy(b[2:], name)
	return b
}

func appendPutRecord(dst []byte, name string, meta []byte) []byte {
	return appendSmallRecord(dst, kindStreamPut, nameField(name), meta)
}

func appendDeleteRecord(dst []byte, name string, horizon position) []byte {
	var h [12]byte
	binary.LittleEndian.PutUint32(h[0:4], horizon.seg)
	binary.LittleEndian.PutUint64(h[4:12], uint64(horizon.off))
	return appendSmallRecord(dst, kindStreamDelete, nameField(name), h[:])
}

func appendMarkRecord(dst []byte, number uint64) []byte {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], number)
	return appendSmallRecord(dst, kindMark, b[:])
}

func putRecordLen(name string, meta []byte) int { return headerSize + 2 + len(name) + len(meta) }
func deleteRecordLen(name string) int           { return headerSize + 2 + len(name) + 12 }

const markRecordLen = headerSize + 8

// maxPayload bounds the length field per kind so a corrupt length cannot make
// recovery allocate or skip absurd amounts.
func maxPayload(k recordKind) (int, bool) {
	switch k {
	case kindFragment:
		return fragmentMetaLen(MaxStreamNameBytes) + MaxFragmentBytes, true
	case kindStreamPut:
		return 2 + MaxStreamNameBytes + MaxStreamMetaBytes, true
	case kindStreamDelete:
		return 2 + MaxStreamNameBytes + 12, true
	case kindMark:
		return 8, true
	}
	return 0, false
}

// fragmentMeta is the decoded fixed part of a fragment record.
type fragmentMeta struct {
	stream                         string
	number                         uint64
	producerMs, serverMs, duration int64
}

// decodeName reads the u16-prefixed stream name at the start of b.
func decodeName(b []byte) (string, []byte, error) {
	if len(b) < 2 {
		return "", nil, fmt.Errorf("name length missing")
	}
	n := int(binary.LittleEndian.Uint16(b))
	if n == 0 || n > MaxStreamNameBytes || len(b) < 2+n {
		return "", nil, fmt.Errorf("bad stream name length %d", n)
	}
	return string(b[2 : 2+n]), b[2+n:], nil
}

func decodeFragmentMeta(b []byte) (fragmentMeta, error) {
	name, rest, err := decodeName(b)
	if err != nil {
		return fragmentMeta{}, err
	}
	if len(rest) != 32 {
		return fragmentMeta{}, fmt.Errorf("fragment meta has %d bytes after the name, want 32", len(rest))
	}
	m := fragmentMeta{
		stream:     name,
		number:     binary.LittleEndian.Uint64(rest[0:8]),
		producerMs: int64(binary.LittleEndian.Uint64(rest[8:16])),
		serverMs:   int64(binary.LittleEndian.Uint64(rest[16:24])),
		duration:   int64(binary.LittleEndian.Uint64(rest[24:32])),
	}
	if m.duration < 0 {
		return fragmentMeta{}, fmt.Errorf("negative duration")
	}
	return m, nil
}

func decodeDelete(p []byte) (string, position, error) {
	name, rest, err := decodeName(p)
	if err != nil {
		return "", position{}, err
	}
	if len(rest) != 12 {
		return "", position{}, fmt.Errorf("delete record has %d bytes after the name, want 12", len(rest))
	}
	h := position{seg: binary.LittleEndian.Uint32(rest[0:4]), off: int64(binary.LittleEndian.Uint64(rest[4:12]))}
	if h.off < 0 {
		return "", position{}, fmt.Errorf("negative horizon offset")
	}
	return name, h, nil
}
