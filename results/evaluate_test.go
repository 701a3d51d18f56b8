package results

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestThresholdSpecJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string][]ThresholdSpec
		wantErr string
	}{
		{`{"latency":["p(95)<200", {"threshold":"max<1000","abortOnFail":true,"delayAbortEval":"10s"}]}`,
			map[string][]ThresholdSpec{"latency": {{Threshold: "p(95)<200"}, {Threshold: "max<1000", AbortOnFail: true, DelayAbortEval: "10s"}}}, ""},
		{`{"ok":[{"threshold":"rate>0.9","delayAbortEval":1500}]}`,
			map[string][]ThresholdSpec{"ok": {{Threshold: "rate>0.9", DelayAbortEval: "1500"}}}, ""},
		{`{"ok":[{"threshold":"rate>0.9","abortOnFial":true}]}`, nil, `unknown field "abortOnFial"`},
		{`{"ok":[{"abortOnFail":true}]}`, nil, `"threshold" must be a non-empty string`},
		{`{"ok":[42]}`, nil, "want a string or"},
		{`{"ok":[{"threshold":"rate>0.9","abortOnFail":"yes"}]}`, nil, `"abortOnFail" must be true or false`},
	}
	for _, tc := range tests {
		var got map[string][]ThresholdSpec
		err := json.Unmarshal([]byte(tc.in), &got)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrThreshold) {
				t.Errorf("Unmarshal(%s) error = %v, want ErrThreshold containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !jsonEqual(got, tc.want) {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		out, _ := json.Marshal(got)
		var back map[string][]ThresholdSpec
		if err := json.Unmarshal(out, &back); err != nil || !jsonEqual(back, tc.want) {
			t.Errorf("round trip of %s via %s = %+v, %v", tc.in, out, back, err)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestParseK6Duration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"10s", 10 * time.Second, true}, {"1m30s", 90 * time.Second, true}, {"1d2h", 26 * time.Hour, true},
		{"2d", 48 * time.Hour, true}, {"1500", 1500 * time.Millisecond, true}, {"0.5", 500 * time.Microsecond, true},
		{"", 0, false}, {"ten", 0, false}, {"1e300", 0, false}, {"xd1h", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseK6Duration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseK6Duration(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestNewThresholdsReportsEveryProblem(t *testing.T) {
	reg, _ := testMetrics(t)
	specs := map[string][]ThresholdSpec{
		"latency":         {{Threshold: "p(95)<200"}, {Threshold: "rate>1"}},
		"missing":         {{Threshold: "count>0"}},
		"ok{scenario":     {{Threshold: "rate>0.5"}},
		"reqs":            {{Threshold: "count>0", AbortOnFail: true, DelayAbortEval: "soon"}},
		"vus{scenario:a}": {{Threshold: "value<"}},
	}
	_, err := NewThresholds(specs, reg)
	if err == nil || !errors.Is(err, ErrThreshold) {
		t.Fatalf("NewThresholds(%v) = %v, want ErrThreshold", specs, err)
	}
	msg := err.Error()
	wantInOrder := []string{`rate is not defined for a trend metric`, `no metric "missing"; the run has latency, ok, reqs, vus`,
		`"ok{scenario"`, `delayAbortEval "soon"`, `"vus{scenario:a}"`}
	at := 0
	for _, w := range wantInOrder {
		i := strings.Index(msg[at:], w)
		if i < 0 {
			t.Errorf("error %q lacks %q (after offset %d)", msg, w, at)
			continue
		}
		at += i
	}
	if m := reg.Get("latency"); len(m.Thresholds) != 0 {
		t.Errorf("failed NewThresholds recorded %v on latency, want nothing", m.Thresholds)
	}
}

func TestEvaluate(t *testing.T) {
	reg, ms := testMetrics(t)
	specs := map[string][]ThresholdSpec{
		"latency":               {{Threshold: "p(95)<200"}, {Threshold: "avg<100", AbortOnFail: true, DelayAbortEval: "10s"}},
		"latency{scenario:b}":   {{Threshold: "max<1"}},
		"ok":                    {{Threshold: "rate>0.99"}},
		"reqs":                  {{Threshold: "count>0"}, {Threshold: "rate<=1"}},
		"vus":                   {{Threshold: "value==0"}},
		"reqs{status:500}":      {{Threshold: "count<1"}},
		"latency{scenario:'a'}": {{Threshold: "med>=150"}},
	}
	th, err := NewThresholds(specs, reg)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(th.Keys(), " "); got != "latency latency{scenario:'a'} latency{scenario:b} ok reqs reqs{status:500} vus" {
		t.Errorf("Keys() = %s", got)
	}
	if len(ms[Trend].Thresholds) != 2 || len(ms[Trend].Submetrics) != 2 || ms[Trend].Submetrics[0].Selector.Tags["scenario"] != "a" {
		t.Errorf("recorded on latency: %+v / %+v", ms[Trend].Thresholds, ms[Trend].Submetrics)
	}

	s := NewStore()
	for _, v := range []float64{100, 150, 200, 300} {
		s.Add(Sample{Metric: ms[Trend], Time: t0, Value: v, Tags: map[string]string{"scenario": "a"}})
	}
	s.Add(Sample{Metric: ms[Counter], Time: t0, Value: 3})

	type want struct {
		key, expr string
		got       float64
		ok, empty bool
	}
	check := func(name string, vs []Verdict, wants []want) {
		t.Helper()
		if len(vs) != len(wants) {
			t.Fatalf("%s: %d verdicts %+v, want %d", name, len(vs), vs, len(wants))
		}
		for i, w := range wants {
			v := vs[i]
			if v.Key != w.key || v.Threshold.Source != w.expr || v.OK != w.ok || v.Empty != w.empty || (w.got >= 0 && v.Got != w.got) {
				t.Errorf("%s: verdict %d = %s %s got %v ok %v empty %v; want %+v", name, i, v.Key, v.Threshold.Source, v.Got, v.OK, v.Empty, w)
			}
		}
	}
	during := th.Evaluate(s, 5*time.Second, false)
	check("during", during, []want{
		{"latency", "p(95)<200", -1, false, false},
		{"latency", "avg<100", 187.5, false, false},
		{"latency{scenario:'a'}", "med>=150", -1, true, false},
		{"reqs", "count>0", 3, true, false},
		{"reqs", "rate<=1", 0.6, true, false},
	})
	if AbortNow(during, 5*time.Second) || !AbortNow(during, 10*time.Second) || !Failed(during) {
		t.Errorf("AbortNow at 5s/10s = %v/%v, Failed = %v; want false/true, true",
			AbortNow(during, 5*time.Second), AbortNow(during, 10*time.Second), Failed(during))
	}
	final := th.Evaluate(s, 5*time.Second, true)
	check("final", final, []want{
		{"latency", "p(95)<200", -1, false, false},
		{"latency", "avg<100", 187.5, false, false},
		{"latency{scenario:'a'}", "med>=150", -1, true, false},
		{"latency{scenario:b}", "max<1", 0, true, true},
		{"ok", "rate>0.99", 0, true, true},
		{"reqs", "count>0", 3, true, false},
		{"reqs", "rate<=1", 0.6, true, false},
		{"reqs{status:500}", "count<1", 0, true, true},
		{"vus", "value==0", 0, true, true},
	})
}

func TestEvaluateEmptyFinal(t *testing.T) {
	reg, _ := testMetrics(t)
	th, err := NewThresholds(map[string][]ThresholdSpec{"reqs": {{Threshold: "count>0"}}, "ok": {{Threshold: "rate>0.99"}}}, reg)
	if err != nil {
		t.Fatal(err)
	}
	vs := th.Evaluate(NewStore(), time.Second, true)
	if len(vs) != 2 || !vs[0].OK || vs[1].OK || !Failed(vs) {
		t.Errorf("empty final: %+v; want ok passes (empty Rate), reqs count>0 fails", vs)
	}
	if vs := th.Evaluate(NewStore(), time.Second, false); len(vs) != 0 {
		t.Errorf("empty during the run: %+v, want none", vs)
	}
}
