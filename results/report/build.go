package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/camstorm/camstorm/results"
)

// Metric and tag names the builder knows: camstorm's camera metrics and
// k6's built-ins. They mirror scenarios/cameras and scenarios/builtin.go,
// which results must not import.
// The camera metric names producers outside results use in their rows.
const (
	MetricAckLatency = mAckLatency
	MetricBytes      = mBytes
	MetricFragments  = mFragments
	MetricPersisted  = mPersisted
	MetricReconnects = mReconnects
	MetricAckErrors  = mAckErrors
	MetricDrops      = mDrops
	MetricLost       = mLost
	MetricIntegrity  = mIntegrity
	MetricCameras    = mCameras
)

const (
	mAckLatency = "camera_ack_latency"
	mFragments  = "camera_fragments"
	mPersisted  = "camera_fragments_persisted"
	mBytes      = "camera_bytes"
	mReconnects = "camera_reconnects"
	mAckErrors  = "camera_ack_errors"
	mDrops      = "camera_drops"
	mLost       = "camera_lost"
	mIntegrity  = "camera_integrity_failures"
	mStarts     = "camera_starts"
	mCameras    = "cameras"
	mVUs        = "vus"
	mIterations = "iterations"
	mIterDur    = "iteration_duration"
	mHTTPReqs   = "http_reqs"
	mHTTPDur    = "http_req_duration"
	mChecks     = "checks"

	tagAck     = "ack"
	tagProfile = "profile"
	tagReason  = "reason"
	tagErrorID = "error_id"
)

// problemCounters are the camera counters shown as 0 when the run
// defined them but never counted one.
var problemCounters = map[string]bool{mReconnects: true, mAckErrors: true, mDrops: true, mLost: true, mIntegrity: true, "camera_unverified": true}

// breakdownTags are the tags a metric's sub-series are shown by, in this
// order, each as its own rows.
var breakdownTags = []string{tagAck, tagReason, tagErrorID, tagProfile}

// maxTagValues bounds the rows (and lines) one tag adds per metric.
const maxTagValues = 32

