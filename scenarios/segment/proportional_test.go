package segment

import "testing"

func TestScaleBySplitsIterationsLikeTheVUs(t *testing.T) {
	seq, err := ParseSequence("0,1/3,2/3,1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		base, n int64
		want    []int64
	}{
		{2, 10, []int64{5, 5, 0}}, // thirds with 2 VUs: the third instance has no VU, so no iterations
		{3, 10, []int64{4, 3, 3}},
		{1, 7, []int64{7, 0, 0}},
		{6, 6, []int64{2, 2, 2}},
	} {
		var got []int64
		var sum int64
		for i := range seq.Len() {
			tup, err := NewTuple(seq.Segment(i), seq)
			if err != nil {
				t.Fatal(err)
			}
			s := tup.ScaleBy(tc.base, tc.n)
			got = append(got, s)
			sum += s
		}
		if sum != tc.n || len(got) != len(tc.want) {
			t.Fatalf("ScaleBy(%d, %d) over thirds = %v, want %v (sum %d)", tc.base, tc.n, got, tc.want, tc.n)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("ScaleBy(%d, %d) over thirds = %v, want %v", tc.base, tc.n, got, tc.want)
			}
		}
	}
}
