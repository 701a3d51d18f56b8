package report

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// Chart geometry, in SVG user units; the SVG scales to its container.
const (
	svgW, svgH                       = 640.0, 260.0
	padL, padR, padT, padB           = 64.0, 16.0, 14.0, 40.0
	plotW, plotH                     = svgW - padL - padR, svgH - padT - padB
	maxTicks                         = 6
	gapFactor                        = 1.5 // a step this many times the usual one is a gap
	barH, barGap, barPadL, barPadTop = 22.0, 8.0, 150.0, 8.0
)

// palette is Okabe and Ito's colour-blind-safe set, darkened where needed
// for contrast on white; dashes tell lines apart without colour.
var (
	palette = []string{"#0068a8", "#c24f00", "#00795a", "#a8487f", "#8a6100", "#2f7fb0", "#444444"}
	dashes  = []string{"", "6 3", "2 3", "8 3 2 3"}
)

// series is one line of an x/y plot.
type series struct {
	label  string
	xs, ys []float64
	// smooth lines (a fitted curve) get no point markers and no gaps;
	// noGaps lines keep their markers but are never broken.
	smooth, noGaps bool
	// style, if set, replaces the palette's colour and dash for line i
	// (a comparison pairs lines by colour).
	style *lineStyle
}

type lineStyle struct{ color, dash string }

// styleOf is line i's colour and dash.
func styleOf(s series, i int) (color, dash string) {
	if s.style != nil {
		return s.style.color, s.style.dash
	}
	return palette[i%len(palette)], dashes[(i/len(palette)+i)%len(dashes)]
}

// plot is what xyChart draws.
type plot struct {
	id, title, unit, xTitle string
	lines                   []series
	// xTime formats x as elapsed time since origin (seconds); origin is
	// also shown in point tooltips.
	xTime  bool
	origin time.Time
}

// timeChart turns a Chart into a plot over elapsed seconds since origin
// (the run's start, or the first point when that is earlier or unknown).
func timeChart(c Chart, origin time.Time) (plot, bool) {
	// A bucket can start before the run does: start the axis there.
	for _, l := range c.Lines {
		for _, p := range l.Points {
			if origin.IsZero() || p.T.Before(origin) {
				origin = p.T
			}
		}
	}
	p := plot{id: c.ID, title: c.Title, unit: c.Unit, xTitle: "elapsed (m:ss)", xTime: true, origin: origin}
	has := false
	for _, l := range c.Lines {
		s := series{label: l.Label}
		for _, pt := range l.Points {
			if math.IsNaN(pt.V) || math.IsInf(pt.V, 0) {
				continue
			}
			s.xs = append(s.xs, pt.T.Sub(origin).Seconds())
			s.ys = append(s.ys, pt.V)
		}
		has = has || len(s.xs) > 0
		p.lines = append(p.lines, s)
	}
	return p, has
}

// chartSVG renders a time chart, or "" when it has no points.
func chartSVG(c Chart, origin time.Time) template.HTML {
	p, ok := timeChart(c, origin)
	if !ok {
		return ""
	}
	return xyChart(p)
}

