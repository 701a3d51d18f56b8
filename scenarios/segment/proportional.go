package segment

import "math/big"

// ScaleBy is this instance's share of n items that must follow a split of
// base items, as k6 splits shared-iterations: base (the VUs) is split by
// the tuple first, then n (the iterations) over a sequence made of those
// shares, instances without any base item dropped. So an instance gets
// iterations only if it has VUs, and the shares still sum to n.
func (t *Tuple) ScaleBy(base, n int64) int64 {
	if t.IsWhole() || base <= 0 {
		return t.Scale(n)
	}
	count := t.seq.Len()
	shares := make([]int64, count)
	for i := range count {
		other, err := NewTuple(t.seq.Segment(i), t.seq)
		if err != nil {
			return t.Scale(n)
		}
		shares[i] = other.Scale(base)
	}
	if shares[t.index] == 0 {
		return 0
	}
	points := []*big.Rat{new(big.Rat)}
	mine := -1
	var sum int64
	for i, s := range shares {
		if s == 0 {
			continue
		}
		if i == t.index {
			mine = len(points) - 1
		}
		sum += s
		points = append(points, big.NewRat(sum, base))
	}
	seq, err := NewSequence(points...)
	if err != nil {
		return t.Scale(n)
	}
	derived, err := NewTuple(seq.Segment(mine), seq)
	if err != nil {
		return t.Scale(n)
	}
	return derived.Scale(n)
}
