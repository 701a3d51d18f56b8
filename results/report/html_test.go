package report_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camstorm/camstorm/results/report"
)

// node is an element of a parsed page.
type node struct {
	name     string
	attrs    map[string]string
	parent   *node
	children []*node
	text     strings.Builder // all text inside, descendants included
}

func (n *node) attr(k string) (string, bool) { v, ok := n.attrs[k]; return v, ok }

// all returns the descendants (and n itself) that match.
func (n *node) all(match func(*node) bool) []*node {
	var out []*node
	var walk func(*node)
	walk = func(m *node) {
		if match(m) {
			out = append(out, m)
		}
		for _, c := range m.children {
			walk(c)
		}
	}
	walk(n)
	return out
}

func tag(name string) func(*node) bool { return func(n *node) bool { return n.name == name } }

func withAttr(name, k, v string) func(*node) bool {
	return func(n *node) bool { got, ok := n.attrs[k]; return n.name == name && ok && (v == "" || got == v) }
}

// parsePage parses the report as XML: WriteHTML emits well-formed markup
// (void elements self-closed, attributes quoted), so a strict parser
// doubles as a check that nothing is left unclosed or unescaped.
func parsePage(t *testing.T, page []byte) *node {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict, d.Entity = true, xml.HTMLEntity
	root := &node{name: "#document", attrs: map[string]string{}}
	cur := root
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the page is not well-formed: %v\n%s", err, excerpt(page, d.InputOffset()))
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &node{name: tk.Name.Local, attrs: map[string]string{}, parent: cur}
			for _, a := range tk.Attr {
				k := a.Name.Local
				if a.Name.Space != "" && a.Name.Space != "xmlns" {
					k = a.Name.Space + ":" + k
				}
				n.attrs[k] = a.Value
			}
			cur.children = append(cur.children, n)
			cur = n
		case xml.EndElement:
			cur = cur.parent
		case xml.CharData:
			for n := cur; n != nil; n = n.parent {
				n.text.Write(tk)
			}
		}
	}
	return root
}

func excerpt(b []byte, at int64) string {
	lo, hi := max(0, int(at)-200), min(len(b), int(at)+200)
	return string(b[lo:hi])
}

func render(t *testing.T, runs []*report.Run, cmp *report.Comparison) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := report.WriteHTML(&b, runs, cmp); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	return b.Bytes()
}

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func pts(vals ...float64) []report.Point {
	out := make([]report.Point, len(vals))
	for i, v := range vals {
		out[i] = report.Point{T: t0.Add(time.Duration(i) * time.Second), V: v}
	}
	return out
}

