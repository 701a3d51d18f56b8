package results

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Sink is the aggregation state of one series of one metric type. Sinks
// are not safe for concurrent use; the Store guards them.
type Sink interface {
	// Type is the metric type the sink aggregates.
	Type() MetricType
	// Add folds in one sample taken at t.
	Add(v float64, t time.Time)
	// Merge folds in another sink of the same type, exactly as if its
	// samples had been added after the receiver's.
	Merge(o Sink) error
	// Count is how many samples fed the sink.
	Count() int64
	// Clone returns an independent copy.
	Clone() Sink
	// fill writes the sink's statistics into an Aggregate.
	fill(a *Aggregate)
}

// NewSink returns an empty sink for a metric type, or nil for an unknown one.
func NewSink(t MetricType) Sink {
	switch t {
	case Counter:
		return &CounterSink{}
	case Gauge:
		return &GaugeSink{}
	case Rate:
		return &RateSink{}
	case Trend:
		return &TrendSink{}
	}
	return nil
}

func mergeTypeError(into, from Sink) error {
	return fmt.Errorf("%w: cannot merge a %s series into a %s series", ErrMetric, from.Type(), into.Type())
}

// CounterSink sums a Counter's values.
type CounterSink struct {
	Sum     float64 `json:"sum"`
	Samples int64   `json:"samples"`
}

var (
	_ Sink = (*CounterSink)(nil)
	_ Sink = (*GaugeSink)(nil)
	_ Sink = (*RateSink)(nil)
	_ Sink = (*TrendSink)(nil)
)

// Type implements Sink.
func (*CounterSink) Type() MetricType { return Counter }

// Add implements Sink.
func (c *CounterSink) Add(v float64, _ time.Time) { c.Sum += v; c.Samples++ }

// Count implements Sink.
func (c *CounterSink) Count() int64 { return c.Samples }

// Clone implements Sink.
func (c *CounterSink) Clone() Sink { d := *c; return &d }

// Merge implements Sink. Sums are floats, so a merged sum can differ from
// one fed every sample in the last bits (addition order).
func (c *CounterSink) Merge(o Sink) error {
	oc, ok := o.(*CounterSink)
	if !ok {
		return mergeTypeError(c, o)
	}
	c.Sum += oc.Sum
	c.Samples += oc.Samples
	return nil
}

func (c *CounterSink) fill(a *Aggregate) { a.Samples, a.Sum = c.Samples, c.Sum }

// GaugeSink keeps a Gauge's latest value (by sample time; on equal times
// the one added or merged later wins) and its extremes.
type GaugeSink struct {
	Last     float64   `json:"last"`
	LastTime time.Time `json:"lastTime"`
	Min      float64   `json:"min"`
	Max      float64   `json:"max"`
	Samples  int64     `json:"samples"`
}

// Type implements Sink.
func (*GaugeSink) Type() MetricType { return Gauge }

// Add implements Sink.
func (g *GaugeSink) Add(v float64, t time.Time) {
	if g.Samples == 0 {
		g.Last, g.LastTime, g.Min, g.Max = v, t, v, v
		g.Samples = 1
		return
	}
	if !t.Before(g.LastTime) {
		g.Last, g.LastTime = v, t
	}
	g.Min, g.Max = min(g.Min, v), max(g.Max, v)
	g.Samples++
}

// Count implements Sink.
func (g *GaugeSink) Count() int64 { return g.Samples }

// Clone implements Sink.
func (g *GaugeSink) Clone() Sink { d := *g; return &d }

// Merge implements Sink.
func (g *GaugeSink) Merge(o Sink) error {
	og, ok := o.(*GaugeSink)
	if !ok {
		return mergeTypeError(g, o)
	}
	switch {
	case og.Samples == 0:
	case g.Samples == 0:
		*g = *og
	default:
		if !og.LastTime.Before(g.LastTime) {
			g.Last, g.LastTime = og.Last, og.LastTime
		}
		g.Min, g.Max = min(g.Min, og.Min), max(g.Max, og.Max)
		g.Samples += og.Samples
	}
	return nil
}

func (g *GaugeSink) fill(a *Aggregate) {
	a.Samples, a.Last, a.Min, a.Max = g.Samples, g.Last, g.Min, g.Max
}

// RateSink counts a Rate's non-zero (passing) and zero samples.
type RateSink struct {
	Passes int64 `json:"passes"`
	Fails  int64 `json:"fails"`
}

// Type implements Sink.
func (*RateSink) Type() MetricType { return Rate }

