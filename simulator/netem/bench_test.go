package netem

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// benchThroughput writes b.N 32 KiB blocks through conns from dial to a loopback
// sink and reports bytes per second.
func benchThroughput(b *testing.B, dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(io.Discard, c)
	}()
	c, err := dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	block := make([]byte, 32<<10)
	for i := range block {
		block[i] = byte(i) // not all zeros
	}
	b.SetBytes(int64(len(block)))
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(block); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	<-drained
}

func BenchmarkThroughput(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		benchThroughput(b, (&net.Dialer{}).DialContext)
	})
	b.Run("perfect", func(b *testing.B) {
		l, err := NewLink(Profile{Name: "perfect"}, 1)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		benchThroughput(b, l.DialContext)
	})
	// With 1 ms of latency and a 4 MiB queue the pipeline allows 4 GB/s, so this
	// measures the cost of the queue and pump, not the latency.
	b.Run("latency-1ms", func(b *testing.B) {
		l, err := NewLink(Profile{Faults: []Fault{Latency{Delay: time.Millisecond}}}, 1, WithQueueBytes(4<<20))
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		benchThroughput(b, l.DialContext)
	})
	b.Run("lte-good-uncapped", func(b *testing.B) {
		p := Profile{Faults: []Fault{
			Stalls{P: 0.0005, R: 0.5, Slot: time.Millisecond},
			Latency{Delay: time.Millisecond, Jitter: 500 * time.Microsecond},
		}}
		l, err := NewLink(p, 1, WithQueueBytes(4<<20))
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		benchThroughput(b, l.DialContext)
	})
}
