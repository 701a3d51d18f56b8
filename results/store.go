package results

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// MaxSampleValue bounds a sample's magnitude (a petabyte, 31 years in
// ms): larger values are refused and counted in Dropped, so sums stay finite.
const MaxSampleValue = 1e15

// seriesWarnFirst is where the cardinality warning first fires; it fires
// again at every doubling, as k6 warns about unique time series.
const seriesWarnFirst = 100_000

// Store aggregates samples per series: one sink per metric and distinct
// tag set. It is safe for concurrent use.
type Store struct {
	// OnSeriesWarning, when set (before the first Add), is called with the
	// series count when it passes 100,000 and again at each doubling:
	// too many distinct tag sets cost memory, as in k6.
	OnSeriesWarning func(n int)
	// Timelines, when set (before the first Add), keeps each series over
	// time as well: bounded time buckets for reports.
	Timelines bool

	mu      sync.Mutex
	metrics map[string]*storeMetric
	count   int
	warnAt  int
	dropped int64
}

type storeMetric struct {
	metric *Metric
	series map[string]*storeSeries
}

type storeSeries struct {
	tags     map[string]string
	sink     Sink
	timeline *Timeline // nil unless Store.Timelines
}

// SeriesSnapshot is one series and a copy of its state, for writers.
type SeriesSnapshot struct {
	Metric *Metric
	Tags   map[string]string
	Sink   Sink
	// Timeline is the series over time (nil unless the store keeps them).
	Timeline *Timeline
}

// Aggregate returns the series' own statistics, as Store.Aggregate would
// for a selector matching only it.
func (ss SeriesSnapshot) Aggregate(elapsed time.Duration) Aggregate {
	a := Aggregate{Type: ss.Metric.Type, Contains: ss.Metric.Contains, Elapsed: elapsed}
	ss.Sink.Clone().fill(&a)
	return a
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{metrics: map[string]*storeMetric{}, warnAt: seriesWarnFirst}
}

// Add routes each sample to its series. Samples without a metric, with a
// NaN or infinite value, or whose metric name is already held with another
// type are dropped and counted (see Dropped).
func (s *Store) Add(samples ...Sample) {
	// Keys are built outside the lock into one buffer; looking a []byte up
	// as a string key does not allocate, so a known series costs nothing.
	var keyStack [512]byte
	var endStack [16]int
	buf, ends := keyStack[:0], endStack[:0]
	for _, smp := range samples {
		buf = appendSeriesKey(buf, smp.Tags)
		ends = append(ends, len(buf))
	}
	s.mu.Lock()
	var warn []int
	start := 0
	for i, smp := range samples {
		key := buf[start:ends[i]]
		start = ends[i]
		if smp.Metric == nil || math.IsNaN(smp.Value) || math.Abs(smp.Value) > MaxSampleValue {
			s.dropped++
			continue
		}
		sm := s.metrics[smp.Metric.Name]
		var ser *storeSeries
		if sm != nil && sm.metric.Type == smp.Metric.Type {
			ser = sm.series[string(key)]
		}
		if ser == nil {
			var ok bool
			if ser, ok = s.seriesLocked(smp.Metric, string(key), smp.Tags, &warn); !ok {
				s.dropped++
				continue
			}
		}
		ser.sink.Add(smp.Value, smp.Time)
		if ser.timeline != nil {
			ser.timeline.Add(smp.Metric.Type, smp.Value, smp.Time)
		}
	}
	hook := s.OnSeriesWarning
	s.mu.Unlock()
	if hook != nil {
		for _, n := range warn {
			hook(n)
		}
	}
}

// appendSeriesKey appends SeriesKey(tags) to b without allocating for up
// to 16 tags.
func appendSeriesKey(b []byte, tags map[string]string) []byte {
	var stack [16]string
	keys := stack[:0]
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, '&')
		}
		b = appendTagEscaped(b, k)
		b = append(b, '=')
		b = appendTagEscaped(b, tags[k])
	}
	return b
}

