package live_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/results/live"
	"github.com/camstorm/camstorm/scenarios"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/stack"
)

const dashboardFile = "../../docs/grafana/camstorm.json"

// dashboard is the part of Grafana's dashboard model the tests read.
type dashboard struct {
	SchemaVersion int `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource *datasource              `json:"datasource"`
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Targets    []struct {
		Datasource *datasource `json:"datasource"`
		Expr       string      `json:"expr"`
		RefID      string      `json:"refId"`
	} `json:"targets"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// TestDashboardStructure checks what Grafana needs to import the
// dashboard and lay it out: schema, variables, unique ids, a grid without
// overlaps, and every query on the ${DS_PROMETHEUS} datasource.
func TestDashboardStructure(t *testing.T) {
	d := readDashboard(t)
	if d.SchemaVersion < 38 {
		t.Errorf("schemaVersion %d, want ≥ 38", d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	for name, typ := range map[string]string{"DS_PROMETHEUS": "datasource", "scenario": "query", "profile": "query"} {
		if vars[name] != typ {
			t.Errorf("templating variable %q has type %q, want %q", name, vars[name], typ)
		}
	}
	ids := map[int]string{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	for _, p := range d.Panels {
		if other, ok := ids[p.ID]; ok || p.ID <= 0 {
			t.Errorf("panel %q: id %d is not positive or is also %q's", p.Title, p.ID, other)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v is outside the 24-column grid", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Errorf("panel %q overlaps %q at column %d, row %d", p.Title, other, x, y)
				}
				taken[cell{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
			t.Errorf("panel %q: datasource %+v, want uid ${DS_PROMETHEUS}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no targets", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != "${DS_PROMETHEUS}" {
				t.Errorf("panel %q target %s: datasource %+v, want uid ${DS_PROMETHEUS}", p.Title, tg.RefID, tg.Datasource)
			}
			if tg.RefID == "" || refs[tg.RefID] || strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q: target %q has an empty or repeated refId or no expr", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
		}
	}
}

// liveScript runs 2 cameras for 5 s, a VU calling the control plane with
// k6/http and checks, and a viewer tailing a stream, so every kind of
// metric the dashboard shows is exported.
const liveScript = `
import http from 'k6/http';
import camstorm from 'camstorm';
import { check, sleep } from 'k6';

export const options = {
  scenarios: {
    cams: { executor: 'constant-cameras', cameras: 2, duration: '5s', profiles: { perfect: 1 },
            mix: { synthetic: 1 }, bitrate: 128000, fps: 10, gop: '1s' },
    api: { executor: 'constant-vus', vus: 1, duration: '4s' },
    view: { executor: 'per-vu-iterations', vus: 1, iterations: 1, startTime: '1s', exec: 'view' },
  },
};

export default function () {
  const r = http.get(camstorm.target.controlPlane + '/', { tags: { name: 'root' } });
  check(r, { 'answered': (x) => x.status > 0 });
  sleep(0.5);
}

export function view() {
  const streams = camstorm.streams('cams');
  if (streams.length > 0) camstorm.tail(streams[0], 3);
}
`

// family is what a scrape says of one metric name.
type family struct {
	typ    dto.MetricType
	labels map[string]bool
}

// scrape reads a /metrics page with the Prometheus text parser.
func scrape(t *testing.T, url string) map[string]family {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	out := map[string]family{}
	for name, mf := range mfs {
		f := family{typ: mf.GetType(), labels: map[string]bool{}}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				f.labels[l.GetName()] = true
			}
		}
		out[name] = f
	}
	return out
}

// lookup finds the family a series name belongs to: itself, or a
// histogram's or summary's _bucket, _sum or _count.
func lookup(fams map[string]family, name string) (family, bool) {
	if f, ok := fams[name]; ok {
		return f, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if f, ok := fams[base]; ok && (f.typ == dto.MetricType_HISTOGRAM || (f.typ == dto.MetricType_SUMMARY && suffix != "_bucket")) {
			return f, true
		}
	}
	return family{}, false
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDashboardQueriesMatchScrapes runs a short scenario against the
// embedded stack with the exporter as an output, scrapes the exporter and
// the stack over HTTP, and checks that every metric each panel queries is
// in one of the scrapes, with the labels the query filters or groups on.
// Metrics that only appear when something fails (ERROR ACKs, drops) are
// taken from the names the run's metrics are exported under and the
// stack's declared metrics, and listed in the log.
func TestDashboardQueriesMatchScrapes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := stack.StartEmbedded(ctx, stack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	hc := st.HTTPClient()
	t.Cleanup(hc.CloseIdleConnections)

	reg := live.NewRegistry()
	exp, err := live.NewExporter(reg, live.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := live.Serve("127.0.0.1:0", reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })

	prog, err := scenarios.CompileSource("live.js", []byte(liveScript))
	if err != nil {
		t.Fatal(err)
	}
	var log logBuffer
	res, err := scenarios.Run(ctx, scenarios.Config{
		Program: prog, Seed: 1, Log: &log, Outputs: []results.Output{exp},
		Target: scenarios.Target{
			Sim:    simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Credentials: st.AdminCredentials(), Region: st.Region},
			KMSURL: st.KMSURL,
			Devices: &fleet.Devices{EnrollURL: st.EnrollURL, EnrollToken: st.EnrollmentToken,
				CredentialsURL: st.IoTCredentialsURL, RoleAlias: st.CameraRoleAlias},
		},
	})
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log.String())
	}
	if res.ExitCode != 0 {
		t.Fatalf("run: exit %d (%s)\nlog:\n%s", res.ExitCode, res.Abort, log.String())
	}

	harness := scrape(t, srv.URL)
	stackFams := scrape(t, st.MetricsURL)
	for _, must := range []string{"camstorm_cameras", "camstorm_camera_ack_latency_seconds", "camstorm_camera_fragments_persisted_total",
		"camstorm_http_reqs_total", "camstorm_checks_passes_total", "camstorm_ingest_fragments_total"} {
		if _, ok := harness[must]; !ok {
			if _, ok := stackFams[must]; !ok {
				t.Errorf("%s is in neither scrape after a 5 s run", must)
			}
		}
	}
	// Declared but not seen: what the run defined, under the exporter's
	// names, and what the stack registers.
	declared := map[string]bool{}
	for _, m := range res.File.Metrics {
		fm := fileMetric(t, m.Name, m.Type, m.Contains)
		for _, n := range live.Names(fm) {
			declared[n] = true
			if fm.Type == results.Trend {
				declared[n+"_bucket"] = true
			}
		}
	}
	for _, n := range stackDeclared(t) {
		declared[n] = true
	}

	var onlyDeclared []string
	for _, p := range readDashboard(t).Panels {
		for _, tg := range p.Targets {
			names := metricNames(tg.Expr)
			if len(names) == 0 {
				t.Errorf("panel %q target %s: no metric in %q", p.Title, tg.RefID, tg.Expr)
			}
			for _, name := range names {
				f, ok := lookup(harness, name)
				if !ok {
					f, ok = lookup(stackFams, name)
				}
				if !ok {
					if declared[name] {
						onlyDeclared = append(onlyDeclared, name)
						continue
					}
					t.Errorf("panel %q target %s: %s is in neither scrape nor declared (%s)", p.Title, tg.RefID, name, tg.Expr)
					continue
				}
				if len(names) > 1 {
					continue // which metric a label belongs to is ambiguous
				}
				for _, l := range matcherLabels(tg.Expr) {
					if !f.labels[l] && !optionalLabel(l) {
						t.Errorf("panel %q target %s: %s has no label %q in the scrape (%s)", p.Title, tg.RefID, name, l, tg.Expr)
					}
				}
			}
		}
	}
	for _, v := range readDashboard(t).Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Errorf("variable %s: query %s: %v", v.Name, v.Query, err)
			continue
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(METRIC, LABEL)", v.Name, q.Query)
			continue
		}
		if f, ok := lookup(harness, m[1]); !ok || !f.labels[m[2]] {
			t.Errorf("variable %s: %s with label %s is not in the harness's scrape", v.Name, m[1], m[2])
		}
	}
	slices.Sort(onlyDeclared)
	t.Logf("queried metrics declared but not seen in this clean run: %s", strings.Join(slices.Compact(onlyDeclared), ", "))
}