// trendStats are the statistics a Trend row carries.
var trendStats = []string{"count", "avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "p(99.9)"}

// quantiles are the lines of a latency chart.
var quantiles = []struct {
	label string
	q     float64
}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p99.9", 0.999}}

// FromStore builds the report of a scenario run from its metrics: verdicts,
// a row per metric and per sub-series by ack, reason, error id and
// profile, charts over time from the series' timelines (when the store
// kept them), and a row per network profile. elapsed is the test time
// counter rates are taken over.
func FromStore(meta Meta, reg *results.Registry, s *results.Store, verdicts []results.Verdict, elapsed time.Duration) *Run {
	run := &Run{Schema: SchemaVersion, Kind: KindScenario, Meta: meta}
	if s == nil {
		return run
	}
	series := s.Series()
	b := &builder{reg: reg, store: s, series: series, elapsed: elapsed, byMetric: map[string][]results.SeriesSnapshot{}}
	for _, ss := range series {
		b.byMetric[ss.Metric.Name] = append(b.byMetric[ss.Metric.Name], ss)
	}
	run.Verdicts = b.verdicts(verdicts)
	run.Metrics = b.metrics()
	run.Charts = b.charts()
	run.Profiles = b.profiles()
	run.Notes = b.notes()
	return run
}

// builder holds what FromStore works from.
type builder struct {
	reg      *results.Registry
	store    *results.Store
	series   []results.SeriesSnapshot
	byMetric map[string][]results.SeriesSnapshot
	elapsed  time.Duration
	width    time.Duration // widest timeline bucket seen
}

// metricOf returns the metric called name, from the registry or the store.
func (b *builder) metricOf(name string) *results.Metric {
	if b.reg != nil {
		if m := b.reg.Get(name); m != nil {
			return m
		}
	}
	if ss := b.byMetric[name]; len(ss) > 0 {
		return ss[0].Metric
	}
	return nil
}

func (b *builder) verdicts(vs []results.Verdict) []Verdict {
	out := make([]Verdict, 0, len(vs))
	for _, v := range vs {
		unit := ""
		if sel, err := results.ParseSelector(v.Key); err == nil {
			if m := b.metricOf(sel.Metric); m != nil {
				unit = statUnit(m, v.Threshold.Aggregation.Name)
			}
		}
		out = append(out, Verdict{Name: v.Key, Expr: v.Threshold.Source, Got: v.Got, Unit: unit, OK: v.OK})
	}
	return out
}

// statUnit is the unit of one statistic of a metric.
func statUnit(m *results.Metric, stat string) string {
	switch {
	case m.Type == results.Counter && stat == "rate":
		return rowUnit(m) + "/s"
	case m.Type == results.Counter:
		return rowUnit(m)
	case m.Type == results.Rate || stat == "count":
		return ""
	}
	return rowUnit(m)
}

// rowUnit is a row's unit: what its value statistics measure.
func rowUnit(m *results.Metric) string {
	switch m.Contains {
	case results.Time:
		return "ms"
	case results.Data:
		return "B"
	}
	return ""
}

// metrics makes a row per metric (registry order, then any the registry
// lacks) and per breakdown sub-series.
func (b *builder) metrics() []MetricRow {
	var names []string
	seen := map[string]bool{}
	if b.reg != nil {
		for _, m := range b.reg.All() {
			names, seen[m.Name] = append(names, m.Name), true
		}
	}
	for _, ss := range b.series {
		if !seen[ss.Metric.Name] {
			names, seen[ss.Metric.Name] = append(names, ss.Metric.Name), true
		}
	}
	var rows []MetricRow
	for _, name := range names {
		m := b.metricOf(name)
		row, ok := b.row(m, name, results.Selector{Metric: name})
		if !ok {
			if m != nil && m.Type == results.Counter && problemCounters[name] {
				// Defined but never counted: nothing went wrong, which a
				// reader (and Compare) should see as 0.
				rows = append(rows, MetricRow{Name: name, Type: m.Type.String(), Values: map[string]float64{"count": 0, "rate": 0}})
			}
			continue
		}
		rows = append(rows, row)
		for _, tag := range breakdownTags {
			vals := b.tagValues(name, tag)
			if tag == tagProfile && len(vals) == 1 && b.allTagged(name, tag) {
				continue // one profile: its rows would repeat the metric's
			}
			for _, v := range vals {
				sel := results.Selector{Metric: name, Tags: map[string]string{tag: v}}
				if row, ok := b.row(m, name+"{"+tag+":"+v+"}", sel); ok {
					rows = append(rows, row)
				}
			}
		}
	}
	return rows
}

// tagValues lists the values of tag among a metric's series, sorted and
// bounded.
func (b *builder) tagValues(metric, tag string) []string {
	set := map[string]bool{}
	for _, ss := range b.byMetric[metric] {
		if v, ok := ss.Tags[tag]; ok && v != "" {
			set[v] = true
		}
	}
	vals := slices.Sorted(maps.Keys(set))
	if len(vals) > maxTagValues {
		vals = vals[:maxTagValues]
	}
	return vals
}

// allTagged reports whether every series of a metric carries tag.
func (b *builder) allTagged(metric, tag string) bool {
	for _, ss := range b.byMetric[metric] {
		if ss.Tags[tag] == "" {
			return false
		}
	}
	return true
}

// row is one metric or sub-series over the whole run.
func (b *builder) row(m *results.Metric, name string, sel results.Selector) (MetricRow, bool) {
	if m == nil {
		return MetricRow{}, false
	}
	a, ok := b.store.Aggregate(m.Name, sel, b.elapsed)
	if !ok {
		return MetricRow{}, false
	}
	var stats []string
	switch m.Type {
	case results.Counter:
		stats = []string{"count", "rate"}
	case results.Gauge:
		stats = []string{"value", "min", "max"}
	case results.Rate:
		stats = []string{"rate", "passes", "fails"}
	default:
		stats = trendStats
	}
	vals := make(map[string]float64, len(stats))
	for _, st := range stats {
		if v, ok := a.Stat(st); ok {
			vals[st] = v
		}
	}
	return MetricRow{Name: name, Type: m.Type.String(), Unit: rowUnit(m), Values: vals}, true
}

// timeline merges the timelines of a metric's series that match sel.
func (b *builder) timeline(metric string, sel map[string]string) *results.Timeline {
	var tl *results.Timeline
	s := results.Selector{Metric: metric, Tags: sel}
	for _, ss := range b.byMetric[metric] {
		if ss.Timeline == nil || !s.Matches(ss.Tags) {
			continue
		}
		if tl == nil {
			tl = &results.Timeline{}
		}
		tl.Merge(ss.Timeline)
	}
	if tl != nil && tl.Width > b.width {
		b.width = tl.Width
	}
	return tl
}

// points maps a timeline's buckets to values; empty buckets are left out
// unless fill says what they stand for.
func points(tl *results.Timeline, v func(*results.TimelineBucket) (float64, bool), fill bool) []Point {
	if tl == nil {
		return nil
	}
	var out []Point
	for i, bk := range tl.Buckets {
		if bk == nil || bk.Count == 0 {
			if fill {
				out = append(out, Point{T: tl.Start(i).UTC(), V: 0})
			}
			continue
		}
		if x, ok := v(bk); ok {
			out = append(out, Point{T: tl.Start(i).UTC(), V: x})
		}
	}
	return out
}

// perSecond is a Counter bucket's sum over its width.
func perSecond(width time.Duration) func(*results.TimelineBucket) (float64, bool) {
	return func(bk *results.TimelineBucket) (float64, bool) { return bk.Sum / width.Seconds(), true }
}

func (b *builder) charts() []Chart {
	var charts []Chart
	// Latency: one chart per ACK type, then HTTP and iterations.
	latency := func(id, title, metric string, sel map[string]string) {
		tl := b.timeline(metric, sel)
		if tl == nil {
			return
		}
		c := Chart{ID: id, Title: title, Unit: "ms"}
		for _, q := range quantiles {
			pts := points(tl, func(bk *results.TimelineBucket) (float64, bool) {
				if bk.Hist == nil {
					return 0, false
				}
				return bk.Hist.Quantile(q.q), true
			}, false)
			c.Lines = append(c.Lines, Line{Label: q.label, Points: pts})
		}
		charts = append(charts, c)
	}
	for _, ack := range b.tagValues(mAckLatency, tagAck) {
		latency("latency-"+ack, "ACK latency ("+ack+")", mAckLatency, map[string]string{tagAck: ack})
	}
	latency("latency-"+mHTTPDur, "HTTP request duration", mHTTPDur, nil)
	latency("latency-"+mIterDur, "Iteration duration", mIterDur, nil)

	// Throughput: events per second per bucket.
	thr := Chart{ID: "throughput", Title: "Throughput", Unit: "/s"}
	for _, it := range []struct{ metric, label string }{
		{mPersisted, "fragments persisted/s"}, {mBytes, "camera bytes/s"},
		{mIterations, "iterations/s"}, {mHTTPReqs, "HTTP requests/s"},
	} {
		if tl := b.timeline(it.metric, nil); tl != nil {
			thr.Lines = append(thr.Lines, Line{Label: it.label, Points: points(tl, perSecond(tl.Width), true)})
		}
	}
	if len(thr.Lines) > 0 {
		charts = append(charts, thr)
	}

	// Active: the last gauge value in each bucket.
	act := Chart{ID: "active", Title: "Active cameras and VUs", Unit: "count"}
	for _, it := range []struct{ metric, label string }{{mCameras, "cameras"}, {mVUs, "VUs"}} {
		if tl := b.timeline(it.metric, nil); tl != nil && b.metricOf(it.metric).Type == results.Gauge {
			act.Lines = append(act.Lines, Line{Label: it.label, Points: points(tl, func(bk *results.TimelineBucket) (float64, bool) {
				return bk.Last, true
			}, false)})
		}
	}
	if len(act.Lines) > 0 {
		charts = append(charts, act)
	}

	// Problems: counts per bucket.
	prob := Chart{ID: "problems", Title: "Reconnects, drops, errors and losses", Unit: "count"}
	sum := func(bk *results.TimelineBucket) (float64, bool) { return bk.Sum, true }
	counter := func(metric, label string, sel map[string]string) {
		if m := b.metricOf(metric); m == nil || m.Type != results.Counter {
			return
		}
		if tl := b.timeline(metric, sel); tl != nil {
			prob.Lines = append(prob.Lines, Line{Label: label, Points: points(tl, sum, true)})
		}
	}
	counter(mReconnects, "reconnects", nil)
	for _, r := range b.tagValues(mDrops, tagReason) {
		counter(mDrops, "drops ("+r+")", map[string]string{tagReason: r})
	}
	for _, id := range b.tagValues(mAckErrors, tagErrorID) {
		counter(mAckErrors, "ACK errors (id "+id+")", map[string]string{tagErrorID: id})
	}
	counter(mLost, "lost fragments", nil)
	counter(mIntegrity, "integrity failures", nil)
	if m := b.metricOf(mChecks); m != nil && m.Type == results.Rate {
		if tl := b.timeline(mChecks, nil); tl != nil {
			prob.Lines = append(prob.Lines, Line{Label: "failed checks", Points: points(tl, func(bk *results.TimelineBucket) (float64, bool) {
				return float64(bk.Fails), true
			}, true)})
		}
	}
	if len(prob.Lines) > 0 {
		charts = append(charts, prob)
	}
	return charts
}

// profiles makes a row per value of the profile tag on camera metrics.
func (b *builder) profiles() []ProfileRow {
	set := map[string]bool{}
	for _, m := range []string{mFragments, mPersisted, mAckLatency, mReconnects, mStarts} {
		for _, v := range b.tagValues(m, tagProfile) {
			set[v] = true
		}
	}
	var rows []ProfileRow
	for _, p := range slices.Sorted(maps.Keys(set)) {
		stat := func(metric, stat string, extra map[string]string) float64 {
			tags := map[string]string{tagProfile: p}
			maps.Copy(tags, extra)
			a, ok := b.store.Aggregate(metric, results.Selector{Metric: metric, Tags: tags}, b.elapsed)
			if !ok {
				return 0
			}
			v, _ := a.Stat(stat)
			return v
		}
		rows = append(rows, ProfileRow{
			Profile:       p,
			Cameras:       int64(stat(mStarts, "count", nil)),
			Fragments:     stat(mFragments, "count", nil),
			Persisted:     stat(mPersisted, "count", nil),
			PersistedP99:  stat(mAckLatency, "p(99)", map[string]string{tagAck: "persisted"}),
			Reconnects:    stat(mReconnects, "count", nil),
			Drops:         stat(mDrops, "count", nil),
			Lost:          stat(mLost, "count", nil),
			AckErrors:     stat(mAckErrors, "count", nil),
			IntegrityFail: stat(mIntegrity, "count", nil),
		})
	}
	return rows
}

func (b *builder) notes() []string {
	notes := []string{fmt.Sprintf("Whole-run percentiles are within ±%g %% of the exact value; percentiles per time bucket within ±%g %%.",
		results.RelativeError*100, results.BucketRelativeError*100)}
	if b.width > results.FirstBucketWidth {
		notes = append(notes, fmt.Sprintf("Time buckets are %v wide: the run was too long for %v buckets.", b.width, results.FirstBucketWidth))
	}
	if n := b.store.Dropped(); n > 0 {
		notes = append(notes, fmt.Sprintf("%d samples were dropped (no metric, a value that is not a number, or a type conflict).", n))
	}
	hasTimelines := false
	for _, ss := range b.series {
		if ss.Timeline != nil {
			hasTimelines = true
			break
		}
	}
	if !hasTimelines && len(b.series) > 0 {
		notes = append(notes, "The results hold no timelines, so there are no charts over time.")
	}
	return notes
}

// SortWorst orders cameras worst first: most lost, then most reconnects,
// then slowest PERSISTED.
func SortWorst(rows []CameraRow) {
	slices.SortStableFunc(rows, func(a, b CameraRow) int {
		return cmp.Or(cmp.Compare(b.Lost, a.Lost), cmp.Compare(b.Reconnects, a.Reconnects),
			cmp.Compare(b.PersistedP99, a.PersistedP99), strings.Compare(a.Stream, b.Stream))
	})
}

// MaxWorst bounds the worst-cameras table.
const MaxWorst = 20

// CounterRow is a whole-run counter row: its count and its rate over elapsed.
func CounterRow(name string, n float64, elapsed time.Duration) MetricRow {
	vals := map[string]float64{"count": n, "rate": 0}
	if elapsed > 0 {
		vals["rate"] = n / elapsed.Seconds()
	}
	return MetricRow{Name: name, Type: "counter", Values: vals}
}

// LatencyRow is a latency summary (in ms) as a trend row.
func LatencyRow(name string, count int64, p50, p95, p99, maxMS float64) MetricRow {
	return MetricRow{Name: name, Type: "trend", Unit: "ms", Values: map[string]float64{
		"count": float64(count), "med": p50, "p(95)": p95, "p(99)": p99, "max": maxMS}}
}
