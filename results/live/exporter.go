package live

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/camstorm/camstorm/results"
)

// DefaultMaxSeries bounds the series an Exporter keeps when Options leave
// it zero.
const DefaultMaxSeries = 10_000

// DroppedSeriesName counts samples refused because their series would
// have passed the cap.
const DroppedSeriesName = Namespace + "_exporter_dropped_series_total"

// ErrGauge marks an invalid SetGauge or SetCounter call.
var ErrGauge = errors.New("invalid gauge")

// Options tune an Exporter; the zero value is usable.
type Options struct {
	// MaxSeries bounds the series kept across all metrics (0: DefaultMaxSeries).
	// A sample that would open one more is counted in DroppedSeriesName.
	MaxSeries int
}

// Exporter is a results.Output that keeps every sample as Prometheus
// metrics and a prometheus.Collector that serves them. Counters become
// NAME_total counters, gauges gauges, rates NAME_passes_total and
// NAME_fails_total counters, and trends classic histograms (seconds for
// time metrics). Labels are the sample's tags from a fixed allow-list;
// metadata (camera, vu, iter) never is one. It is safe for concurrent use.
type Exporter struct {
	max int

	mu       sync.Mutex
	byMetric map[*results.Metric]*family // nil value: the metric's name clashes
	byName   map[string]*family          // by each of its Prometheus names
	series   int
	dropped  uint64
	key      []byte // scratch for series keys, under mu

	droppedDesc *prometheus.Desc
}

var (
	_ results.Output       = (*Exporter)(nil)
	_ prometheus.Collector = (*Exporter)(nil)
)

// NewExporter returns an Exporter registered with reg.
func NewExporter(reg prometheus.Registerer, opt Options) (*Exporter, error) {
	e := &Exporter{
		max:      opt.MaxSeries,
		byMetric: map[*results.Metric]*family{},
		byName:   map[string]*family{},
		droppedDesc: prometheus.NewDesc(DroppedSeriesName,
			"Samples not exported because their label set would have passed the exporter's series cap.", nil, nil),
	}
	if e.max <= 0 {
		e.max = DefaultMaxSeries
	}
	if err := reg.Register(e); err != nil {
		return nil, fmt.Errorf("live: registering the exporter: %w", err)
	}
	return e, nil
}

// AddSamples records a batch; it never fails.
func (e *Exporter) AddSamples(batch []results.Sample) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range batch {
		e.add(&batch[i])
	}
	return nil
}

// Close keeps the last values for a final scrape; the exporter stays usable.
func (e *Exporter) Close() error { return nil }

func (e *Exporter) add(s *results.Sample) {
	if s.Metric == nil || math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
		return
	}
	f, ok := e.byMetric[s.Metric]
	if !ok {
		f = e.familyFor(s.Metric)
		e.byMetric[s.Metric] = f
	}
	if f == nil {
		return
	}
	e.key = e.key[:0]
	for _, l := range f.labels {
		v, ok := l.fixed, l.isFixed
		if !ok {
			v, ok = s.Tags[l.name]
		}
		if ok {
			e.key = append(e.key, l.name...)
			e.key = append(e.key, 0)
			e.key = append(e.key, v...)
			e.key = append(e.key, 0)
		}
	}
	sr, ok := f.series[string(e.key)]
	if !ok {
		if e.series >= e.max {
			e.dropped++
			return
		}
		sr = f.newSeries(s.Tags)
		f.series[string(e.key)] = sr
		e.series++
	}
	f.observe(sr, s.Value*f.scale)
}

