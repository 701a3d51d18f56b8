package live

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/camstorm/camstorm/results"
)

// gather returns every exported series as "name{k=v,...} value" lines,
// histograms as their count, sum and non-empty cumulative buckets.
func gather(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			id := mf.GetName() + "{" + strings.Join(ls, ",") + "}"
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out = append(out, fmt.Sprintf("%s %g", id, m.GetCounter().GetValue()))
			case dto.MetricType_GAUGE:
				out = append(out, fmt.Sprintf("%s %g", id, m.GetGauge().GetValue()))
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				line := fmt.Sprintf("%s count=%d sum=%g", id, h.GetSampleCount(), h.GetSampleSum())
				for _, b := range h.GetBucket() {
					if b.GetCumulativeCount() > 0 {
						line += fmt.Sprintf(" le%g=%d", b.GetUpperBound(), b.GetCumulativeCount())
						break // the first non-empty bucket is enough
					}
				}
				out = append(out, line)
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestExporterMapsSamples(t *testing.T) {
	r := results.NewRegistry()
	frag := r.MustDefine("camera_fragments", results.Counter, results.Default)
	bytes := r.MustDefine("camera_bytes", results.Counter, results.Data)
	cams := r.MustDefine("cameras", results.Gauge, results.Default)
	checks := r.MustDefine("checks", results.Rate, results.Default)
	lat := r.MustDefine("camera_ack_latency", results.Trend, results.Time)
	custom := r.MustDefine("my_size", results.Trend, results.Default)
	meta := map[string]string{"camera": "cam-7", "vu": "3", "iter": "9"}
	for _, tc := range []struct {
		name    string
		samples []results.Sample
		want    []string
	}{
		{"counter keeps allowed tags only", []results.Sample{
			{Metric: frag, Value: 2, Tags: map[string]string{"scenario": "a", "profile": "3g", "url": "http://x"}, Metadata: meta},
			{Metric: frag, Value: 3, Tags: map[string]string{"scenario": "a", "profile": "3g", "url": "http://y"}},
			{Metric: frag, Value: -1, Tags: map[string]string{"scenario": "a", "profile": "3g"}},
		}, []string{"camstorm_camera_fragments_total{profile=3g,scenario=a} 5"}},
		{"data counter gets _bytes", []results.Sample{{Metric: bytes, Value: 100}},
			[]string{"camstorm_camera_bytes_total{} 100"}},
		{"cameras gauge is the streaming state", []results.Sample{{Metric: cams, Value: 4}, {Metric: cams, Value: 2}},
			[]string{"camstorm_cameras{state=streaming} 2"}},
		{"rate is passes and fails", []results.Sample{
			{Metric: checks, Value: 1, Tags: map[string]string{"check": "ok"}},
			{Metric: checks, Value: 0, Tags: map[string]string{"check": "ok"}},
			{Metric: checks, Value: 1, Tags: map[string]string{"check": "ok"}},
		}, []string{"camstorm_checks_fails_total{check=ok} 1", "camstorm_checks_passes_total{check=ok} 2"}},
		{"time trend in seconds", []results.Sample{
			{Metric: lat, Value: 1500, Tags: map[string]string{"ack": "persisted", "error_id": "4000"}},
			{Metric: lat, Value: 500, Tags: map[string]string{"ack": "persisted"}},
		}, []string{"camstorm_camera_ack_latency_seconds{ack=persisted} count=2 sum=2 le0.5=1"}},
		{"plain trend keeps its unit", []results.Sample{{Metric: custom, Value: 7, Tags: map[string]string{"reason": "r"}}},
			[]string{"camstorm_my_size{reason=r} count=1 sum=7 le10=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			e, err := NewExporter(reg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.AddSamples(tc.samples); err != nil {
				t.Fatal(err)
			}
			want := append(slices.Clone(tc.want), DroppedSeriesName+"{} 0")
			slices.Sort(want)
			if got := gather(t, reg); !slices.Equal(got, want) {
				t.Errorf("AddSamples(%v):\n got %q\nwant %q", tc.samples, got, want)
			}
		})
	}
}

func TestExporterCapsSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	e, err := NewExporter(reg, Options{MaxSeries: 3})
	if err != nil {
		t.Fatal(err)
	}
	m := results.NewRegistry().MustDefine("http_reqs", results.Counter, results.Default)
	for i := range 5 {
		_ = e.AddSamples([]results.Sample{{Metric: m, Value: 1, Tags: map[string]string{"name": fmt.Sprint(i)}}})
	}
	_ = e.AddSamples([]results.Sample{{Metric: m, Value: 1, Tags: map[string]string{"name": "0"}}})
	got := gather(t, reg)
	want := []string{DroppedSeriesName + "{} 2", "camstorm_http_reqs_total{name=0} 2", "camstorm_http_reqs_total{name=1} 1", "camstorm_http_reqs_total{name=2} 1"}
	if !slices.Equal(got, want) {
		t.Errorf("6 samples over 5 names with MaxSeries 3:\n got %q\nwant %q", got, want)
	}
	if err := e.SetGauge("camstorm_x", nil, 1); err == nil {
		t.Errorf("SetGauge past the cap: nil error, want one")
	}
}

