package consumer

import (
	"slices"

	"github.com/camstorm/camstorm/simulator"
)

// seqSet is a set of sequence numbers held as sorted, disjoint,
// non-adjacent ranges: its size grows with the holes, not the frames.
type seqSet struct {
	r []simulator.SeqRange
}

// add inserts x and returns how many of its numbers were already present.
func (s *seqSet) add(x simulator.SeqRange) (overlap uint64) {
	n := len(s.r)
	// Fast path: frames arrive in order, extending the last range.
	if n == 0 || x.First > s.r[n-1].Last {
		if n > 0 && s.r[n-1].Last+1 == x.First {
			s.r[n-1].Last = x.Last
		} else {
			s.r = append(s.r, x)
		}
		return 0
	}
	// The first range that overlaps x or touches it from the left.
	i, _ := slices.BinarySearchFunc(s.r, x.First, func(r simulator.SeqRange, first uint64) int {
		if first > 0 && r.Last < first-1 {
			return -1
		}
		return 1
	})
	merged := x
	j := i
	for ; j < n && (s.r[j].First <= x.Last || s.r[j].First-1 == x.Last); j++ {
		r := s.r[j]
		if lo, hi := max(r.First, x.First), min(r.Last, x.Last); lo <= hi {
			overlap += hi - lo + 1
		}
		merged.First, merged.Last = min(merged.First, r.First), max(merged.Last, r.Last)
	}
	s.r = slices.Replace(s.r, i, j, merged)
	return overlap
}

// size is how many numbers the set holds.
func (s *seqSet) size() uint64 {
	var n uint64
	for _, r := range s.r {
		n += r.Len()
	}
	return n
}

// normalized returns the set of numbers covered by ranges (which need not
// be sorted, disjoint or merged).
func normalized(ranges []simulator.SeqRange) seqSet {
	sorted := slices.Clone(ranges)
	slices.SortFunc(sorted, func(a, b simulator.SeqRange) int {
		switch {
		case a.First < b.First:
			return -1
		case a.First > b.First:
			return 1
		}
		return 0
	})
	var s seqSet
	for _, r := range sorted {
		if r.First <= r.Last {
			s.add(r)
		}
	}
	return s
}

// overlapLen is how many numbers two sets share.
func overlapLen(a, b []simulator.SeqRange) uint64 {
	var n uint64
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if lo, hi := max(a[i].First, b[j].First), min(a[i].Last, b[j].Last); lo <= hi {
			n += hi - lo + 1
		}
		if a[i].Last < b[j].Last {
			i++
		} else {
			j++
		}
	}
	return n
}

// subtract calls emit with each maximal range of a that b does not cover, in order.
func subtract(a, b []simulator.SeqRange, emit func(simulator.SeqRange)) {
	j := 0
	for _, r := range a {
		cur := r.First
		for j < len(b) && b[j].Last < cur {
			j++
		}
		k := j
		done := false
		for ; k < len(b) && b[k].First <= r.Last; k++ {
			if b[k].First > cur {
				emit(simulator.SeqRange{First: cur, Last: b[k].First - 1})
			}
			if b[k].Last >= r.Last {
				done = true
				break
			}
			cur = b[k].Last + 1
		}
		if !done {
			emit(simulator.SeqRange{First: cur, Last: r.Last})
		}
	}
}

// clip returns the parts of ranges inside [lo, hi].
func clip(ranges []simulator.SeqRange, lo, hi uint64) []simulator.SeqRange {
	var out []simulator.SeqRange
	for _, r := range ranges {
		if r.Last < lo || r.First > hi {
			continue
		}
		out = append(out, simulator.SeqRange{First: max(r.First, lo), Last: min(r.Last, hi)})
	}
	return out
}
