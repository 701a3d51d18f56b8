package results

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// summaryFixture is a run with every metric type, a sub-metric, checks in
// nested groups, passed and failed thresholds, a metric never seen and one
// seen only through its threshold. Aggregates come from a table, so the
// summary is tested apart from the store.
func summaryFixture() SummaryInput {
	trend := func(n int64, sum, lo, hi float64) Aggregate {
		return Aggregate{Type: Trend, Samples: n, Sum: sum, Min: lo, Max: hi,
			Quantile: func(q float64) float64 { return lo + q*(hi-lo) }}
	}
	aggs := map[string]Aggregate{
		"checks":                        {Type: Rate, Samples: 20, Passes: 18, Fails: 2},
		"http_req_duration":             trend(10, 1512.3, 120.5, 402.77),
		"http_req_duration{status:200}": trend(9, 1300, 120.5, 300),
		"http_req_failed":               {Type: Rate, Samples: 10, Fails: 10},
		"http_reqs":                     {Type: Counter, Samples: 10, Sum: 10},
		"http_req_waiting":              trend(10, 1000, 90, 300),
		"group_duration":                trend(4, 4000, 900, 1100),
		"iteration_duration":            trend(10, 11500, 1120, 1400),
		"iterations":                    {Type: Counter, Samples: 10, Sum: 10},
		"vus":                           {Type: Gauge, Samples: 10, Last: 1, Min: 1, Max: 1},
		"vus_max":                       {Type: Gauge, Samples: 10, Last: 1, Min: 1, Max: 1},
		"data_received":                 {Type: Counter, Samples: 10, Sum: 31234},
		"data_sent":                     {Type: Counter, Samples: 10, Sum: 1100},
		"camera_acks":                   {Type: Counter, Samples: 30, Sum: 30},
		"camera_queue":                  {Type: Gauge, Samples: 3, Last: 7, Min: 1, Max: 12},
		"camera_persisted":              {Type: Rate, Samples: 10, Passes: 3, Fails: 7},
		"camera_ack_latency":            trend(4, 170, 10, 99),
		"camera_frames":                 trend(4, 170, 10, 99),
	}
	metric := func(name string, t MetricType, c Contains, thresholds ...string) *Metric {
		m := &Metric{Name: name, Type: t, Contains: c}
		for _, src := range thresholds {
			th, err := ParseThreshold(src)
			if err != nil {
				panic(err)
			}
			m.Thresholds = append(m.Thresholds, th)
		}
		return m
	}
	dur := metric("http_req_duration", Trend, Time, "p(95)<500", "p(99.9) < 1000")
	dur.Submetrics = []Submetric{{Name: "http_req_duration{ status:200 }",
		Selector:   Selector{Metric: "http_req_duration", Tags: map[string]string{"status": "200"}},
		Thresholds: []Threshold{{Source: "max<250", Aggregation: Aggregation{Name: "max"}, Operator: Less, Value: 250}}}}
	frames := metric("camera_frames", Trend, Default, "count>3")
	metrics := []*Metric{
		metric("checks", Rate, Default, "rate>0.99"),
		dur,
		metric("http_req_failed", Rate, Default, "rate<0.01"),
		metric("http_reqs", Counter, Default),
		metric("http_req_waiting", Trend, Time),
		metric("group_duration", Trend, Time),
		metric("iteration_duration", Trend, Time),
		metric("iterations", Counter, Default),
		metric("vus", Gauge, Default),
		metric("vus_max", Gauge, Default),
		metric("data_received", Counter, Data),
		metric("data_sent", Counter, Data),
		metric("camera_acks", Counter, Default, "count>=10", "rate>5"),
		metric("camera_queue", Gauge, Default, "value<10"),
		metric("camera_persisted", Rate, Default),
		metric("camera_ack_latency", Trend, Time, "avg<100", "max<50"),
		frames,
		metric("camera_never_seen", Counter, Default),
		metric("camera_unreached", Counter, Default, "count>0"),
	}
	verdicts := []Verdict{
		{Key: "checks", Threshold: metrics[0].Thresholds[0], OK: false},
		{Key: "http_req_duration", Threshold: dur.Thresholds[0], OK: true},
		{Key: "http_req_duration{ status:200 }", Threshold: dur.Submetrics[0].Thresholds[0], OK: false},
		{Key: "http_req_failed", Threshold: metrics[2].Thresholds[0], OK: false},
		{Key: "camera_ack_latency", Threshold: metrics[15].Thresholds[1], OK: false},
		{Key: "camera_unreached", Threshold: metrics[18].Thresholds[0], OK: false},
	}
	root := &Group{
		Checks: []*Check{{Name: "status is 200", Path: "::status is 200", Passes: 5}},
		Groups: []*Group{{Name: "login", Path: "::login",
			Checks: []*Check{{Name: "body has id", Path: "::login::body has id", Passes: 8, Fails: 2}},
			Groups: []*Group{{Name: "inner", Path: "::login::inner",
				Checks: []*Check{{Name: "status is 200", Path: "::login::inner::status is 200", Passes: 5}}}},
		}},
	}
	return SummaryInput{
		Metrics: metrics,
		Aggregate: func(name string, sel Selector) (Aggregate, bool) {
			key := name
			if len(sel.Tags) > 0 {
				key = name + "{" + strings.ReplaceAll(SeriesKey(sel.Tags), "=", ":") + "}"
			}
			a, ok := aggs[key]
			return a, ok
		},
		Verdicts:    verdicts,
		Root:        root,
		Duration:    10551 * time.Millisecond,
		SetupData:   map[string]any{"token": "<abc>"},
		IsStdOutTTY: true,
	}
}

