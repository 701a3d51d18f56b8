package segment

import (
	"fmt"
	"math/big"
	"strings"
)

// Sequence is the ordered list of cut points 0 = p0 < p1 < … < pn = 1 that
// splits the whole test into the segments (p0,p1], (p1,p2], …. The zero value
// means "not given": NewTuple then derives one from the segment, as k6 does.
type Sequence struct {
	points []*big.Rat // never mutated after construction
}

// ParseSequence reads comma-separated cut points, each a fraction, decimal or
// percentage, e.g. "0,1/4,2/4,3/4,1". The list must start at 0, end at 1 and
// be strictly increasing. The empty string gives the zero Sequence.
func ParseSequence(s string) (Sequence, error) {
	if strings.TrimSpace(s) == "" {
		return Sequence{}, nil
	}
	fields := strings.Split(s, ",")
	points := make([]*big.Rat, 0, len(fields))
	for i, f := range fields {
		p, err := parseRat(f)
		if err != nil {
			return Sequence{}, fmt.Errorf("%w %q: point %d: %w", ErrInvalidSequence, s, i, err)
		}
		points = append(points, p)
	}
	seq, err := NewSequence(points...)
	if err != nil {
		return Sequence{}, fmt.Errorf("%w %q: %w", ErrInvalidSequence, s, err)
	}
	return seq, nil
}

// NewSequence validates and copies cut points: at least two, the first 0,
// the last 1, strictly increasing.
func NewSequence(points ...*big.Rat) (Sequence, error) {
	if len(points) < 2 {
		return Sequence{}, fmt.Errorf("need at least the two points 0 and 1, got %d", len(points))
	}
	for i, p := range points {
		if p == nil {
			return Sequence{}, fmt.Errorf("point %d is nil", i)
		}
	}
	if points[0].Sign() != 0 {
		return Sequence{}, fmt.Errorf("must start at 0, not %s", points[0].RatString())
	}
	if last := points[len(points)-1]; last.Cmp(one) != 0 {
		return Sequence{}, fmt.Errorf("must end at 1, not %s", last.RatString())
	}
	copied := make([]*big.Rat, len(points))
	for i, p := range points {
		if i > 0 && p.Cmp(points[i-1]) <= 0 {
			return Sequence{}, fmt.Errorf("point %d (%s) is not above the point before it (%s); points must strictly increase",
				i, p.RatString(), points[i-1].RatString())
		}
		copied[i] = new(big.Rat).Set(p)
	}
	return Sequence{points: copied}, nil
}

// evenSequence returns 0, 1/n, 2/n, …, 1.
func evenSequence(n int64) Sequence {
	points := make([]*big.Rat, n+1)
	for i := range points {
		points[i] = big.NewRat(int64(i), n)
	}
	return Sequence{points: points}
}

// derivedSequence fills the whole test around seg: 0, from, to, 1 without
// repeats.
func derivedSequence(seg Segment) Sequence {
	points := []*big.Rat{zero}
	if seg.start().Sign() != 0 {
		points = append(points, seg.start())
	}
	points = append(points, seg.end())
	if seg.end().Cmp(one) != 0 {
		points = append(points, one)
	}
	return Sequence{points: points}
}

// IsZero reports whether the sequence was not given.
func (q Sequence) IsZero() bool { return len(q.points) == 0 }

// Len returns the number of segments, one less than the number of points;
// 0 for the zero Sequence.
func (q Sequence) Len() int {
	if len(q.points) == 0 {
		return 0
	}
	return len(q.points) - 1
}

// Segment returns the i-th segment (p_i, p_i+1]; i must be in [0, Len()).
func (q Sequence) Segment(i int) Segment {
	return Segment{from: q.points[i], to: q.points[i+1]}
}

// index returns the position of seg among the sequence's segments, or -1.
func (q Sequence) index(seg Segment) int {
	for i := 0; i+1 < len(q.points); i++ {
		if q.points[i].Cmp(seg.start()) == 0 {
			if q.points[i+1].Cmp(seg.end()) == 0 {
				return i
			}
			return -1
		}
	}
	return -1
}

// String returns the cut points as comma-separated lowest-terms fractions,
// e.g. "0,1/4,1/2,3/4,1"; ParseSequence reads it back. The zero Sequence
// gives "".
func (q Sequence) String() string {
	parts := make([]string, len(q.points))
	for i, p := range q.points {
		parts[i] = p.RatString()
	}
	return strings.Join(parts, ",")
}