// richRun has data for every section.
func richRun() *report.Run {
	return &report.Run{
		Schema: report.SchemaVersion, Kind: report.KindScenario,
		Meta: report.Meta{Title: "ramp.js", Version: "v0.9.0", Scenario: "scenarios/ramp.js", Target: "embedded stack", Seed: 7,
			Machine: "linux/amd64, 2 CPUs, go1.26", Start: t0, End: t0.Add(90 * time.Second), Sources: []string{"run.json"}},
		Verdicts: []report.Verdict{
			{Name: "camera_ack_latency{ack:persisted}", Expr: "p(99)<2000", Got: 1234.5, Unit: "ms", OK: true},
			{Name: "camera_lost", Expr: "count==0", Got: 3, OK: false},
		},
		Metrics: []report.MetricRow{
			{Name: "camera_ack_latency{ack:persisted}", Type: "trend", Unit: "ms", Values: map[string]float64{"avg": 900, "p(99)": 1234.5, "max": 1500, "count": 100}},
			{Name: "camera_fragments", Type: "counter", Values: map[string]float64{"count": 100, "rate": 1.1}},
		},
		Charts: []report.Chart{
			{ID: "latency-persisted", Title: "ACK latency (persisted)", Unit: "ms", Lines: []report.Line{
				{Label: "p50", Points: pts(800, 810, 790)}, {Label: "p90", Points: pts(900, 950, 910)},
				{Label: "p99", Points: pts(1200, 1300, 1250)}, {Label: "p99.9", Points: pts(1400, 1500, 1450)}}},
			{ID: "throughput", Title: "Throughput", Unit: "/s", Lines: []report.Line{{Label: "fragments persisted", Points: pts(10, 11, 12)}}},
			{ID: "active", Title: "Active cameras and VUs", Unit: "count", Lines: []report.Line{{Label: "cameras", Points: pts(5, 10, 10)}}},
			{ID: "problems", Title: "Reconnects, drops, errors and losses", Unit: "count", Lines: []report.Line{
				{Label: "reconnects", Points: pts(0, 2, 1)}, {Label: "ACK errors (id 4000)", Points: pts(0, 0, 1)}}},
			{ID: "custom", Title: "Something else", Lines: []report.Line{{Label: "x", Points: pts(1, 2, 3)}}},
		},
		Profiles: []report.ProfileRow{{Profile: "perfect", Cameras: 5, Fragments: 50, Persisted: 50, PersistedP99: 1100},
			{Profile: "lossy-3g", Cameras: 5, Fragments: 50, Persisted: 47, PersistedP99: 2400, Reconnects: 4, Lost: 3}},
		Worst: []report.CameraRow{{Stream: "cam-0007", Profile: "lossy-3g", Fragments: 9, Lost: 3, Reconnects: 2, PersistedP99: 2600, Problem: "lost 3 fragments"}},
		Cases: []report.CaseRow{{ID: "encryption/at-rest/1", Suite: "encryption", Requirement: "Media MUST be encrypted at rest", Level: "MUST",
			Verdict: "pass", Evidence: []string{"fragment 91343454 sealed with key epoch 2"}, DurationMS: 12}},
		Capacity: &report.Capacity{SLO: "persisted_p99<2s", Sustainable: 200, Knee: 150, Stop: "SLO broken at 250 cameras",
			Steps: []report.CapacityStep{{Cameras: 50, Throughput: 46, PersistedP99: 1100, OK: true}, {Cameras: 100, Throughput: 80, PersistedP99: 1200, OK: true},
				{Cameras: 150, Throughput: 101, PersistedP99: 1400, OK: true}, {Cameras: 200, Throughput: 111, PersistedP99: 1900, OK: true},
				{Cameras: 250, Throughput: 114.5, PersistedP99: 2500, ErrorRate: 0.002, OK: false, Failed: []string{"persisted_p99<2s"}}},
			USL: &report.USLFit{Lambda: 1, Sigma: 0.001, Kappa: 0.000015, PeakN: 258, PeakX: 114.6, R2: 0.998, RMSE: 1.3}},
		Notes: []string{"2 NDJSON lines could not be read and were skipped"},
	}
}

// sectionOrder is the order WriteHTML puts a run's sections in.
var sectionOrder = []string{"meta", "verdicts", "latency", "throughput", "events", "other-charts", "profiles", "worst", "metrics", "cases", "capacity", "notes"}

func sections(doc *node) []string {
	var out []string
	for _, n := range doc.all(withAttr("section", "data-section", "")) {
		out = append(out, n.attrs["data-section"])
	}
	return out
}

