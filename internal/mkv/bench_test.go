package mkv_test

import (
	"io"
	"testing"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/mkv"
)

var benchHeader = mkv.Header{
	Tracks: []mkv.TrackSpec{{Number: 1, UID: 1, Type: mkv.TrackVideo, CodecID: mkv.CodecH264,
		CodecPrivate: make([]byte, 40), Width: 1280, Height: 720}},
	Tags: []mkv.SimpleTag{{Name: "CAMERA_ID", Value: "cam-0001"}},
}

// BenchmarkWriteFrame is the per-frame hot path: one 4 KiB frame into an open
// cluster (target: ≤ 200 ns/op, 0 allocs/op).
func BenchmarkWriteFrame(b *testing.B) {
	w := mkv.NewWriter(io.Discard)
	if err := w.WriteHeader(benchHeader); err != nil {
		b.Fatal(err)
	}
	const cluster = 1_700_000_000_000
	if err := w.StartCluster(cluster); err != nil {
		b.Fatal(err)
	}
	frame := make([]byte, 4096)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		if err := w.WriteFrame(1, cluster+i%30000, i%60 == 0, frame); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkWriteFrameParallel runs one Writer per goroutine, as many cameras do.
func BenchmarkWriteFrameParallel(b *testing.B) {
	frame := make([]byte, 4096)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := mkv.NewWriter(io.Discard)
		if err := w.StartCluster(0); err != nil {
			b.Error(err)
			return
		}
		i := int64(0)
		for pb.Next() {
			if err := w.WriteFrame(1, i%30000, false, frame); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkWriteStream writes a whole 10 s camera session per op: header,
// 300 frames of 4 KiB at 30 fps in 2 s clusters, producer Tags after each
// cluster and END_OF_FRAGMENT. It reports the cost per frame.
func BenchmarkWriteStream(b *testing.B) {
	const (
		frames = 300
		fps    = 30
		gop    = 60
	)
	frame := make([]byte, 4096)
	tag := mkv.SimpleTag{Name: "MOTION", Value: "0"}
	w := mkv.NewWriter(io.Discard)
	b.SetBytes(frames * int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		w.Reset(io.Discard)
		if err := w.WriteHeader(benchHeader); err != nil {
			b.Fatal(err)
		}
		for i := range int64(frames) {
			pts := 1_700_000_000_000 + i*1000/fps
			if i%gop == 0 {
				if i > 0 {
					if err := w.WriteTags(tag); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.StartCluster(pts); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.WriteFrame(1, pts, i%gop == 0, frame); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.EndFragment(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*frames), "ns/frame")
}

// BenchmarkAppendTags builds the Tags an ingest puts in front of each GetMedia chunk.
func BenchmarkAppendTags(b *testing.B) {
	tags := []mkv.SimpleTag{
		{Name: kvsapi.TagFragmentNumber, Value: "91343852338176208490308672115616860505404839548"},
		{Name: kvsapi.TagServerTimestamp, Value: "1511852109.126"},
		{Name: kvsapi.TagProducerTimestamp, Value: "1511852108.513"},
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = mkv.AppendTags(buf[:0], tags)
	}
}
