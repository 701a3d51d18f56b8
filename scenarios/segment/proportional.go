package segment

import "math/big"

// ScaleBy is this instance's share of n items that must follow a split of
// base items, as k6 splits shared-iterations: base (the VUs) is split by
// the tuple first, then n (the iterations) over a sequence made of those
// shares, instances without any base item dropped. So an instance gets
// iterations only if it has VUs, and the shares still sum to n.
func (t *Tuple) ScaleBy(base, n int64) int64 {
	d := t.Derived(base)
	if d == nil {
		return 0
	}
	return d.Scale(n)
}

// Derived is the tuple ScaleBy splits with: this instance's segment of the
// sequence made of the shares of base items (nil if it has none). Its
// GlobalIndex numbers the instance's items so that, over all instances,
// they are 0..n-1 exactly once.
func (t *Tuple) Derived(base int64) *Tuple {
	if t.IsWhole() || base <= 0 {
		return t
	}
	count := t.seq.Len()
	shares := make([]int64, count)
	for i := range count {
		other, err := NewTuple(t.seq.Segment(i), t.seq)
		if err != nil {
			return t
		}
		shares[i] = other.Scale(base)
	}
	if shares[t.index] == 0 {
		return nil
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
		return t
	}
	derived, err := NewTuple(seq.Segment(mine), seq)
	if err != nil {
		return t
	}
	return derived
}
