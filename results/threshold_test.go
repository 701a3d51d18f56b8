package results

import (
	"errors"
	"strings"
	"testing"
)

func TestParseThreshold(t *testing.T) {
	for _, tc := range []struct {
		expr string
		agg  string
		op   Operator
		v    float64
		err  string
	}{
		{"p(99)<2000", "p(99)", Less, 2000, ""},
		{" p( 99.9 ) <= 1500.5 ", "p(99.9)", LessOrEqual, 1500.5, ""},
		{"rate<0.01", "rate", Less, 0.01, ""},
		{"count>=10", "count", GreaterOrEqual, 10, ""},
		{"value===3", "value", Equal, 3, ""}, // === means ==
		{"avg!=0", "avg", NotEqual, 0, ""},
		{"med>1e3", "med", Greater, 1000, ""},
		{"p(0)<1", "p(0)", Less, 1, ""},
		{"p(100)<1", "p(100)", Less, 1, ""},
		{"p(101)<1", "", "", 0, "percentile"},
		{"p(-1)<1", "", "", 0, "percentile"},
		{"p(NaN)<1", "", "", 0, "percentile"},
		{"p99<1", "", "", 0, "aggregation"},
		{"mean<1", "", "", 0, "aggregation"},
		{"avg<fast", "", "", 0, "not a number"},
		{"avg 100", "", "", 0, "no operator"},
		{"", "", "", 0, "no operator"},
	} {
		got, err := ParseThreshold(tc.expr)
		if tc.err != "" {
			if !errors.Is(err, ErrThreshold) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseThreshold(%q) = %+v, %v; want an error mentioning %q", tc.expr, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.Aggregation.String() != tc.agg || got.Operator != tc.op || got.Value != tc.v || got.Source != tc.expr {
			t.Errorf("ParseThreshold(%q) = %+v, %v; want %s %s %v", tc.expr, got, err, tc.agg, tc.op, tc.v)
		}
	}
}

// TestOperatorOrder: k6 splits at the first operator of its list present
// anywhere, so "<=" is found before "<" and "==" inside "!=" is not.
func TestOperatorOrder(t *testing.T) {
	th, err := ParseThreshold("avg<=5")
	if err != nil || th.Operator != LessOrEqual || th.Value != 5 {
		t.Fatalf("avg<=5: %+v %v", th, err)
	}
	th, err = ParseThreshold("avg!=5")
	if err != nil || th.Operator != NotEqual {
		t.Fatalf("avg!=5: %+v %v", th, err)
	}
}

func TestAllowedFor(t *testing.T) {
	for _, tc := range []struct {
		expr string
		ok   []MetricType
	}{
		{"count>1", []MetricType{Counter}},
		{"rate<0.1", []MetricType{Counter, Rate}},
		{"value<1", []MetricType{Gauge}},
		{"p(95)<1", []MetricType{Trend}},
		{"avg<1", []MetricType{Trend}},
		{"min<1", []MetricType{Trend}},
		{"max<1", []MetricType{Trend}},
		{"med<1", []MetricType{Trend}},
	} {
		th, err := ParseThreshold(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []MetricType{Counter, Gauge, Rate, Trend} {
			want := false
			for _, ok := range tc.ok {
				want = want || ok == m
			}
			if err := th.AllowedFor(m); (err == nil) != want {
				t.Errorf("%q on a %s: %v; want allowed=%v", tc.expr, m, err, want)
			}
		}
	}
	th, _ := ParseThreshold("p(99)<1")
	if err := th.AllowedFor(Counter); err == nil || !strings.Contains(err.Error(), "use count, rate") {
		t.Errorf("the error should name what a counter allows: %v", err)
	}
}

func TestPasses(t *testing.T) {
	for _, tc := range []struct {
		expr string
		got  float64
		want bool
	}{
		{"p(99)<2000", 1999.9, true}, {"p(99)<2000", 2000, false},
		{"rate<=0.01", 0.01, true}, {"rate<=0.01", 0.0101, false},
		{"count>0", 0, false}, {"count>=0", 0, true},
		{"value==3", 3, true}, {"value===3", 2, false},
		{"avg!=0", 0, false}, {"avg!=0", 1, true},
	} {
		th, err := ParseThreshold(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := th.Passes(tc.got); got != tc.want {
			t.Errorf("%q with %v: passes=%v, want %v", tc.expr, tc.got, got, tc.want)
		}
	}
}

func TestParseSelector(t *testing.T) {
	for _, tc := range []struct {
		key    string
		metric string
		tags   map[string]string
		err    bool
	}{
		{"http_req_duration", "http_req_duration", nil, false},
		{"http_req_duration{status:200}", "http_req_duration", map[string]string{"status": "200"}, false},
		{`ack_latency{ack: "PERSISTED" , profile:'lte-good'}`, "ack_latency", map[string]string{"ack": "PERSISTED", "profile": "lte-good"}, false},
		{"group_duration{group:::checkout}", "group_duration", map[string]string{"group": "::checkout"}, false},
		{"iterations{scenario:ramp}", "iterations", map[string]string{"scenario": "ramp"}, false},
		{"m{k:}", "", nil, true},
		{"m{k}", "", nil, true},
		{"m{k:v}x", "", nil, true},
		{"{k:v}", "", nil, true},
		{"", "", nil, true},
	} {
		sel, err := ParseSelector(tc.key)
		if tc.err {
			if err == nil {
				t.Errorf("ParseSelector(%q) = %+v; want an error", tc.key, sel)
			}
			continue
		}
		if err != nil || sel.Metric != tc.metric || len(sel.Tags) != len(tc.tags) {
			t.Errorf("ParseSelector(%q) = %+v, %v", tc.key, sel, err)
			continue
		}
		for k, v := range tc.tags {
			if sel.Tags[k] != v {
				t.Errorf("ParseSelector(%q): tag %s = %q, want %q", tc.key, k, sel.Tags[k], v)
			}
		}
	}
}

func TestSelectorMatchesBySubset(t *testing.T) {
	sel, err := ParseSelector("ack_latency{ack:PERSISTED}")
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(map[string]string{"ack": "PERSISTED", "profile": "3g"}) {
		t.Error("a sample with more tags than the selector feeds it")
	}
	if sel.Matches(map[string]string{"ack": "RECEIVED"}) || sel.Matches(nil) {
		t.Error("a sample without the selector's tag value must not feed it")
	}
	if all, _ := ParseSelector("ack_latency"); !all.Matches(nil) {
		t.Error("a plain metric takes every sample")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"p(99)<2000", "rate<=0.01", "m{a:b}", "p(", "{:}", "value===1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if th, err := ParseThreshold(s); err == nil {
			if th.Aggregation.Name == "p" && (th.Aggregation.Percentile < 0 || th.Aggregation.Percentile > 100) {
				t.Fatalf("%q: percentile %v out of range", s, th.Aggregation.Percentile)
			}
		}
		if sel, err := ParseSelector(s); err == nil && sel.Metric == "" {
			t.Fatalf("%q: a selector without a metric", s)
		}
	})
}
