package results

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestTextSummaryGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		color bool
		edit  func(*SummaryInput)
	}{
		{name: "summary.txt"},
		{name: "summary-color.txt", color: true},
		{name: "summary-timeunit.txt", edit: func(in *SummaryInput) {
			in.TimeUnit = "s"
			in.TrendStats = []string{"count", "p(99)", "max"}
		}},
		{name: "summary-nochecks.txt", edit: func(in *SummaryInput) {
			in.Metrics = in.Metrics[4:8] // no checks, no thresholds
		}},
	} {
		in := summaryFixture()
		if tc.edit != nil {
			tc.edit(&in)
		}
		var b bytes.Buffer
		if err := WriteTextSummary(&b, in, tc.color); err != nil {
			t.Fatal(err)
		}
		golden(t, tc.name, b.Bytes())
	}
}

// TestTextSummaryLayout checks the golden file's rules line by line, so a
// wrong golden file cannot hide them.
func TestTextSummaryLayout(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTextSummary(&b, summaryFixture(), false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"\n\n  █ THRESHOLDS \n\n    camera_ack_latency\n    ✓ 'avg<100' avg=42.5ms\n    ✗ 'max<50' max=99ms\n\n",
		"    http_req_duration\n    ✓ 'p(95)<500' p(95)=388.65ms\n    ✓ 'p(99.9) < 1000' p(99.9)=402.48ms\n\n" +
			"      {status:200}\n      ✗ 'max<250' max=300ms\n\n",
		"    camera_acks\n    ✓ 'count>=10' count=30\n    ✓ 'rate>5' rate=2.843332/s\n",
		"    camera_frames\n    ✓ 'count>3' count=4\n",
		"    camera_queue\n    ✓ 'value<10' value=7\n",
		"    checks\n    ✗ 'rate>0.99' rate=90.00%\n",
		"\n\n\n  █ TOTAL RESULTS \n\n",
		"    checks_total.......: 20     1.895555/s\n    checks_succeeded...: 90.00% 18 out of 20\n    checks_failed......: 10.00% 2 out of 20\n\n",
		"    ✓ status is 200\n    ✗ body has id\n      ↳  80% — ✓ 8 / ✗ 2\n\n",
		"    CUSTOM\n    camera_ack_latency...: avg=42.5ms   min=10ms    med=54.5ms   max=99ms     p(90)=90.1ms   p(95)=94.55ms \n",
		"    HTTP\n    http_req_duration....: avg=151.22ms min=120.5ms",
		"      { status:200 }.....: avg=144.44ms min=120.5ms med=210.25ms max=300ms    p(90)=282.05ms",
		"    http_req_failed......: 0.00%  0 out of 10\n",
		"    data_received........: 31 kB  3.0 kB/s\n    data_sent............: 1.1 kB 104 B/s\n",
		"    vus..................: 1      min=1       max=1 \n",
		"\n\n\n\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q\nsummary:\n%s", want, out)
		}
	}
	for _, hidden := range []string{"camera_never_seen", "group_duration", "http_req_waiting", "checks.."} {
		if strings.Contains(out, hidden) {
			t.Errorf("summary shows %q, which k6 hides in compact mode", hidden)
		}
	}
	if !strings.HasSuffix(out, "\n\n\n\n") || strings.HasSuffix(out, "\n\n\n\n\n") {
		t.Errorf("summary ends with %q, want the metrics' blank line, the section's and k6's \"\\n\\n\"", out[len(out)-10:])
	}
}

func TestTextSummaryOneMetricHasNoDots(t *testing.T) {
	in := SummaryInput{Metrics: []*Metric{{Name: "iterations", Type: Counter}},
		Aggregate: func(string, Selector) (Aggregate, bool) { return Aggregate{Samples: 1, Sum: 3}, true }}
	var b bytes.Buffer
	if err := WriteTextSummary(&b, in, false); err != nil {
		t.Fatal(err)
	}
	if want := "    iterations: 3 0/s\n"; !strings.Contains(b.String(), want) {
		t.Errorf("one-metric summary %q lacks %q (k6's width is NaN then)", b.String(), want)
	}
}

