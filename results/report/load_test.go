package report

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/scenarios"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/stack"
)

// startStack starts the embedded stack for the test.
func startStack(t *testing.T) *stack.Stack {
	t.Helper()
	st, err := stack.StartEmbedded(context.Background(), stack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	return st
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func loadOne(t *testing.T, paths ...string) *Run {
	t.Helper()
	runs, err := Load(paths...)
	if err != nil {
		t.Fatalf("Load(%v): %v", paths, err)
	}
	if len(runs) != 1 {
		t.Fatalf("Load(%v): %d runs, want 1", paths, len(runs))
	}
	return runs[0]
}

// TestLoadRealRun runs a short scenario (two cameras and a JS scenario)
// against the embedded stack with every output on, and checks that the
// results file, NDJSON (plain and gzipped) and CSV give the same report.
func TestLoadRealRun(t *testing.T) {
	st := startStack(t)
	hc := st.HTTPClient()
	t.Cleanup(hc.CloseIdleConnections)
	target := scenarios.Target{
		Sim:    simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Credentials: st.AdminCredentials(), Region: st.Region},
		KMSURL: st.KMSURL,
		Devices: &fleet.Devices{EnrollURL: st.EnrollURL, EnrollToken: st.EnrollmentToken,
			CredentialsURL: st.IoTCredentialsURL, RoleAlias: st.CameraRoleAlias},
	}
	p, err := scenarios.Compile("testdata/short.js")
	if err != nil {
		t.Fatal(err)
	}
	var ndjson, csvOut, logs bytes.Buffer
	jo := results.NewJSONOutput(&ndjson, results.OutputOptions{})
	co, err := results.NewCSVOutput(&csvOut, results.OutputOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := scenarios.Run(context.Background(), scenarios.Config{Program: p, Target: target, Seed: 5,
		Outputs: []results.Output{jo, co}, Log: &logs})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
	_ = jo.Close()
	_ = co.Close()
	if res.ExitCode != 0 {
		t.Fatalf("run: exit %d (%s)\n%s", res.ExitCode, res.Abort, logs.String())
	}
	dir := t.TempDir()
	var file bytes.Buffer
	if err := results.WriteFile(&file, res.File); err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{
		"results":   writeFile(t, filepath.Join(dir, "run.json"), file.Bytes()),
		"ndjson":    writeFile(t, filepath.Join(dir, "samples.ndjson"), ndjson.Bytes()),
		"ndjson.gz": writeFile(t, filepath.Join(dir, "samples.bin"), gzipped(t, ndjson.Bytes())),
		"csv":       writeFile(t, filepath.Join(dir, "samples.csv"), csvOut.Bytes()),
	}
	ref := loadOne(t, paths["results"])
	if len(ref.Worst) != 2 || ref.Worst[0].Stream == "" || ref.Worst[0].Fragments == 0 {
		t.Errorf("results file: worst cameras %+v, want both cameras with their fragments", ref.Worst)
	}
	if ref.Kind != KindScenario || len(ref.Verdicts) != 3 {
		t.Fatalf("results file: kind %q, %d verdicts; want %q and 3", ref.Kind, len(ref.Verdicts), KindScenario)
	}
	for _, v := range ref.Verdicts {
		if !v.OK {
			t.Errorf("results file: verdict %s %s failed with %v", v.Name, v.Expr, v.Got)
		}
	}
	for _, id := range []string{"latency-persisted", "latency-iteration_duration", "throughput", "active", "problems"} {
		if chart(ref, id) == nil {
			t.Errorf("results file: no chart %q; have %v", id, chartIDs(ref))
		}
	}
	if lc := chart(ref, "latency-persisted"); lc == nil || len(lc.Lines) != 4 || len(lc.Lines[2].Points) < 2 {
		t.Errorf("results file: persisted latency chart %+v, want 4 lines of at least 2 points", lc)
	}
	if row(ref, mIterations).Values["count"] == 0 || row(ref, mAckLatency+"{ack:persisted}").Values["count"] == 0 {
		t.Errorf("results file: no iterations or no persisted ACKs in %v", ref.Metrics)
	}
	if len(ref.Profiles) != 1 || ref.Profiles[0].Profile != "perfect" || ref.Profiles[0].Persisted == 0 {
		t.Errorf("results file: profiles %+v, want one row for perfect with fragments persisted", ref.Profiles)
	}
	for _, kind := range []string{"ndjson", "ndjson.gz", "csv"} {
		got := loadOne(t, paths[kind])
		if got.Kind != KindScenario {
			t.Errorf("%s: kind %q, want %q", kind, got.Kind, KindScenario)
		}
		sameCharts(t, kind, ref, got)
		sameCounts(t, kind, ref, got)
	}
	// Sample files given together are one run.
	both := loadOne(t, paths["ndjson"], paths["csv"])
	if a, b := row(ref, mPersisted).Values["count"], row(both, mPersisted).Values["count"]; b != 2*a {
		t.Errorf("ndjson+csv: %s count %v, want twice %v", mPersisted, b, a)
	}
}

func chart(r *Run, id string) *Chart {
	for i := range r.Charts {
		if r.Charts[i].ID == id {
			return &r.Charts[i]
		}
	}
	return nil
}

func chartIDs(r *Run) []string {
	var ids []string
	for _, c := range r.Charts {
		ids = append(ids, c.ID)
	}
	return ids
}

func row(r *Run, name string) MetricRow {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m
		}
	}
	return MetricRow{}
}

