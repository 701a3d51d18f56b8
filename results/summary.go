package results

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultTrendStats are the trend columns k6 shows unless
// summaryTrendStats says otherwise.
var DefaultTrendStats = []string{"avg", "min", "med", "max", "p(90)", "p(95)"}

// ErrSummary marks an invalid summary option.
var ErrSummary = errors.New("invalid summary option")

// SummaryInput is what the end-of-test summary is made of: the run's
// metrics, how to aggregate them, the final threshold verdicts and the
// checks.
type SummaryInput struct {
	// Metrics are the run's metrics, in the order defined.
	Metrics []*Metric
	// Aggregate returns a metric or sub-metric over the whole run; false
	// when it has no samples. Nil means no metric has any.
	Aggregate func(metric string, sel Selector) (Aggregate, bool)
	// Verdicts are the thresholds as last evaluated; a threshold without
	// one counts as passed, as in k6.
	Verdicts []Verdict
	// Root is the root group with its checks and nested groups.
	Root *Group
	// Duration is the test run's duration; counter rates are over it.
	Duration time.Duration
	// TrendStats are the trend columns; empty is DefaultTrendStats.
	TrendStats []string
	// TimeUnit fixes the unit of time values: "", "s", "ms" or "us".
	TimeUnit string
	// SetupData is what setup() returned, JSON round-tripped; nil is
	// undefined (the key is left out).
	SetupData any
	// NoColor, IsStdOutTTY and IsStdErrTTY are reported to handleSummary.
	NoColor                  bool
	IsStdOutTTY, IsStdErrTTY bool
}

// ValidateTrendStats checks summaryTrendStats as k6 does: avg, min, med,
// max, count, or p(N) with 0 ≤ N ≤ 100.
func ValidateTrendStats(stats []string) error {
	var errs []error
	for _, s := range stats {
		switch s {
		case "avg", "min", "med", "max", "count":
			continue
		}
		inner, ok := strings.CutPrefix(s, "p(")
		if ok {
			inner, ok = strings.CutSuffix(inner, ")")
		}
		if !ok {
			errs = append(errs, fmt.Errorf("%w: trend stat %q: want avg, min, med, max, count or p(N)", ErrSummary, s))
			continue
		}
		p, err := strconv.ParseFloat(inner, 64)
		if err != nil || math.IsNaN(p) || p < 0 || p > 100 {
			errs = append(errs, fmt.Errorf("%w: trend stat %q: the percentile must be a number from 0 to 100", ErrSummary, s))
		}
	}
	return errors.Join(errs...)
}

// ValidateTimeUnit checks summaryTimeUnit: empty (automatic), s, ms or us.
func ValidateTimeUnit(unit string) error {
	switch unit {
	case "", "s", "ms", "us":
		return nil
	}
	return fmt.Errorf("%w: time unit %q: want s, ms or us", ErrSummary, unit)
}

func (in SummaryInput) trendStats() []string {
	if len(in.TrendStats) == 0 {
		return DefaultTrendStats
	}
	return in.TrendStats
}

// summaryMetric is one metric or sub-metric as the summary shows it.
type summaryMetric struct {
	name       string // sub-metrics: parent{suffix}
	parent     string // "" for a metric
	agg        Aggregate
	thresholds []Threshold
	ok         []bool // per threshold
}

// observed lists what k6 shows: metrics and sub-metrics with samples,
// and those with thresholds (and their parents) even without samples.
func (in SummaryInput) observed() []summaryMetric {
	verdicts := map[[2]string]bool{}
	for _, v := range in.Verdicts {
		verdicts[[2]string{v.Key, v.Threshold.Source}] = v.OK
	}
	// A verdict's key is the selector as written; a sub-metric's may also
	// come under k6's trimmed name.
	judge := func(ts []Threshold, keys ...string) []bool {
		ok := make([]bool, len(ts))
		for i, t := range ts {
			ok[i] = true
			for _, k := range keys {
				if v, found := verdicts[[2]string{k, t.Source}]; found {
					ok[i] = v
					break
				}
			}
		}
		return ok
	}
	var out []summaryMetric
	for _, m := range in.Metrics {
		if m == nil {
			continue
		}
		agg, seen := in.aggregate(m, Selector{Metric: m.Name})
		var subs []summaryMetric
		for _, sm := range m.Submetrics {
			sagg, sseen := in.aggregate(m, sm.Selector)
			if !sseen && len(sm.Thresholds) == 0 {
				continue
			}
			name := submetricName(m.Name, sm)
			subs = append(subs, summaryMetric{name: name, parent: m.Name, agg: sagg,
				thresholds: sm.Thresholds, ok: judge(sm.Thresholds, sm.Name, name)})
		}
		if !seen && len(m.Thresholds) == 0 && !slices.ContainsFunc(subs, func(s summaryMetric) bool { return len(s.thresholds) > 0 }) {
			continue
		}
		out = append(out, summaryMetric{name: m.Name, agg: agg, thresholds: m.Thresholds, ok: judge(m.Thresholds, m.Name)})
		out = append(out, subs...)
	}
	return out
}

