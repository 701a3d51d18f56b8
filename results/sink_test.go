package results

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type timedValue struct {
	v  float64
	at time.Duration
}

func TestSinkAggregates(t *testing.T) {
	tests := []struct {
		name   string
		typ    MetricType
		values []timedValue
		want   Aggregate
	}{
		{"counter", Counter, []timedValue{{1, 0}, {2.5, 0}, {-0.5, 0}}, Aggregate{Samples: 3, Sum: 3}},
		{"gauge last by time", Gauge, []timedValue{{5, 2}, {7, 1}, {-1, 3}, {3, 3}}, Aggregate{Samples: 4, Last: 3, Min: -1, Max: 7}},
		{"gauge one", Gauge, []timedValue{{4, 0}}, Aggregate{Samples: 1, Last: 4, Min: 4, Max: 4}},
		{"rate", Rate, []timedValue{{1, 0}, {0, 0}, {-2, 0}, {0.5, 0}}, Aggregate{Samples: 4, Passes: 3, Fails: 1}},
		{"trend", Trend, []timedValue{{3, 0}, {-1, 0}, {0, 0}, {10, 0}}, Aggregate{Samples: 4, Sum: 12, Min: -1, Max: 10}},
	}
	for _, tc := range tests {
		s := NewSink(tc.typ)
		for _, v := range tc.values {
			s.Add(v.v, t0.Add(v.at))
		}
		var got Aggregate
		s.fill(&got)
		got.Quantile = nil
		if !sameAggregate(got, tc.want) {
			t.Errorf("%s: %v fed %v = %+v, want %+v", tc.name, tc.typ, tc.values, got, tc.want)
		}
	}
}

func TestEmptyAggregateStats(t *testing.T) {
	tests := []struct {
		typ  MetricType
		stat string
		want float64
	}{
		{Counter, "count", 0}, {Counter, "rate", 0}, {Gauge, "value", 0},
		{Rate, "rate", 0}, {Trend, "avg", 0}, {Trend, "p(95)", 0}, {Trend, "med", 0}, {Trend, "max", 0},
	}
	for _, tc := range tests {
		var a Aggregate
		a.Type = tc.typ
		NewSink(tc.typ).fill(&a)
		got, ok := a.Stat(tc.stat)
		if !ok || got != tc.want {
			t.Errorf("empty %v Stat(%q) = %v, %v; want %v, true", tc.typ, tc.stat, got, ok, tc.want)
		}
	}
}

// exactPercentile is k6's TrendSink.P: linear interpolation at p×(n−1).
func exactPercentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := q * float64(len(sorted)-1)
	lo, hi := sorted[int(math.Floor(i))], sorted[int(math.Ceil(i))]
	return lo + (hi-lo)*(i-math.Floor(i))
}

func TestTrendQuantileAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sets := map[string]func() float64{
		"uniform":   func() float64 { return r.Float64() * 5000 },
		"lognormal": func() float64 { return math.Exp(r.NormFloat64()*1.5 + 3) },
		"negatives and zeros": func() float64 {
			switch r.IntN(4) {
			case 0:
				return 0
			case 1:
				return -math.Exp(r.NormFloat64() * 2)
			}
			return r.Float64() * 300
		},
		"tiny fractions": func() float64 { return r.Float64() * 0.01 },
		"one value":      func() float64 { return 42.4242 },
	}
	qs := []float64{0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1}
	for name, gen := range sets {
		for _, n := range []int{1, 2, 7, 1000, 50_000} {
			var s TrendSink
			vals := make([]float64, n)
			for i := range vals {
				vals[i] = gen()
				s.Add(vals[i], t0)
			}
			slices.Sort(vals)
			for _, q := range qs {
				want := exactPercentile(vals, q)
				got := s.Quantile(q)
				i := q * float64(n-1)
				scale := max(math.Abs(vals[int(math.Floor(i))]), math.Abs(vals[int(math.Ceil(i))]))
				bound := RelativeError*scale + 1.0/trendScale
				if math.Abs(got-want) > bound {
					t.Errorf("%s n=%d: Quantile(%v) = %v, want %v ± %v", name, n, q, got, want, bound)
				}
			}
		}
	}
}

func TestTrendSaturatesAndMerges(t *testing.T) {
	var a, b, whole TrendSink
	vals := []float64{1e8, -2e7, 5, 0.0001, -0.0001, 123.456, -7.5, 1e7}
	for i, v := range vals {
		whole.Add(v, t0)
		if i%2 == 0 {
			a.Add(v, t0)
		} else {
			b.Add(v, t0)
		}
	}
	if err := a.Merge(&b); err != nil {
		t.Fatal(err)
	}
	if a.Saturated != 2 || a.Zeros != 2 || a.Samples != 8 || a.Min != -2e7 || a.Max != 1e8 {
		t.Errorf("merged %v: saturated %d zeros %d samples %d min %v max %v; want 2 2 8 -2e7 1e8",
			vals, a.Saturated, a.Zeros, a.Samples, a.Min, a.Max)
	}
	if !a.pos.Equals(whole.pos) || !a.neg.Equals(whole.neg) {
		t.Errorf("merged histograms differ from one sink fed %v", vals)
	}
	for _, q := range []float64{0, 0.2, 0.5, 0.8, 0.9, 1} {
		if g, w := a.Quantile(q), whole.Quantile(q); g != w {
			t.Errorf("merged Quantile(%v) = %v, want %v as one sink", q, g, w)
		}
	}
	if err := a.Merge(&RateSink{}); err == nil {
		t.Errorf("trend.Merge(rate) = nil, want a type error")
	}
}

func TestGaugeMergeKeepsLatest(t *testing.T) {
	var a, b GaugeSink
	a.Add(1, t0.Add(2*time.Second))
	b.Add(9, t0.Add(time.Second))
	b.Add(-3, t0)
	if err := a.Merge(&b); err != nil {
		t.Fatal(err)
	}
	want := GaugeSink{Last: 1, LastTime: t0.Add(2 * time.Second), Min: -3, Max: 9, Samples: 3}
	if a != want {
		t.Errorf("merge = %+v, want %+v", a, want)
	}
}

// sameAggregate compares everything but Quantile, which is a func.
func sameAggregate(a, b Aggregate) bool {
	a.Quantile, b.Quantile = nil, nil
	return a.Type == b.Type && a.Contains == b.Contains && a.Samples == b.Samples && a.Sum == b.Sum &&
		a.Last == b.Last && a.Min == b.Min && a.Max == b.Max && a.Passes == b.Passes && a.Fails == b.Fails &&
		a.Elapsed == b.Elapsed
}
