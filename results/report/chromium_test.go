package report_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/results/report"
	"github.com/camstorm/camstorm/scenarios"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/stack"
)

// -update also refreshes docs/report-example.png. The flag is shared with
// any golden-file test of the package, so it is defined only if missing.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "refresh golden files and docs/report-example.png")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// requireChromium skips without the browser, unless CI demands every tool
// (CAMSTORM_REQUIRE_TOOLS=1, as internal/tooltest does).
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return
	}
	msg := chromiumPath + " is missing; install the Debian package chromium (apt-get install --no-install-recommends chromium)"
	if os.Getenv("CAMSTORM_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg + " — required because CAMSTORM_REQUIRE_TOOLS=1")
	}
	t.Skip(msg)
}

// tinyScript streams three cameras over two network profiles for a few
// seconds, with thresholds so the report has verdicts.
const tinyScript = `export const options = {
  scenarios: {
    cameras: {
      executor: 'constant-cameras',
      cameras: 3,
      duration: '6s',
      profiles: { perfect: 2, 'lte-good': 1 },
      mix: { synthetic: 1 },
      bitrate: 300000,
      gop: '1s',
    },
  },
  thresholds: {
    'camera_ack_latency{ack:persisted}': ['p(99)<10000'],
    camera_fragments_persisted: ['count>0'],
    camera_lost: ['count==0'],
  },
};
export default function () {}
`