// sameCharts checks the latency charts have the same lines at the same
// instants.
func sameCharts(t *testing.T, kind string, want, got *Run) {
	t.Helper()
	for _, wc := range want.Charts {
		if !strings.HasPrefix(wc.ID, "latency") {
			continue
		}
		gc := chart(got, wc.ID)
		if gc == nil {
			t.Errorf("%s: no chart %q; have %v", kind, wc.ID, chartIDs(got))
			continue
		}
		if len(gc.Lines) != len(wc.Lines) {
			t.Errorf("%s: chart %q has %d lines, want %d", kind, wc.ID, len(gc.Lines), len(wc.Lines))
			continue
		}
		for i, wl := range wc.Lines {
			gl := gc.Lines[i]
			if gl.Label != wl.Label || !slices.EqualFunc(gl.Points, wl.Points, func(a, b Point) bool { return a.T.Equal(b.T) }) {
				t.Errorf("%s: chart %q line %d is %q at %v, want %q at %v", kind, wc.ID, i, gl.Label, times(gl.Points), wl.Label, times(wl.Points))
			}
		}
	}
}

func times(pts []Point) []string {
	var out []string
	for _, p := range pts {
		out = append(out, p.T.Format("15:04:05"))
	}
	return out
}

// sameCounts checks every counter's and trend's count matches.
func sameCounts(t *testing.T, kind string, want, got *Run) {
	t.Helper()
	for _, wr := range want.Metrics {
		wc, ok := wr.Values["count"]
		if !ok {
			continue
		}
		gr := row(got, wr.Name)
		if gr.Values["count"] != wc {
			t.Errorf("%s: %s count %v, want %v", kind, wr.Name, gr.Values["count"], wc)
		}
	}
}

// shardFile writes a results file of one segment holding n samples of a
// counter and a trend, one a second from start.
func shardFile(t *testing.T, path, segment string, start time.Time, n int, base float64) string {
	t.Helper()
	reg := results.NewRegistry()
	c := reg.MustDefine(mPersisted, results.Counter, results.Default)
	lat := reg.MustDefine(mAckLatency, results.Trend, results.Time)
	s := results.NewStore()
	s.Timelines = true
	for i := range n {
		at := start.Add(time.Duration(i) * time.Second)
		s.Add(results.Sample{Metric: c, Time: at, Value: 1, Tags: map[string]string{tagProfile: "perfect"}},
			results.Sample{Metric: lat, Time: at, Value: base + float64(i), Tags: map[string]string{tagAck: "persisted", tagProfile: "perfect"}})
	}
	f := results.NewFile(results.RunInfo{Script: "shard.js", Segment: segment, Start: start, End: start.Add(time.Duration(n) * time.Second)}, reg, s, nil, nil)
	var b bytes.Buffer
	if err := results.WriteFile(&b, f); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, path, b.Bytes())
}

