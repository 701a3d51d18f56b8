package results

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Contains is what a metric's values measure, as k6 names it: time
// metrics hold milliseconds, data metrics bytes.
type Contains int

// The k6 value kinds.
const (
	Default Contains = iota
	Time
	Data
)

func (c Contains) String() string {
	switch c {
	case Time:
		return "time"
	case Data:
		return "data"
	}
	return "default"
}

// ErrMetric marks an invalid metric name or a name defined twice with
// different types.
var ErrMetric = errors.New("invalid metric")

// metricName is k6's rule for custom metric names.
var metricName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{1,128}$`)

// Metric is one named metric of a run. Thresholds and Submetrics are set
// before the run starts and only read afterwards.
type Metric struct {
	Name     string
	Type     MetricType
	Contains Contains
	// Thresholds are the metric's own thresholds (its key without a selector).
	Thresholds []Threshold
	// Submetrics are the selectors that thresholds name on this metric.
	Submetrics []Submetric
}

// Submetric is a selector on a metric and the thresholds set on it.
type Submetric struct {
	// Name is the full key as written, e.g. `camera_ack_latency{ack:persisted}`.
	Name       string
	Selector   Selector
	Thresholds []Threshold
}

// Sample is one observation. Tags are indexed: each distinct tag set is a
// series. Metadata (vu, iter, camera) travels with the sample to the outputs
// but never makes a series, as k6 keeps vu and iter. Neither map is changed
// after the sample is emitted.
type Sample struct {
	Metric   *Metric
	Time     time.Time
	Value    float64
	Tags     map[string]string
	Metadata map[string]string
}

// Registry holds the metrics of one run, in the order defined. It is safe
// for concurrent use.
type Registry struct {
	mu     sync.Mutex
	byName map[string]*Metric
	order  []*Metric
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{byName: map[string]*Metric{}} }

// Define returns the metric called name, creating it. Defining a name
// again with the same type and contains returns the same metric; with a
// different one it is an error, as in k6.
func (r *Registry) Define(name string, t MetricType, c Contains) (*Metric, error) {
	if !metricName.MatchString(name) {
		return nil, fmt.Errorf("%w: name %q: want a letter or _ then 1 to 128 letters, digits or _", ErrMetric, name)
	}
	if t < Counter || t > Trend {
		return nil, fmt.Errorf("%w: %q: unknown type %d", ErrMetric, name, t)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.byName[name]; ok {
		if m.Type != t || m.Contains != c {
			return nil, fmt.Errorf("%w: %q is already a %s metric (%s); it cannot also be a %s (%s)",
				ErrMetric, name, m.Type, m.Contains, t, c)
		}
		return m, nil
	}
	m := &Metric{Name: name, Type: t, Contains: c}
	r.byName[name] = m
	r.order = append(r.order, m)
	return m, nil
}

// MustDefine is Define for the built-in metrics, whose names are known good.
func (r *Registry) MustDefine(name string, t MetricType, c Contains) *Metric {
	m, err := r.Define(name, t, c)
	if err != nil {
		panic(err)
	}
	return m
}

// Get returns the metric called name, or nil.
func (r *Registry) Get(name string) *Metric {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byName[name]
}

// All returns every metric in the order defined.
func (r *Registry) All() []*Metric {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.order)
}

// SeriesKey is the canonical form of a tag set: "k=v" pairs sorted by
// key and joined with "&", values escaped so two tag sets share a key
// only when they are equal.
func SeriesKey(tags map[string]string) string {
	if len(tags) == 0 {
		return ""
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(escapeTag(k))
		b.WriteByte('=')
		b.WriteString(escapeTag(tags[k]))
	}
	return b.String()
}

var tagEscaper = strings.NewReplacer("%", "%25", "&", "%26", "=", "%3D")

func escapeTag(s string) string { return tagEscaper.Replace(s) }
