package report

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

//go:embed assets/report.tmpl assets/report.css assets/report.js
var assets embed.FS

var pageTemplate = template.Must(template.New("report.tmpl").Funcs(template.FuncMap{
	"num":     formatNumber,
	"value":   formatValue,
	"precise": formatPrecise,
	"ms": func(v float64) string {
		return formatValue(v, "ms")
	},
	// A p99 of exactly 0 means the source did not record it.
	"p99": func(v float64) string {
		if v == 0 {
			return "—"
		}
		return formatValue(v, "ms")
	},
	"verdictClass": verdictClass,
	"join":         strings.Join,
}).ParseFS(assets, "assets/report.tmpl"))

// WriteHTML writes one self-contained HTML page for the runs: inline CSS,
// charts as inline SVG, nothing fetched from anywhere, so it works offline
// and can be attached to a ticket. With cmp (from Compare), runs are the
// baseline and the candidate in that order, shown side by side under a
// table of the figures that changed, regressions marked. Sections
// without data are left out.
func WriteHTML(w io.Writer, runs []*Run, cmp *Comparison) error {
	css, err := assets.ReadFile("assets/report.css")
	if err != nil {
		return fmt.Errorf("report assets: %w", err)
	}
	js, err := assets.ReadFile("assets/report.js")
	if err != nil {
		return fmt.Errorf("report assets: %w", err)
	}
	p := pageView{CSS: template.CSS(css), Script: template.JS(js)}
	if cmp != nil {
		p.Compare = newComparisonView(cmp)
		if len(runs) == 2 && runs[0] != nil && runs[1] != nil {
			p.Compare.Charts = overlayCharts(runs[0], runs[1])
		}
	}
	for i, r := range runs {
		if r == nil {
			continue
		}
		rv := newRunView(r, fmt.Sprintf("r%d", i))
		if p.Compare != nil && len(runs) == 2 && i < 2 {
			rv.Role = [2]string{"Baseline", "Candidate"}[i]
		}
		p.Runs = append(p.Runs, rv)
	}
	switch {
	case p.Compare != nil && len(p.Runs) == 2:
		p.Title = "Comparison: " + p.Runs[0].Run.Meta.Title + " vs " + p.Runs[1].Run.Meta.Title
	case len(p.Runs) == 1:
		p.Title = p.Runs[0].Title
	case len(p.Runs) > 1:
		p.Title = fmt.Sprintf("camstorm report: %d runs", len(p.Runs))
	default:
		p.Title = "camstorm report"
	}
	if err := pageTemplate.Execute(w, p); err != nil {
		return fmt.Errorf("rendering the HTML report: %w", err)
	}
	return nil
}

// pageView is what the template renders.
type pageView struct {
	Title   string
	CSS     template.CSS
	Script  template.JS
	Runs    []runView
	Compare *comparisonView
}

// runView is one run, prepared for the template.
type runView struct {
	ID, Role, Title string
	Run             *Run
	Meta            []keyValue
	Verdicts        []Verdict
	VerdictsFailed  int
	Latency         []template.HTML
	Throughput      []template.HTML
	Events          []template.HTML
	OtherCharts     []template.HTML
	ProfileChart    template.HTML
	Metrics         []metricView
	Cases           []CaseRow
	CaseCounts      string
	Capacity        *capacityView
}

type keyValue struct{ Key, Value string }

type metricView struct {
	Name, Type, Unit string
	Values           []keyValue
}

type capacityView struct {
	*Capacity
	Chart template.HTML
	// PeakError compares the fit's peak with the best measured step.
	PeakError string
	BestStep  string
}

