package segment

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func mustTuple(t *testing.T, seg, seq string) *Tuple {
	t.Helper()
	s, err := ParseSegment(seg)
	if err != nil {
		t.Fatalf("ParseSegment(%q): %v", seg, err)
	}
	q, err := ParseSequence(seq)
	if err != nil {
		t.Fatalf("ParseSequence(%q): %v", seq, err)
	}
	tu, err := NewTuple(s, q)
	if err != nil {
		t.Fatalf("NewTuple(%q, %q): %v", seg, seq, err)
	}
	return tu
}

// ownedBelow lists the global indices below n that tu owns.
func ownedBelow(tu *Tuple, n int64) []int64 {
	var got []int64
	for g := range n {
		if tu.Owns(g) {
			got = append(got, g)
		}
	}
	return got
}

// The example from the brief and from k6's documentation of segments.
func TestHalfQuarterQuarter(t *testing.T) {
	const seq = "0,1/2,3/4,1"
	tests := []struct {
		seg   string
		owned []int64 // below 12
		scale []int64 // Scale(1..12)
	}{
		{"0:1/2", []int64{0, 2, 4, 6, 8, 10}, []int64{1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6}},
		{"1/2:3/4", []int64{1, 5, 9}, []int64{0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3}},
		{"3/4:1", []int64{3, 7, 11}, []int64{0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3}},
	}
	for _, tc := range tests {
		tu := mustTuple(t, tc.seg, seq)
		if got := ownedBelow(tu, 12); !slices.Equal(got, tc.owned) {
			t.Errorf("%s: owned below 12 = %v, want %v", tu, got, tc.owned)
		}
		for i, want := range tc.scale {
			if got := tu.Scale(int64(i + 1)); got != want {
				t.Errorf("%s: Scale(%d) = %d, want %d", tu, i+1, got, want)
			}
		}
		for l, want := range tc.owned {
			if got := tu.GlobalIndex(int64(l)); got != want {
				t.Errorf("%s: GlobalIndex(%d) = %d, want %d", tu, l, got, want)
			}
		}
	}
}

// Owned positions within one period for sequences whose striping k6 lists
// in its own tests (as start plus gaps), restated as positions.
func TestStripingMatchesK6(t *testing.T) {
	tests := []struct {
		seq, seg string
		period   int64
		owned    []int64
	}{
		{"0,0.3,0.5,0.6,0.7,0.8,0.9,1", "0:0.3", 10, []int64{0, 4, 7}},
		{"0,0.3,0.5,0.6,0.7,0.8,0.9,1", "0.3:0.5", 10, []int64{1, 5}},
		{"0,0.3,0.5,0.6,0.7,0.8,0.9,1", "0.5:0.6", 10, []int64{2}},
		{"0,0.3,0.5,0.6,0.7,0.8,0.9,1", "0.6:0.7", 10, []int64{3}},
		{"0,0.3,0.5,0.6,0.7,0.8,0.9,1", "0.8:0.9", 10, []int64{8}},
		{"0,0.3,0.5,0.6,0.7,0.8,0.9,1", "0.9:1", 10, []int64{9}},
		{"0,0.2,0.5,0.6,0.7,0.8,0.9,1", "0.9:1", 10, []int64{9}},
		{"0,0.2,0.5,0.6,0.7,0.8,0.9,1", "0:0.2", 10, []int64{1, 5}},
		{"0,0.2,0.5,0.6,0.7,0.8,0.9,1", "0.6:0.7", 10, []int64{3}},
		{"", "0:0.2", 5, []int64{1}},
		{"", "0:1/5", 5, []int64{1}},
		{"", "0:2/10", 5, []int64{1}},
		{"", "0:0.4", 5, []int64{1, 3}},
		{"", "2/5:4/5", 5, []int64{1, 4}},
		{"", "1/10:5/10", 10, []int64{1, 3, 5, 9}},
		{"", "", 1, []int64{0}},
	}
	for _, tc := range tests {
		tu := mustTuple(t, tc.seg, tc.seq)
		if tu.Period() != tc.period {
			t.Errorf("segment %q in %q: Period() = %d, want %d", tc.seg, tc.seq, tu.Period(), tc.period)
		}
		if got := ownedBelow(tu, tc.period); !slices.Equal(got, tc.owned) {
			t.Errorf("segment %q in %q: owned in one period = %v, want %v", tc.seg, tc.seq, got, tc.owned)
		}
	}
}

func TestDerivedSequence(t *testing.T) {
	tests := []struct{ seg, want string }{
		{"", "0:1 in 0,1"},
		{"0:1/2", "0:1/2 in 0,1/2,1"},
		{"1/2:1", "1/2:1 in 0,1/2,1"},
		{"1/4:1/2", "1/4:1/2 in 0,1/4,1/2,1"},
	}
	for _, tc := range tests {
		if got := mustTuple(t, tc.seg, "").String(); got != tc.want {
			t.Errorf("NewTuple(%q, no sequence) = %s, want %s", tc.seg, got, tc.want)
		}
	}
}