// lin is the fixture's quantile, computed at run time as the code does
// (constant expressions would be exact and differ in the last bit).
func lin(lo, hi, q float64) float64 { return lo + q*(hi-lo) }

// perRun is a rate over the fixture's duration, computed at run time.
func perRun(n float64) float64 { return n / (10551 * time.Millisecond).Seconds() }

func TestSummaryDataShape(t *testing.T) {
	data := SummaryData(summaryFixture())
	metrics := data["metrics"].(map[string]any)
	for name, want := range map[string]map[string]any{
		"http_reqs":        {"count": 10.0, "rate": perRun(10)},
		"vus":              {"value": 1.0, "min": 1.0, "max": 1.0},
		"http_req_failed":  {"rate": 0.0, "passes": 0.0, "fails": 10.0},
		"camera_persisted": {"rate": 0.3, "passes": 3.0, "fails": 7.0},
		"camera_ack_latency": {"avg": 42.5, "min": 10.0, "med": 54.5, "max": 99.0,
			"p(90)": lin(10, 99, 0.9), "p(95)": lin(10, 99, 0.95)},
		"http_req_duration{status:200}": {"avg": 1300 / 9.0, "min": 120.5, "med": 210.25, "max": 300.0,
			"p(90)": lin(120.5, 300, 0.9), "p(95)": lin(120.5, 300, 0.95)},
		"camera_unreached": {"count": 0.0, "rate": 0.0},
	} {
		m, ok := metrics[name].(map[string]any)
		if !ok {
			t.Errorf("metrics[%q] missing; have %v", name, keys(metrics))
			continue
		}
		if got := m["values"]; !reflect.DeepEqual(got, map[string]any(want)) {
			t.Errorf("metrics[%q].values = %v, want %v", name, got, want)
		}
	}
	for name, want := range map[string][2]string{
		"checks": {"rate", "default"}, "http_req_duration": {"trend", "time"}, "data_sent": {"counter", "data"},
		"vus_max": {"gauge", "default"}, "http_req_duration{status:200}": {"trend", "time"},
	} {
		m := metrics[name].(map[string]any)
		if m["type"] != want[0] || m["contains"] != want[1] {
			t.Errorf("metrics[%q] type, contains = %v, %v; want %v", name, m["type"], m["contains"], want)
		}
	}
	if _, ok := metrics["camera_never_seen"]; ok {
		t.Error("a metric without samples or thresholds is listed")
	}
	for name, want := range map[string]map[string]any{
		"checks":                        {"rate>0.99": map[string]any{"ok": false}},
		"http_req_duration":             {"p(95)<500": map[string]any{"ok": true}, "p(99.9) < 1000": map[string]any{"ok": true}},
		"http_req_duration{status:200}": {"max<250": map[string]any{"ok": false}},
		"camera_unreached":              {"count>0": map[string]any{"ok": false}},
	} {
		if got := metrics[name].(map[string]any)["thresholds"]; !reflect.DeepEqual(got, map[string]any(want)) {
			t.Errorf("metrics[%q].thresholds = %v, want %v", name, got, want)
		}
	}
	if _, ok := metrics["vus"].(map[string]any)["thresholds"]; ok {
		t.Error("a metric without thresholds has a thresholds key")
	}

	root := data["root_group"].(map[string]any)
	if root["id"] != "d41d8cd98f00b204e9800998ecf8427e" || root["name"] != "" || root["path"] != "" {
		t.Errorf("root group = %v, want empty name and path, id d41d8cd98f00b204e9800998ecf8427e", root)
	}
	login := root["groups"].([]any)[0].(map[string]any)
	check := login["checks"].([]any)[0].(map[string]any)
	if login["id"] != pathID("::login") || check["id"] != pathID("::login::body has id") ||
		check["passes"] != int64(8) || check["fails"] != int64(2) {
		t.Errorf("login group = %v", login)
	}
	if got := data["options"]; !reflect.DeepEqual(got, map[string]any{
		"summaryTrendStats": DefaultTrendStats, "summaryTimeUnit": "", "noColor": false}) {
		t.Errorf("options = %v", got)
	}
	if got := data["state"]; !reflect.DeepEqual(got, map[string]any{
		"isStdOutTTY": true, "isStdErrTTY": false, "testRunDurationMs": 10551.0}) {
		t.Errorf("state = %v", got)
	}
	if got := data["setup_data"]; !reflect.DeepEqual(got, map[string]any{"token": "<abc>"}) {
		t.Errorf("setup_data = %v", got)
	}
	in := summaryFixture()
	in.SetupData = nil
	if _, ok := SummaryData(in)["setup_data"]; ok {
		t.Error("setup_data present without setup data; want it undefined")
	}
}