func TestLoadMergesShards(t *testing.T) {
	dir := t.TempDir()
	start := time.Unix(1_800_000_000, 0)
	a := shardFile(t, filepath.Join(dir, "a.json"), "0:1/2", start, 5, 100)
	b := shardFile(t, filepath.Join(dir, "b.json"), "1/2:1", start, 3, 200)
	run := loadOne(t, a, b)
	if got := row(run, mPersisted).Values["count"]; got != 8 {
		t.Errorf("merged %s count %v, want 8", mPersisted, got)
	}
	if got := row(run, mAckLatency+"{ack:persisted}").Values["max"]; got != 202 {
		t.Errorf("merged latency max %v, want 202", got)
	}
	lc := chart(run, "latency-persisted")
	if lc == nil || len(lc.Lines) != 4 || len(lc.Lines[0].Points) != 5 {
		t.Fatalf("merged latency chart %+v, want 4 lines of 5 points", lc)
	}
	if !slices.ContainsFunc(run.Notes, func(n string) bool { return strings.Contains(n, "2 shard files") }) {
		t.Errorf("notes %q do not mention the merge", run.Notes)
	}
	// Overlapping shards are refused, naming the files.
	c := shardFile(t, filepath.Join(dir, "c.json"), "1/4:3/4", start, 1, 1)
	if _, err := Load(a, c); err == nil || !strings.Contains(err.Error(), "a.json") {
		t.Errorf("Load of overlapping shards: error %v, want one naming a.json", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want string
	}{
		{"empty.json", "", "unrecognised"},
		{"plain.txt", "hello world\n", "want a camstorm results file"},
		{"other.json", `{"a": 1, "b": [1,2]}`, "unrecognised"},
		{"badschema.json", "{\n  \"schema\": \"camstorm.results/v1\",\n  \"metrics\": 3\n}", "results file"},
		{"badconf.json", "{\n  \"schema\": \"camstorm.conformance/v1\",\n  \"results\": 3\n}", "unrecognised"},
		{"csvnohead.csv", "metric_name,timestamp,metric_value\nx,notatime,1\n", ""},
		{"bom.csv", "\ufeffmetric_name,timestamp,metric_value\niterations,1800000000,1\n", ""},
	} {
		p := writeFile(t, filepath.Join(dir, tc.name), []byte(tc.content))
		_, err := Load(p)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Load(%s = %q): %v, want no error", tc.name, tc.content, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.name)):
			t.Errorf("Load(%s = %q): error %v, want one naming the file and saying %q", tc.name, tc.content, err, tc.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("Load of a missing file: no error")
	}
}

func TestDetectKind(t *testing.T) {
	for _, tc := range []struct{ head, want string }{
		{`{"type":"Metric","data":{"name":"vus","type":"gauge","contains":"default"},"metric":"vus"}` + "\n", FileNDJSON},
		{`{"metric":"vus","type":"Point","data":{"time":"2026-01-01T00:00:00Z","value":1,"tags":null}}`, FileNDJSON},
		{"metric_name,timestamp,metric_value,check\n", FileCSV},
		{"{\n  \"schema\": \"camstorm.results/v1\",\n", FileResults},
		// Fleet and conformance reports are their packages' Formats (LoadWith).
		{`{"schema":"camstorm.conformance/v1","target":"x"}`, ""},
		{"{\n  \"config\": {\"cameras\": 3},\n  \"start\": \"x\",\n  \"cameras_undelivered\": 0", ""},
		{"{\n  \"config\": {\"cameras\": 3}", ""},
		{`{"type":"Point","data":{"tags":{"x":"` + strings.Repeat("a", 100) + `…`, FileNDJSON},
		{"[1,2]", ""},
		{"", ""},
	} {
		if got := detectKind([]byte(tc.head)); got != tc.want {
			t.Errorf("detectKind(%q) = %q, want %q", tc.head, got, tc.want)
		}
	}
}

func TestParseCSVTime(t *testing.T) {
	want := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"1800000000", true}, {"1800000000000", true}, {"1800000000000000", true}, {"1800000000000000000", true},
		{want.UTC().Format(time.RFC3339), true}, {want.Format(time.RFC3339Nano), true}, {"x", false}, {"-5", false},
	} {
		got, ok := parseCSVTime(tc.in)
		if ok != tc.ok || (ok && !got.Equal(want)) {
			t.Errorf("parseCSVTime(%q) = %v, %v; want %v, %v", tc.in, got, ok, want, tc.ok)
		}
	}
}

