package results

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// feedCameraRun feeds s what a camera run emits, in sample time: cameras
// cameras with a 1 s GOP (one fragment a second each: three ACK latencies,
// a fragment, a persisted fragment, its bytes), reconnects now and then,
// and the runner's gauges every second, for d of run time.
func feedCameraRun(s *Store, reg *Registry, cameras int, d time.Duration) {
	lat := reg.MustDefine("camera_ack_latency", Trend, Time)
	frags := reg.MustDefine("camera_fragments", Counter, Default)
	persisted := reg.MustDefine("camera_fragments_persisted", Counter, Default)
	bytes := reg.MustDefine("camera_bytes", Counter, Data)
	reconnects := reg.MustDefine("camera_reconnects", Counter, Default)
	active := reg.MustDefine("cameras", Gauge, Default)
	profiles := []string{"perfect", "lte-good", "flaky-reset", "wifi-lossy"}
	kinds := []string{"clip", "synthetic"}
	acks := []string{"buffering", "received", "persisted"}
	// The tag sets a run has: one per (profile, kind, ack) — built once, as
	// the cameras build theirs.
	base := map[[2]int]map[string]string{}
	ackTags := map[[3]int]map[string]string{}
	for p := range profiles {
		for k := range kinds {
			base[[2]int{p, k}] = map[string]string{"scenario": "cams", "profile": profiles[p], "kind": kinds[k]}
			for a := range acks {
				ackTags[[3]int{p, k, a}] = map[string]string{"scenario": "cams", "profile": profiles[p], "kind": kinds[k], "ack": acks[a]}
			}
		}
	}
	runTags := map[string]string{}
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Unix(1_800_000_000, 0)
	batch := make([]Sample, 0, 8)
	for sec := range int(d / time.Second) {
		now := start.Add(time.Duration(sec) * time.Second)
		s.Add(Sample{Metric: active, Time: now, Value: float64(cameras), Tags: runTags})
		for c := range cameras {
			p, k := c%len(profiles), c%len(kinds)
			at := now.Add(time.Duration(c) * time.Millisecond)
			batch = batch[:0]
			for a := range acks {
				v := float64(a)*400 + rng.ExpFloat64()*30
				batch = append(batch, Sample{Metric: lat, Time: at, Value: v, Tags: ackTags[[3]int{p, k, a}]})
			}
			t := base[[2]int{p, k}]
			batch = append(batch,
				Sample{Metric: frags, Time: at, Value: 1, Tags: t},
				Sample{Metric: persisted, Time: at, Value: 1, Tags: t},
				Sample{Metric: bytes, Time: at, Value: 8000, Tags: t})
			if rng.IntN(500) == 0 {
				batch = append(batch, Sample{Metric: reconnects, Time: at, Value: 1, Tags: t})
			}
			s.Add(batch...)
		}
	}
}

func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMetricsMemoryLongRun records what a run's metrics hold after 1,
// 10 and 60 minutes of 1,000 cameras (simulated sample time): whole-run
// sinks are constant; timelines grow with their buckets until 240, then
// coarsen. The ratio to the 1-minute figure is reported.
func BenchmarkMetricsMemoryLongRun(b *testing.B) {
	var oneMinute float64
	for _, minutes := range []int{1, 10, 60} {
		b.Run(fmt.Sprintf("%dmin", minutes), func(b *testing.B) {
			var mib float64
			var series int
			for b.Loop() {
				before := liveHeap()
				reg := NewRegistry()
				s := NewStore()
				s.Timelines = true
				feedCameraRun(s, reg, 1000, time.Duration(minutes)*time.Minute)
				mib = float64(liveHeap()-before) / (1 << 20)
				series = s.SeriesCount()
				runtime.KeepAlive(s)
			}
			if minutes == 1 {
				oneMinute = mib
			}
			b.ReportMetric(mib, "MiB")
			b.ReportMetric(float64(series), "series")
			if oneMinute > 0 {
				b.ReportMetric(mib/oneMinute, "x1min")
			}
		})
	}
}
