package results

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

var testSpecs = map[string][]ThresholdSpec{
	"latency":             {{Threshold: "p(95)<100"}, {Threshold: "avg<50", AbortOnFail: true, DelayAbortEval: "10s"}},
	"latency{scenario:a}": {{Threshold: "med>0"}},
	"ok":                  {{Threshold: "rate>0.5"}},
	"reqs":                {{Threshold: "count>10"}},
	"vus":                 {{Threshold: "value<1000"}},
}

// runState is one (partial) run: samples in a store plus checks.
func runState(t *testing.T, samples []Sample, checks [][2]string) (*Registry, *Store, *Thresholds, *Checks) {
	t.Helper()
	reg, ms := testMetrics(t)
	for i := range samples {
		samples[i].Metric = ms[samples[i].Metric.Type]
	}
	s := NewStore()
	s.Add(samples...)
	th, err := NewThresholds(testSpecs, reg)
	if err != nil {
		t.Fatal(err)
	}
	c := NewChecks()
	for _, ch := range checks {
		c.Record(ch[0], ch[1], len(ch[1])%2 == 0)
	}
	return reg, s, th, c
}

func roundTrip(t *testing.T, f *File) *File {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteFile(&buf, f); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFile(&buf)
	if err != nil {
		t.Fatalf("ReadFile(WriteFile(f)): %v", err)
	}
	return back
}

var testChecks = [][2]string{{"", "status"}, {"::login", "token"}, {"::login::mfa", "code"}, {"", "status"}, {"::cart", "added"}, {"::login", "token"}}

func TestFileRoundTrip(t *testing.T) {
	_, ms := testMetrics(t)
	samples := randomSamples(ms, 5000, 9)
	samples = append(samples, Sample{Metric: ms[Trend], Value: 2e9, Time: t0}, Sample{Metric: ms[Trend], Value: -3.25, Time: t0})
	reg, s, th, c := runState(t, samples, testChecks)
	run := RunInfo{Script: "cams.js", Version: "v0.1.0", Seed: 42, Start: t0, End: t0.Add(time.Minute), Tags: map[string]string{"env": "ci"}}
	back := roundTrip(t, NewFile(run, reg, s, th, c))
	if !reflect.DeepEqual(back.Run, run) {
		t.Errorf("run = %+v, want %+v", back.Run, run)
	}
	_, s2, th2, c2, err := back.Load()
	if err != nil {
		t.Fatal(err)
	}
	assertSameAggregates(t, s, s2, "loaded file")
	want, got := th.Evaluate(s, time.Minute, true), th2.Evaluate(s2, time.Minute, true)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("verdicts after round trip =\n%v\nwant\n%v", got, want)
	}
	if describe(c2.Root()) != describe(c.Root()) {
		t.Errorf("checks after round trip = %s, want %s", describe(c2.Root()), describe(c.Root()))
	}
}

func TestMergeFilesEqualsWholeRun(t *testing.T) {
	_, ms := testMetrics(t)
	samples := randomSamples(ms, 20_000, 5)
	_, whole, th, wholeChecks := runState(t, samples, testChecks)
	reg1, s1, th1, c1 := runState(t, samples[:11_000], testChecks[:2])
	reg2, s2, th2, c2 := runState(t, samples[11_000:], testChecks[2:])
	seq := "0,1/2,1"
	f1 := NewFile(RunInfo{Script: "x.js", Segment: "0:1/2", Sequence: seq, Start: t0.Add(time.Second), End: t0.Add(time.Minute)}, reg1, s1, th1, c1)
	f2 := NewFile(RunInfo{Script: "x.js", Segment: "50%:100%", Sequence: seq, Start: t0, End: t0.Add(time.Hour)}, reg2, s2, th2, c2)
	merged, err := MergeFiles(roundTrip(t, f1), roundTrip(t, f2))
	if err != nil {
		t.Fatal(err)
	}
	merged = roundTrip(t, merged)
	if merged.Run.Start != t0 || merged.Run.End != t0.Add(time.Hour) || merged.Run.Segment != "0:1" || merged.Run.Sequence != seq {
		t.Errorf("merged run = %+v; want start %v, end %v, segment 0:1, sequence %s", merged.Run, t0, t0.Add(time.Hour), seq)
	}
	_, ms2, mth, mc, err := merged.Load()
	if err != nil {
		t.Fatal(err)
	}
	assertSameAggregates(t, whole, ms2, "merged files")
	if got, want := fmt.Sprint(mth.Evaluate(ms2, time.Hour, true)), fmt.Sprint(th.Evaluate(whole, time.Hour, true)); got != want {
		t.Errorf("merged verdicts =\n%s\nwant\n%s", got, want)
	}
	if got, want := describe(mc.Root()), describe(wholeChecks.Root()); got != want {
		t.Errorf("merged checks = %s\nwant %s", got, want)
	}
}

