package results

import (
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
)

// WriteTextSummary writes k6's default end-of-test summary ("compact"
// mode) exactly as k6 prints it to stdout, blank lines around it
// included: a THRESHOLDS block when there are thresholds, then TOTAL
// RESULTS with the checks and the metrics grouped as k6 groups them.
// With color it adds k6's ANSI colours.
func WriteTextSummary(w io.Writer, in SummaryInput, color bool) error {
	r := textRenderer{style: textStyle(color), timeUnit: in.TimeUnit, stats: in.trendStats()}
	observed := in.observed()
	var items []string
	if th := r.thresholds(observed); len(th) > 0 {
		items = append(items, r.title("THRESHOLDS"))
		items = append(items, th...)
		items = append(items, "\n")
	}
	items = append(items, r.title("TOTAL RESULTS"))
	items = append(items, r.checks(observed, in.Root)...)
	items = append(items, r.metricSections(observed)...)
	items = append(items, "\n")

	// k6 joins the parts with newlines, a lone "\n" part being a blank line.
	var b strings.Builder
	b.WriteString("\n")
	for _, it := range items {
		if it != "\n" {
			b.WriteString("\n")
		}
		b.WriteString(it)
	}
	b.WriteString("\n\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("text summary: %w", err)
	}
	return nil
}

// textStyle decorates text with k6's ANSI codes when true.
type textStyle bool

var ansiCodes = map[string]string{
	"green": "32", "red": "31", "white": "37", "cyan": "36", "faint": "2", "bold": "1",
}

// decorate colours text; styles come before the colour in the sequence,
// as k6 writes it.
func (s textStyle) decorate(text, color string, styles ...string) string {
	if !s {
		return text
	}
	codes := make([]string, 0, len(styles)+1)
	for _, st := range styles {
		codes = append(codes, ansiCodes[st])
	}
	codes = append(codes, ansiCodes[color])
	return "\x1b[" + strings.Join(codes, ";") + "m" + text + "\x1b[0m"
}

func (s textStyle) bold(text string) string {
	if !s {
		return text
	}
	return "\x1b[1m" + text + "\x1b[0m"
}

type textRenderer struct {
	style    textStyle
	timeUnit string
	stats    []string
}

// indent is k6's two spaces a level.
func indent(level int) string { return strings.Repeat(" ", 2*level) }

func (r textRenderer) title(t string) string {
	return indent(1) + "█ " + r.style.bold(t) + " \n"
}

// thresholds lists each metric with thresholds, sorted, and a ✓ or ✗
// line per expression with the value it judged.
func (r textRenderer) thresholds(observed []summaryMetric) []string {
	byName := map[string]summaryMetric{}
	var names []string
	for _, sm := range observed {
		if len(sm.thresholds) > 0 {
			byName[sm.name] = sm
			names = append(names, sm.name)
		}
	}
	sortMetricNames(names)
	var out []string
	for _, name := range names {
		sm := byName[name]
		level := 2
		label := name
		if sm.parent != "" {
			if _, ok := byName[sm.parent]; ok {
				level, label = 3, name[len(sm.parent):]
			}
		}
		out = append(out, indent(level)+label)
		for i, t := range sm.thresholds {
			mark := r.style.decorate("✓", "green")
			if !sm.ok[i] {
				mark = r.style.decorate("✗", "red")
			}
			agg, value := r.thresholdValue(sm, t)
			out = append(out, indent(level)+mark+" "+r.style.decorate("'"+strings.TrimSpace(t.Source)+"'", "white")+" "+
				r.style.decorate(agg, "white")+"="+r.style.decorate(value, "cyan"))
		}
		out = append(out, "\n")
	}
	return out
}

