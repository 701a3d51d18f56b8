package cameras

import (
	"testing"

	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/fleet"
)

func TestIdentityConvergesToTheWeights(t *testing.T) {
	for _, tc := range []struct {
		name      string
		seed      int64
		mix, prof fleet.Weights
	}{
		{"default mix", 1, fleet.DefaultMix, fleet.Weights{{Name: "perfect", Weight: 1}, {Name: "flaky-reset", Weight: 3}}},
		{"three profiles", 42, fleet.Weights{{Name: fleet.KindClip, Weight: 1}, {Name: fleet.KindSynthetic, Weight: 1}},
			fleet.Weights{{Name: "perfect", Weight: 5}, {Name: "3g", Weight: 3}, {Name: "chaos", Weight: 2}}},
		{"zero weight", -7, fleet.Weights{{Name: fleet.KindClip, Weight: 0}, {Name: fleet.KindSynthetic, Weight: 9}},
			fleet.Weights{{Name: "perfect", Weight: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 10_000
			kinds, profiles := map[string]int{}, map[string]int{}
			for i := range int64(n) {
				id := identify(tc.seed, "p", tc.mix, tc.prof, i)
				kinds[id.Kind]++
				profiles[id.Profile]++
			}
			check := func(w fleet.Weights, got map[string]int) {
				total := 0
				for _, x := range w {
					total += x.Weight
				}
				for _, x := range w {
					want := float64(x.Weight) / float64(total)
					share := float64(got[x.Name]) / n
					if share < want-0.02 || share > want+0.02 {
						t.Errorf("seed %d, weights %s: %s got share %.3f over %d indices, want %.3f ± 0.02", tc.seed, w, x.Name, share, n, want)
					}
				}
			}
			check(tc.mix, kinds)
			check(tc.prof, profiles)
		})
	}
}

func TestIdentityDependsOnlyOnSeedAndIndex(t *testing.T) {
	mix := fleet.DefaultMix
	prof := fleet.Weights{{Name: "perfect", Weight: 1}, {Name: "flaky-cut", Weight: 1}, {Name: "3g", Weight: 1}}
	for _, i := range []int64{0, 1, 2, 999, 123456, 1 << 40} {
		a, b := identify(5, "cam", mix, prof, i), identify(5, "cam", mix, prof, i)
		if a != b {
			t.Errorf("identify(5, cam, %d) = %+v then %+v, want the same", i, a, b)
		}
		if want := uint64(5)*1_000_003 + uint64(i); a.Seed != want {
			t.Errorf("identify(5, cam, %d).Seed = %d, want %d (fleet.Plan's formula)", i, a.Seed, want)
		}
	}
	if got, want := identify(5, "cam", mix, prof, 42).Stream, "cam-000042"; got != want {
		t.Errorf("stream of index 42 = %q, want %q", got, want)
	}
	// Different seeds give different fleets.
	same := 0
	for i := range int64(200) {
		if identify(1, "c", mix, prof, i).Profile == identify(2, "c", mix, prof, i).Profile {
			same++
		}
	}
	if same > 120 {
		t.Errorf("seeds 1 and 2 agree on %d of 200 profiles, want about a third", same)
	}
}

func TestIndexOf(t *testing.T) {
	f := &Fleet{cfg: Config{StreamPrefix: "run1"}}
	for _, tc := range []struct {
		stream string
		want   int64
		ok     bool
	}{
		{"run1-000007", 7, true},
		{"run1-1234567", 1234567, true},
		{"run1-7", 0, false},
		{"run2-000007", 0, false},
		{"run1--00001", 0, false},
	} {
		got, ok := f.indexOf(tc.stream)
		if got != tc.want || ok != tc.ok {
			t.Errorf("indexOf(%q) = %d, %v; want %d, %v", tc.stream, got, ok, tc.want, tc.ok)
		}
	}
}

func TestKeyIndexCountsFragmentsInRanges(t *testing.T) {
	var k keyIndex
	for _, s := range []uint64{0, 15, 30, 45, 60, 70, 80, 200} {
		k.add(s)
	}
	for _, tc := range []struct {
		frames simulator.SeqRange
		want   uint64
	}{
		{simulator.SeqRange{First: 0, Last: 0}, 1},
		{simulator.SeqRange{First: 1, Last: 14}, 0},
		{simulator.SeqRange{First: 0, Last: 59}, 4},
		{simulator.SeqRange{First: 16, Last: 75}, 4},
		{simulator.SeqRange{First: 61, Last: 199}, 2},
		{simulator.SeqRange{First: 0, Last: 1000}, 8},
		{simulator.SeqRange{First: 201, Last: 1000}, 0},
	} {
		if got := k.count(tc.frames); got != tc.want {
			t.Errorf("count(%d..%d) over key frames 0,15,30,45,60,70,80,200 = %d, want %d", tc.frames.First, tc.frames.Last, got, tc.want)
		}
	}
}

func TestDropsByReason(t *testing.T) {
	var k keyIndex
	for s := uint64(0); s < 100; s += 10 {
		k.add(s)
	}
	var l simulator.Ledger
	l.Drop(simulator.SeqRange{First: 0, Last: 9}, simulator.DropOverflow, true)
	l.Drop(simulator.SeqRange{First: 10, Last: 19}, simulator.DropOverflow, true) // merges with the run before
	l.Drop(simulator.SeqRange{First: 20, Last: 29}, simulator.DropRejected, true)
	l.Drop(simulator.SeqRange{First: 31, Last: 33}, simulator.DropRejected, false)
	l.Drop(simulator.SeqRange{First: 90, Last: 99}, simulator.DropUndelivered, true)
	got := dropsByReason(&l, &k)
	want := map[string]uint64{DropOverflow: 2, DropRejected: 1, DropUndelivered: 1}
	if len(got) != len(want) {
		t.Fatalf("dropsByReason = %v, want %v", got, want)
	}
	for r, n := range want {
		if got[r] != n {
			t.Errorf("dropsByReason = %v, want %v", got, want)
		}
	}
}
