package segment

import (
	"fmt"
	"math"
	"sort"
)

// Tuple is one instance's segment within the sequence shared by all
// instances. It answers, in O(1) after setup, which global items (VUs,
// cameras, iterations) the instance owns. A Tuple is immutable and safe for
// concurrent use.
type Tuple struct {
	seg    Segment
	seq    Sequence
	index  int     // position of seg in seq
	period int64   // the striping repeats every period global items
	owned  []int64 // global indices owned within one period, increasing
	bits   []uint64
}

// NewTuple places seg in seq. If seq is the zero Sequence, it is derived from
// seg as 0, from, to, 1 (without repeats), like k6 does; every instance
// should nevertheless be given the same explicit sequence. seg must be one of
// seq's intervals.
func NewTuple(seg Segment, seq Sequence) (*Tuple, error) {
	if seq.IsZero() {
		seq = derivedSequence(seg)
	}
	index := seq.index(seg)
	if index < 0 {
		return nil, fmt.Errorf("%w: %s is not between two adjacent points of %s; pick adjacent points or leave the sequence empty",
			ErrSegmentNotInSequence, seg, seq)
	}
	period, w, err := weights(seq)
	if err != nil {
		return nil, err
	}
	owned, err := stripe(w, period, index)
	if err != nil {
		return nil, fmt.Errorf("segment %s in %s: %w", seg, seq, err)
	}
	t := &Tuple{
		seg:    seq.Segment(index),
		seq:    seq,
		index:  index,
		period: period,
		owned:  owned,
		bits:   make([]uint64, (period+63)/64),
	}
	for _, g := range owned {
		t.bits[g/64] |= 1 << (g % 64)
	}
	return t, nil
}

// Whole returns the tuple of a single instance running the whole test: it
// owns every item.
func Whole() *Tuple {
	return &Tuple{
		seq:    derivedSequence(Segment{}),
		period: 1,
		owned:  []int64{0},
		bits:   []uint64{1},
	}
}

// Segment returns this instance's segment.
func (t *Tuple) Segment() Segment { return t.seg }

// Sequence returns the full sequence the segment sits in.
func (t *Tuple) Sequence() Sequence { return t.seq }

// Index returns the segment's position in the sequence, from 0.
func (t *Tuple) Index() int { return t.index }

// Period returns the striping period: the ownership of global index g is the
// same as that of g+Period().
func (t *Tuple) Period() int64 { return t.period }

// IsWhole reports whether this instance runs the whole test alone.
func (t *Tuple) IsWhole() bool { return t.seg.IsWhole() }

// Owns reports whether global item index g (from 0) belongs to this
// instance. Across all segments of a sequence, exactly one owns each g ≥ 0;
// negative g is owned by none.
func (t *Tuple) Owns(g int64) bool {
	if g < 0 {
		return false
	}
	r := g % t.period
	return t.bits[r/64]&(1<<(r%64)) != 0
}

// Scale returns how many of the global items 0..n-1 this instance owns. Over
// all segments of a sequence the results sum to exactly n, and each never
// decreases as n grows. n ≤ 0 gives 0.
func (t *Tuple) Scale(n int64) int64 {
	if n <= 0 {
		return 0
	}
	full, rest := n/t.period, n%t.period
	partial := sort.Search(len(t.owned), func(i int) bool { return t.owned[i] >= rest })
	return full*int64(len(t.owned)) + int64(partial)
}

// GlobalIndex returns the global index of this instance's local-th owned item
// (from 0), so per-instance counters map to ids unique across instances:
// Owns(GlobalIndex(l)) holds and Scale(GlobalIndex(l)) == l. It returns -1
// for negative local and when the result would not fit in an int64.
func (t *Tuple) GlobalIndex(local int64) int64 {
	if local < 0 {
		return -1
	}
	k := int64(len(t.owned))
	full, rest := local/k, local%k
	offset := t.owned[rest]
	if full > (math.MaxInt64-offset)/t.period {
		return -1
	}
	return full*t.period + offset
}

// String describes the tuple for logs, e.g. "1/4:1/2 in 0,1/4,1/2,3/4,1".
func (t *Tuple) String() string {
	return t.seg.String() + " in " + t.seq.String()
}