// thresholdValue is the aggregation as k6 labels it (the expression up to
// its operator) and the value formatted as the metric's line shows it.
func (r textRenderer) thresholdValue(sm summaryMetric, t Threshold) (label, value string) {
	label = t.Source
	if i := strings.IndexAny(label, "=><"); i >= 0 {
		label = label[:i]
	}
	label = strings.TrimSpace(label)
	stat := func(name string) float64 {
		v, _ := sm.agg.Stat(name)
		return v
	}
	switch sm.agg.Type {
	case Trend:
		name := t.Aggregation.String()
		if name == "count" {
			return label, jsString(stat(name))
		}
		return label, humanizeValue(stat(name), sm.agg, r.timeUnit)
	case Counter:
		if label == "count" {
			return label, humanizeValue(stat("count"), sm.agg, r.timeUnit)
		}
		return label, humanizeValue(stat("rate"), sm.agg, r.timeUnit) + "/s"
	case Gauge:
		return label, humanizeValue(stat("value"), sm.agg, r.timeUnit)
	}
	return label, humanizeValue(stat("rate"), sm.agg, r.timeUnit)
}

// checks renders the checks block: checks_total, checks_succeeded and
// checks_failed, then each check by name (k6 merges same-named checks of
// different groups), when the run has a checks metric.
func (r textRenderer) checks(observed []summaryMetric, root *Group) []string {
	i := slices.IndexFunc(observed, func(sm summaryMetric) bool { return sm.name == "checks" && sm.parent == "" })
	if i < 0 {
		return nil
	}
	checks := observed[i].agg
	total := float64(checks.Passes + checks.Fails)
	succeeded, failed := 0.0, 0.0
	if total > 0 {
		succeeded = float64(checks.Passes) / total
		failed = float64(checks.Fails) / total
	}
	counter, rate := Aggregate{Type: Counter}, Aggregate{Type: Rate}
	rows := []textMetric{
		{display: "checks_total", values: []string{humanizeValue(total, counter, r.timeUnit),
			humanizeValue(perSecond(total, checks), counter, r.timeUnit) + "/s"}},
		{display: "checks_succeeded", values: []string{humanizeValue(succeeded, rate, r.timeUnit),
			jsString(float64(checks.Passes)) + " out of " + jsString(total)}},
		{display: "checks_failed", values: []string{humanizeValue(failed, rate, r.timeUnit),
			jsString(float64(checks.Fails)) + " out of " + jsString(total)}},
	}
	out := r.metricLines(rows, 2)
	out = append(out, "\n")
	for _, c := range mergedChecks(root) {
		if c.Fails == 0 {
			out = append(out, indent(2)+r.style.decorate("✓ "+c.Name, "green"))
			continue
		}
		pct := 100 * c.Passes / (c.Passes + c.Fails)
		out = append(out, indent(2)+r.style.decorate("✗ "+c.Name, "red")+"\n"+indent(3)+
			r.style.decorate(fmt.Sprintf("↳  %d%% — ✓ %d / ✗ %d", pct, c.Passes, c.Fails), "red"))
	}
	return append(out, "\n")
}

// perSecond is a count's rate over the run.
func perSecond(n float64, a Aggregate) float64 {
	if a.Elapsed <= 0 {
		return 0
	}
	return n / a.Elapsed.Seconds()
}

// mergedChecks lists the checks of every group, depth first, those of the
// same name summed into the first.
func mergedChecks(root *Group) []Check {
	var out []Check
	at := map[string]int{}
	var walk func(g *Group)
	walk = func(g *Group) {
		if g == nil {
			return
		}
		for _, c := range g.Checks {
			if c == nil {
				continue
			}
			if i, ok := at[c.Name]; ok {
				out[i].Passes += c.Passes
				out[i].Fails += c.Fails
				continue
			}
			at[c.Name] = len(out)
			out = append(out, *c)
		}
		for _, sub := range g.Groups {
			walk(sub)
		}
	}
	walk(root)
	return out
}

// The metric sections of TOTAL RESULTS in k6's order: custom metrics
// first, then the built-in groups.
var textSections = []string{"custom", "http", "execution", "network", "browser", "web_vitals", "grpc", "websocket"}

