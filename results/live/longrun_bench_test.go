package live

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/camstorm/camstorm/results"
)

// liveHeap is the heap in use after two collections.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// feedCameras sends an Exporter what cameras cameras send over d of
// simulated time: each second a fragment with three ACK latencies, a
// persisted fragment and its bytes, every camera with its own metadata,
// and the cameras gauge.
func feedCameras(e *Exporter, cameras int, d time.Duration) int {
	r := results.NewRegistry()
	lat := r.MustDefine("camera_ack_latency", results.Trend, results.Time)
	frag := r.MustDefine("camera_fragments", results.Counter, results.Default)
	pers := r.MustDefine("camera_fragments_persisted", results.Counter, results.Default)
	byts := r.MustDefine("camera_bytes", results.Counter, results.Data)
	cams := r.MustDefine("cameras", results.Gauge, results.Default)
	profiles := []string{"perfect", "lte-good", "3g", "flaky-reset"}
	kinds := []string{"clip", "synthetic"}
	acks := []string{"buffering", "received", "persisted"}
	tags := make([]map[string]string, cameras)
	ackTags := make([][]map[string]string, cameras)
	meta := make([]map[string]string, cameras)
	for c := range cameras {
		tags[c] = map[string]string{"scenario": "cams", "profile": profiles[c%4], "kind": kinds[c/4%2]}
		for _, a := range acks {
			t := map[string]string{"ack": a}
			for k, v := range tags[c] {
				t[k] = v
			}
			ackTags[c] = append(ackTags[c], t)
		}
		meta[c] = map[string]string{"camera": fmt.Sprintf("cam-%d", c)}
	}
	start := time.Unix(1_700_000_000, 0)
	batch := make([]results.Sample, 0, 6*cameras+1)
	n := 0
	for s := range int(d / time.Second) {
		at := start.Add(time.Duration(s) * time.Second)
		batch = batch[:0]
		for c := range cameras {
			for i := range acks {
				batch = append(batch, results.Sample{Metric: lat, Time: at, Value: float64(50 + 700*i + (s*c)%300), Tags: ackTags[c][i], Metadata: meta[c]})
			}
			batch = append(batch,
				results.Sample{Metric: frag, Time: at, Value: 1, Tags: tags[c], Metadata: meta[c]},
				results.Sample{Metric: pers, Time: at, Value: 1, Tags: tags[c], Metadata: meta[c]},
				results.Sample{Metric: byts, Time: at, Value: 16_000, Tags: tags[c], Metadata: meta[c]})
		}
		batch = append(batch, results.Sample{Metric: cams, Time: at, Value: float64(cameras)})
		_ = e.AddSamples(batch)
		n += len(batch)
	}
	return n
}

// BenchmarkExporterMemoryLongRun records what the exporter holds after 1
// and 10 minutes of 1,000 cameras (simulated time): its series have no
// time dimension, so it should not grow.
func BenchmarkExporterMemoryLongRun(b *testing.B) {
	var oneMinute float64
	for _, minutes := range []int{1, 10} {
		b.Run(fmt.Sprintf("%dmin", minutes), func(b *testing.B) {
			var kib float64
			var samples int
			for b.Loop() {
				before := liveHeap()
				e, err := NewExporter(prometheus.NewRegistry(), Options{})
				if err != nil {
					b.Fatal(err)
				}
				samples = feedCameras(e, 1000, time.Duration(minutes)*time.Minute)
				kib = float64(liveHeap()-before) / 1024
				runtime.KeepAlive(e)
			}
			if minutes == 1 {
				oneMinute = kib
			}
			b.ReportMetric(kib, "KiB")
			b.ReportMetric(float64(samples), "samples")
			if oneMinute > 0 {
				b.ReportMetric(kib/oneMinute, "x1min")
			}
		})
	}
}
