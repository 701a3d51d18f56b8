package results

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// testMetrics defines one metric of each type.
func testMetrics(t testing.TB) (*Registry, map[MetricType]*Metric) {
	t.Helper()
	reg := NewRegistry()
	ms := map[MetricType]*Metric{
		Counter: reg.MustDefine("reqs", Counter, Default),
		Gauge:   reg.MustDefine("vus", Gauge, Default),
		Rate:    reg.MustDefine("ok", Rate, Default),
		Trend:   reg.MustDefine("latency", Trend, Time),
	}
	return reg, ms
}

// randomSamples spreads samples of every type over a few tag sets.
func randomSamples(ms map[MetricType]*Metric, n int, seed uint64) []Sample {
	r := rand.New(rand.NewPCG(seed, 7))
	types := []MetricType{Counter, Gauge, Rate, Trend}
	out := make([]Sample, n)
	for i := range out {
		m := ms[types[r.IntN(4)]]
		tags := map[string]string{"scenario": []string{"a", "b"}[r.IntN(2)], "status": fmt.Sprint(200 + 100*r.IntN(3))}
		v := math.Round(r.NormFloat64()*1000) / 8 // exact in binary: sums do not depend on order
		out[i] = Sample{Metric: m, Time: t0.Add(time.Duration(i) * time.Millisecond), Value: v, Tags: tags}
	}
	return out
}

func TestStoreMergeEqualsWhole(t *testing.T) {
	_, ms := testMetrics(t)
	samples := randomSamples(ms, 20_000, 1)
	whole, a, b := NewStore(), NewStore(), NewStore()
	whole.Add(samples...)
	a.Add(samples[:8000]...)
	b.Add(samples[8000:]...)
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	if a.SeriesCount() != whole.SeriesCount() {
		t.Fatalf("merged series %d, want %d", a.SeriesCount(), whole.SeriesCount())
	}
	assertSameAggregates(t, whole, a, "merged store")
}

// assertSameAggregates compares every metric and selector of interest.
func assertSameAggregates(t *testing.T, want, got *Store, what string) {
	t.Helper()
	sels := []Selector{{}, {Tags: map[string]string{"scenario": "a"}}, {Tags: map[string]string{"status": "300", "scenario": "b"}}}
	for _, name := range []string{"reqs", "vus", "ok", "latency"} {
		for _, sel := range sels {
			wa, wok := want.Aggregate(name, sel, time.Minute)
			ga, gok := got.Aggregate(name, sel, time.Minute)
			if wok != gok {
				t.Errorf("%s: Aggregate(%s, %v) ok = %v, want %v", what, name, sel.Tags, gok, wok)
				continue
			}
			for _, stat := range []string{"count", "rate", "value", "min", "max", "passes", "fails", "avg", "med", "p(90)", "p(99.9)"} {
				wv, _ := wa.Stat(stat)
				gv, _ := ga.Stat(stat)
				if wv != gv {
					t.Errorf("%s: %s%v %s = %v, want %v", what, name, sel.Tags, stat, gv, wv)
				}
			}
		}
	}
}

func TestStoreAggregateSelector(t *testing.T) {
	_, ms := testMetrics(t)
	s := NewStore()
	add := func(v float64, tags map[string]string) {
		s.Add(Sample{Metric: ms[Counter], Time: t0, Value: v, Tags: tags})
	}
	add(1, map[string]string{"scenario": "a", "status": "200"})
	add(2, map[string]string{"scenario": "a", "status": "500"})
	add(4, map[string]string{"scenario": "b", "status": "200"})
	add(8, nil)
	tests := []struct {
		key  string
		want float64
		ok   bool
	}{
		{"reqs", 15, true},
		{"reqs{scenario:a}", 3, true},
		{"reqs{status:200}", 5, true},
		{"reqs{status:200,scenario:b}", 4, true},
		{"reqs{scenario:c}", 0, false},
		{"nope", 0, false},
	}
	for _, tc := range tests {
		sel, err := ParseSelector(tc.key)
		if err != nil {
			t.Fatal(err)
		}
		a, ok := s.Aggregate(sel.Metric, sel, 2*time.Second)
		got, _ := a.Stat("count")
		if ok != tc.ok || got != tc.want {
			t.Errorf("Aggregate(%s) count = %v, %v; want %v, %v", tc.key, got, ok, tc.want, tc.ok)
		}
		if ok {
			if rate, _ := a.Stat("rate"); rate != tc.want/2 {
				t.Errorf("Aggregate(%s) rate over 2s = %v, want %v", tc.key, rate, tc.want/2)
			}
		}
	}
}