// sectionOf classifies a metric by name prefix as k6 does; "" hides it.
func sectionOf(name string) string {
	prefixed := func(prefixes ...string) bool {
		return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) })
	}
	switch {
	case prefixed("checks", "group_duration", "http_req_blocked", "http_req_connecting", "http_req_receiving",
		"http_req_sending", "http_req_tls_handshaking", "http_req_waiting"):
		return ""
	case prefixed("http_reqs", "http_req_failed", "http_req_duration"):
		return "http"
	case prefixed("vus", "vus_max", "iterations", "iteration_duration", "dropped_iterations"):
		return "execution"
	case prefixed("data_sent", "data_received"):
		return "network"
	case prefixed("browser_web_vital_"):
		return "web_vitals"
	case prefixed("browser_"):
		return "browser"
	case prefixed("grpc_"):
		return "grpc"
	case prefixed("ws_"):
		return "websocket"
	}
	return "custom"
}

// textMetric is one metric line: its display name and either trend
// columns or a main value with extras.
type textMetric struct {
	display string
	trend   bool
	values  []string
}

func (r textRenderer) metricSections(observed []summaryMetric) []string {
	bySection := map[string][]string{}
	byName := map[string]summaryMetric{}
	for _, sm := range observed {
		if s := sectionOf(sm.name); s != "" {
			bySection[s] = append(bySection[s], sm.name)
			byName[sm.name] = sm
		}
	}
	var rows []textMetric
	var sectionRows [][]textMetric
	var sectionNames []string
	for _, s := range textSections {
		names := bySection[s]
		if len(names) == 0 {
			continue
		}
		sortMetricNames(names)
		start := len(rows)
		for _, name := range names {
			rows = append(rows, r.textMetric(byName[name]))
		}
		sectionRows = append(sectionRows, rows[start:])
		sectionNames = append(sectionNames, s)
	}
	widths := r.widths(rows, 2)
	var out []string
	for i, s := range sectionNames {
		out = append(out, indent(2)+r.style.bold(strings.ToUpper(s)))
		for _, row := range sectionRows[i] {
			out = append(out, r.metricLine(row, widths, 2))
		}
		out = append(out, "\n")
	}
	return out
}

func (r textRenderer) textMetric(sm summaryMetric) textMetric {
	display := sm.name
	if i := strings.IndexByte(display, '{'); i >= 0 {
		display = "  { " + display[i+1:len(display)-1] + " }"
	}
	stat := func(name string) float64 {
		v, _ := sm.agg.Stat(name)
		return v
	}
	h := func(v float64) string { return humanizeValue(v, sm.agg, r.timeUnit) }
	switch sm.agg.Type {
	case Trend:
		cols := make([]string, len(r.stats))
		for i, s := range r.stats {
			if s == "count" {
				cols[i] = jsString(stat(s))
			} else {
				cols[i] = h(stat(s))
			}
		}
		return textMetric{display: display, trend: true, values: cols}
	case Counter:
		return textMetric{display: display, values: []string{h(stat("count")), h(stat("rate")) + "/s"}}
	case Gauge:
		return textMetric{display: display, values: []string{h(stat("value")), "min=" + h(stat("min")), "max=" + h(stat("max"))}}
	case Rate:
		passes, fails := stat("passes"), stat("fails")
		return textMetric{display: display, values: []string{h(stat("rate")), jsString(passes) + " out of " + jsString(passes+fails)}}
	}
	return textMetric{display: display, values: []string{"[no data]"}}
}

// textWidths are the column widths of a block of metric lines.
type textWidths struct {
	name  int // widest indented name; -1 leaves out the dots
	trend []int
	main  int
	extra []int
}