// Add implements Sink.
func (r *RateSink) Add(v float64, _ time.Time) {
	if v != 0 {
		r.Passes++
	} else {
		r.Fails++
	}
}

// Count implements Sink.
func (r *RateSink) Count() int64 { return r.Passes + r.Fails }

// Clone implements Sink.
func (r *RateSink) Clone() Sink { d := *r; return &d }

// Merge implements Sink.
func (r *RateSink) Merge(o Sink) error {
	or, ok := o.(*RateSink)
	if !ok {
		return mergeTypeError(r, o)
	}
	r.Passes += or.Passes
	r.Fails += or.Fails
	return nil
}

func (r *RateSink) fill(a *Aggregate) {
	a.Samples, a.Passes, a.Fails = r.Passes+r.Fails, r.Passes, r.Fails
}

// Trend histogram layout. A value v is recorded as round(|v|×trendScale)
// in a histogram of 1..trendHighest at trendDigits significant digits.
const (
	trendScale   = 1000
	trendHighest = int64(1e10)
	trendDigits  = 3
)

// TrendSink keeps a Trend's exact count, sum, min and max, and its
// distribution in HDR histograms for percentiles.
//
// Each value v is stored as n = round(|v|×1000): values that round to 0
// (|v| < 0.0005) are counted in Zeros, positive ones in one histogram and
// negative ones in a second, created on the first negative sample. Both
// cover 1..1e10 (|v| up to 1e7, i.e. 2.8 h for milliseconds) at three
// significant digits; a larger |v| is recorded as 1e7 and counted in
// Saturated. A percentile is therefore within 1/2048 of the true sample
// value (half an HDR bucket, bucket width ≤ value/1024), plus 0.0005 for
// the rounding, and never outside the exact Min and Max — except among
// saturated samples, which read as ±1e7. Each histogram holds 25,600
// counters (about 200 KiB), allocated on the first non-zero sample.
//
// While a sink holds at most ExactSamples samples it also keeps them, and
// percentiles are then exactly k6's; past that the samples are dropped and
// the histograms answer, so memory stays bounded.
type TrendSink struct {
	Samples   int64
	Sum       float64
	Min, Max  float64
	Zeros     int64
	Saturated int64
	pos, neg  *hdrhistogram.Histogram
	// exact holds every sample while Samples ≤ ExactSamples (nil after).
	exact []float64
}

// ExactSamples is how many samples a Trend keeps for exact percentiles.
const ExactSamples = 1000

func newTrendHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, trendHighest, trendDigits)
}

// Type implements Sink.
func (*TrendSink) Type() MetricType { return Trend }

// Count implements Sink.
func (t *TrendSink) Count() int64 { return t.Samples }

// Add implements Sink.
func (t *TrendSink) Add(v float64, _ time.Time) {
	if t.Samples == 0 {
		t.Min, t.Max = v, v
	} else {
		t.Min, t.Max = min(t.Min, v), max(t.Max, v)
	}
	t.Samples++
	t.Sum += v
	if t.Samples <= ExactSamples {
		t.exact = append(t.exact, v)
	} else {
		t.exact = nil
	}
	n := math.Round(math.Abs(v) * trendScale)
	if n < 1 {
		t.Zeros++
		return
	}
	if n > float64(trendHighest) {
		n = float64(trendHighest)
		t.Saturated++
	}
	h := t.histogram(v < 0)
	// In range by construction, so RecordValue cannot fail.
	_ = h.RecordValue(int64(n))
}

// histogram returns the positive or negative histogram, creating it.
func (t *TrendSink) histogram(negative bool) *hdrhistogram.Histogram {
	p := &t.pos
	if negative {
		p = &t.neg
	}
	if *p == nil {
		*p = newTrendHistogram()
	}
	return *p
}

// Clone implements Sink.
func (t *TrendSink) Clone() Sink {
	d := *t
	d.pos, d.neg = cloneHistogram(t.pos), cloneHistogram(t.neg)
	d.exact = slices.Clone(t.exact)
	return &d
}

func cloneHistogram(h *hdrhistogram.Histogram) *hdrhistogram.Histogram {
	if h == nil {
		return nil
	}
	c := newTrendHistogram()
	c.Merge(h)
	return c
}