func TestMergeFilesErrors(t *testing.T) {
	base := func(seg string) *File {
		reg, _ := testMetrics(t)
		th, err := NewThresholds(map[string][]ThresholdSpec{"reqs": {{Threshold: "count>0"}}}, reg)
		if err != nil {
			t.Fatal(err)
		}
		return NewFile(RunInfo{Segment: seg}, reg, NewStore(), th, nil)
	}
	otherThresholds := base("1/2:1")
	otherThresholds.Thresholds["reqs"] = []ThresholdSpec{{Threshold: "count>1"}}
	conflict := base("1/2:1")
	for i := range conflict.Metrics {
		if conflict.Metrics[i].Name == "ok" {
			conflict.Metrics[i].Type = "gauge"
		}
	}
	otherSeq := base("1/2:1")
	otherSeq.Run.Sequence = "0,1/3,1"
	withSeq := base("0:1/2")
	withSeq.Run.Sequence = "0,1/2,1"
	tests := []struct {
		name  string
		files []*File
		want  string
	}{
		{"none", nil, "no files"},
		{"same segment", []*File{base("0:1/2"), base("0:50%")}, "overlaps file 1 (segment 0:1/2)"},
		{"overlap", []*File{base("0:1/2"), base("1/4:3/4")}, "overlaps"},
		{"bad segment", []*File{base("0:1/2"), base("3/4:1/4")}, `segment "3/4:1/4"`},
		{"thresholds", []*File{base("0:1/2"), otherThresholds}, "file 2 has other thresholds"},
		{"type conflict", []*File{base("0:1/2"), conflict}, `"ok" is already a rate metric`},
		{"sequence", []*File{withSeq, otherSeq}, "segment sequence"},
		// An unsharded run is the whole test: merged with anything it counts twice.
		{"unsharded twice", []*File{base(""), base("")}, "overlaps file 1 (segment 0:1)"},
		{"whole twice", []*File{base("0:1"), base("0:1")}, "overlaps"},
		{"unsharded and a shard", []*File{base(""), base("0:1/2")}, "overlaps"},
	}
	for _, tc := range tests {
		_, err := MergeFiles(tc.files...)
		if err == nil || !errors.Is(err, ErrFile) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: MergeFiles error = %v, want ErrFile containing %q", tc.name, err, tc.want)
		}
	}
	for _, ok := range [][2]string{{"0:1/2", "1/2:1"}, {"0:1/4", "3/4:1"}} {
		m, err := MergeFiles(base(ok[0]), base(ok[1]))
		if err != nil {
			t.Errorf("MergeFiles(segments %q, %q) = %v, want success", ok[0], ok[1], err)
		} else if ok == [2]string{"0:1/4", "3/4:1"} && m.Run.Segment != "0:1/4,3/4:1" {
			t.Errorf("merged segment of 0:1/4 and 3/4:1 = %q, want 0:1/4,3/4:1", m.Run.Segment)
		}
	}
}

