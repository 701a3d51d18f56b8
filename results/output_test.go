package results

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The -update flag may also be defined by another test file of the
// package; register it only once.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files in testdata/")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if updating() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

var testZone = time.FixedZone("", 90*60) // +01:30

// outputFixture is a fixed set of samples over three metrics, one with
// thresholds and a sub-metric, one with an aborting threshold.
func outputFixture() []Sample {
	dur := &Metric{Name: "http_req_duration", Type: Trend, Contains: Time,
		Thresholds: []Threshold{{Source: "p(95)<500"}, {Source: "avg<200"}},
		Submetrics: []Submetric{{Name: "http_req_duration{ expected_response:true }",
			Selector: Selector{Metric: "http_req_duration", Tags: map[string]string{"expected_response": "true"}}}},
	}
	acks := &Metric{Name: "camera_acks", Type: Counter,
		Thresholds: []Threshold{{Source: "count>10", AbortOnFail: true, DelayAbortEval: 10 * time.Second},
			{Source: "rate>1", AbortOnFail: true}}}
	vus := &Metric{Name: "vus", Type: Gauge}
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 123456789, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	return []Sample{
		{Metric: vus, Time: t0, Value: 1, Tags: map[string]string{}},
		{Metric: dur, Time: at(10), Value: 151.234,
			Tags: map[string]string{"method": "GET", "name": "https://x/a?b=1&c=2", "status": "200",
				"expected_response": "true", "scenario": "default", "camera_model": "A<1>", "zone": "eu"},
			Metadata: map[string]string{"vu": "3", "iter": "7"}},
		{Metric: acks, Time: at(250), Value: 1, Tags: map[string]string{"ack": "persisted", "msg": "line\nbreak \"q\" \\ \u2028 é"}},
		{Metric: dur, Time: at(260), Value: 1e-7, Tags: nil},
		{Metric: acks, Time: at(1300), Value: 2.5e21, Tags: map[string]string{"check": "ok"}},
		{Metric: vus, Time: at(2000), Value: 0.000001, Tags: map[string]string{}, Metadata: map[string]string{}},
	}
}

func TestJSONOutputGolden(t *testing.T) {
	var buf bytes.Buffer
	o := NewJSONOutput(&buf, OutputOptions{Location: testZone})
	samples := outputFixture()
	if err := o.AddSamples(samples[:3]); err != nil {
		t.Fatal(err)
	}
	if err := o.AddSamples(samples[3:]); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	golden(t, "out.ndjson", buf.Bytes())
}

