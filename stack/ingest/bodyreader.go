package ingest

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// Reasons a PutMedia body stops being read, returned by bodyReader.Read and
// seen (wrapped) in the demuxer's error.
var (
	errSessionStopped   = errors.New("ingest: PutMedia session stopped")
	errIdleTimeout      = errors.New("ingest: PutMedia body silent for the idle timeout")
	errSlowClient       = errors.New("ingest: PutMedia body slower than the minimum rate")
	errFragmentTooLarge = errors.New("ingest: fragment exceeds the maximum fragment size")
)

// demuxReadAhead is the most the demuxer reads beyond the bytes it has handed
// out in events (its bufio buffer).
const demuxReadAhead = 16 << 10

// bodyReader reads a PutMedia body for the demuxer. It enforces the idle and
// slow-client limits with read deadlines (so a silent client costs no polling),
// stops at once when the session is stopped from elsewhere, and bounds the
// bytes of an open Cluster as they arrive, before the demuxer buffers them.
type bodyReader struct {
	body io.Reader
	rc   *http.ResponseController
	stop *atomic.Bool // set when the session must end; checked around every read

	idle       time.Duration // IdleTimeout
	slowWindow time.Duration // SlowReadWindow
	minBytes   int64         // MinReadBytes per slowWindow

	lastData    time.Time    // when the last bytes arrived (or the session began)
	lastDataNs  atomic.Int64 // lastData for the ACK writer's IDLE timer
	windowStart time.Time
	windowBytes int64

	total int64 // body bytes read so far
	// clusterStart is the stream offset of the open Cluster, -1 if none;
	// maxCluster bounds total - clusterStart (plus the demuxer's read-ahead).
	clusterStart int64
	maxCluster   int64

	connErr error // the first error of the connection itself (not EOF, not ours)
	onBytes func(n int)
}

func newBodyReader(body io.Reader, rc *http.ResponseController, stop *atomic.Bool, cfg *Config, maxCluster int64, onBytes func(int)) *bodyReader {
	now := time.Now()
	b := &bodyReader{
		body: body, rc: rc, stop: stop,
		idle: cfg.IdleTimeout, slowWindow: cfg.SlowReadWindow, minBytes: cfg.MinReadBytes,
		lastData: now, windowStart: now,
		clusterStart: -1, maxCluster: maxCluster,
		onBytes: onBytes,
	}
	b.lastDataNs.Store(now.UnixNano())
	return b
}

// deadline is when the next read must have returned: the idle limit, or the
// end of the slow-client window if that window still lacks bytes.
func (b *bodyReader) deadline() time.Time {
	d := b.lastData.Add(b.idle)
	if b.windowBytes < b.minBytes {
		if w := b.windowStart.Add(b.slowWindow); w.Before(d) {
			d = w
		}
	}
	return d
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.stop.Load() {
		return 0, errSessionStopped
	}
	_ = b.rc.SetReadDeadline(b.deadline())
	// A stop that raced with the line above may have set its own (past)
	// deadline before ours replaced it; the flag tells.
	if b.stop.Load() {
		return 0, errSessionStopped
	}
	n, err := b.body.Read(p)
	now := time.Now()
	if n > 0 {
		b.total += int64(n)
		b.lastData = now
		b.lastDataNs.Store(now.UnixNano())
		b.windowBytes += int64(n)
		if b.onBytes != nil {
			b.onBytes(n)
		}
	}
	if err != nil && err != io.EOF {
		switch {
		case b.stop.Load():
			return n, errSessionStopped
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Total silence for IdleTimeout is idleness, not slowness.
			if now.Sub(b.lastData) >= b.idle {
				return n, errIdleTimeout
			}
			return n, errSlowClient
		}
		if b.connErr == nil {
			b.connErr = err
		}
		return n, err
	}
	if err == nil && now.Sub(b.windowStart) >= b.slowWindow {
		if b.windowBytes < b.minBytes {
			return n, errSlowClient
		}
		b.windowStart, b.windowBytes = now, 0
	}
	if b.clusterStart >= 0 && b.total-b.clusterStart > b.maxCluster+demuxReadAhead {
		return n, errFragmentTooLarge
	}
	return n, err
}