// aggregate asks for a metric's aggregate, filling in an empty one of the
// right type, and takes counter rates over the run's duration as k6 does.
func (in SummaryInput) aggregate(m *Metric, sel Selector) (Aggregate, bool) {
	var agg Aggregate
	seen := false
	if in.Aggregate != nil {
		agg, seen = in.Aggregate(m.Name, sel)
	}
	if !seen {
		agg = Aggregate{}
	}
	agg.Type, agg.Contains, agg.Elapsed = m.Type, m.Contains, in.Duration
	return agg, seen
}

// values are a metric's summary values by type, under k6's keys.
func (sm summaryMetric) values(trendStats []string) map[string]any {
	stat := func(name string) float64 {
		v, _ := sm.agg.Stat(name)
		return v
	}
	switch sm.agg.Type {
	case Counter:
		return map[string]any{"count": stat("count"), "rate": stat("rate")}
	case Gauge:
		return map[string]any{"value": stat("value"), "min": stat("min"), "max": stat("max")}
	case Rate:
		return map[string]any{"rate": stat("rate"), "passes": stat("passes"), "fails": stat("fails")}
	case Trend:
		v := make(map[string]any, len(trendStats))
		for _, s := range trendStats {
			v[s] = stat(s)
		}
		return v
	}
	return map[string]any{}
}

// SummaryData is the object k6 passes to handleSummary(data) by default:
// root_group, options, state, metrics (sub-metrics under their full
// name) and setup_data.
func SummaryData(in SummaryInput) map[string]any {
	stats := in.trendStats()
	metrics := map[string]any{}
	for _, sm := range in.observed() {
		md := map[string]any{
			"type":     sm.agg.Type.String(),
			"contains": sm.agg.Contains.String(),
			"values":   sm.values(stats),
		}
		if len(sm.thresholds) > 0 {
			th := make(map[string]any, len(sm.thresholds))
			for i, t := range sm.thresholds {
				th[t.Source] = map[string]any{"ok": sm.ok[i]}
			}
			md["thresholds"] = th
		}
		metrics[sm.name] = md
	}
	root := in.Root
	if root == nil {
		root = &Group{}
	}
	data := map[string]any{
		"root_group": groupData(root),
		"options": map[string]any{
			"summaryTrendStats": slices.Clone(stats),
			"summaryTimeUnit":   in.TimeUnit,
			"noColor":           in.NoColor,
		},
		"state": map[string]any{
			"isStdOutTTY":       in.IsStdOutTTY,
			"isStdErrTTY":       in.IsStdErrTTY,
			"testRunDurationMs": float64(in.Duration) / float64(time.Millisecond),
		},
		"metrics": metrics,
	}
	if in.SetupData != nil {
		data["setup_data"] = in.SetupData
	}
	return data
}

// groupData is a group as handleSummary sees it, ids being the hex MD5 of
// the path.
func groupData(g *Group) map[string]any {
	groups := make([]any, 0, len(g.Groups))
	for _, sub := range g.Groups {
		if sub != nil {
			groups = append(groups, groupData(sub))
		}
	}
	checks := make([]any, 0, len(g.Checks))
	for _, c := range g.Checks {
		if c == nil {
			continue
		}
		checks = append(checks, map[string]any{
			"name": c.Name, "path": c.Path, "id": pathID(c.Path), "passes": c.Passes, "fails": c.Fails,
		})
	}
	return map[string]any{
		"name": g.Name, "path": g.Path, "id": pathID(g.Path), "groups": groups, "checks": checks,
	}
}

// pathID is k6's group and check id: the hex MD5 of the path.
func pathID(path string) string {
	sum := md5.Sum([]byte(path))
	return hex.EncodeToString(sum[:])
}
