package segment

import (
	"fmt"
	"math/big"
	"strings"
)

// Segment is the half-open slice (from, to] of the whole test that one
// instance runs, with 0 ≤ from < to ≤ 1. The zero value is the whole test,
// 0:1.
type Segment struct {
	from, to *big.Rat // nil means 0 and 1 respectively; never mutated
}

// ParseSegment reads "from:to", where each side is a fraction (1/4), a
// decimal (0.25) or a percentage (25%); a single value x means 0:x and the
// empty string means the whole test.
func ParseSegment(s string) (Segment, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return Segment{}, nil
	}
	fromText, toText, hasColon := strings.Cut(text, ":")
	if !hasColon {
		fromText, toText = "0", text
	}
	from, err := parseRat(fromText)
	if err != nil {
		return Segment{}, fmt.Errorf("%w %q: start: %w", ErrInvalidSegment, s, err)
	}
	to, err := parseRat(toText)
	if err != nil {
		return Segment{}, fmt.Errorf("%w %q: end: %w", ErrInvalidSegment, s, err)
	}
	seg, err := NewSegment(from, to)
	if err != nil {
		return Segment{}, fmt.Errorf("%w %q: %w", ErrInvalidSegment, s, err)
	}
	return seg, nil
}

// NewSegment returns the segment (from, to]; it fails unless
// 0 ≤ from < to ≤ 1. The arguments are copied.
func NewSegment(from, to *big.Rat) (Segment, error) {
	switch {
	case from == nil || to == nil:
		return Segment{}, fmt.Errorf("segment bounds must not be nil")
	case from.Sign() < 0:
		return Segment{}, fmt.Errorf("start %s is below 0; segments lie within 0:1", from.RatString())
	case to.Cmp(one) > 0:
		return Segment{}, fmt.Errorf("end %s is above 1; segments lie within 0:1", to.RatString())
	case from.Cmp(to) >= 0:
		return Segment{}, fmt.Errorf("start %s is not below end %s; write from:to with 0 ≤ from < to ≤ 1",
			from.RatString(), to.RatString())
	}
	return Segment{from: new(big.Rat).Set(from), to: new(big.Rat).Set(to)}, nil
}

var (
	zero = new(big.Rat)
	one  = big.NewRat(1, 1)
)

// From returns a copy of the segment's start.
func (s Segment) From() *big.Rat { return new(big.Rat).Set(s.start()) }

// To returns a copy of the segment's end.
func (s Segment) To() *big.Rat { return new(big.Rat).Set(s.end()) }

// Length returns to - from.
func (s Segment) Length() *big.Rat { return new(big.Rat).Sub(s.end(), s.start()) }

// Equal reports whether both segments have the same bounds.
func (s Segment) Equal(o Segment) bool {
	return s.start().Cmp(o.start()) == 0 && s.end().Cmp(o.end()) == 0
}

// IsWhole reports whether the segment is the whole test, 0:1.
func (s Segment) IsWhole() bool { return s.start().Sign() == 0 && s.end().Cmp(one) == 0 }

// String returns the segment as "from:to" in lowest-terms fractions, e.g.
// "1/4:1/2"; ParseSegment reads it back.
func (s Segment) String() string {
	return s.start().RatString() + ":" + s.end().RatString()
}

func (s Segment) start() *big.Rat {
	if s.from == nil {
		return zero
	}
	return s.from
}

func (s Segment) end() *big.Rat {
	if s.to == nil {
		return one
	}
	return s.to
}