// xyChart draws lines on shared axes with ticks, a legend and a tooltip
// (<title>) on every point. Every string is escaped here.
func xyChart(p plot) template.HTML {
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), 0.0, math.Inf(-1)
	for _, s := range p.lines {
		for i := range s.xs {
			xmin, xmax = math.Min(xmin, s.xs[i]), math.Max(xmax, s.xs[i])
			ymin, ymax = math.Min(ymin, s.ys[i]), math.Max(ymax, s.ys[i])
		}
	}
	if math.IsInf(xmin, 0) {
		return ""
	}
	if p.xTime {
		xmin = math.Min(xmin, 0)
	}
	xticks := niceTicks(xmin, xmax, p.xTime)
	yticks := niceTicks(ymin, ymax, false)
	if wholeUnit(p.unit) && yticks[1]-yticks[0] < 1 {
		yticks = niceTicks(ymin, math.Max(ymax, ymin+maxTicks), false)
	}
	x0, x1 := xticks[0], xticks[len(xticks)-1]
	y0, y1 := yticks[0], yticks[len(yticks)-1]
	sx := func(x float64) float64 { return padL + (x-x0)/(x1-x0)*plotW }
	sy := func(y float64) float64 { return padT + plotH - (y-y0)/(y1-y0)*plotH }

	var b strings.Builder
	label := p.title
	if p.unit != "" {
		label += " (" + p.unit + ")"
	}
	fmt.Fprintf(&b, `<figure class="chart"><figcaption>%s</figcaption>`, esc(label))
	fmt.Fprintf(&b, `<svg data-chart="%s" role="img" aria-label="%s" viewBox="0 0 %g %g" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">`,
		esc(p.id), esc(chartAria(p)), svgW, svgH)
	// Grid and y ticks.
	b.WriteString(`<g class="axis" aria-hidden="true">`)
	for _, t := range yticks {
		y := sy(t)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, padL, y, padL+plotW, y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, padL-6, y, esc(formatValue(t, p.unit)))
	}
	for _, t := range xticks {
		x := sx(t)
		fmt.Fprintf(&b, `<line class="tick" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x, padT+plotH, x, padT+plotH+5)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x, padT+plotH+18, esc(formatX(t, p.xTime)))
	}
	fmt.Fprintf(&b, `<line class="frame" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, padL, padT+plotH, padL+plotW, padT+plotH)
	fmt.Fprintf(&b, `<line class="frame" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, padL, padT, padL, padT+plotH)
	fmt.Fprintf(&b, `<text class="axis-title" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, padL+plotW/2, svgH-4, esc(p.xTitle))
	b.WriteString(`</g>`)
	// Lines.
	r := 2.5
	if n := maxPoints(p.lines); n > 120 {
		r = 1.5
	}
	for i, s := range p.lines {
		color, dash := styleOf(s, i)
		fmt.Fprintf(&b, `<g class="line" data-line="%s" data-index="%d" style="color:%s">`, esc(s.label), i, color)
		for _, d := range pathData(s, sx, sy) {
			fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"`, d)
			if dash != "" {
				fmt.Fprintf(&b, ` stroke-dasharray="%s"`, dash)
			}
			b.WriteString(`/>`)
		}
		if !s.smooth {
			for j := range s.xs {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="%g" fill="currentColor"><title>%s</title></circle>`,
					sx(s.xs[j]), sy(s.ys[j]), r, esc(pointTitle(p, s.label, s.xs[j], s.ys[j])))
			}
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	// The legend is HTML, so it wraps on a narrow screen.
	b.WriteString(`<ul class="legend">`)
	for i, s := range p.lines {
		color, dash := styleOf(s, i)
		fmt.Fprintf(&b, `<li data-legend="%s" data-index="%d"><svg class="swatch" viewBox="0 0 24 8" aria-hidden="true"><path d="M1 4H23" stroke="%s" stroke-width="3"`, esc(s.label), i, color)
		if dash != "" {
			fmt.Fprintf(&b, ` stroke-dasharray="%s"`, dash)
		}
		fmt.Fprintf(&b, `/></svg>%s</li>`, esc(s.label))
	}
	b.WriteString(`</ul></figure>`)
	return template.HTML(b.String())
}

// wholeUnit says a unit counts things, so its ticks are whole numbers.
func wholeUnit(unit string) bool { return unit == "count" || unit == "cameras" }

// pathData draws a series as one path per run of points without a gap: a
// step more than gapFactor times the usual one means empty buckets.
func pathData(s series, sx, sy func(float64) float64) []string {
	if len(s.xs) == 0 {
		return nil
	}
	step := math.Inf(1)
	for i := 1; i < len(s.xs); i++ {
		if d := s.xs[i] - s.xs[i-1]; d > 0 && d < step {
			step = d
		}
	}
	var out []string
	var d strings.Builder
	for i := range s.xs {
		gap := i > 0 && !s.smooth && !s.noGaps && s.xs[i]-s.xs[i-1] > gapFactor*step
		if gap {
			out = append(out, finishPath(d.String()))
			d.Reset()
		}
		if d.Len() == 0 {
			fmt.Fprintf(&d, "M%.1f %.1f", sx(s.xs[i]), sy(s.ys[i]))
		} else {
			fmt.Fprintf(&d, "L%.1f %.1f", sx(s.xs[i]), sy(s.ys[i]))
		}
	}
	return append(out, finishPath(d.String()))
}

// finishPath makes a lone point visible: a zero-length segment with round
// caps draws a dot.
func finishPath(d string) string {
	if !strings.Contains(d, "L") {
		return d + "h0"
	}
	return d
}

func maxPoints(ls []series) int {
	n := 0
	for _, s := range ls {
		n = max(n, len(s.xs))
	}
	return n
}

func chartAria(p plot) string {
	labels := make([]string, 0, len(p.lines))
	for _, s := range p.lines {
		labels = append(labels, s.label)
	}
	a := p.title
	if p.unit != "" {
		a += " in " + p.unit
	}
	return a + ": " + strings.Join(labels, ", ")
}

func pointTitle(p plot, label string, x, y float64) string {
	v := formatValue(y, p.unit)
	if p.xTime {
		at := ""
		if !p.origin.IsZero() {
			at = " (" + p.origin.Add(time.Duration(x*float64(time.Second))).UTC().Format("15:04:05") + " UTC)"
		}
		return fmt.Sprintf("%s at %s%s: %s", label, formatX(x, true), at, v)
	}
	return fmt.Sprintf("%s at %s: %s", label, formatNumber(x), v)
}

// niceTicks returns 2–maxTicks+1 evenly spaced round values covering
// [lo, hi]; time ticks step in seconds, minutes or hours.
func niceTicks(lo, hi float64, isTime bool) []float64 {
	if math.IsNaN(lo) || math.IsInf(lo, 0) || math.IsNaN(hi) || math.IsInf(hi, 0) {
		lo, hi = 0, 1
	}
	if !(hi-lo > math.Abs(lo)*1e-9) || math.IsInf(hi-lo, 0) {
		// One value (or a span too small or too large to divide).
		hi = lo + math.Max(1, math.Abs(lo))
		if math.IsInf(hi, 0) {
			lo, hi = 0, 1
		}
	}
	step := niceStep((hi-lo)/maxTicks, isTime)
	start := math.Floor(lo/step) * step
	var ticks []float64
	for t := start; ; t += step {
		ticks = append(ticks, roundTo(t, step))
		if t >= hi-step*1e-9 || len(ticks) > 4*maxTicks {
			break
		}
	}
	if len(ticks) < 2 {
		ticks = append(ticks, ticks[0]+step)
	}
	return ticks
}

func niceStep(raw float64, isTime bool) float64 {
	if isTime {
		for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400} {
			if s >= raw {
				return s
			}
		}
		return math.Ceil(raw/86400) * 86400
	}
	if !(raw > 0) || math.IsInf(raw, 0) {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// roundTo removes float noise from a multiple of step.
func roundTo(v, step float64) float64 {
	return math.Round(v/step) * step
}

// formatX formats an x tick: m:ss (or h:mm:ss) for time, else a number.
func formatX(x float64, isTime bool) string {
	if !isTime {
		return formatNumber(x)
	}
	neg := x < 0
	s := int64(math.Round(math.Abs(x)))
	out := fmt.Sprintf("%d:%02d", s/60, s%60)
	if s >= 3600 {
		out = fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	if neg {
		out = "-" + out
	}
	return out
}

// formatValue formats a value in its unit: "250 ms", "1.5k /s", "12
// cameras"; a plain count has no unit.
func formatValue(v float64, unit string) string {
	n := formatNumber(v)
	switch unit {
	case "", "count":
		return n
	case "%":
		return n + "%"
	default:
		return n + " " + unit
	}
}

// formatNumber is compact: three significant figures, k/M/G above 10,000.
func formatNumber(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trimFloat(v/1e9) + "G"
	case a >= 1e6:
		return trimFloat(v/1e6) + "M"
	case a >= 1e4:
		return trimFloat(v/1e3) + "k"
	}
	return trimFloat(v)
}

// formatPrecise keeps six significant figures, for measured values set
// against a threshold (1999.6 must not read as 2000).
func formatPrecise(v float64, unit string) string {
	n := strconv.FormatFloat(v, 'g', 6, 64)
	if f, err := strconv.ParseFloat(n, 64); err == nil && math.Abs(f) < 1e15 && math.Abs(f) >= 1e-4 || f == 0 {
		n = strconv.FormatFloat(f, 'f', -1, 64)
	}
	if unit == "" {
		return n
	}
	return n + " " + unit
}

func trimFloat(v float64) string {
	a := math.Abs(v)
	prec := 0
	switch {
	case a == 0 || a >= 100:
		prec = 0
	case a >= 10:
		prec = 1
	case a >= 1:
		prec = 2
	default:
		prec = 3
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// barChart draws one horizontal bar per label; bars are paths so every
// chart is checked the same way.
func barChart(id, title, unit string, labels []string, values []float64) template.HTML {
	if len(labels) == 0 {
		return ""
	}
	vmax := 0.0
	for _, v := range values {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			vmax = math.Max(vmax, v)
		}
	}
	ticks := niceTicks(0, vmax, false)
	top := ticks[len(ticks)-1]
	w := svgW - barPadL - 90 // room for the value after the longest bar
	h := barPadTop + float64(len(labels))*(barH+barGap) + 28
	var b strings.Builder
	label := title
	if unit != "" {
		label += " (" + unit + ")"
	}
	fmt.Fprintf(&b, `<figure class="chart"><figcaption>%s</figcaption>`, esc(label))
	fmt.Fprintf(&b, `<svg data-chart="%s" role="img" aria-label="%s" viewBox="0 0 %g %g" xmlns="http://www.w3.org/2000/svg">`, esc(id), esc(label+": "+strings.Join(labels, ", ")), svgW, h)
	b.WriteString(`<g class="axis" aria-hidden="true">`)
	base := barPadTop + float64(len(labels))*(barH+barGap)
	for _, t := range ticks {
		x := barPadL + t/top*w
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x, barPadTop, x, base)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x, base+16, esc(formatValue(t, unit)))
	}
	b.WriteString(`</g>`)
	for i, l := range labels {
		v := values[i]
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			v = 0
		}
		y := barPadTop + float64(i)*(barH+barGap)
		fmt.Fprintf(&b, `<g class="bar" data-line="%s" style="color:%s">`, esc(l), palette[0])
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, barPadL-8, y+barH/2, esc(shorten(l, 22)))
		fmt.Fprintf(&b, `<path d="M%.1f %.1fh%.1fv%.1fh%.1fz" fill="currentColor"><title>%s: %s</title></path>`,
			barPadL, y, math.Max(v/top*w, 1), barH, -math.Max(v/top*w, 1), esc(l), esc(formatValue(values[i], unit)))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" dominant-baseline="middle">%s</text>`, barPadL+math.Max(v/top*w, 1)+6, y+barH/2, esc(formatValue(values[i], unit)))
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg></figure>`)
	return template.HTML(b.String())
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// esc escapes text and attribute values alike.
func esc(s string) string { return html.EscapeString(s) }

// overlaySVG draws one chart of a baseline and a candidate on one axis,
// each over its own elapsed time: a line's baseline is dashed, its
// candidate solid, in the same colour. keep, if set, picks the labels.
func overlaySVG(base, cand Chart, baseStart, candStart time.Time, keep func(string) bool) template.HTML {
	bp, ok1 := timeChart(base, baseStart)
	cp, ok2 := timeChart(cand, candStart)
	if !ok1 || !ok2 {
		return ""
	}
	p := plot{id: "compare-" + base.ID, title: base.Title + ": baseline against candidate", unit: base.Unit, xTitle: "elapsed since each run's start (m:ss)", xTime: true}
	k := 0
	for _, bl := range bp.lines {
		if keep != nil && !keep(bl.label) {
			continue
		}
		for _, cl := range cp.lines {
			if cl.label != bl.label || len(bl.xs) == 0 || len(cl.xs) == 0 {
				continue
			}
			color := palette[k%len(palette)]
			k++
			bl, cl := bl, cl
			bl.label, bl.style = bl.label+" (baseline)", &lineStyle{color, "6 3"}
			cl.label, cl.style = cl.label+" (candidate)", &lineStyle{color, ""}
			p.lines = append(p.lines, bl, cl)
		}
	}
	if len(p.lines) == 0 {
		return ""
	}
	return xyChart(p)
}