// appendTagEscaped escapes as SeriesKey's tagEscaper does.
func appendTagEscaped(b []byte, s string) []byte {
	if !strings.ContainsAny(s, "%&=") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			b = append(b, "%25"...)
		case '&':
			b = append(b, "%26"...)
		case '=':
			b = append(b, "%3D"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// seriesLocked returns the series of m with this key, creating it; ok is
// false when the name is held with another type.
func (s *Store) seriesLocked(m *Metric, key string, tags map[string]string, warn *[]int) (*storeSeries, bool) {
	sm := s.metrics[m.Name]
	if sm == nil {
		sm = &storeMetric{metric: m, series: map[string]*storeSeries{}}
		s.metrics[m.Name] = sm
	} else if sm.metric.Type != m.Type {
		return nil, false
	}
	ser := sm.series[key]
	if ser == nil {
		ser = &storeSeries{tags: maps.Clone(tags), sink: NewSink(m.Type)}
		if s.Timelines {
			ser.timeline = &Timeline{Width: FirstBucketWidth}
		}
		sm.series[key] = ser
		s.count++
		if s.count > s.warnAt {
			*warn = append(*warn, s.count)
			s.warnAt *= 2
		}
	}
	return ser, true
}

// Dropped is how many samples Add refused.
func (s *Store) Dropped() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// SeriesCount is the number of series held.
func (s *Store) SeriesCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Aggregate merges every series of the metric whose tags match sel, with
// Elapsed set for a Counter's rate. ok is false when no series matched or
// none had samples.
func (s *Store) Aggregate(metric string, sel Selector, elapsed time.Duration) (Aggregate, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sm := s.metrics[metric]
	if sm == nil {
		return Aggregate{}, false
	}
	acc := NewSink(sm.metric.Type)
	for _, ser := range sm.series {
		if sel.Matches(ser.tags) {
			// Same type by construction.
			_ = acc.Merge(ser.sink)
		}
	}
	if acc.Count() == 0 {
		return Aggregate{}, false
	}
	a := Aggregate{Type: sm.metric.Type, Contains: sm.metric.Contains, Elapsed: elapsed}
	acc.fill(&a)
	return a, true
}

// Series returns a copy of every series, sorted by metric name then tags.
func (s *Store) Series() []SeriesSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SeriesSnapshot, 0, s.count)
	for _, name := range slices.Sorted(maps.Keys(s.metrics)) {
		sm := s.metrics[name]
		for _, key := range slices.Sorted(maps.Keys(sm.series)) {
			ser := sm.series[key]
			out = append(out, SeriesSnapshot{Metric: sm.metric, Tags: maps.Clone(ser.tags), Sink: ser.sink.Clone(), Timeline: ser.timeline.Clone()})
		}
	}
	return out
}

// Merge adds every series of o into s, as if s had received o's samples
// after its own. A metric held with different types is an error and
// nothing is merged.
func (s *Store) Merge(o *Store) error {
	snap := o.Series()
	s.mu.Lock()
	for _, ss := range snap {
		if sm := s.metrics[ss.Metric.Name]; sm != nil && sm.metric.Type != ss.Metric.Type {
			s.mu.Unlock()
			return fmt.Errorf("%w: %q is a %s metric here and a %s metric in the merged store",
				ErrMetric, ss.Metric.Name, sm.metric.Type, ss.Metric.Type)
		}
	}
	var warn []int
	for _, ss := range snap {
		ser, _ := s.seriesLocked(ss.Metric, SeriesKey(ss.Tags), ss.Tags, &warn)
		_ = ser.sink.Merge(ss.Sink)
		if ss.Timeline != nil {
			if ser.timeline == nil {
				ser.timeline = &Timeline{}
			}
			ser.timeline.Merge(ss.Timeline)
		}
	}
	hook := s.OnSeriesWarning
	s.mu.Unlock()
	if hook != nil {
		for _, n := range warn {
			hook(n)
		}
	}
	return nil
}