// TestJSONOutputRecords checks the golden file's rules independently:
// every line is valid JSON, each metric's record comes once and before
// its first point, and points parse back to the sample.
func TestJSONOutputRecords(t *testing.T) {
	var buf bytes.Buffer
	o := NewJSONOutput(&buf, OutputOptions{Location: testZone})
	samples := outputFixture()
	if err := o.AddSamples(samples); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	declared := map[string]int{}
	points := 0
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var rec struct {
			Type   string `json:"type"`
			Metric string `json:"metric"`
			Data   struct {
				Time     time.Time         `json:"time"`
				Value    float64           `json:"value"`
				Tags     map[string]string `json:"tags"`
				Metadata map[string]string `json:"metadata"`
			} `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		switch rec.Type {
		case "Metric":
			declared[rec.Metric]++
		case "Point":
			if declared[rec.Metric] != 1 {
				t.Errorf("point of %s after %d metric records, want 1", rec.Metric, declared[rec.Metric])
			}
			s := samples[points]
			if !rec.Data.Time.Equal(s.Time) || rec.Data.Value != s.Value || len(rec.Data.Tags) != len(s.Tags) {
				t.Errorf("point %d = %+v, want sample %+v", points, rec.Data, s)
			}
			for k, v := range s.Tags {
				if rec.Data.Tags[k] != v {
					t.Errorf("point %d tag %s = %q, want %q", points, k, rec.Data.Tags[k], v)
				}
			}
			points++
		default:
			t.Errorf("record type %q in %q", rec.Type, sc.Text())
		}
	}
	if points != len(samples) {
		t.Errorf("%d points, want %d", points, len(samples))
	}
}

// TestJSONEncodingMatchesEncodingJSON checks the hand-written encoder
// against encoding/json (HTML escaping off, as k6 sets it).
func TestJSONEncodingMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", `q"b\s`, "\b\f\n\r\t\x00\x1f\x7f", "<>&", "é✓\u2028\u2029", "bad\xffutf8\xc3", "{a:b}"}
	for _, s := range strs {
		got := string(appendJSONString(nil, s))
		if want := stdJSON(t, s); got != want {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
	floats := []float64{0, math.Copysign(0, -1), 1, -1.5, 151.234, 1e-6, 9.99e-7, 1e-7, -1e-7, 1e20, 1e21, 2.5e21, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64}
	for _, f := range floats {
		got := string(appendJSONFloat(nil, f))
		if want := stdJSON(t, f); got != want {
			t.Errorf("appendJSONFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

func stdJSON(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func TestJSONOutputSkipsNonFinite(t *testing.T) {
	var buf bytes.Buffer
	o := NewJSONOutput(&buf, OutputOptions{Location: testZone})
	m := &Metric{Name: "g", Type: Gauge}
	err := o.AddSamples([]Sample{{Metric: m, Value: math.NaN()}, {Metric: m, Value: math.Inf(1)}, {Metric: m, Value: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if o.Dropped() != 2 || strings.Count(buf.String(), `"Point"`) != 1 {
		t.Errorf("dropped %d, output %q; want 2 dropped and one point", o.Dropped(), buf.String())
	}
}

// TestJSONOutputFlushesBySampleTime: nothing reaches the writer until
// 200 ms of sample time have passed.
func TestJSONOutputFlushesBySampleTime(t *testing.T) {
	var buf bytes.Buffer
	o := NewJSONOutput(&buf, OutputOptions{})
	m := &Metric{Name: "c", Type: Counter}
	t0 := time.Unix(1000, 0)
	for i, step := range []struct {
		at      time.Duration
		written bool
	}{{0, false}, {100 * time.Millisecond, false}, {199 * time.Millisecond, false}, {200 * time.Millisecond, true}} {
		buf.Reset()
		if err := o.AddSamples([]Sample{{Metric: m, Time: t0.Add(step.at), Value: 1}}); err != nil {
			t.Fatal(err)
		}
		if got := buf.Len() > 0; got != step.written {
			t.Errorf("step %d (sample at +%v): written = %v, want %v", i, step.at, got, step.written)
		}
	}
	// An empty batch writes what is buffered.
	buf.Reset()
	_ = o.AddSamples([]Sample{{Metric: m, Time: t0.Add(300 * time.Millisecond), Value: 1}})
	if buf.Len() != 0 {
		t.Fatalf("sample 100 ms after a flush was written at once")
	}
	if err := o.AddSamples(nil); err != nil || buf.Len() == 0 {
		t.Errorf("AddSamples(nil) wrote %d bytes, err %v; want the buffered point", buf.Len(), err)
	}
}

func TestCSVOutputFlushesBySampleTime(t *testing.T) {
	var buf bytes.Buffer
	o, err := NewCSVOutput(&buf, OutputOptions{SaveInterval: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m := &Metric{Name: "c", Type: Counter}
	t0 := time.Unix(1000, 0)
	for i, step := range []struct {
		at   time.Duration
		rows int
	}{{0, 0}, {time.Second, 0}, {2 * time.Second, 4}} { // header and three rows
		if err := o.AddSamples([]Sample{{Metric: m, Time: t0.Add(step.at), Value: 1}}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(buf.String(), "\n"); got != step.rows {
			t.Errorf("step %d (sample at +%v): %d lines written, want %d", i, step.at, got, step.rows)
		}
	}
	_ = o.AddSamples([]Sample{{Metric: m, Time: t0.Add(2500 * time.Millisecond), Value: 1}})
	if err := o.AddSamples(nil); err != nil || strings.Count(buf.String(), "\n") != 5 {
		t.Errorf("AddSamples(nil): %q, err %v; want the buffered row written", buf.String(), err)
	}
}

func TestCSVOutputGolden(t *testing.T) {
	for _, tf := range []string{"", "rfc3339_nano"} {
		var buf bytes.Buffer
		o, err := NewCSVOutput(&buf, OutputOptions{Location: testZone, TimeFormat: tf})
		if err != nil {
			t.Fatal(err)
		}
		if err := o.AddSamples(outputFixture()); err != nil {
			t.Fatal(err)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		name := "out.csv"
		if tf != "" {
			name = "out_" + tf + ".csv"
		}
		golden(t, name, buf.Bytes())
	}
}

func TestCSVColumns(t *testing.T) {
	var buf bytes.Buffer
	o, err := NewCSVOutput(&buf, OutputOptions{Location: testZone})
	if err != nil {
		t.Fatal(err)
	}
	s := outputFixture()[1]
	if err := o.AddSamples([]Sample{s}); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := "metric_name,timestamp,metric_value,check,error,error_code,expected_response,group,method,name," +
		"proto,scenario,service,status,subproto,tls_version,url,extra_tags,metadata"
	if got := strings.Join(rows[0], ","); got != wantHeader {
		t.Fatalf("header = %s\nwant     %s", got, wantHeader)
	}
	row := map[string]string{}
	for i, col := range rows[0] {
		row[col] = rows[1][i]
	}
	for col, want := range map[string]string{
		"metric_name": "http_req_duration", "timestamp": "1795770000", "metric_value": "151.234000",
		"method": "GET", "status": "200", "name": "https://x/a?b=1&c=2", "expected_response": "true",
		"scenario": "default", "check": "", "url": "",
		"extra_tags": "camera_model=A<1>&zone=eu", "metadata": "iter=7&vu=3",
	} {
		if row[col] != want {
			t.Errorf("column %s = %q, want %q", col, row[col], want)
		}
	}
}

func TestCSVTimeFormats(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 0, 0, 123456789, time.UTC)
	for _, tc := range []struct{ format, want string }{
		{"", "1795770000"},
		{"unix", "1795770000"},
		{"unix_milli", "1795770000123"},
		{"unix_micro", "1795770000123456"},
		{"unix_nano", "1795770000123456789"},
		{"rfc3339", "2026-11-27T10:30:00+01:30"},
		{"rfc3339_nano", "2026-11-27T10:30:00.123456789+01:30"},
	} {
		var buf bytes.Buffer
		o, err := NewCSVOutput(&buf, OutputOptions{TimeFormat: tc.format, Location: testZone})
		if err != nil {
			t.Fatalf("format %q: %v", tc.format, err)
		}
		_ = o.AddSamples([]Sample{{Metric: &Metric{Name: "m"}, Time: at, Value: 1}})
		_ = o.Close()
		rows, _ := csv.NewReader(&buf).ReadAll()
		if len(rows) != 2 || rows[1][1] != tc.want {
			t.Errorf("timeFormat %q: rows %q, want timestamp %q", tc.format, rows, tc.want)
		}
	}
	if _, err := NewCSVOutput(io.Discard, OutputOptions{TimeFormat: "iso"}); !errors.Is(err, ErrOutput) {
		t.Errorf("timeFormat iso: err = %v, want ErrOutput", err)
	}
}

func TestParseOutput(t *testing.T) {
	for _, tc := range []struct {
		spec, kind, target string
		bad                bool
	}{
		{spec: "json", kind: "json"},
		{spec: "csv", kind: "csv"},
		{spec: "json=out.json", kind: "json", target: "out.json"},
		{spec: "json=-", kind: "json", target: "-"},
		{spec: "csv=a=b", kind: "csv", target: "a=b"},
		{spec: "json=", bad: true},
		{spec: "influxdb=http://x", bad: true},
		{spec: "", bad: true},
		{spec: "JSON", bad: true},
	} {
		kind, target, err := ParseOutput(tc.spec)
		if tc.bad {
			if !errors.Is(err, ErrOutput) {
				t.Errorf("ParseOutput(%q) err = %v, want ErrOutput", tc.spec, err)
			}
			continue
		}
		if err != nil || kind != tc.kind || target != tc.target {
			t.Errorf("ParseOutput(%q) = %q, %q, %v; want %q, %q", tc.spec, kind, target, err, tc.kind, tc.target)
		}
	}
	_, _, err := ParseOutput("statsd")
	if err == nil || !strings.Contains(err.Error(), "json, json=FILE, csv or csv=FILE") {
		t.Errorf("unknown kind error %v does not list the kinds", err)
	}
}

func TestOpenOutputStdoutFileGzip(t *testing.T) {
	dir := t.TempDir()
	samples := outputFixture()
	for _, tc := range []struct {
		spec, file string
		gz, stdout bool
		opt        OutputOptions
	}{
		{spec: "json", stdout: true},
		{spec: "json=-", stdout: true},
		{spec: "csv", stdout: true},
		{spec: "json=" + filepath.Join(dir, "a.json"), file: "a.json"},
		{spec: "json=" + filepath.Join(dir, "a.json.gz"), file: "a.json.gz", gz: true},
		{spec: "csv=" + filepath.Join(dir, "a.csv.gz"), file: "a.csv.gz", gz: true},
		{spec: "csv=fileName=" + filepath.Join(dir, "b.csv") + ",timeFormat=unix_nano,saveInterval=2s", file: "b.csv"},
	} {
		var stdout bytes.Buffer
		o, err := OpenOutput(tc.spec, &stdout, OutputOptions{Location: testZone})
		if err != nil {
			t.Fatalf("OpenOutput(%q): %v", tc.spec, err)
		}
		if err := o.AddSamples(samples); err != nil {
			t.Fatal(err)
		}
		if err := o.Close(); err != nil {
			t.Fatalf("%q Close: %v", tc.spec, err)
		}
		got := stdout.Bytes()
		if !tc.stdout {
			if stdout.Len() > 0 {
				t.Errorf("%q wrote %d bytes to stdout", tc.spec, stdout.Len())
			}
			if got, err = os.ReadFile(filepath.Join(dir, tc.file)); err != nil {
				t.Fatal(err)
			}
		}
		if tc.gz {
			zr, err := gzip.NewReader(bytes.NewReader(got))
			if err != nil {
				t.Fatalf("%q: not gzip: %v", tc.spec, err)
			}
			if got, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		want := "metric_name,"
		if strings.HasPrefix(tc.spec, "json") {
			want = `{"type":"Metric"`
		}
		if !bytes.HasPrefix(got, []byte(want)) || bytes.Count(got, []byte("\n")) < len(samples) {
			t.Errorf("%q wrote %q, want %s... and a line a sample", tc.spec, got, want)
		}
		if strings.Contains(tc.spec, "unix_nano") && !bytes.Contains(got, []byte("1795770000123456789")) {
			t.Errorf("%q: timeFormat not applied: %q", tc.spec, got)
		}
	}
	// The gzip round trip gives back exactly the plain output.
	var plain bytes.Buffer
	o := NewJSONOutput(&plain, OutputOptions{Location: testZone})
	_ = o.AddSamples(samples)
	_ = o.Close()
	zf, _ := os.Open(filepath.Join(dir, "a.json.gz"))
	defer zf.Close()
	zr, err := gzip.NewReader(zf)
	if err != nil {
		t.Fatal(err)
	}
	unz, _ := io.ReadAll(zr)
	if !bytes.Equal(unz, plain.Bytes()) {
		t.Errorf("gunzipped file differs from the plain output:\n%s\nwant\n%s", unz, plain.Bytes())
	}
	for _, spec := range []string{"csv=timeFormat=iso", "csv=fileName=x.csv,bogus=1", "csv=saveInterval=-1s"} {
		if _, err := OpenOutput(spec, io.Discard, OutputOptions{}); !errors.Is(err, ErrOutput) {
			t.Errorf("OpenOutput(%q) err = %v, want ErrOutput", spec, err)
		}
	}
}

// BenchmarkNDJSONWrite is the cost of encoding one sample (ns/op is per
// sample) with five tags and two metadata entries: "shared-tags" when
// samples of a series share their tag map, as the runner emits them,
// "distinct-tags" when every sample has its own (no cache hits).
func BenchmarkNDJSONWrite(b *testing.B) {
	m := &Metric{Name: "camera_ack_latency", Type: Trend, Contains: Time}
	t0 := time.Unix(1795770000, 0)
	tags := func() map[string]string {
		return map[string]string{"scenario": "fleet", "ack": "persisted", "stream": "cam-0042", "profile": "flaky", "status": "200"}
	}
	for _, tc := range []struct {
		name   string
		n      int
		shared bool
	}{{"shared-tags", 100, true}, {"distinct-tags", 4 * tagCacheSize, false}} {
		b.Run(tc.name, func(b *testing.B) {
			shared := tags()
			batch := make([]Sample, tc.n)
			for i := range batch {
				t := shared
				if !tc.shared {
					t = tags()
				}
				batch[i] = Sample{Metric: m, Time: t0.Add(time.Duration(i) * time.Millisecond), Value: 12.345 + float64(i),
					Tags: t, Metadata: map[string]string{"vu": "42", "iter": "1234"}}
			}
			o := NewJSONOutput(io.Discard, OutputOptions{Location: time.UTC})
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := o.AddSamples(batch[i%len(batch) : i%len(batch)+1]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			_ = o.Close()
		})
	}
}

// FuzzJSONEncoding holds the hand-written encoder to encoding/json's
// bytes for any string and finite float.
func FuzzJSONEncoding(f *testing.F) {
	f.Add("plain", 1.5)
	f.Add("\u2028<&>\x00\xff", 1e-7)
	f.Add(`"\`, 2.5e21)
	f.Fuzz(func(t *testing.T, s string, v float64) {
		if got, want := string(appendJSONString(nil, s)), stdJSON(t, s); got != want {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		if got, want := string(appendJSONFloat(nil, v)), stdJSON(t, v); got != want {
			t.Errorf("appendJSONFloat(%v) = %s, want %s", v, got, want)
		}
	})
}

// FuzzParseOutput: any spec either parses to a known kind or fails with
// ErrOutput, never panics.
func FuzzParseOutput(f *testing.F) {
	for _, s := range []string{"json", "csv=a.csv", "json=", "x=y", "csv=fileName=a,timeFormat=unix"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		kind, _, err := ParseOutput(spec)
		if err != nil {
			if !errors.Is(err, ErrOutput) {
				t.Errorf("ParseOutput(%q) err %v is not ErrOutput", spec, err)
			}
			return
		}
		if kind != OutputJSON && kind != OutputCSV {
			t.Errorf("ParseOutput(%q) kind %q", spec, kind)
		}
	})
}

// BenchmarkNDJSONEncodingJSON is the reflection baseline the hand-written
// encoder replaces: the same Point record through encoding/json, as k6
// writes it.
func BenchmarkNDJSONEncodingJSON(b *testing.B) {
	type point struct {
		Metric string `json:"metric"`
		Type   string `json:"type"`
		Data   struct {
			Time     time.Time         `json:"time"`
			Value    float64           `json:"value"`
			Tags     map[string]string `json:"tags"`
			Metadata map[string]string `json:"metadata,omitempty"`
		} `json:"data"`
	}
	var p point
	p.Metric, p.Type = "camera_ack_latency", "Point"
	p.Data.Time = time.Unix(1795770000, 0).UTC()
	p.Data.Value = 12.345
	p.Data.Tags = map[string]string{"scenario": "fleet", "ack": "persisted", "stream": "cam-0042", "profile": "flaky", "status": "200"}
	p.Data.Metadata = map[string]string{"vu": "42", "iter": "1234"}
	enc := json.NewEncoder(io.Discard)
	enc.SetEscapeHTML(false)
	b.ReportAllocs()
	for b.Loop() {
		if err := enc.Encode(&p); err != nil {
			b.Fatal(err)
		}
	}
}