func TestWriteHTMLEverySection(t *testing.T) {
	doc := parsePage(t, render(t, []*report.Run{richRun()}, nil))
	if got := sections(doc); !slices.Equal(got, sectionOrder) {
		t.Errorf("sections of a run with every kind of data:\n got %q\nwant %q", got, sectionOrder)
	}
	wantCharts := map[string][]string{
		"latency-persisted": {"p50", "p90", "p99", "p99.9"}, "throughput": {"fragments persisted"}, "active": {"cameras"},
		"problems": {"reconnects", "ACK errors (id 4000)"}, "custom": {"x"},
		"profiles-persisted-p99": {"perfect", "lossy-3g"}, "capacity-throughput": {"measured", "USL fit"},
	}
	for id, lines := range wantCharts {
		svgs := doc.all(withAttr("svg", "data-chart", id))
		if len(svgs) != 1 {
			t.Errorf("svg[data-chart=%q]: %d, want 1", id, len(svgs))
			continue
		}
		svg := svgs[0]
		if a, _ := svg.attr("aria-label"); a == "" {
			t.Errorf("svg[data-chart=%q] has no aria-label", id)
		}
		var got []string
		for _, g := range svg.all(func(n *node) bool { _, ok := n.attrs["data-line"]; return ok }) {
			got = append(got, g.attrs["data-line"])
			paths := g.all(func(n *node) bool { return n.name == "path" && strings.TrimSpace(n.attrs["d"]) != "" })
			if len(paths) == 0 {
				t.Errorf("chart %q line %q has no path with a d attribute", id, g.attrs["data-line"])
			}
		}
		if !slices.Equal(got, lines) {
			t.Errorf("chart %q lines: got %q, want %q", id, got, lines)
		}
	}
	// Every point of a time chart has a tooltip in the chart's unit.
	for _, c := range doc.all(withAttr("svg", "data-chart", "latency-persisted"))[0].all(tag("circle")) {
		if titles := c.all(tag("title")); len(titles) != 1 || !strings.HasSuffix(titles[0].text.String(), " ms") {
			t.Errorf("latency point tooltip: %q, want one <title> ending in \" ms\"", c.text.String())
		}
	}
	verdicts := doc.all(withAttr("table", "data-table", "verdicts"))
	if len(verdicts) != 1 || len(verdicts[0].all(tag("caption"))) != 1 {
		t.Fatalf("verdict table with a caption: %d tables", len(verdicts))
	}
	vt := verdicts[0].text.String()
	for _, want := range []string{"p(99)<2000", "1234.5 ms", "pass", "fail", "count==0"} {
		if !strings.Contains(vt, want) {
			t.Errorf("verdict table %q lacks %q", vt, want)
		}
	}
	if d := doc.all(tag("details")); len(d) != 1 || !strings.Contains(d[0].text.String(), "fragment 91343454") {
		t.Errorf("conformance evidence: want one <details> with the evidence, got %d", len(d))
	}
	capText := doc.all(withAttr("section", "data-section", "capacity"))[0].text.String()
	for _, want := range []string{"200 cameras", "150 cameras", "σ 0.001", "κ 1.5e-05", "115 /s at 258 cameras", "R² 0.9980", "+0.1%"} {
		if !strings.Contains(capText, want) {
			t.Errorf("capacity section lacks %q:\n%s", want, capText)
		}
	}
	for _, tbl := range doc.all(tag("table")) {
		if len(tbl.all(tag("caption"))) != 1 {
			t.Errorf("table %q has no caption", tbl.attrs["data-table"])
		}
	}
	if h := doc.all(tag("h1")); len(h) != 1 || h[0].text.String() != "ramp.js" {
		t.Errorf("h1: want one, \"ramp.js\"")
	}
}

func TestWriteHTMLOmitsEmptySections(t *testing.T) {
	for _, tc := range []struct {
		section string
		clear   func(r *report.Run)
	}{
		{"verdicts", func(r *report.Run) { r.Verdicts = nil }},
		{"latency", func(r *report.Run) {
			r.Charts = slices.DeleteFunc(r.Charts, func(c report.Chart) bool { return c.Unit == "ms" })
		}},
		{"throughput", func(r *report.Run) {
			r.Charts = slices.DeleteFunc(r.Charts, func(c report.Chart) bool { return c.ID == "throughput" || c.ID == "active" })
		}},
		{"events", func(r *report.Run) {
			// A chart whose lines have no points is no chart.
			for i := range r.Charts {
				if r.Charts[i].ID == "problems" {
					for j := range r.Charts[i].Lines {
						r.Charts[i].Lines[j].Points = nil
					}
				}
			}
		}},
		{"other-charts", func(r *report.Run) {
			r.Charts = slices.DeleteFunc(r.Charts, func(c report.Chart) bool { return c.ID == "custom" })
		}},
		{"profiles", func(r *report.Run) { r.Profiles = nil }},
		{"worst", func(r *report.Run) { r.Worst = nil }},
		{"metrics", func(r *report.Run) { r.Metrics = nil }},
		{"cases", func(r *report.Run) { r.Cases = nil }},
		{"capacity", func(r *report.Run) { r.Capacity = nil }},
		{"notes", func(r *report.Run) { r.Notes = nil }},
	} {
		r := richRun()
		tc.clear(r)
		got := sections(parsePage(t, render(t, []*report.Run{r}, nil)))
		want := slices.DeleteFunc(slices.Clone(sectionOrder), func(s string) bool { return s == tc.section })
		if !slices.Equal(got, want) {
			t.Errorf("without %s data:\n got %q\nwant %q", tc.section, got, want)
		}
	}
	bare := &report.Run{Kind: report.KindFleet, Meta: report.Meta{Title: "fleet"}}
	if got := sections(parsePage(t, render(t, []*report.Run{bare}, nil))); !slices.Equal(got, []string{"meta"}) {
		t.Errorf("a run with only a title and kind: sections %q, want [meta]", got)
	}
}