func TestStoreDropsAndConflicts(t *testing.T) {
	_, ms := testMetrics(t)
	other := &Metric{Name: "reqs", Type: Trend}
	s := NewStore()
	s.Add(Sample{Metric: ms[Counter], Value: 1},
		Sample{Metric: other, Value: 1},
		Sample{Metric: ms[Counter], Value: math.NaN()},
		Sample{Metric: ms[Counter], Value: math.Inf(1)},
		Sample{Value: 1})
	if d := s.Dropped(); d != 4 {
		t.Errorf("Dropped() = %d, want 4 (conflicting type, NaN, Inf, no metric)", d)
	}
	o := NewStore()
	o.Add(Sample{Metric: other, Value: 1})
	if err := s.Merge(o); err == nil {
		t.Errorf("Merge of a trend %q into a counter %q = nil, want an error", "reqs", "reqs")
	}
}

func TestStoreSeriesWarning(t *testing.T) {
	_, ms := testMetrics(t)
	s := NewStore()
	var got []int
	s.OnSeriesWarning = func(n int) { got = append(got, n) }
	batch := make([]Sample, 0, 1000)
	for i := range 400_001 {
		batch = append(batch, Sample{Metric: ms[Counter], Value: 1, Tags: map[string]string{"id": fmt.Sprint(i)}})
		if len(batch) == cap(batch) {
			s.Add(batch...)
			batch = batch[:0]
		}
	}
	s.Add(batch...)
	want := []int{100_001, 200_001, 400_001}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("warnings at %v, want %v", got, want)
	}
}

func BenchmarkStoreAdd(b *testing.B) {
	_, ms := testMetrics(b)
	s := NewStore()
	tags := []map[string]string{
		{"scenario": "cams", "name": "PutMedia", "status": "200"},
		{"scenario": "cams", "name": "PutMedia", "status": "500"},
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Add(Sample{Metric: ms[Trend], Time: t0, Value: float64(i%5000) * 0.731, Tags: tags[i&1]})
		i++
	}
}

// BenchmarkTrendSeriesHeap reports the heap of one Trend series after
// a million samples (b.N is irrelevant; run with -benchtime=1x).
func BenchmarkTrendSeriesHeap(b *testing.B) {
	_, ms := testMetrics(b)
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := NewStore()
		r := rand.New(rand.NewPCG(3, 4))
		for range 1_000_000 {
			s.Add(Sample{Metric: ms[Trend], Time: t0, Value: math.Exp(r.NormFloat64()*2 + 4)})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc), "heap-bytes/series")
		runtime.KeepAlive(s)
	}
}

func TestAppendSeriesKeyMatchesSeriesKey(t *testing.T) {
	tests := []map[string]string{
		nil, {}, {"a": "1"}, {"b": "2", "a": "1"}, {"a&b": "x=y", "%": "%&="},
		{"k1": "", "k0": "v"}, {"a": "b&c=d", "a&c": "d"},
	}
	many := map[string]string{}
	for i := range 40 {
		many[fmt.Sprint("tag", i)] = fmt.Sprint(i)
	}
	tests = append(tests, many)
	for _, tags := range tests {
		if got, want := string(appendSeriesKey(nil, tags)), SeriesKey(tags); got != want {
			t.Errorf("appendSeriesKey(%v) = %q, want SeriesKey's %q", tags, got, want)
		}
	}
}

func TestSeriesSnapshotAggregate(t *testing.T) {
	_, ms := testMetrics(t)
	s := NewStore()
	for _, v := range []float64{10, 20, 30, 40} {
		s.Add(Sample{Metric: ms[Trend], Time: t0, Value: v, Tags: map[string]string{"s": "a"}})
	}
	s.Add(Sample{Metric: ms[Trend], Time: t0, Value: 1000, Tags: map[string]string{"s": "b"}})
	ss := s.Series()
	if len(ss) != 2 {
		t.Fatalf("Series() = %d series, want 2", len(ss))
	}
	a := ss[0].Aggregate(time.Second)
	s.Add(Sample{Metric: ms[Trend], Time: t0, Value: 1e6, Tags: map[string]string{"s": "a"}})
	if med, _ := a.Stat("med"); math.Abs(med-25) > 25*RelativeError || a.Samples != 4 || a.Contains != Time {
		t.Errorf("series s=a: med %v, samples %d, contains %v; want 25±0.1%%, 4, time (unchanged by later samples)", med, a.Samples, a.Contains)
	}
}

func TestStoreConcurrent(t *testing.T) {
	_, ms := testMetrics(t)
	samples := randomSamples(ms, 8000, 11)
	s, other := NewStore(), NewStore()
	other.Add(samples[:100]...)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(samples); i += 4 {
				s.Add(samples[i])
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			if a, ok := s.Aggregate("latency", Selector{}, time.Second); ok {
				a.Stat("p(99)")
			}
			s.Series()
		}
	})
	wg.Go(func() {
		for range 5 {
			if err := other.Merge(s); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	whole := NewStore()
	whole.Add(samples...)
	assertSameAggregates(t, whole, s, "concurrently fed store")
}