// widths measures a block. k6 takes the name width over every metric of
// the report; with exactly one metric its computation yields NaN and the
// line gets no dots, which is kept here.
func (r textRenderer) widths(rows []textMetric, level int) textWidths {
	w := textWidths{trend: make([]int, len(r.stats))}
	for _, row := range rows {
		w.name = max(w.name, textWidth(indent(level)+row.display))
		if row.trend {
			for i, c := range row.values {
				w.trend[i] = max(w.trend[i], textWidth(c))
			}
			continue
		}
		w.main = max(w.main, textWidth(row.values[0]))
		for i, e := range row.values[1:] {
			if i >= len(w.extra) {
				w.extra = append(w.extra, 0)
			}
			w.extra[i] = max(w.extra[i], textWidth(e))
		}
	}
	if len(rows) == 1 {
		w.name = -1
	}
	return w
}

// metricLines renders a block measured on its own (the checks block).
func (r textRenderer) metricLines(rows []textMetric, level int) []string {
	w := r.widths(rows, level)
	out := make([]string, 0, len(rows))
	for _, row := range rows {
		out = append(out, r.metricLine(row, w, level))
	}
	return out
}

func (r textRenderer) metricLine(row textMetric, w textWidths, level int) string {
	dots := ""
	if w.name >= 0 {
		dots = strings.Repeat(".", max(3, w.name-textWidth(indent(level)+row.display)+3))
	}
	line := indent(level) + row.display + r.style.decorate(dots+":", "white", "faint") + " "
	pad := func(s string, width int) string { return strings.Repeat(" ", max(0, width-textWidth(s))) }
	if row.trend {
		cols := make([]string, len(row.values))
		for i, c := range row.values {
			cols[i] = r.stats[i] + "=" + r.style.decorate(c, "cyan") + pad(c, w.trend[i])
		}
		return line + strings.Join(cols, " ")
	}
	line += r.style.decorate(row.values[0], "cyan") + pad(row.values[0], w.main)
	extras := row.values[1:]
	switch {
	case len(extras) == 1:
		line += " " + r.style.decorate(extras[0], "cyan", "faint")
	case len(extras) > 1:
		parts := make([]string, len(extras))
		for i, e := range extras {
			parts[i] = r.style.decorate(e, "cyan", "faint") + pad(e, w.extra[i])
		}
		line += " " + strings.Join(parts, " ")
	}
	return line
}

// textWidth is the terminal width k6 assumes: code points after NFKC.
func textWidth(s string) int { return utf8.RuneCountInString(norm.NFKC.String(s)) }

// sortMetricNames sorts as k6's summary does: by parent name, then by the
// sub-metric part, both with JavaScript's localeCompare, which in k6's
// runtime is the Unicode root collation of the NFD forms.
func sortMetricNames(names []string) {
	c := collate.New(language.Und)
	cmp := func(a, b string) int { return c.CompareString(norm.NFD.String(a), norm.NFD.String(b)) }
	split := func(n string) (string, string) {
		if i := strings.IndexByte(n, '{'); i >= 0 {
			return n[:i], n[i:]
		}
		return n, ""
	}
	slices.SortStableFunc(names, func(a, b string) int {
		pa, sa := split(a)
		pb, sb := split(b)
		if r := cmp(pa, pb); r != 0 {
			return r
		}
		return cmp(sa, sb)
	})
}

// The numbers below are formatted as k6's summary script formats them in
// its JavaScript runtime: Number#toString, Number#toFixed (ties away from
// zero), and Math functions, which that runtime takes from Go's math.

// humanizeValue formats a value as the metric's line shows it: a Rate as
// a percentage truncated to two decimals, data as bytes, time as a
// duration, anything else with up to six decimals.
func humanizeValue(v float64, a Aggregate, timeUnit string) string {
	if a.Type == Rate {
		return jsToFixed(math.Trunc(v*100*100)/100, 2) + "%"
	}
	switch a.Contains {
	case Data:
		return humanizeBytes(v)
	case Time:
		return humanizeDuration(v, timeUnit)
	}
	return toFixedNoTrailingZeros(v, 6)
}

var byteUnits = []string{"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"}