func TestNewTupleErrors(t *testing.T) {
	tests := []struct {
		seg, seq string
		want     error
	}{
		{"0:1/2", "0,1/4,1/2,1", ErrSegmentNotInSequence},
		{"1/4:3/4", "0,1/4,1/2,3/4,1", ErrSegmentNotInSequence},
		{"1/3:2/3", "0,1/2,1", ErrSegmentNotInSequence},
		{"", "0,1/2,1", ErrSegmentNotInSequence},
		{"0:1/1000003", "", ErrPeriodTooLarge},
		{"0:1/1001", "0,1/1001,1/1000,1", ErrPeriodTooLarge},
	}
	for _, tc := range tests {
		seg, err := ParseSegment(tc.seg)
		if err != nil {
			t.Fatalf("ParseSegment(%q): %v", tc.seg, err)
		}
		seq, err := ParseSequence(tc.seq)
		if err != nil {
			t.Fatalf("ParseSequence(%q): %v", tc.seq, err)
		}
		if tu, err := NewTuple(seg, seq); !errors.Is(err, tc.want) {
			t.Errorf("NewTuple(%q, %q) = %v, %v; want error %v", tc.seg, tc.seq, tu, err, tc.want)
		}
	}
}

func TestWhole(t *testing.T) {
	for _, tu := range []*Tuple{Whole(), mustTuple(t, "", ""), mustTuple(t, "0:1", "0,1")} {
		if !tu.IsWhole() || tu.String() != "0:1 in 0,1" || tu.Period() != 1 {
			t.Errorf("whole tuple = %s (whole %v, period %d), want 0:1 in 0,1", tu, tu.IsWhole(), tu.Period())
		}
		for _, n := range []int64{0, 1, 2, 7, 1000} {
			if tu.Scale(n) != n || tu.GlobalIndex(n) != n || !tu.Owns(n) {
				t.Errorf("%s: Scale(%d)=%d GlobalIndex(%d)=%d Owns(%d)=%v, want %d, %d, true",
					tu, n, tu.Scale(n), n, tu.GlobalIndex(n), n, tu.Owns(n), n, n)
			}
		}
	}
	if mustTuple(t, "0:1/2", "").IsWhole() {
		t.Errorf("0:1/2 reports IsWhole")
	}
}

func TestEdgeInputs(t *testing.T) {
	tu := mustTuple(t, "1/2:3/4", "0,1/2,3/4,1")
	tests := []struct {
		name      string
		got, want any
	}{
		{"Owns(-1)", tu.Owns(-1), false},
		{"Scale(0)", tu.Scale(0), int64(0)},
		{"Scale(-5)", tu.Scale(-5), int64(0)},
		{"GlobalIndex(-1)", tu.GlobalIndex(-1), int64(-1)},
		{"GlobalIndex(MaxInt64)", tu.GlobalIndex(1<<63 - 1), int64(-1)},
		{"GlobalIndex(MaxInt64/4 - 1)", tu.GlobalIndex((1<<63-1)/4 - 1), int64((1<<63-1)/4-1)*4 + 1},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: %s = %v, want %v", tu, tc.name, tc.got, tc.want)
		}
	}
}

func TestParseShard(t *testing.T) {
	tests := []struct {
		in    string
		want  string
		owned []int64 // below 10
	}{
		{"0/1", "0:1 in 0,1", []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"0/2", "0:1/2 in 0,1/2,1", []int64{0, 2, 4, 6, 8}},
		{"1/2", "1/2:1 in 0,1/2,1", []int64{1, 3, 5, 7, 9}},
		{"2/4", "1/2:3/4 in 0,1/4,1/2,3/4,1", []int64{2, 6}},
		{" 4/5 ", "4/5:1 in 0,1/5,2/5,3/5,4/5,1", []int64{4, 9}},
	}
	for _, tc := range tests {
		tu, err := ParseShard(tc.in)
		if err != nil {
			t.Errorf("ParseShard(%q) error %v, want %s", tc.in, err, tc.want)
			continue
		}
		if tu.String() != tc.want {
			t.Errorf("ParseShard(%q) = %s, want %s", tc.in, tu, tc.want)
		}
		if got := ownedBelow(tu, 10); !slices.Equal(got, tc.owned) {
			t.Errorf("ParseShard(%q) owns %v below 10, want %v", tc.in, got, tc.owned)
		}
	}
	for _, in := range []string{"", "1", "2/2", "-1/2", "0/0", "0/-1", "a/2", "0/b", "1/2/3", "0/10001", "0.5/2"} {
		if tu, err := ParseShard(in); !errors.Is(err, ErrInvalidShard) {
			t.Errorf("ParseShard(%q) = %v, %v; want ErrInvalidShard", in, tu, err)
		}
	}
}

// A shard and the matching k6 flags must describe the same instance.
func TestShardEqualsSegment(t *testing.T) {
	for n := int64(1); n <= 12; n++ {
		for i := range n {
			shard, err := ParseShard(fmt.Sprintf("%d/%d", i, n))
			if err != nil {
				t.Fatalf("ParseShard(%d/%d): %v", i, n, err)
			}
			seg := mustTuple(t, shard.Segment().String(), shard.Sequence().String())
			if got, want := ownedBelow(shard, 3*n), ownedBelow(seg, 3*n); !slices.Equal(got, want) {
				t.Errorf("shard %d/%d owns %v, segment %s owns %v", i, n, got, seg, want)
			}
		}
	}
}