// validFileJSON is a small file with one series of each type.
func validFileJSON(t testing.TB) string {
	reg, ms := testMetrics(t)
	s := NewStore()
	for i, v := range []float64{1, -2, 0, 3.5} {
		for _, m := range ms {
			s.Add(Sample{Metric: m, Time: t0.Add(time.Duration(i)), Value: v, Tags: map[string]string{"k": "v"}})
		}
	}
	c := NewChecks()
	c.Record("::g", "c", true)
	th, err := NewThresholds(map[string][]ThresholdSpec{"reqs": {{Threshold: "count>0"}}}, reg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteFile(&buf, NewFile(RunInfo{Script: "a.js"}, reg, s, th, c)); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestReadFileErrors(t *testing.T) {
	valid := validFileJSON(t)
	if _, err := ReadFile(strings.NewReader(valid)); err != nil {
		t.Fatalf("ReadFile(valid) = %v", err)
	}
	sub := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("valid file lacks %q", old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	goodHist := between(valid, `"positive": "`, `"`)
	tests := []struct {
		name, in, want string
	}{
		{"schema", sub(FileSchema, "camstorm.results/v0"), `schema "camstorm.results/v0"`},
		{"unknown field", sub(`"script"`, `"scirpt"`), `unknown field "scirpt"`},
		{"metric type", sub(`"type": "gauge"`, `"type": "histogram"`), `metric "vus": unknown type "histogram"`},
		{"type conflict", sub(`"name": "vus"`, `"name": "reqs"`), `"reqs" is already a counter metric`},
		{"undefined metric", sub(`"metric": "vus"`, `"metric": "nope"`), `series nope{k=v}: metric "nope" is not defined`},
		{"state type", sub(`"type": "rate"`, `"type": "counter"`), "series ok{k=v}: holds rate state but the metric is a counter"},
		{"bad histogram", sub(goodHist, "AAAA"+goodHist[4:]), "series latency{k=v}: positive histogram"},
		{"not base64", sub(goodHist, "!!"), "series latency{k=v}: positive histogram is not base64"},
		{"counts mismatch", sub(`"zeros": 1`, `"zeros": 2`), "series latency{k=v}: 4 samples but the histograms hold 3 and zeros 2"},
		{"threshold", sub(`"count>0"`, `"value>0"`), "thresholds:"},
		{"trailing", valid + "{}", "data after"},
		{"truncated", valid[:len(valid)/2], "unexpected EOF"},
		{"check counts", sub(`"passes": 1`, `"passes": -1`), "negative counts"},
	}
	for _, tc := range tests {
		_, err := ReadFile(strings.NewReader(tc.in))
		if err == nil || !errors.Is(err, ErrFile) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ReadFile error = %v, want ErrFile containing %q", tc.name, err, tc.want)
		}
	}
	var f File
	f.Schema = FileSchema
	f.Series = []FileSeries{{Metric: "x", Trend: &TrendState{Sum: math.Inf(1)}}}
	if err := WriteFile(&bytes.Buffer{}, &f); err == nil || !strings.Contains(err.Error(), "series x holds +Inf") {
		t.Errorf("WriteFile(+Inf sum) = %v, want an error naming series x", err)
	}
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	return s[:strings.Index(s, b)]
}

func TestHistogramEncodingMatchesLibrary(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 10, 100_000} {
		var a, b TrendSink
		for range n {
			v := math.Exp(r.NormFloat64()*4) - 1
			a.Add(v, t0)
			b.Add(v*3, t0)
		}
		text, err := encodeHistogram(a.pos)
		if err != nil {
			t.Fatal(err)
		}
		ours, total, err := decodeHistogram(text, true)
		if err != nil || total != a.pos.TotalCount() {
			t.Fatalf("n=%d: decodeHistogram = total %d, %v; want %d", n, total, err, a.pos.TotalCount())
		}
		lib, err := hdrhistogram.Decode([]byte(text))
		if err != nil || !lib.Equals(ours) || !ours.Equals(a.pos) {
			t.Errorf("n=%d: library Decode %v, equal to ours %v, ours equal to original %v", n, err, lib.Equals(ours), ours.Equals(a.pos))
		}
		// decode → merge is exact.
		want := a.pos.Export()
		merged := newTrendHistogram()
		merged.Merge(ours)
		if !reflect.DeepEqual(merged.Export(), want) {
			t.Errorf("n=%d: decode→merge differs from the original", n)
		}
	}
}

func FuzzReadFile(f *testing.F) {
	valid := validFileJSON(f)
	f.Add([]byte(valid))
	f.Add([]byte(`{"schema":"camstorm.results/v1","run":{},"metrics":[{"name":"t_x","type":"trend","contains":"time"}],` +
		`"series":[{"metric":"t_x","trend":{"samples":1,"positive":"HISTFAAAAB54nJNpmSzMwMDAxQABzFCaEUzOmgRhAQA0ZgKe"}}]}`))
	f.Add([]byte(`{"schema":"camstorm.results/v1","checks":{"groups":[{"name":"a","groups":[null]}]}}`))
	f.Add([]byte(`{"schema":"camstorm.results/v1","run":{},"metrics":[{"name":"t_x","type":"trend","contains":"time"}],` +
		`"series":[{"metric":"t_x","trend":{"samples":1,"sum":5,"min":5,"max":5,"exact":[5],"positive":"HISTFAAAAB54nJNpmSzMwMDAxQABzFCaEUzOmgRhAQA0ZgKe"},` +
		`"timeline":{"width_ns":1000000000,"first":1800000000,"buckets":[{"n":1,"sum":5,"hist":{"count":1,"sum":5,"min":5,"max":5,"pos":{"offset":81,"counts":[1]}}},null]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ReadFile(bytes.NewReader(data))
		if err != nil {
			return
		}
		if _, _, _, _, err := file.Load(); err != nil {
			t.Fatalf("ReadFile accepted a file Load rejects: %v", err)
		}
		var buf bytes.Buffer
		if err := WriteFile(&buf, file); err != nil {
			t.Fatalf("WriteFile of a read file: %v", err)
		}
		if _, err := MergeFiles(file, file); err != nil && !strings.Contains(err.Error(), "overlaps") {
			t.Fatalf("MergeFiles(f, f): %v", err)
		}
	})
}

func FuzzDecodeHistogram(f *testing.F) {
	var s TrendSink
	for _, v := range []float64{1, 2, 3000, 1e6} {
		s.Add(v, t0)
	}
	text, _ := encodeHistogram(s.pos)
	f.Add(text)
	f.Fuzz(func(t *testing.T, text string) {
		h, total, err := decodeHistogram(text, true)
		if err == nil && h != nil && h.TotalCount() != total {
			t.Fatalf("total %d, histogram holds %d", total, h.TotalCount())
		}
	})
}

// autoClaim makes v2Text state the true compressed length.
const autoClaim = math.MinInt32

// v2Text builds V2 compressed text around an inner body.
func v2Text(t *testing.T, body []byte, claim int32) string {
	t.Helper()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(body)
	zw.Close()
	raw := binary.BigEndian.AppendUint32(nil, uint32(hdrhistogram.V2CompressedEncodingCookieBase|0x10))
	if claim == autoClaim {
		claim = int32(z.Len())
	}
	raw = binary.BigEndian.AppendUint32(raw, uint32(claim))
	return base64.StdEncoding.EncodeToString(append(raw, z.Bytes()...))
}

// v2Body is a V2 header for a layout and a payload.
func v2Body(digits int32, lowest, highest int64, payload []byte) []byte {
	be := binary.BigEndian
	b := be.AppendUint32(nil, uint32(hdrhistogram.V2EncodingCookieBase|0x10))
	b = be.AppendUint32(b, uint32(len(payload)))
	b = be.AppendUint32(b, 1)
	b = be.AppendUint32(b, uint32(digits))
	b = be.AppendUint64(b, uint64(lowest))
	b = be.AppendUint64(b, uint64(highest))
	b = be.AppendUint64(b, math.Float64bits(1))
	return append(b, payload...)
}

func TestDecodeHistogramRejects(t *testing.T) {
	ok := v2Body(3, 1, 1e10, []byte{2}) // one counter holding 1
	tests := []struct {
		name, text, want string
	}{
		{"valid", v2Text(t, ok, autoClaim), ""},
		{"inflation bomb", v2Text(t, v2Body(3, 1, 1e10, make([]byte, 400_000)), autoClaim), "inflates past"},
		{"other layout", v2Text(t, v2Body(2, 1, 1e10, nil), autoClaim), "layout 1..10000000000 at 2 digits"},
		{"claims more", v2Text(t, ok, 1<<30), "claims 1073741824 compressed bytes"},
		{"negative claim", v2Text(t, ok, -5), "claims -5"},
		{"zero run past end", v2Text(t, v2Body(3, 1, 1e10, []byte{0xff, 0xff, 0x03}), autoClaim), "zero run"},
		{"truncated varint", v2Text(t, v2Body(3, 1, 1e10, []byte{0x80}), autoClaim), "truncated"},
		{"short", base64.StdEncoding.EncodeToString([]byte{1, 2}), "too short"},
		{"too long", strings.Repeat("A", maxHistogramText+4), "more than"},
	}
	for _, tc := range tests {
		_, total, err := decodeHistogram(tc.text, true)
		if tc.want == "" {
			if err != nil || total != 1 {
				t.Errorf("%s: decodeHistogram = %d, %v; want 1, nil", tc.name, total, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: decodeHistogram error = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