func TestExporterSetGauge(t *testing.T) {
	cams := results.NewRegistry().MustDefine("cameras", results.Gauge, results.Default)
	for _, tc := range []struct {
		name  string
		steps func(e *Exporter) error
		want  []string
	}{
		{"states before samples", func(e *Exporter) error {
			if err := e.SetGauge("camstorm_cameras", map[string]string{"state": "reconnecting"}, 1); err != nil {
				return err
			}
			if err := e.SetGauge("camstorm_cameras", map[string]string{"state": "streaming"}, 9); err != nil {
				return err
			}
			return e.AddSamples([]results.Sample{{Metric: cams, Value: 3}})
		}, []string{"camstorm_cameras{state=reconnecting} 1", "camstorm_cameras{state=streaming} 3"}},
		{"states after samples", func(e *Exporter) error {
			if err := e.AddSamples([]results.Sample{{Metric: cams, Value: 3}}); err != nil {
				return err
			}
			return e.SetGauge("camstorm_cameras", map[string]string{"state": "finished"}, 2)
		}, []string{"camstorm_cameras{state=finished} 2", "camstorm_cameras{state=streaming} 3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			e, err := NewExporter(reg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.steps(e); err != nil {
				t.Fatal(err)
			}
			want := append(slices.Clone(tc.want), DroppedSeriesName+"{} 0")
			slices.Sort(want)
			if got := gather(t, reg); !slices.Equal(got, want) {
				t.Errorf("got %q\nwant %q", got, want)
			}
		})
	}
}

func TestSetGaugeRejects(t *testing.T) {
	e, err := NewExporter(prometheus.NewRegistry(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := results.NewRegistry().MustDefine("cc", results.Counter, results.Default)
	_ = e.AddSamples([]results.Sample{{Metric: c, Value: 1}})
	for _, tc := range []struct {
		name   string
		labels map[string]string
	}{
		{"", nil},
		{"9lives", nil},
		{"camstorm_cc_total", nil}, // a counter already
		{"ok", map[string]string{"bad-label": "x"}},
		{"ok", map[string]string{"__reserved": "x"}},
	} {
		if err := e.SetGauge(tc.name, tc.labels, 1); err == nil {
			t.Errorf("SetGauge(%q, %v) = nil, want an error", tc.name, tc.labels)
		}
	}
}

func TestExporterNameClash(t *testing.T) {
	reg := prometheus.NewRegistry()
	e, err := NewExporter(reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := results.NewRegistry()
	rate := r.MustDefine("xx", results.Rate, results.Default)
	counter := r.MustDefine("xx_fails", results.Counter, results.Default) // also camstorm_xx_fails_total
	_ = e.AddSamples([]results.Sample{{Metric: rate, Value: 0}, {Metric: counter, Value: 5}})
	want := []string{DroppedSeriesName + "{} 0", "camstorm_xx_fails_total{} 1", "camstorm_xx_passes_total{} 0"}
	if got := gather(t, reg); !slices.Equal(got, want) {
		t.Errorf("rate xx then counter xx_fails:\n got %q\nwant %q", got, want)
	}
}

func TestExporterConcurrent(t *testing.T) {
	reg := prometheus.NewRegistry()
	e, err := NewExporter(reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := results.NewRegistry().MustDefine("iterations", results.Counter, results.Default)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				_ = e.AddSamples([]results.Sample{{Metric: m, Value: 1}})
				_ = e.SetGauge("camstorm_cameras", map[string]string{"state": "streaming"}, 1)
			}
		})
		wg.Go(func() {
			for range 20 {
				if _, err := reg.Gather(); err != nil {
					t.Errorf("Gather during AddSamples: %v", err)
				}
			}
		})
	}
	wg.Wait()
	got := gather(t, reg)
	if !slices.Contains(got, "camstorm_iterations_total{} 400") {
		t.Errorf("4×100 samples of 1: got %q, want camstorm_iterations_total{} 400", got)
	}
}

func BenchmarkAddSamples(b *testing.B) {
	e, err := NewExporter(prometheus.NewRegistry(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	lat := results.NewRegistry().MustDefine("camera_ack_latency", results.Trend, results.Time)
	batch := make([]results.Sample, 256)
	for i := range batch {
		batch[i] = results.Sample{Metric: lat, Value: float64(i), Tags: map[string]string{"scenario": "s", "ack": "persisted", "profile": "3g", "kind": "clip"},
			Metadata: map[string]string{"camera": fmt.Sprint(i)}}
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = e.AddSamples(batch)
	}
}

func TestSetCounter(t *testing.T) {
	reg := prometheus.NewRegistry()
	e, err := NewExporter(reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []float64{3, 7, 5} {
		if err := e.SetCounter("camstorm_camera_reconnects_total", nil, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.SetCounter("camstorm_no_suffix", nil, 1); err == nil {
		t.Errorf(`SetCounter("camstorm_no_suffix") = nil, want an error`)
	}
	if err := e.SetGauge("camstorm_camera_reconnects_total", nil, 1); err == nil {
		t.Errorf("SetGauge on a counter's name = nil, want an error")
	}
	want := []string{"camstorm_camera_reconnects_total{} 7", DroppedSeriesName + "{} 0"}
	if got := gather(t, reg); !slices.Equal(got, want) {
		t.Errorf("SetCounter 3, 7, 5: got %q, want %q", got, want)
	}
}
