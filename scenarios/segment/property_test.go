package segment

import (
	"math/big"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"testing/quick"
)

// randomSequence returns a sequence of 1 to 8 segments whose cut points have
// denominators up to 12, so periods stay below 27720.
func randomSequence(r *rand.Rand) Sequence {
	points := []*big.Rat{new(big.Rat), big.NewRat(1, 1)}
	for range r.IntN(8) {
		den := 2 + r.Int64N(11)
		points = append(points, big.NewRat(1+r.Int64N(den-1), den))
	}
	slices.SortFunc(points, func(a, b *big.Rat) int { return a.Cmp(b) })
	points = slices.CompactFunc(points, func(a, b *big.Rat) bool { return a.Cmp(b) == 0 })
	return Sequence{points: points}
}

// allTuples returns one tuple per segment of seq.
func allTuples(t *testing.T, seq Sequence) []*Tuple {
	t.Helper()
	tuples := make([]*Tuple, seq.Len())
	for i := range tuples {
		tu, err := NewTuple(seq.Segment(i), seq)
		if err != nil {
			t.Fatalf("NewTuple(%s, %s): %v", seq.Segment(i), seq, err)
		}
		tuples[i] = tu
	}
	return tuples
}

// naiveOwners applies the greedy rule exactly as stated, scanning every
// segment at every index, and returns the owning segment of each index in
// one period.
func naiveOwners(seq Sequence) []int {
	period, w, err := weights(seq)
	if err != nil {
		panic(err)
	}
	order := make([]int, len(w))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return w[order[a]] > w[order[b]] })
	chosen := make([]int64, len(w))
	owners := make([]int, period)
	for i := range period {
		owners[i] = -1
		for _, j := range order {
			if chosen[j] < w[j] && i*w[j] >= chosen[j]*period {
				chosen[j]++
				owners[i] = j
				break
			}
		}
	}
	return owners
}

func TestPropertiesRandomSequences(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		seq := randomSequence(r)
		tuples := allTuples(t, seq)
		period := tuples[0].Period()

		owners := naiveOwners(seq)
		for g, want := range owners {
			if !tuples[want].Owns(int64(g)) {
				t.Fatalf("%s: index %d owned by segment %d under the naive rule, but its tuple disagrees", seq, g, want)
			}
		}

		n := min(3*period+17, 4000)
		prev := make([]int64, len(tuples))
		counts := make([]int64, len(tuples))
		for g := range n {
			// Scale(g) counts the items below g, before g itself is counted.
			var sum int64
			for i, tu := range tuples {
				s := tu.Scale(g)
				if s != counts[i] {
					t.Fatalf("%s: segment %d Scale(%d) = %d, want %d owned below %d", seq, i, g, s, counts[i], g)
				}
				if s < prev[i] {
					t.Fatalf("%s: segment %d Scale(%d) = %d decreased from %d", seq, i, g, s, prev[i])
				}
				prev[i] = s
				sum += s
			}
			if sum != g {
				t.Fatalf("%s: shares of %d sum to %d", seq, g, sum)
			}
			owner := -1
			for i, tu := range tuples {
				if tu.Owns(g) {
					if owner >= 0 {
						t.Fatalf("%s: index %d owned by segments %d and %d", seq, g, owner, i)
					}
					owner = i
				}
			}
			if owner < 0 {
				t.Fatalf("%s: index %d owned by no segment", seq, g)
			}
			if gi := tuples[owner].GlobalIndex(counts[owner]); gi != g {
				t.Fatalf("%s: segment %d GlobalIndex(%d) = %d, want %d", seq, owner, counts[owner], gi, g)
			}
			counts[owner]++
		}
	}
}

// Shares add up exactly for any n, far beyond one period.
func TestQuickSharesSumToN(t *testing.T) {
	prop := func(seed uint64, n int64) bool {
		if n < 0 {
			n = -(n + 1)
		}
		n %= 1 << 50
		seq := randomSequence(rand.New(rand.NewPCG(seed, 7)))
		var sum int64
		for _, tu := range allTuples(t, seq) {
			s := tu.Scale(n)
			if s > tu.Scale(n+1) {
				return false
			}
			if s > 0 && !tu.Owns(tu.GlobalIndex(s-1)) {
				return false
			}
			sum += s
		}
		return sum == n
	}
	if err := quick.Check(prop, &quick.Config{MaxCount: 200}); err != nil {
		t.Error(err)
	}
}

// Without a shared sequence each instance derives its own; a segment of
// length 1/n then still owns exactly one item per n.
func TestDerivedThinSegments(t *testing.T) {
	const n = 400
	for i := range int64(n) {
		tu := mustTuple(t, big.NewRat(i, n).RatString()+":"+big.NewRat(i+1, n).RatString(), "")
		if got := tu.Scale(7 * n); got != 7 {
			t.Errorf("%s: Scale(%d) = %d, want 7", tu, 7*n, got)
		}
	}
}

func TestLargeShardCount(t *testing.T) {
	const n = 2000
	shard, err := ParseShard("1234/2000")
	if err != nil {
		t.Fatalf("ParseShard(1234/2000): %v", err)
	}
	if got := shard.GlobalIndex(3); got != 3*n+1234 {
		t.Errorf("shard 1234/2000 GlobalIndex(3) = %d, want %d", got, 3*n+1234)
	}
	if got := shard.Scale(5 * n); got != 5 {
		t.Errorf("shard 1234/2000 Scale(%d) = %d, want 5", 5*n, got)
	}
}
