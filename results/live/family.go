package live

import (
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/camstorm/camstorm/results"
)

// family is one results metric as Prometheus sees it: its names, the tags
// it may carry as labels, and its series by label set.
type family struct {
	source   string // the results metric's name; "" for SetGauge's
	typ      results.MetricType
	contains results.Contains
	names    []string // Names(metric)
	help     string
	labels   []label // sorted by name
	scale    float64
	buckets  []float64
	series   map[string]*series
}

// label is one possible label of a family: a tag, or a fixed value.
type label struct {
	name, fixed string
	isFixed     bool
}

// labelsFor returns metric name's possible labels sorted by name, so a
// series key is the same whichever way its labels were given.
func labelsFor(name string) []label {
	var out []label
	for _, l := range fixedLabels[name] {
		out = append(out, label{name: l[0], fixed: l[1], isFixed: true})
	}
	for _, t := range labelsOf(name) {
		out = append(out, label{name: t})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// series is one label set's state.
type series struct {
	labels, values []string
	descs          []*prometheus.Desc // made on the first collect

	value         float64  // counter, gauge
	passes, fails uint64   // rate
	counts        []uint64 // trend: per bucket, not cumulative
	count         uint64   // trend
	sum           float64  // trend
}

func newFamily(m *results.Metric, names []string) *family {
	f := &family{
		source: m.Name, typ: m.Type, contains: m.Contains, names: names,
		help:   "camstorm " + m.Type.String() + " " + m.Name + helpUnit(m),
		labels: labelsFor(m.Name),
		scale:  scale(m.Contains), series: map[string]*series{},
	}
	if m.Type == results.Trend {
		f.buckets = bucketsOf(m.Contains)
	}
	return f
}

func helpUnit(m *results.Metric) string {
	switch m.Contains {
	case results.Time:
		return " (seconds)."
	case results.Data:
		return " (bytes)."
	}
	return "."
}

// newSeries makes the series of a sample's tags.
func (f *family) newSeries(tags map[string]string) *series {
	sr := &series{}
	for _, l := range f.labels {
		v, ok := l.fixed, l.isFixed
		if !ok {
			v, ok = tags[l.name]
		}
		if ok {
			sr.labels = append(sr.labels, l.name)
			sr.values = append(sr.values, strings.ToValidUTF8(v, "\uFFFD"))
		}
	}
	if f.typ == results.Trend {
		sr.counts = make([]uint64, len(f.buckets))
	}
	return sr
}

// observe adds one scaled sample value.
func (f *family) observe(sr *series, v float64) {
	switch f.typ {
	case results.Counter:
		if v > 0 { // a Prometheus counter never goes down
			sr.value += v
		}
	case results.Gauge:
		sr.value = v
	case results.Rate:
		if v != 0 {
			sr.passes++
		} else {
			sr.fails++
		}
	case results.Trend:
		sr.count++
		sr.sum += v
		if i := sort.SearchFloat64s(f.buckets, v); i < len(f.buckets) {
			sr.counts[i]++
		}
	}
}

// collect appends the series' metrics to out.
func (f *family) collect(sr *series, out []prometheus.Metric) []prometheus.Metric {
	if sr.descs == nil {
		for _, n := range f.names {
			sr.descs = append(sr.descs, prometheus.NewDesc(n, f.help, sr.labels, nil))
		}
	}
	var (
		m   prometheus.Metric
		err error
	)
	switch f.typ {
	case results.Counter:
		m, err = prometheus.NewConstMetric(sr.descs[0], prometheus.CounterValue, sr.value, sr.values...)
	case results.Gauge:
		m, err = prometheus.NewConstMetric(sr.descs[0], prometheus.GaugeValue, sr.value, sr.values...)
	case results.Rate:
		var fails prometheus.Metric
		m, err = prometheus.NewConstMetric(sr.descs[0], prometheus.CounterValue, float64(sr.passes), sr.values...)
		if err == nil {
			fails, err = prometheus.NewConstMetric(sr.descs[1], prometheus.CounterValue, float64(sr.fails), sr.values...)
			out = append(out, fails)
		}
	case results.Trend:
		cum := make(map[float64]uint64, len(f.buckets))
		var n uint64
		for i, b := range f.buckets {
			n += sr.counts[i]
			cum[b] = n
		}
		m, err = prometheus.NewConstHistogram(sr.descs[0], sr.count, sr.sum, cum, sr.values...)
	}
	if err != nil {
		return out // cannot happen: names and labels are checked when made
	}
	return append(out, m)
}
