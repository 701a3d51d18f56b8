package containers

import (
	"context"
	"testing"
	"time"
)

// BenchmarkImage measures Image with the image missing (cold: removed
// before each build, the binary already compiled) and present (cached).
func BenchmarkImage(b *testing.B) {
	ref, bin := testImage(b)
	ctx := context.Background()
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			if err := RemoveImage(ctx, ref); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := Image(ctx, ImageOptions{Binary: bin}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := Image(ctx, ImageOptions{Binary: bin}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStartHealthy measures creating and starting the all-in-one
// stack until /healthz answers, and removing it.
func BenchmarkStartHealthy(b *testing.B) {
	ref, _ := testImage(b)
	ctx := context.Background()
	s, err := NewSession(ctx, SessionOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(ctx)
	var healthy time.Duration
	for b.Loop() {
		start := time.Now()
		c, err := s.Start(ctx, allInOne(ref))
		if err != nil {
			b.Fatal(err)
		}
		healthy += time.Since(start)
		b.StopTimer()
		if err := c.Terminate(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(healthy.Milliseconds())/float64(b.N), "ms-to-healthy/op")
}