func TestWriteHTMLEscapesHostileText(t *testing.T) {
	const evil = `<script>alert("x")</script><img src=x onerror=alert(1)>&amp;`
	r := richRun()
	r.Meta.Title = evil
	r.Meta.Target = evil
	r.Worst[0].Stream = evil
	r.Charts[0].Lines[0].Label = evil
	r.Charts[0].Title = evil
	r.Charts[0].ID = evil
	r.Profiles[0].Profile = evil
	r.Cases[0].Evidence = []string{evil}
	r.Metrics[0].Name = evil
	r.Notes = []string{evil}
	r.Verdicts[0].Expr = evil
	page := render(t, []*report.Run{r}, nil)
	doc := parsePage(t, page)
	if s := doc.all(tag("script")); len(s) != 1 {
		t.Errorf("<script> elements: %d, want only the report's own", len(s))
	}
	if n := doc.all(tag("img")); len(n) != 0 {
		t.Errorf("<img> elements from hostile text: %d, want 0", len(n))
	}
	for _, n := range doc.all(func(*node) bool { return true }) {
		for k := range n.attrs {
			if strings.HasPrefix(k, "on") {
				t.Errorf("<%s> has an event handler attribute %s", n.name, k)
			}
		}
	}
	// The text survives, shown as text.
	text := doc.text.String()
	if c := strings.Count(text, evil); c < 8 {
		t.Errorf("the hostile text appears %d times as text, want it shown wherever it was used (at least 8)", c)
	}
}

func TestWriteHTMLIsOffline(t *testing.T) {
	r := richRun()
	base, cand := richRun(), richRun()
	cand.Verdicts[0].OK = false
	cmp := report.Compare(base, cand)
	for name, page := range map[string][]byte{
		"one run":    render(t, []*report.Run{r}, nil),
		"comparison": render(t, []*report.Run{base, cand}, &cmp),
	} {
		doc := parsePage(t, page)
		for _, n := range doc.all(func(*node) bool { return true }) {
			for _, k := range []string{"src", "href", "xlink:href", "action", "srcset", "poster", "data"} {
				if v, ok := n.attrs[k]; ok && (strings.Contains(v, "//") || strings.HasPrefix(strings.ToLower(v), "http")) {
					t.Errorf("%s: <%s %s=%q> points off the page", name, n.name, k, v)
				}
			}
		}
		for _, st := range doc.all(tag("style")) {
			if css := st.text.String(); strings.Contains(css, "url(") || strings.Contains(css, "@import") {
				t.Errorf("%s: the stylesheet fetches something (url( or @import)", name)
			}
		}
		if n := len(doc.all(tag("link"))); n != 0 {
			t.Errorf("%s: %d <link> elements, want none", name, n)
		}
		if s := doc.all(tag("script")); len(s) != 1 || len(s[0].attrs) != 0 {
			t.Errorf("%s: want exactly one inline <script> without attributes", name)
		}
	}
}

func TestWriteHTMLComparison(t *testing.T) {
	base, cand := richRun(), richRun()
	cand.Meta.Title = "ramp.js (candidate)"
	cand.Verdicts[0].OK, cand.Verdicts[0].Got = false, 2500
	cand.Metrics[0].Values["p(99)"] = 2500
	cmp := report.Compare(base, cand)
	doc := parsePage(t, render(t, []*report.Run{base, cand}, &cmp))
	if n := len(doc.all(withAttr("section", "id", "comparison"))); n != 1 {
		t.Fatalf("comparison section: %d, want 1", n)
	}
	tables := doc.all(withAttr("table", "data-table", "comparison"))
	if len(tables) != 1 {
		t.Fatalf("comparison table: %d, want 1", len(tables))
	}
	var regressions []string
	for _, tr := range tables[0].all(withAttr("tr", "class", "regression")) {
		regressions = append(regressions, tr.all(tag("th"))[0].text.String())
	}
	want := []string{"camera_ack_latency{ack:persisted} p(99)<2000", "camera_ack_latency{ack:persisted} p(99)"}
	if !slices.Equal(regressions, want) {
		t.Errorf("regression rows: got %q, want %q", regressions, want)
	}
	overlay := doc.all(withAttr("svg", "data-chart", "compare-latency-persisted"))
	if len(overlay) != 1 {
		t.Fatalf("overlaid latency chart: %d, want 1", len(overlay))
	}
	var lines []string
	for _, g := range overlay[0].all(func(n *node) bool { _, ok := n.attrs["data-line"]; return ok }) {
		lines = append(lines, g.attrs["data-line"])
	}
	if want := []string{"p50 (baseline)", "p50 (candidate)", "p99 (baseline)", "p99 (candidate)"}; !slices.Equal(lines, want) {
		t.Errorf("overlaid latency lines: got %q, want %q", lines, want)
	}
	var heads []string
	for _, a := range doc.all(tag("article")) {
		heads = append(heads, a.all(tag("h2"))[0].text.String())
	}
	if want := []string{"Baseline: ramp.js", "Candidate: ramp.js (candidate)"}; !slices.Equal(heads, want) {
		t.Errorf("side-by-side runs: got %q, want %q", heads, want)
	}
}