func newRunView(r *Run, id string) runView {
	v := runView{ID: id, Run: r, Title: r.Meta.Title, Verdicts: r.Verdicts, Cases: r.Cases}
	if v.Title == "" {
		v.Title = "camstorm " + strings.TrimSpace(r.Kind+" run")
	}
	v.Meta = metaRows(r)
	for _, vd := range r.Verdicts {
		if !vd.OK {
			v.VerdictsFailed++
		}
	}
	for _, c := range splitByMagnitude(r.Charts) {
		svg := chartSVG(c, r.Meta.Start)
		if svg == "" {
			continue
		}
		switch chartGroup(c) {
		case "latency":
			v.Latency = append(v.Latency, svg)
		case "throughput":
			v.Throughput = append(v.Throughput, svg)
		case "events":
			v.Events = append(v.Events, svg)
		default:
			v.OtherCharts = append(v.OtherCharts, svg)
		}
	}
	if slices.ContainsFunc(r.Profiles, func(p ProfileRow) bool { return p.PersistedP99 != 0 }) {
		labels := make([]string, len(r.Profiles))
		vals := make([]float64, len(r.Profiles))
		for i, p := range r.Profiles {
			labels[i], vals[i] = p.Profile, p.PersistedP99
		}
		v.ProfileChart = barChart("profiles-persisted-p99", "PERSISTED ACK p99 by network profile", "ms", labels, vals)
	}
	for _, m := range r.Metrics {
		v.Metrics = append(v.Metrics, metricView{Name: m.Name, Type: m.Type, Unit: m.Unit, Values: orderedValues(m.Values, m.Type, m.Unit)})
	}
	if len(r.Cases) > 0 {
		counts := map[string]int{}
		var order []string
		for _, c := range r.Cases {
			if counts[c.Verdict] == 0 {
				order = append(order, c.Verdict)
			}
			counts[c.Verdict]++
		}
		parts := make([]string, len(order))
		for i, k := range order {
			parts[i] = fmt.Sprintf("%d %s", counts[k], k)
		}
		v.CaseCounts = fmt.Sprintf("%d cases: %s", len(r.Cases), strings.Join(parts, ", "))
	}
	if r.Capacity != nil && (len(r.Capacity.Steps) > 0 || r.Capacity.USL != nil) {
		v.Capacity = newCapacityView(r.Capacity)
	}
	return v
}

// magnitudeGap is how many times larger one line's peak may be than
// another's before they stop sharing an axis (bytes/s would flatten
// fragments/s to the floor).
const magnitudeGap = 50

// splitByMagnitude gives lines whose peaks differ by more than
// magnitudeGap charts of their own; the first keeps the chart's ID, the
// others get "<id>-2", "<id>-3"…
func splitByMagnitude(charts []Chart) []Chart {
	var out []Chart
	for _, c := range charts {
		type group struct {
			peak  float64
			lines []Line
		}
		var groups []*group
		for _, l := range c.Lines {
			peak := 0.0
			for _, p := range l.Points {
				if !math.IsNaN(p.V) && !math.IsInf(p.V, 0) {
					peak = math.Max(peak, math.Abs(p.V))
				}
			}
			var into *group
			for _, g := range groups {
				lo, hi := math.Min(g.peak, peak), math.Max(g.peak, peak)
				if lo == 0 || hi <= lo*magnitudeGap {
					into = g
					break
				}
			}
			if into == nil {
				into = &group{}
				groups = append(groups, into)
			}
			into.peak = math.Max(into.peak, peak)
			into.lines = append(into.lines, l)
		}
		if len(groups) <= 1 {
			out = append(out, c)
			continue
		}
		for i, g := range groups {
			part := Chart{ID: c.ID, Title: c.Title, Unit: c.Unit, Lines: g.lines}
			if i > 0 {
				part.ID = fmt.Sprintf("%s-%d", c.ID, i+1)
				labels := make([]string, len(g.lines))
				for j, l := range g.lines {
					labels[j] = l.Label
				}
				part.Title = c.Title + ": " + strings.Join(labels, ", ")
			}
			out = append(out, part)
		}
	}
	return out
}