// TestReplayLongLines checks an over-long line is skipped, not buffered.
func TestReplayLongLines(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString(`{"metric":"iterations","type":"Point","data":{"time":"2026-01-01T00:00:00Z","value":1,"tags":null}}` + "\n")
	b.WriteString(`{"metric":"iterations","type":"Point","data":{"time":"2026-01-01T00:00:01Z","value":1,"tags":{"x":"` + strings.Repeat("a", MaxLineBytes) + `"}}}` + "\n")
	b.WriteString("not json\n")
	b.WriteString(`{"metric":"iterations","type":"Point","data":{"time":"2026-01-01T00:00:02Z","value":1,"tags":null}}`)
	run := loadOne(t, writeFile(t, filepath.Join(dir, "long.ndjson"), []byte(b.String())))
	if got := row(run, mIterations).Values["count"]; got != 2 {
		t.Errorf("iterations count %v, want 2 (the long line skipped)", got)
	}
	for _, want := range []string{"1 unreadable lines", "1 lines longer"} {
		if !slices.ContainsFunc(run.Notes, func(n string) bool { return strings.Contains(n, want) }) {
			t.Errorf("notes %q lack %q", run.Notes, want)
		}
	}
}

// FuzzLoad feeds arbitrary bytes to the detectors and parsers: Load must
// return runs or an error, never panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"type":"Metric","data":{"name":"vus","type":"gauge","contains":"default","thresholds":["value<3"]},"metric":"vus"}` + "\n" +
		`{"metric":"vus","type":"Point","data":{"time":"2026-01-01T00:00:00Z","value":1,"tags":{"ack":"persisted"}}}`))
	f.Add([]byte("metric_name,timestamp,metric_value,extra_tags,metadata\ncamera_ack_latency,1800000000,12.5,ack=persisted&profile=x,\n"))
	f.Add([]byte("{\n  \"schema\": \"camstorm.results/v1\",\n  \"run\": {}, \"metrics\": [], \"series\": []\n}"))
	f.Add([]byte(`{"schema":"camstorm.conformance/v1","results":[{"id":"A","verdict":"fail","duration":1.5}]}`))
	f.Add([]byte(`{"config":{"cameras":1},"cameras_undelivered":0,"per_camera":[{"stream":"s","verification":{"lost_fragments":2}}]}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "in")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		runs, err := Load(p)
		if err == nil && len(runs) != 1 {
			t.Fatalf("Load(%q): %d runs and no error, want 1", data, len(runs))
		}
		_ = detectKind(data)
	})
}

// TestReplaySeriesCap checks that tag sets past MaxReplaySeries are
// refused rather than held.
func TestReplaySeriesCap(t *testing.T) {
	rp := newReplay()
	at := time.Unix(1_800_000_000, 0)
	for i := range MaxReplaySeries + 10 {
		rp.add(mIterations, at, 1, map[string]string{"i": strconv.Itoa(i)})
	}
	rp.flush()
	if n := rp.store.SeriesCount(); n != MaxReplaySeries || rp.capped != 10 {
		t.Errorf("%d series held and %d samples refused, want %d and 10", n, rp.capped, MaxReplaySeries)
	}
}

// TestLoadReadsReportJSON: a report written as JSON (camstorm capacity
// --json) loads back as the same run.
func TestLoadReadsReportJSON(t *testing.T) {
	in := &Run{Schema: SchemaVersion, Kind: KindCapacity, Meta: Meta{Title: "cap"},
		Capacity: &Capacity{SLO: "persisted_p99<2s", Sustainable: 40, Steps: []CapacityStep{{Cameras: 20, Throughput: 20, OK: true}, {Cameras: 40, Throughput: 39.5, OK: true}}}}
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, filepath.Join(t.TempDir(), "cap.json"), b)
	runs, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Kind != KindCapacity || runs[0].Capacity == nil || runs[0].Capacity.Sustainable != 40 || len(runs[0].Capacity.Steps) != 2 {
		t.Fatalf("Load of a capacity report: %+v, want the capacity run back", runs)
	}
}
