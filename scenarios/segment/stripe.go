package segment

import (
	"container/heap"
	"fmt"
	"math/big"
	"sort"
)

// MaxPeriod caps the striping period (the least common denominator of a
// sequence's segment lengths). Setup costs time and memory linear in the
// period; a million allows shares as fine as 0.0001% and any shard count up
// to a million.
const MaxPeriod = 1_000_000

// weights returns the striping period of seq (the least common denominator
// of its segment lengths) and each segment's length scaled to that period,
// i.e. how many of every period consecutive items it owns.
func weights(seq Sequence) (int64, []int64, error) {
	n := seq.Len()
	nums := make([]int64, n)
	dens := make([]int64, n)
	period := int64(1)
	length := new(big.Rat) // reused: sequences may have many points
	for i := range n {
		length.Sub(seq.points[i+1], seq.points[i])
		den := length.Denom()
		if den.IsInt64() && den.Int64() <= MaxPeriod {
			dens[i] = den.Int64()
			period *= dens[i] / gcd(period, dens[i]) // both ≤ MaxPeriod: no overflow
		}
		if dens[i] == 0 || period > MaxPeriod {
			return 0, nil, fmt.Errorf("%w: sequence %s needs a period above %d items (segment %s has length %s); use simpler fractions",
				ErrPeriodTooLarge, seq, MaxPeriod, seq.Segment(i), length.RatString())
		}
		nums[i] = length.Num().Int64() // length ≤ 1, so num ≤ den
	}
	w := make([]int64, n)
	for i := range w {
		w[i] = nums[i] * (period / dens[i])
	}
	return period, w, nil
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// stripe assigns each index 0..period-1 to one segment and returns, in
// increasing order, the indices segment want owns.
//
// The rule, k6's: order segments by weight, largest first, keeping sequence
// order among equals. Segment j's c-th pick is "due" at index c*period/w[j].
// At each index, the first segment in that order whose next pick is due takes
// it. Instead of scanning every segment per index, due segments wait in a
// heap ordered by rank, and not-yet-due ones in a heap ordered by due index,
// so setup is O(period·log segments).
func stripe(w []int64, period int64, want int) ([]int64, error) {
	order := make([]int, len(w))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return w[order[a]] > w[order[b]] })

	// Heaps hold ranks (positions in order); due[r] is rank r's next due index.
	due := make([]int64, len(w))
	picked := make([]int64, len(w))
	ready := &intHeap{less: func(a, b int) bool { return a < b }}
	waiting := &intHeap{less: func(a, b int) bool { return due[a] < due[b] || (due[a] == due[b] && a < b) }}
	for r, j := range order {
		if w[j] > 0 {
			ready.items = append(ready.items, r)
		}
	}
	heap.Init(ready)

	owned := make([]int64, 0, w[want])
	for i := range period {
		for waiting.Len() > 0 && due[waiting.items[0]] <= i {
			heap.Push(ready, heap.Pop(waiting))
		}
		if ready.Len() == 0 {
			// Unreachable: the picks so far total i while due picks total at
			// least i+1. Kept so a bug shows as an error, not a hole.
			return nil, fmt.Errorf("striping found no owner for index %d of %d", i, period)
		}
		r := heap.Pop(ready).(int)
		j := order[r]
		if j == want {
			owned = append(owned, i)
		}
		picked[r]++
		if picked[r] < w[j] {
			// Smallest index x with x*w >= picked*period.
			due[r] = (picked[r]*period + w[j] - 1) / w[j]
			heap.Push(waiting, r)
		}
	}
	return owned, nil
}

// intHeap is a container/heap of ints under a caller-supplied order.
type intHeap struct {
	items []int
	less  func(a, b int) bool
}

func (h *intHeap) Len() int           { return len(h.items) }
func (h *intHeap) Less(a, b int) bool { return h.less(h.items[a], h.items[b]) }
func (h *intHeap) Swap(a, b int)      { h.items[a], h.items[b] = h.items[b], h.items[a] }
func (h *intHeap) Push(x any)         { h.items = append(h.items, x.(int)) }
func (h *intHeap) Pop() any {
	last := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return last
}