func TestSortMetricNames(t *testing.T) {
	names := []string{"http_reqs", "http_req_duration{status:200}", "http_req_duration", "Zeta", "alpha", "a1", "a_1",
		"http_req_duration{expected_response:true}"}
	sortMetricNames(names)
	want := "a_1 a1 alpha http_req_duration http_req_duration{expected_response:true} http_req_duration{status:200} http_reqs Zeta"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("sorted = %s\nwant     %s", got, want)
	}
}

// The expected strings are what k6's summary script prints for these
// values.
func TestJSNumberFormatting(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		prec int
		want string
	}{
		{0.125, 2, "0.13"}, {2.5, 0, "3"}, {-2.5, 0, "-3"}, {0.5, 0, "1"}, {1.005, 2, "1.00"},
		{1.25, 1, "1.3"}, {1.35, 1, "1.4"}, {99.99, 2, "99.99"}, {0, 2, "0.00"}, {math.Copysign(0, -1), 2, "0.00"},
		{1e21, 2, "1e+21"}, {123.456, 0, "123"}, {0.0001, 2, "0.00"},
	} {
		if got := jsToFixed(tc.f, tc.prec); got != tc.want {
			t.Errorf("jsToFixed(%v, %d) = %q, want %q", tc.f, tc.prec, got, tc.want)
		}
	}
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "0"}, {10, "10"}, {0.1, "0.1"}, {1e-7, "1e-7"}, {1e21, "1e+21"},
		{123456789012, "123456789012"}, {math.NaN(), "NaN"}, {math.Inf(-1), "-Infinity"},
	} {
		if got := jsString(tc.f); got != tc.want {
			t.Errorf("jsString(%v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

func TestHumanize(t *testing.T) {
	timeAgg, dataAgg, rateAgg, plain := Aggregate{Contains: Time}, Aggregate{Contains: Data}, Aggregate{Type: Rate}, Aggregate{}
	for _, tc := range []struct {
		v    float64
		a    Aggregate
		unit string
		want string
	}{
		{0, timeAgg, "", "0s"},
		{0.0005, timeAgg, "", "500ns"},
		{0.5, timeAgg, "", "500µs"},
		{0.123456, timeAgg, "", "123.45µs"},
		{151.234, timeAgg, "", "151.23ms"},
		{999.999, timeAgg, "", "999.99ms"},
		{1150, timeAgg, "", "1.14s"}, // 1.15*100 is 114.999…: k6 truncates too
		{60000, timeAgg, "", "1m0s"},
		{61500, timeAgg, "", "1m1s"},
		{3723000, timeAgg, "", "1h2m3s"},
		{151.234, timeAgg, "s", "0.15s"},
		{151.235, timeAgg, "ms", "151.24ms"},
		{1.5, timeAgg, "us", "1500.00µs"},
		{0, dataAgg, "", "0 B"},
		{5.5, dataAgg, "", "5.5 B"},
		{107, dataAgg, "", "107 B"},
		{1100, dataAgg, "", "1.1 kB"},
		{31234, dataAgg, "", "31 kB"},
		{1e6, dataAgg, "", "1.0 MB"},
		{1234567890, dataAgg, "", "1.2 GB"},
		{0.999999, rateAgg, "", "99.99%"},
		{1, rateAgg, "", "100.00%"},
		{0, rateAgg, "", "0.00%"},
		{0.9477774618519571, plain, "", "0.947777"},
		{30, plain, "", "30"},
		{1e-7, plain, "", "0"},
	} {
		if got := humanizeValue(tc.v, tc.a, tc.unit); got != tc.want {
			t.Errorf("humanizeValue(%v, contains %s type %s, unit %q) = %q, want %q", tc.v, tc.a.Contains, tc.a.Type, tc.unit, got, tc.want)
		}
	}
}