// familyFor makes the family of a metric first seen, or returns nil when
// its Prometheus name is another metric's.
func (e *Exporter) familyFor(m *results.Metric) *family {
	names := Names(m)
	if f, ok := e.byName[names[0]]; ok {
		switch {
		case f.source == m.Name && f.typ == m.Type && f.contains == m.Contains:
			return f // the same metric from another registry
		case f.source == "" && f.typ == results.Gauge && m.Type == results.Gauge:
			// SetGauge made it first: the samples join it.
			nf := newFamily(m, names)
			nf.series = f.series
			for _, sr := range nf.series {
				sr.descs = nil // made again with the samples' help
			}
			*f = *nf
			return f
		}
		return nil
	}
	for _, n := range names[1:] {
		if _, ok := e.byName[n]; ok {
			return nil
		}
	}
	f := newFamily(m, names)
	for _, n := range names {
		e.byName[n] = f
	}
	return f
}

// SetGauge sets a gauge that no sample carries, such as cameras in a
// state the runner tracks itself: SetGauge("camstorm_cameras",
// {"state": "reconnecting"}, 3). The name must be free or another gauge.
func (e *Exporter) SetGauge(name string, labels map[string]string, value float64) error {
	return e.set(name, labels, value, results.Gauge)
}

// SetCounter sets a counter to a running total kept elsewhere, such as a
// fleet's PERSISTED ACKs so far. A total lower than the last is ignored,
// as a Prometheus counter never goes down. The name must end in _total
// and be free or another counter.
func (e *Exporter) SetCounter(name string, labels map[string]string, total float64) error {
	if !strings.HasSuffix(name, "_total") {
		return fmt.Errorf("%w: counter %q: want a name ending in _total", ErrGauge, name)
	}
	return e.set(name, labels, total, results.Counter)
}

// set is SetGauge and SetCounter.
func (e *Exporter) set(name string, labels map[string]string, value float64, typ results.MetricType) error {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return fmt.Errorf("%w: %s: value %v is not finite", ErrGauge, name, value)
	}
	if !validName(name) {
		return fmt.Errorf("%w: name %q: want letters, digits, _ or :, not starting with a digit", ErrGauge, name)
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if !validName(k) || strings.Contains(k, ":") || strings.HasPrefix(k, "__") {
			return fmt.Errorf("%w: %s: label name %q is not a Prometheus label name", ErrGauge, name, k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e.mu.Lock()
	defer e.mu.Unlock()
	f, ok := e.byName[name]
	switch {
	case !ok:
		f = &family{names: []string{name}, typ: typ, scale: 1, series: map[string]*series{},
			help: "Set by the harness (" + name + ")."}
		e.byName[name] = f
	case f.typ != typ:
		return fmt.Errorf("%w: %s is already exported as a %s", ErrGauge, name, f.typ)
	}
	// The key has the same form as a sample's: pairs sorted by name.
	var key strings.Builder
	for _, k := range keys {
		key.WriteString(k + "\x00" + labels[k] + "\x00")
	}
	sr, ok := f.series[key.String()]
	if !ok {
		if e.series >= e.max {
			e.dropped++
			return fmt.Errorf("%w: %s: the exporter holds its maximum of %d series", ErrGauge, name, e.max)
		}
		sr = &series{}
		for _, k := range keys {
			sr.labels = append(sr.labels, k)
			sr.values = append(sr.values, strings.ToValidUTF8(labels[k], "\uFFFD"))
		}
		f.series[key.String()] = sr
		e.series++
	}
	if typ == results.Gauge || value > sr.value {
		sr.value = value
	}
	return nil
}

// validName is Prometheus's classic metric name rule.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || r == ':' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// Describe sends nothing: the metrics appear as samples arrive, so the
// exporter is an unchecked collector.
func (e *Exporter) Describe(chan<- *prometheus.Desc) {}

// Collect sends every series and the dropped-series counter.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	out := make([]prometheus.Metric, 0, e.series+1)
	out = append(out, prometheus.MustNewConstMetric(e.droppedDesc, prometheus.CounterValue, float64(e.dropped)))
	for name, f := range e.byName {
		if name != f.names[0] {
			continue // a rate's second name
		}
		for _, sr := range f.series {
			out = f.collect(sr, out)
		}
	}
	e.mu.Unlock()
	for _, m := range out {
		ch <- m
	}
}