// optionalLabel says whether a label may be missing from a clean run's
// series: the dashboard's filters match it empty (allValue ".*").
func optionalLabel(l string) bool {
	return l == "scenario" || l == "profile"
}

// labelValues is the Grafana variable query the dashboard uses.
var labelValues = regexp.MustCompile(`^label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$`)

// stackName finds a metric name in the stack's metric definitions.
var stackName = regexp.MustCompile(`Name:\s*"(camstorm_[a-z_]+)"`)

// stackDeclared returns the metric names the stack's ingest registers,
// read from its source, histograms with their _bucket series.
func stackDeclared(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../stack/ingest/metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range stackName.FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
		if strings.HasSuffix(m[1], "_seconds") {
			out = append(out, m[1]+"_bucket")
		}
	}
	if len(out) == 0 {
		t.Fatal("no metric names found in stack/ingest/metrics.go")
	}
	return out
}

func fileMetric(t *testing.T, name, typ, contains string) *results.Metric {
	t.Helper()
	m := &results.Metric{Name: name}
	switch typ {
	case "counter":
		m.Type = results.Counter
	case "gauge":
		m.Type = results.Gauge
	case "rate":
		m.Type = results.Rate
	case "trend":
		m.Type = results.Trend
	default:
		t.Fatalf("metric %s: unknown type %q", name, typ)
	}
	switch contains {
	case "time":
		m.Contains = results.Time
	case "data":
		m.Contains = results.Data
	}
	return m
}