// humanizeBytes writes a byte count in decimal units: "107 B", "1.1 kB",
// "31 kB".
func humanizeBytes(b float64) string {
	if b < 10 {
		return jsString(b) + " B"
	}
	e := math.Floor(math.Log(b) / math.Log(1000))
	suffix := "undefined" // what k6 prints past yottabytes
	if math.IsNaN(e) {
		suffix = byteUnits[0] // JavaScript's NaN|0 is 0
	} else if i := int(int32(e)); i >= 0 && i < len(byteUnits) {
		suffix = byteUnits[i]
	}
	v := math.Floor(b/math.Pow(1000, e)*10+0.5) / 10
	prec := 0
	if v < 10 {
		prec = 1
	}
	return jsToFixed(v, prec) + " " + suffix
}

var timeUnits = map[string]struct {
	unit string
	coef float64
}{"s": {"s", 0.001}, "ms": {"ms", 1}, "us": {"µs", 1000}}

// humanizeDuration writes milliseconds in a fixed unit when one is set,
// else in the unit that fits.
func humanizeDuration(ms float64, timeUnit string) string {
	if u, ok := timeUnits[timeUnit]; ok {
		return jsToFixed(ms*u.coef, 2) + u.unit
	}
	switch {
	case ms == 0:
		return "0s"
	case ms < 0.001:
		return jsString(math.Trunc(ms*1000000)) + "ns"
	case ms < 1:
		return toFixedNoTrailingZerosTrunc(ms*1000, 2) + "µs"
	case ms < 1000:
		return toFixedNoTrailingZerosTrunc(ms, 2) + "ms"
	}
	prec := 2
	if ms > 60000 {
		prec = 0
	}
	out := toFixedNoTrailingZerosTrunc(math.Mod(ms, 60000)/1000, prec) + "s"
	rem := math.Trunc(ms / 60000)
	if rem < 1 {
		return out
	}
	out = jsString(math.Mod(rem, 60)) + "m" + out
	rem = math.Trunc(rem / 60)
	if rem < 1 {
		return out
	}
	return jsString(rem) + "h" + out
}

// toFixedNoTrailingZeros rounds to prec decimals and drops trailing zeros.
func toFixedNoTrailingZeros(v float64, prec int) string {
	f, err := strconv.ParseFloat(jsToFixed(v, prec), 64)
	if err != nil {
		return jsString(v)
	}
	return jsString(f)
}

// toFixedNoTrailingZerosTrunc truncates to prec decimals, then drops
// trailing zeros.
func toFixedNoTrailingZerosTrunc(v float64, prec int) string {
	mult := math.Pow(10, float64(prec))
	return toFixedNoTrailingZeros(math.Trunc(mult*v)/mult, prec)
}

// jsString is JavaScript's Number#toString: shortest round trip, exponent
// form below 1e-6 and from 1e21, "-0" as "0".
func jsString(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	}
	return string(appendJSONFloat(nil, f))
}

// jsToFixed is JavaScript's Number#toFixed: prec decimals, an exact tie
// rounded away from zero (Go rounds it to even), toString from 1e21.
func jsToFixed(f float64, prec int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.Abs(f) >= 1e21 || math.IsInf(f, 0):
		return jsString(f)
	case f == 0:
		f = 0 // -0 prints as 0
	}
	// A tie is f·10^prec exactly halfway between integers.
	scaled := new(big.Rat).SetFloat64(f)
	scaled.Mul(scaled, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(prec)), nil)))
	twice := new(big.Rat).Mul(scaled, big.NewRat(2, 1))
	if !twice.IsInt() || twice.Num().Bit(0) == 0 {
		return strconv.FormatFloat(f, 'f', prec, 64)
	}
	// Away from zero: (|2x|+1)/2 as an integer, then the decimal point.
	n := new(big.Int).Abs(twice.Num())
	n.Add(n, big.NewInt(1))
	n.Rsh(n, 1)
	digits := n.String()
	if len(digits) <= prec {
		digits = strings.Repeat("0", prec-len(digits)+1) + digits
	}
	out := digits
	if prec > 0 {
		out = digits[:len(digits)-prec] + "." + digits[len(digits)-prec:]
	}
	if f < 0 {
		out = "-" + out
	}
	return out
}
