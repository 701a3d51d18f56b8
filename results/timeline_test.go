package results

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func exactQuantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo, hi := int(math.Floor(pos)), int(math.Ceil(pos))
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

func TestLogHistogramQuantilesWithinItsError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		gen  func() float64
	}{
		{"uniform 0..1000", func() float64 { return rng.Float64() * 1000 }},
		{"lognormal latency", func() float64 { return math.Exp(rng.NormFloat64()*1.5 + 5) }},
		{"with negatives and zeros", func() float64 { return math.Round(rng.NormFloat64() * 50) }},
	} {
		var a, b LogHistogram
		var all []float64
		for i := range 20000 {
			v := tc.gen()
			all = append(all, v)
			if i%3 == 0 {
				a.Add(v)
			} else {
				b.Add(v)
			}
		}
		a.Merge(&b)
		slices.Sort(all)
		for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
			got, want := a.Quantile(q), exactQuantile(all, q)
			// Within the relative error of the neighbouring samples.
			tol := BucketRelativeError*math.Abs(want) + BucketRelativeError*math.Abs(all[min(int(q*float64(len(all)-1))+1, len(all)-1)]-want) + 1e-9
			if math.Abs(got-want) > tol+BucketRelativeError*math.Abs(want) {
				t.Errorf("%s: Quantile(%v) = %v, exact %v (tolerance %v)", tc.name, q, got, want, tol)
			}
		}
		if a.Count != int64(len(all)) {
			t.Fatalf("%s: count %d, want %d", tc.name, a.Count, len(all))
		}
	}
}

// TestTimelineStaysBounded: a long run coarsens its buckets instead of
// growing, and totals survive every coarsening.
func TestTimelineStaysBounded(t *testing.T) {
	var tl Timeline
	start := time.Unix(1_800_000_000, 0)
	var sum float64
	for i := range 36_000 { // ten hours, one sample a second
		v := float64(i % 100)
		tl.Add(Trend, v, start.Add(time.Duration(i)*time.Second))
		sum += v
	}
	if len(tl.Buckets) > MaxBuckets {
		t.Fatalf("%d buckets after 10 h, want at most %d", len(tl.Buckets), MaxBuckets)
	}
	if tl.Width < 10*time.Hour/MaxBuckets {
		t.Fatalf("width %v cannot cover 10 h in %d buckets", tl.Width, MaxBuckets)
	}
	var n int64
	var got float64
	for _, b := range tl.Buckets {
		if b != nil {
			n += b.Count
			got += b.Sum
		}
	}
	if n != 36_000 || got != sum {
		t.Fatalf("after coarsening: %d samples summing %v, want 36000 summing %v", n, got, sum)
	}
}

// TestTimelineMergeEqualsOneTimeline: two shards' timelines, even at
// different widths, merge into what one timeline fed everything holds.
func TestTimelineMergeEqualsOneTimeline(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	var a, b, whole Timeline
	for i := range 3000 {
		at := start.Add(time.Duration(i) * 700 * time.Millisecond)
		v := float64(i%37) + 0.5
		whole.Add(Trend, v, at)
		if i%2 == 0 || i > 2500 { // b stops early, so the widths differ
			a.Add(Trend, v, at)
		} else {
			b.Add(Trend, v, at)
		}
	}
	a.Merge(&b)
	for a.Width < whole.Width {
		a.coarsen()
	}
	for whole.Width < a.Width {
		whole.coarsen()
	}
	if a.First != whole.First || len(a.Buckets) != len(whole.Buckets) {
		t.Fatalf("merged timeline spans %d+%d, whole %d+%d", a.First, len(a.Buckets), whole.First, len(whole.Buckets))
	}
	for i := range a.Buckets {
		x, y := a.Buckets[i], whole.Buckets[i]
		if (x == nil) != (y == nil) || (x != nil && (x.Count != y.Count || x.Hist.Quantile(0.9) != y.Hist.Quantile(0.9))) {
			t.Fatalf("bucket %d differs: merged %+v, whole %+v", i, x, y)
		}
	}
}

// TestTimelinesTravelThroughResultsFiles: a store that keeps timelines
// writes them, reads them back and merges two files' timelines exactly.
func TestTimelinesTravelThroughResultsFiles(t *testing.T) {
	reg := NewRegistry()
	m := reg.MustDefine("lat", Trend, Time)
	start := time.Unix(1_800_000_000, 0)
	stores := []*Store{NewStore(), NewStore(), NewStore()} // two halves and the whole
	for _, s := range stores {
		s.Timelines = true
	}
	for i := range 600 {
		smp := Sample{Metric: m, Time: start.Add(time.Duration(i) * 100 * time.Millisecond), Value: float64(i % 50)}
		stores[i%2].Add(smp)
		stores[2].Add(smp)
	}
	roundTrip := func(s *Store) *File {
		var buf bytes.Buffer
		seg := map[*Store]string{stores[0]: "0:1/2", stores[1]: "1/2:1"}[s]
		if err := WriteFile(&buf, NewFile(RunInfo{Start: start, End: start.Add(time.Minute), Segment: seg, Sequence: "0,1/2,1"}, reg, s, nil, nil)); err != nil {
			t.Fatal(err)
		}
		f, err := ReadFile(&buf)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	merged, err := MergeFiles(roundTrip(stores[0]), roundTrip(stores[1]))
	if err != nil {
		t.Fatal(err)
	}
	_, got, _, _, err := merged.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := stores[2].Series()[0].Timeline
	tl := got.Series()[0].Timeline
	if tl == nil || tl.Width != want.Width || tl.First != want.First || len(tl.Buckets) != len(want.Buckets) {
		t.Fatalf("merged timeline %+v, want the whole run's %+v", tl, want)
	}
	for i := range tl.Buckets {
		if tl.Buckets[i].Count != want.Buckets[i].Count || tl.Buckets[i].Hist.Quantile(0.99) != want.Buckets[i].Hist.Quantile(0.99) {
			t.Fatalf("bucket %d: merged %+v, whole %+v", i, tl.Buckets[i], want.Buckets[i])
		}
	}
}
