package fragstore

import (
	"strconv"
	"strings"
)

// Fragment numbers are 47 decimal digits, like the ones KVS hands out: a
// leading 9 followed by a zero-padded 46-digit counter. Fixed width makes
// string order equal numeric order. The counter is max(last+1, now in µs), so
// it follows wall time while never repeating or going backwards, and after a
// restart "last" is recovered from the log (stored numbers and high-water
// marks), so a clock set backwards cannot reissue old numbers either.
const (
	numberDigits = 47
	numberLead   = '9'
)

// formatNumber renders the counter v as a fragment number.
func formatNumber(v uint64) string {
	var b [numberDigits]byte
	b[0] = numberLead
	for i := range b[1:] {
		b[1+i] = '0'
	}
	var tmp [20]byte
	d := strconv.AppendUint(tmp[:0], v, 10)
	copy(b[numberDigits-len(d):], d)
	return string(b[:])
}

// parseNumber reads a fragment number this store issued.
func parseNumber(s string) (uint64, bool) {
	if len(s) != numberDigits || s[0] != numberLead {
		return 0, false
	}
	tail := strings.TrimLeft(s[1:], "0")
	if tail == "" {
		return 0, true
	}
	if len(tail) > 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(tail, 10, 64)
	return v, err == nil
}

// numberBound places an arbitrary decimal string among this store's numbers.
// It returns (v, 0) when s is one of ours, (0, -1) when s is numerically
// below every number the store can issue, (0, +1) when above all of them, and
// ok=false when s is not a decimal number at all.
func numberBound(s string) (v uint64, side int, ok bool) {
	if s == "" {
		return 0, 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, 0, false
		}
	}
	t := strings.TrimLeft(s, "0")
	switch {
	case len(t) < numberDigits:
		return 0, -1, true
	case len(t) > numberDigits:
		return 0, +1, true
	case t[0] < numberLead:
		return 0, -1, true
	}
	v, mine := parseNumber(t)
	if !mine { // 47 digits, leading 9, counter beyond uint64
		return 0, +1, true
	}
	return v, 0, true
}
