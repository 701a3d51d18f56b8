package mkv

import (
	"encoding/binary"
	"math"
)

// EBML encoding helpers (RFC 8794 §4). Decoding lives in vint_decode.go; the
// names here all start with "append" or "encoded" so the two never collide.

// unknownSizeByte is the one-byte "unknown size" vint (all value bits set),
// which the KVS producer writes for the live Segment and every Cluster.
const unknownSizeByte = 0xFF

// maxEncodableSize is the largest data size an 8-byte vint can carry; the
// all-ones value is reserved for "unknown".
const maxEncodableSize = 1<<56 - 2

// encodedIDLen is the number of bytes of an element ID. IDs in ids.go carry
// their marker bits, so the length follows from the magnitude.
func encodedIDLen(id uint32) int {
	switch {
	case id <= 0xFF:
		return 1
	case id <= 0xFFFF:
		return 2
	case id <= 0xFFFFFF:
		return 3
	default:
		return 4
	}
}

// appendID appends an element ID in its natural width.
func appendID(dst []byte, id uint32) []byte {
	switch encodedIDLen(id) {
	case 1:
		return append(dst, byte(id))
	case 2:
		return append(dst, byte(id>>8), byte(id))
	case 3:
		return append(dst, byte(id>>16), byte(id>>8), byte(id))
	default:
		return append(dst, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
	}
}

// encodedSizeLen is the width of the shortest vint that can carry n. A width w
// holds values up to 2^(7w)-2, because all-ones means "unknown size".
func encodedSizeLen(n uint64) int {
	w := 1
	for w < 8 && n > 1<<(7*uint(w))-2 {
		w++
	}
	return w
}

// appendSize appends n as the shortest vint that can carry it. n must not
// exceed maxEncodableSize; callers check sizes they do not control.
func appendSize(dst []byte, n uint64) []byte {
	return appendSizeWidth(dst, n, encodedSizeLen(n))
}

// appendSizeWidth appends n as a vint of exactly width bytes (1..8); the caller
// guarantees that n fits. Fixed widths let KVS-style writers emit sizes the way
// the producer SDK and the service do (8-byte SimpleBlock sizes, 4-byte Tags).
func appendSizeWidth(dst []byte, n uint64, width int) []byte {
	dst = append(dst, make([]byte, width)...)
	putSizeWidth(dst[len(dst)-width:], n)
	return dst
}

// putSizeWidth writes n as a vint filling all of b (len(b) is the width).
func putSizeWidth(b []byte, n uint64) {
	marked := n | 1<<(7*uint(len(b)))
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte(marked)
		marked >>= 8
	}
}

// encodedUintLen is the number of bytes of the shortest big-endian encoding of
// v, at least one (RFC 8794 allows zero bytes for 0, but tools expect one).
func encodedUintLen(v uint64) int {
	n := 1
	for n < 8 && v>>(8*uint(n)) != 0 {
		n++
	}
	return n
}

// appendUint appends a complete unsigned-integer element in its shortest form.
func appendUint(dst []byte, id uint32, v uint64) []byte {
	return appendUintWidth(dst, id, v, encodedUintLen(v))
}

// appendUintWidth appends a complete unsigned-integer element whose value takes
// exactly width bytes (the Cluster Timecode is always 8 bytes in KVS streams).
func appendUintWidth(dst []byte, id uint32, v uint64, width int) []byte {
	dst = appendID(dst, id)
	dst = appendSize(dst, uint64(width))
	for shift := 8 * (width - 1); shift >= 0; shift -= 8 {
		dst = append(dst, byte(v>>uint(shift)))
	}
	return dst
}

// appendFloat64 appends a complete 8-byte float element.
func appendFloat64(dst []byte, id uint32, v float64) []byte {
	dst = appendID(dst, id)
	dst = appendSize(dst, 8)
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(v))
}

// appendString appends a complete string (or UTF-8) element.
func appendString(dst []byte, id uint32, s string) []byte {
	dst = appendID(dst, id)
	dst = appendSize(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendBinary appends a complete binary element.
func appendBinary(dst []byte, id uint32, b []byte) []byte {
	dst = appendID(dst, id)
	dst = appendSize(dst, uint64(len(b)))
	return append(dst, b...)
}

// masterSizeWidth is the size width reserved by appendMasterStart: 8 bytes, so
// any master fits and the header never has to be shifted after the fact.
const masterSizeWidth = 8

// appendMasterStart appends a master element's ID and reserves room for its
// size, returning the offset where the children begin; appendMasterEnd fills
// the size in once the children are written.
func appendMasterStart(dst []byte, id uint32) ([]byte, int) {
	dst = appendID(dst, id)
	dst = append(dst, make([]byte, masterSizeWidth)...)
	return dst, len(dst)
}

// appendMasterEnd writes the size of the master whose children begin at
// bodyStart (as returned by appendMasterStart).
func appendMasterEnd(dst []byte, bodyStart int) []byte {
	putSizeWidth(dst[bodyStart-masterSizeWidth:bodyStart], uint64(len(dst)-bodyStart))
	return dst
}

// encodedElementLen is the total length of an element with the given ID,
// size-vint width and data size.
func encodedElementLen(id uint32, sizeWidth int, dataSize int) int {
	return encodedIDLen(id) + sizeWidth + dataSize
}