func TestWriteHTMLGapsWhereBucketsAreEmpty(t *testing.T) {
	at := func(s int, v float64) report.Point {
		return report.Point{T: t0.Add(time.Duration(s) * time.Second), V: v}
	}
	for _, tc := range []struct {
		points []report.Point
		want   int // paths
	}{
		{[]report.Point{at(0, 1), at(1, 2), at(2, 3)}, 1},
		{[]report.Point{at(0, 1), at(1, 2), at(5, 3), at(6, 4)}, 2},
		{[]report.Point{at(0, 1), at(3, 2), at(4, 3), at(9, 4)}, 3},
		{[]report.Point{at(4, 1)}, 1},
	} {
		r := &report.Run{Meta: report.Meta{Title: "gaps", Start: t0}, Charts: []report.Chart{{ID: "throughput", Title: "Throughput", Unit: "/s",
			Lines: []report.Line{{Label: "l", Points: tc.points}}}}}
		doc := parsePage(t, render(t, []*report.Run{r}, nil))
		g := doc.all(withAttr("g", "data-line", "l"))
		if len(g) != 1 {
			t.Fatalf("line l: %d groups", len(g))
		}
		if n := len(g[0].all(tag("path"))); n != tc.want {
			t.Errorf("points at %v: %d paths, want %d", tc.points, n, tc.want)
		}
	}
}

func TestWriteHTMLSplitsLinesOfDifferentMagnitude(t *testing.T) {
	for _, tc := range []struct {
		peaks []float64
		want  map[string][]string // chart ID → its lines
	}{
		{[]float64{10, 12}, map[string][]string{"throughput": {"a", "b"}}},
		{[]float64{10, 120000}, map[string][]string{"throughput": {"a"}, "throughput-2": {"b"}}},
		{[]float64{10, 120000, 0}, map[string][]string{"throughput": {"a", "c"}, "throughput-2": {"b"}}},
		{[]float64{10, 120000, 11, 100000}, map[string][]string{"throughput": {"a", "c"}, "throughput-2": {"b", "d"}}},
	} {
		c := report.Chart{ID: "throughput", Title: "Throughput", Unit: "/s"}
		for i, p := range tc.peaks {
			c.Lines = append(c.Lines, report.Line{Label: string(rune('a' + i)), Points: pts(p/2, p)})
		}
		doc := parsePage(t, render(t, []*report.Run{{Meta: report.Meta{Title: "split"}, Charts: []report.Chart{c}}}, nil))
		got := map[string][]string{}
		for _, svg := range doc.all(withAttr("svg", "data-chart", "")) {
			for _, g := range svg.all(func(n *node) bool { _, ok := n.attrs["data-line"]; return ok }) {
				got[svg.attrs["data-chart"]] = append(got[svg.attrs["data-chart"]], g.attrs["data-line"])
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("lines peaking at %v: charts %v, want %v", tc.peaks, got, tc.want)
		}
	}
}

func TestWriteHTMLUnrecordedP99(t *testing.T) {
	r := richRun()
	for i := range r.Profiles {
		r.Profiles[i].PersistedP99 = 0
	}
	doc := parsePage(t, render(t, []*report.Run{r}, nil))
	if n := len(doc.all(withAttr("svg", "data-chart", "profiles-persisted-p99"))); n != 0 {
		t.Errorf("profiles without a p99: %d bar charts, want none", n)
	}
	tbl := doc.all(withAttr("table", "data-table", "profiles"))
	if len(tbl) != 1 || !strings.Contains(tbl[0].text.String(), "—") || strings.Contains(tbl[0].text.String(), "0 ms") {
		t.Errorf("profiles without a p99: want the table to show — rather than 0 ms")
	}
}
