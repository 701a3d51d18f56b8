package results

import (
	"bytes"
	"testing"
	"time"
)

// TestSmallTrendsHaveK6ExactPercentiles: up to ExactSamples samples, a
// Trend answers as k6 does (linear interpolation over the sorted samples),
// also after a results-file round trip and a merge; past that it falls
// back to the histograms.
func TestSmallTrendsHaveK6ExactPercentiles(t *testing.T) {
	var a, b TrendSink
	for i := range 12 {
		v := float64(41 + i%3)
		if i%2 == 0 {
			a.Add(v, time.Time{})
		} else {
			b.Add(v, time.Time{})
		}
	}
	if err := a.Merge(&b); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ q, want float64 }{{0.5, 42}, {0.9, 43}, {3.5 / 11, 41.5}, {0.25, 41}, {0, 41}, {1, 43}} {
		if got := a.Quantile(tc.q); got != tc.want {
			t.Errorf("Quantile(%v) of 41,42,43 ×4 = %v, want exactly %v", tc.q, got, tc.want)
		}
	}
	reg := NewRegistry()
	m := reg.MustDefine("lat", Trend, Time)
	s := NewStore()
	for i := range 12 {
		s.Add(Sample{Metric: m, Value: float64(41 + i%3)})
	}
	var buf bytes.Buffer
	if err := WriteFile(&buf, NewFile(RunInfo{}, reg, s, nil, nil)); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(&buf)
	if err != nil {
		t.Fatal(err)
	}
	_, loaded, _, _, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	agg, _ := loaded.Aggregate("lat", Selector{Metric: "lat"}, time.Second)
	if med, _ := agg.Stat("med"); med != 42 {
		t.Errorf("median after a file round trip = %v, want exactly 42", med)
	}

	var big TrendSink
	for i := range ExactSamples + 1 {
		big.Add(float64(i), time.Time{})
	}
	if big.Exact() != nil {
		t.Fatalf("a Trend past %d samples still keeps them", ExactSamples)
	}
	if got, want := big.Quantile(0.5), 500.0; got < want*(1-RelativeError)-0.001 || got > want*(1+RelativeError)+0.001 {
		t.Errorf("median of 0..%d from the histogram = %v, want %v within %v", ExactSamples, got, want, RelativeError)
	}
}