func metaRows(r *Run) []keyValue {
	m := r.Meta
	var rows []keyValue
	add := func(k, v string) {
		if v != "" {
			rows = append(rows, keyValue{k, v})
		}
	}
	add("Kind", r.Kind)
	add("Version", m.Version)
	if m.Seed != 0 {
		add("Seed", fmt.Sprint(m.Seed))
	}
	add("Scenario", m.Scenario)
	add("Target", m.Target)
	add("Segment", m.Segment)
	add("Machine", m.Machine)
	if !m.Start.IsZero() {
		add("Start", m.Start.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if !m.End.IsZero() {
		add("End", m.End.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if !m.Start.IsZero() && m.End.After(m.Start) {
		add("Duration", m.End.Sub(m.Start).Round(time.Millisecond).String())
	}
	add("Sources", strings.Join(m.Sources, ", "))
	return rows
}

// chartGroup sorts a chart into the report's sections by its ID, then by
// its unit.
func chartGroup(c Chart) string {
	id := strings.ToLower(c.ID + " " + c.Title)
	has := func(words ...string) bool {
		return slices.ContainsFunc(words, func(w string) bool { return strings.Contains(id, w) })
	}
	switch {
	case has("latency", "duration", "p99", "percentile"):
		return "latency"
	case has("problem", "reconnect", "drop", "error", "fail"):
		return "events"
	case has("throughput", "active", "cameras", "fragments", "bytes", "vus", "iterations"):
		return "throughput"
	case c.Unit == "ms":
		return "latency"
	case c.Unit == "/s" || c.Unit == "cameras":
		return "throughput"
	}
	return "other"
}

// statOrder is the order stats are shown in; others follow by name.
var statOrder = []string{"count", "rate", "value", "passes", "fails", "avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "p(99.9)"}

func orderedValues(vals map[string]float64, typ, unit string) []keyValue {
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	rank := func(k string) int {
		if i := slices.Index(statOrder, k); i >= 0 {
			return i
		}
		return len(statOrder)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	out := make([]keyValue, len(keys))
	for i, k := range keys {
		v := formatNumber(vals[k])
		switch k {
		case "count", "passes", "fails":
		case "rate":
			if typ == "rate" { // a Rate metric's rate is the share of non-zero samples
				v = formatNumber(vals[k]*100) + "%"
			} else {
				v += " /s"
			}
		default:
			if unit != "" {
				v = formatValue(vals[k], unit)
			}
		}
		out[i] = keyValue{k, v}
	}
	return out
}

func verdictClass(v string) string {
	switch strings.ToLower(v) {
	case "pass", "passed", "ok", "true":
		return "pass"
	case "fail", "failed", "false", "regression":
		return "fail"
	}
	return "other"
}

func newCapacityView(c *Capacity) *capacityView {
	v := &capacityView{Capacity: c}
	p := plot{id: "capacity-throughput", title: "Throughput against cameras", unit: "/s", xTitle: "cameras"}
	measured := series{label: "measured"}
	best := CapacityStep{}
	for _, s := range c.Steps {
		measured.xs = append(measured.xs, float64(s.Cameras))
		measured.ys = append(measured.ys, s.Throughput)
		if s.Throughput > best.Throughput {
			best = s
		}
	}
	measured.smooth = true // steps are not evenly spaced: never gaps
	p.lines = append(p.lines, measured)
	if u := c.USL; u != nil && u.Lambda > 0 {
		nmax := 1.0
		for _, s := range c.Steps {
			nmax = math.Max(nmax, float64(s.Cameras))
		}
		if u.PeakN > 0 && !math.IsInf(u.PeakN, 0) && u.PeakN < 4*nmax {
			nmax = math.Max(nmax, u.PeakN*1.2)
		}
		fit := series{label: "USL fit", smooth: true}
		for i := 0; i <= 100; i++ {
			n := 1 + (nmax-1)*float64(i)/100
			x := u.Lambda * n / (1 + u.Sigma*(n-1) + u.Kappa*n*(n-1))
			if math.IsNaN(x) || math.IsInf(x, 0) {
				continue
			}
			fit.xs, fit.ys = append(fit.xs, n), append(fit.ys, x)
		}
		p.lines = append(p.lines, fit)
		if best.Throughput > 0 && u.PeakX > 0 {
			v.PeakError = fmt.Sprintf("%+.1f%%", (u.PeakX-best.Throughput)/best.Throughput*100)
			v.BestStep = fmt.Sprintf("%s /s at %d cameras", formatNumber(best.Throughput), best.Cameras)
		}
	}
	if len(c.Steps) > 0 {
		v.Chart = xyChartWithMarkers(p)
	}
	return v
}

// xyChartWithMarkers is xyChart with point markers on the measured line
// even though it is drawn without gaps.
func xyChartWithMarkers(p plot) template.HTML {
	for i := range p.lines {
		if p.lines[i].label == "measured" {
			p.lines[i].smooth = false
			p.lines[i].noGaps = true
		}
	}
	return xyChart(p)
}

// comparisonView is a Comparison, prepared for the template.
type comparisonView struct {
	Summary string
	Rows    []diffRow
	// Charts overlay the baseline's and the candidate's series.
	Charts []template.HTML
}

// overlayCharts draws every chart both runs have, baseline against
// candidate; latency charts keep p50 and p99 so the pairs stay readable.
func overlayCharts(base, cand *Run) []template.HTML {
	candCharts := map[string]Chart{}
	for _, c := range splitByMagnitude(cand.Charts) {
		candCharts[c.ID] = c
	}
	var out []template.HTML
	for _, bc := range splitByMagnitude(base.Charts) {
		cc, ok := candCharts[bc.ID]
		if !ok {
			continue
		}
		var keep func(string) bool
		if chartGroup(bc) == "latency" {
			keep = func(l string) bool { return l == "p50" || l == "p99" }
		}
		if svg := overlaySVG(bc, cc, base.Meta.Start, cand.Meta.Start, keep); svg != "" {
			out = append(out, svg)
		}
	}
	return out
}

// diffRow is one changed figure; Class colours its row.
type diffRow struct {
	Name, Base, Cand, Delta, Flag, Why, Class string
}

func newComparisonView(c *Comparison) *comparisonView {
	v := &comparisonView{}
	flipped, changed := 0, 0
	for _, d := range c.Verdicts {
		if !d.Flipped {
			continue
		}
		flipped++
		row := diffRow{Name: d.Name + " " + d.Expr, Base: passFail(d.BaseOK) + " (" + formatNumber(d.BaseGot) + ")",
			Cand: passFail(d.CandOK) + " (" + formatNumber(d.CandGot) + ")", Delta: formatSigned(d.CandGot - d.BaseGot)}
		if d.CandOK {
			row.Flag, row.Class, row.Why = "pass", "improvement", "threshold now passes"
		} else {
			row.Flag, row.Class, row.Why = "regression", "regression", "threshold now fails"
		}
		v.Rows = append(v.Rows, row)
	}
	for _, d := range c.Metrics {
		if d.Delta == 0 && !d.Worse {
			continue
		}
		changed++
		row := diffRow{Name: d.Name + " " + d.Stat, Base: formatValue(d.Base, d.Unit), Cand: formatValue(d.Cand, d.Unit),
			Delta: formatSigned(d.Delta), Why: d.Why, Class: "changed"}
		if d.Base != 0 {
			row.Delta += fmt.Sprintf(" (%+.1f%%)", d.Relative*100)
		}
		switch {
		case d.Worse:
			row.Flag, row.Class = "regression", "regression"
		case d.Better:
			row.Flag, row.Class = "better", "improvement"
		}
		v.Rows = append(v.Rows, row)
	}
	// Regressions first, then improvements, then the rest, each in order.
	rank := map[string]int{"regression": 0, "improvement": 1, "changed": 2}
	slices.SortStableFunc(v.Rows, func(a, b diffRow) int { return rank[a.Class] - rank[b.Class] })
	v.Summary = fmt.Sprintf("Regressions: %d. Verdicts flipped: %d. Statistics changed: %d of %d.", c.Regressions, flipped, changed, len(c.Metrics))
	if len(c.OnlyBase) > 0 {
		v.Summary += " Only in the baseline: " + strings.Join(c.OnlyBase, ", ") + "."
	}
	if len(c.OnlyCandidate) > 0 {
		v.Summary += " Only in the candidate: " + strings.Join(c.OnlyCandidate, ", ") + "."
	}
	return v
}

func passFail(ok bool) string {
	if ok {
		return "pass"
	}
	return "fail"
}

func formatSigned(v float64) string {
	if v > 0 {
		return "+" + formatNumber(v)
	}
	return formatNumber(v)
}