func TestSummaryDataTrendStats(t *testing.T) {
	in := summaryFixture()
	in.TrendStats = []string{"count", "p(99.9)", "avg"}
	values := SummaryData(in)["metrics"].(map[string]any)["camera_ack_latency"].(map[string]any)["values"]
	want := map[string]any{"count": 4.0, "p(99.9)": lin(10, 99, pct(99.9)), "avg": 42.5}
	if !reflect.DeepEqual(values, want) {
		t.Errorf("values with trend stats %v = %v, want %v", in.TrendStats, values, want)
	}
}

func TestValidateTrendStats(t *testing.T) {
	for _, tc := range []struct {
		stats []string
		ok    bool
	}{
		{nil, true},
		{DefaultTrendStats, true},
		{[]string{"count", "p(0)", "p(100)", "p(99.99)"}, true},
		{[]string{"p(101)"}, false},
		{[]string{"p(-1)"}, false},
		{[]string{"p( 90 )"}, false}, // k6 does not trim inside p()
		{[]string{"p90"}, false},
		{[]string{"median"}, false},
		{[]string{"p(NaN)"}, false},
		{[]string{"rate"}, false},
	} {
		err := ValidateTrendStats(tc.stats)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrSummary)) {
			t.Errorf("ValidateTrendStats(%q) = %v, want ok=%v", tc.stats, err, tc.ok)
		}
	}
	if ValidateTimeUnit("us") != nil || !errors.Is(ValidateTimeUnit("m"), ErrSummary) {
		t.Error("ValidateTimeUnit: want us accepted and m refused")
	}
}

func TestExportSummary(t *testing.T) {
	data := SummaryData(summaryFixture())
	out, err := ExportSummary(data)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "summary-export.json", out)
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"options", "state"} {
		if _, ok := got[k]; ok {
			t.Errorf("export keeps %q", k)
		}
	}
	metrics := got["metrics"].(map[string]any)
	for name, want := range map[string]map[string]any{
		"http_req_failed": {"value": 0.0, "passes": 0.0, "fails": 10.0, "thresholds": map[string]any{"rate<0.01": true}},
		"http_reqs":       {"count": 10.0, "rate": perRun(10)},
		"camera_queue":    {"value": 7.0, "min": 1.0, "max": 12.0, "thresholds": map[string]any{"value<10": false}},
		"http_req_duration{status:200}": {"avg": 1300 / 9.0, "min": 120.5, "med": 210.25, "max": 300.0,
			"p(90)": lin(120.5, 300, 0.9), "p(95)": lin(120.5, 300, 0.95), "thresholds": map[string]any{"max<250": true}},
	} {
		if !reflect.DeepEqual(metrics[name], map[string]any(want)) {
			t.Errorf("export metrics[%q] = %v, want %v (thresholds true = FAILED)", name, metrics[name], want)
		}
	}
	root := got["root_group"].(map[string]any)
	login, ok := root["groups"].(map[string]any)["login"].(map[string]any)
	if !ok {
		t.Fatalf("root_group.groups is not keyed by name: %v", root["groups"])
	}
	if c, ok := login["checks"].(map[string]any)["body has id"].(map[string]any); !ok || c["fails"] != 2.0 {
		t.Errorf("login checks not keyed by name: %v", login["checks"])
	}
	if _, ok := login["groups"].(map[string]any)["inner"]; !ok {
		t.Errorf("nested groups not keyed by name: %v", login["groups"])
	}
	if !strings.Contains(string(out), `"p(95)<500": false`) || !strings.Contains(string(out), "\n    \"metrics\"") {
		t.Errorf("export is not 4-space indented without HTML escaping:\n%s", out)
	}
	// The input is not changed.
	if _, ok := data["options"]; !ok {
		t.Error("ExportSummary changed its input")
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// pct is p/100 computed at run time.
func pct(p float64) float64 { return p / 100 }