// Merge implements Sink: counts add and histograms merge bucket by bucket,
// so percentiles equal those of one sink fed every sample.
func (t *TrendSink) Merge(o Sink) error {
	ot, ok := o.(*TrendSink)
	if !ok {
		return mergeTypeError(t, o)
	}
	if ot.Samples == 0 {
		return nil
	}
	if t.Samples == 0 {
		t.Min, t.Max = ot.Min, ot.Max
	} else {
		t.Min, t.Max = min(t.Min, ot.Min), max(t.Max, ot.Max)
	}
	if t.hasExact() && ot.hasExact() && t.Samples+ot.Samples <= ExactSamples {
		t.exact = append(t.exact, ot.exact...)
	} else {
		t.exact = nil
	}
	t.Samples += ot.Samples
	t.Sum += ot.Sum
	t.Zeros += ot.Zeros
	t.Saturated += ot.Saturated
	if ot.pos != nil && ot.pos.TotalCount() > 0 {
		t.histogram(false).Merge(ot.pos)
	}
	if ot.neg != nil && ot.neg.TotalCount() > 0 {
		t.histogram(true).Merge(ot.neg)
	}
	return nil
}

// fill takes t over: the Aggregate's Quantile reads it on first use, so
// callers pass a sink nothing else changes afterwards.
func (t *TrendSink) fill(a *Aggregate) {
	a.Samples, a.Sum, a.Min, a.Max = t.Samples, t.Sum, t.Min, t.Max
	quantiles := sync.OnceValue(t.quantiles)
	a.Quantile = func(q float64) float64 { return quantiles().at(q) }
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) as k6 computes it — linear
// interpolation between the sorted samples at index q×(n−1) — within the
// error bound in the type's doc comment; 0 without samples.
func (t *TrendSink) Quantile(q float64) float64 { return t.quantiles().at(q) }

// trendBucket is a run of samples that read as one value.
type trendBucket struct {
	value float64
	count int64
}

// trendQuantiles is a sink's distribution in ascending value order, the
// immutable form an Aggregate's Quantile closes over.
type trendQuantiles struct {
	// sorted holds every sample when the sink kept them: exact k6 answers.
	sorted   []float64
	buckets  []trendBucket
	cum      []int64 // samples up to and including bucket i
	min, max float64
	n        int64
}

// hasExact reports whether the sink still holds every sample.
func (t *TrendSink) hasExact() bool { return int64(len(t.exact)) == t.Samples }

// Exact returns every sample while the sink keeps them (nil otherwise).
func (t *TrendSink) Exact() []float64 {
	if !t.hasExact() {
		return nil
	}
	return slices.Clone(t.exact)
}

func (t *TrendSink) quantiles() *trendQuantiles {
	tq := &trendQuantiles{min: t.Min, max: t.Max, n: t.Samples}
	if t.Samples > 0 && t.hasExact() {
		tq.sorted = slices.Clone(t.exact)
		slices.Sort(tq.sorted)
		return tq
	}
	if t.neg != nil {
		bars := t.neg.Distribution()
		for i := len(bars) - 1; i >= 0; i-- {
			tq.add(-barValue(bars[i]), bars[i].Count)
		}
	}
	tq.add(0, t.Zeros)
	if t.pos != nil {
		for _, b := range t.pos.Distribution() {
			tq.add(barValue(b), b.Count)
		}
	}
	return tq
}

// barValue is the middle of an HDR bucket in the original unit.
func barValue(b hdrhistogram.Bar) float64 {
	return (float64(b.From) + float64(b.To)) / 2 / trendScale
}

func (tq *trendQuantiles) add(v float64, n int64) {
	if n <= 0 {
		return
	}
	total := n
	if len(tq.cum) > 0 {
		total += tq.cum[len(tq.cum)-1]
	}
	tq.buckets = append(tq.buckets, trendBucket{value: v, count: n})
	tq.cum = append(tq.cum, total)
}

// rank returns the estimate of the r-th smallest sample (0-based).
func (tq *trendQuantiles) rank(r int64) float64 {
	if tq.sorted != nil {
		return tq.sorted[min(max(r, 0), int64(len(tq.sorted))-1)]
	}
	switch {
	case r <= 0:
		return tq.min
	case r >= tq.n-1:
		return tq.max
	}
	i, _ := slices.BinarySearch(tq.cum, r+1)
	if i >= len(tq.buckets) {
		return tq.max
	}
	return min(max(tq.buckets[i].value, tq.min), tq.max)
}

func (tq *trendQuantiles) at(q float64) float64 {
	if tq.n == 0 || math.IsNaN(q) {
		return 0
	}
	q = min(max(q, 0), 1)
	pos := q * float64(tq.n-1)
	lo := math.Floor(pos)
	hi := math.Ceil(pos)
	a, b := tq.rank(int64(lo)), tq.rank(int64(hi))
	return a + (b-a)*(pos-lo)
}