// shortRun runs tinyScript against the embedded stack, writes its results
// file as 'camstorm run --out camstorm=FILE' does, and loads it back.
func shortRun(t *testing.T) *report.Run {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "tiny.js")
	if err := os.WriteFile(script, []byte(tinyScript), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := scenarios.Compile(script)
	if err != nil {
		t.Fatal(err)
	}
	st, err := stack.StartEmbedded(context.Background(), stack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	hc := st.HTTPClient()
	t.Cleanup(hc.CloseIdleConnections)
	target := scenarios.Target{
		Sim:    simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Credentials: st.AdminCredentials(), Region: st.Region},
		KMSURL: st.KMSURL,
		Devices: &fleet.Devices{EnrollURL: st.EnrollURL, EnrollToken: st.EnrollmentToken,
			CredentialsURL: st.IoTCredentialsURL, RoleAlias: st.CameraRoleAlias},
	}
	var logs syncBuffer
	res, err := scenarios.Run(context.Background(), scenarios.Config{Program: p, Target: target, Seed: 5, Log: &logs})
	if err != nil {
		t.Fatalf("running the tiny script: %v\n%s", err, logs.String())
	}
	if res.ExitCode != 0 {
		t.Fatalf("the tiny script exited %d (%s)\n%s", res.ExitCode, res.Abort, logs.String())
	}
	path := filepath.Join(dir, "results.json")
	var b bytes.Buffer
	if err := results.WriteFile(&b, res.File); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	runs, err := report.Load(path)
	if err != nil {
		t.Fatalf("report.Load(%s): %v", path, err)
	}
	if len(runs) != 1 {
		t.Fatalf("report.Load: %d runs, want 1", len(runs))
	}
	return runs[0]
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// chartInfo is what the page says about one rendered chart.
type chartInfo struct {
	ID     string   `json:"id"`
	Lines  []string `json:"lines"`
	Paths  int      `json:"paths"` // paths with a non-empty d
	Width  float64  `json:"width"`
	Height float64  `json:"height"`
}

type pageInfo struct {
	Charts        []chartInfo `json:"charts"`
	VerdictTables int         `json:"verdictTables"`
	VerdictRows   int         `json:"verdictRows"`
	ScrollWidth   float64     `json:"scrollWidth"`
	InnerWidth    float64     `json:"innerWidth"`
}

const inspectPage = `(() => {
  const charts = [...document.querySelectorAll('svg[data-chart]')].map(svg => {
    const r = svg.getBoundingClientRect();
    return {
      id: svg.dataset.chart,
      lines: [...svg.querySelectorAll('[data-line]')].map(g => g.dataset.line),
      paths: [...svg.querySelectorAll('path')].filter(p => (p.getAttribute('d') || '').trim() !== '').length,
      width: r.width, height: r.height,
    };
  });
  return {
    charts,
    verdictTables: document.querySelectorAll('table[data-table="verdicts"]').length,
    verdictRows: document.querySelectorAll('table[data-table="verdicts"] tbody tr').length,
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  };
})()`

// TestHTMLReportInChromium is issue 9's acceptance test: the HTML report
// of a short real run, opened in headless Chromium, draws its charts and
// verdicts with no console error or uncaught exception; a full-page
// screenshot is kept as an artifact.
func TestHTMLReportInChromium(t *testing.T) {
	requireChromium(t)
	if testing.Short() {
		t.Skip("streams cameras for 6 s and starts a browser")
	}
	run := shortRun(t)
	base, cand := richRun(), richRun()
	cand.Meta.Title = "ramp.js (candidate)"
	cand.Verdicts[0].OK, cand.Verdicts[0].Got = false, 2500
	cmp := report.Compare(base, cand)

	for _, tc := range []struct {
		name       string
		runs       []*report.Run
		cmp        *report.Comparison
		wantCharts []string // each must be drawn; "latency-" matches any ACK type
		example    bool     // the screenshot docs/report-example.png shows
	}{
		{"short-run", []*report.Run{run}, nil, []string{"latency-", "throughput", "active", "profiles-persisted-p99"}, true},
		{"every-section", []*report.Run{richRun()}, nil,
			[]string{"latency-persisted", "throughput", "active", "problems", "custom", "profiles-persisted-p99", "capacity-throughput"}, false},
		{"comparison", []*report.Run{base, cand}, &cmp, []string{"compare-latency-persisted", "compare-throughput", "latency-persisted", "capacity-throughput"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			page := filepath.Join(dir, "report.html")
			var b bytes.Buffer
			if err := report.WriteHTML(&b, tc.runs, tc.cmp); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, width := range []int64{1280, 390} {
				info, shot, problems := openInChromium(t, page, width)
				for _, p := range problems {
					t.Errorf("%d px: console: %s", width, p)
				}
				for _, want := range tc.wantCharts {
					found := false
					for _, c := range info.Charts {
						if c.ID == want || strings.HasSuffix(want, "-") && strings.HasPrefix(c.ID, want) {
							found = true
							if c.Paths < 1 || len(c.Lines) < 1 || c.Width < 100 || c.Height < 50 {
								t.Errorf("%d px: chart %q drawn as %+v, want ≥1 line, ≥1 path with a d, at least 100×50 px", width, c.ID, c)
							}
						}
					}
					if !found {
						t.Errorf("%d px: no svg[data-chart=%q] among %v", width, want, chartIDs(info.Charts))
					}
				}
				if info.VerdictTables < 1 || info.VerdictRows < 1 {
					t.Errorf("%d px: verdict tables %d with %d rows, want at least one with rows", width, info.VerdictTables, info.VerdictRows)
				}
				if info.ScrollWidth > info.InnerWidth+1 {
					t.Errorf("%d px: the page is %v px wide, wider than the window (%v px): it scrolls sideways", width, info.ScrollWidth, info.InnerWidth)
				}
				saveScreenshot(t, fmt.Sprintf("report-%s-%dpx.png", tc.name, width), shot)
				if tc.example && width == 1280 && updating() {
					if err := os.WriteFile(filepath.Join("..", "..", "docs", "report-example.png"), shot, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// TestChromiumSeesConsoleErrors proves the listener the acceptance test
// relies on: a page that logs an error, throws, and fetches a missing
// file is reported three times over.
func TestChromiumSeesConsoleErrors(t *testing.T) {
	requireChromium(t)
	page := filepath.Join(t.TempDir(), "bad.html")
	const bad = `<!DOCTYPE html><html><body><svg data-chart="x"><path d="M0 0L9 9"/></svg>
<img src="missing.png" alt="">
<script>console.error("deliberate"); throw new Error("thrown on purpose");</script></body></html>`
	if err := os.WriteFile(page, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, problems := openInChromium(t, page, 800)
	all := strings.Join(problems, "\n")
	for _, want := range []string{"deliberate", "thrown on purpose", "missing.png"} {
		if !strings.Contains(all, want) {
			t.Errorf("problems reported for a page with a console error, an exception and a missing image:\n%s\nwant one mentioning %q", all, want)
		}
	}
}

func chartIDs(cs []chartInfo) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

// openInChromium loads the page at the given window width and returns
// what it rendered, a full-page screenshot, and every console error,
// uncaught exception and error-level browser log entry.
func openInChromium(t *testing.T, page string, width int64) (pageInfo, []byte, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("user-data-dir", t.TempDir()))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	var mu sync.Mutex
	var problems []string
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(func(ev any) {
		// Runs in the tab's loop: record and return.
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				problems = append(problems, fmt.Sprintf("console.%s: %s", ev.Type, consoleArgs(ev.Args)))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				text += " " + d.Exception.Description
			}
			problems = append(problems, fmt.Sprintf("uncaught exception at %d:%d: %s", d.LineNumber+1, d.ColumnNumber+1, text))
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				problems = append(problems, fmt.Sprintf("browser log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	}))
	defer cancelTab()
	u := (&url.URL{Scheme: "file", Path: page}).String()
	if err := chromedp.Do(tab, chromedp.EmulateViewport(width, 900), chromedp.Navigate(u), chromedp.WaitReady("body")); err != nil {
		t.Fatalf("opening %s in Chromium: %v", u, err)
	}
	info, err := chromedp.Run(tab, chromedp.Evaluate[pageInfo](inspectPage))
	if err != nil {
		t.Fatalf("inspecting the page: %v", err)
	}
	shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return info, shot, append([]string(nil), problems...)
}

func consoleArgs(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case len(a.Value) > 0:
			parts = append(parts, string(a.Value))
		default:
			parts = append(parts, a.Description)
		}
	}
	return strings.Join(parts, " ")
}

// saveScreenshot writes a screenshot to $CAMSTORM_ARTIFACTS (or the
// test's temporary directory) and logs where.
func saveScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := os.Getenv("CAMSTORM_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}
