package mkv

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
)

// EBML decoding helpers (RFC 8794 §4–5). Encoding lives in vint.go; the names
// here all start with "decode" or "read" so the two never collide.

// Hard caps of the profile: IDs are at most 4 bytes and sizes at most 8,
// whatever an EBML header declares.
const (
	decodeMaxIDWidth   = 4
	decodeMaxSizeWidth = 8
)

// Static errors keep the decoding path allocation-free; callers add the offset.
var (
	errVintZeroByte  = fmt.Errorf("%w: VINT starts with a zero byte", ErrInvalid)
	errIDTooLong     = fmt.Errorf("%w: element ID longer than allowed", ErrInvalid)
	errIDReserved    = fmt.Errorf("%w: element ID with all-zero or all-one value bits", ErrInvalid)
	errIDNotShortest = fmt.Errorf("%w: element ID not in its shortest encoding", ErrInvalid)
	errSizeTooLong   = fmt.Errorf("%w: element size VINT longer than allowed", ErrInvalid)
	errVintTruncated = fmt.Errorf("%w: VINT runs past the end of its parent", ErrInvalid)
	errUintTooLong   = fmt.Errorf("%w: unsigned integer longer than 8 bytes", ErrInvalid)
	errNeedMoreBytes = errors.New("need more bytes") // internal: the caller must supply a longer prefix
)

// decodeVintWidth is the total length (1..8) of the VINT whose first byte is
// b, or 9 when b is zero (which no valid VINT starts with).
func decodeVintWidth(b byte) int { return bits.LeadingZeros8(b) + 1 }

// decodeID decodes an element ID (marker bit kept, as in ids.go) from the start
// of b. It returns errNeedMoreBytes when b is shorter than the ID it starts.
func decodeID(b []byte, maxWidth int) (id uint32, width int, err error) {
	if len(b) == 0 {
		return 0, 0, errNeedMoreBytes
	}
	width = decodeVintWidth(b[0])
	if width > 8 {
		return 0, 0, errVintZeroByte
	}
	if width > maxWidth || width > decodeMaxIDWidth {
		return 0, 0, errIDTooLong
	}
	if len(b) < width {
		return 0, 0, errNeedMoreBytes
	}
	for _, c := range b[:width] {
		id = id<<8 | uint32(c)
	}
	value := uint64(id) &^ (1 << (7 * uint(width)))
	allOnes := uint64(1)<<(7*uint(width)) - 1
	if value == 0 || value == allOnes {
		return 0, 0, errIDReserved
	}
	// A value that fits a shorter width (whose all-ones is reserved) must use it.
	if width > 1 && value < uint64(1)<<(7*uint(width-1))-1 {
		return 0, 0, errIDNotShortest
	}
	return id, width, nil
}

// decodeSize decodes an element data size from the start of b. unknown reports
// the reserved all-ones value ("unknown size"), which any width may carry.
func decodeSize(b []byte, maxWidth int) (size uint64, unknown bool, width int, err error) {
	if len(b) == 0 {
		return 0, false, 0, errNeedMoreBytes
	}
	width = decodeVintWidth(b[0])
	if width > 8 {
		return 0, false, 0, errVintZeroByte
	}
	if width > maxWidth || width > decodeMaxSizeWidth {
		return 0, false, 0, errSizeTooLong
	}
	if len(b) < width {
		return 0, false, 0, errNeedMoreBytes
	}
	size = readVintValue(b[:width])
	return size, size == uint64(1)<<(7*uint(width))-1, width, nil
}

// readVintValue is the value bits of the complete VINT b (marker removed).
func readVintValue(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v &^ (1 << (7 * uint(len(b))))
}

// readVint decodes an unsigned VINT (up to 8 bytes) held entirely in b, as in a
// Block header's track number or an EBML lace size. No value is reserved.
func readVint(b []byte) (value uint64, width int, err error) {
	if len(b) == 0 {
		return 0, 0, errVintTruncated
	}
	width = decodeVintWidth(b[0])
	if width > 8 {
		return 0, 0, errVintZeroByte
	}
	if len(b) < width {
		return 0, 0, errVintTruncated
	}
	return readVintValue(b[:width]), width, nil
}

// readSignedVint decodes a signed VINT as used by EBML lacing: the unsigned
// value minus 2^(7w-1)-1, so that widths are symmetric around zero.
func readSignedVint(b []byte) (value int64, width int, err error) {
	u, width, err := readVint(b)
	if err != nil {
		return 0, 0, err
	}
	bias := int64(1)<<(7*uint(width)-1) - 1
	// u < 2^56, so the subtraction cannot overflow.
	return int64(u) - bias, width, nil
}

// decodeUint decodes an EBML unsigned integer element's data (0..8 bytes,
// big-endian; zero bytes mean 0).
func decodeUint(b []byte) (uint64, error) {
	if len(b) > 8 {
		return 0, errUintTooLong
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

// decodeString decodes an EBML string or UTF-8 element's data: the value ends
// at the first zero byte, which may only pad it (RFC 8794 §7.4).
func decodeString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
