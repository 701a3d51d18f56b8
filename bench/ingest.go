// Package bench measures camstorm's components against raw baselines measured
// in the same run on the same machine, so every figure is a ratio that means
// something on any hardware.
package bench

import (
	"bufio"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/stack"
)

// IngestOptions configure the ingest benchmark.
type IngestOptions struct {
	Dir        string        // where the stack's data and the baseline file live (same disk); default os.TempDir()
	Streams    int           // concurrent PutMedia streams; default 16
	Duration   time.Duration // how long producers send; default 10s
	BitrateBps int           // synthetic media bitrate per stream; default 8 Mbit/s
	FPS        int           // default 15
	GOP        time.Duration // one fragment per GOP; default 2s
	// Progress, if set, is called about once a second while producers run.
	Progress func(elapsed time.Duration, persistedBytes int64)
}

func (o *IngestOptions) defaults() {
	if o.Dir == "" {
		o.Dir = os.TempDir()
	}
	if o.Streams == 0 {
		o.Streams = 16
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Second
	}
	if o.BitrateBps == 0 {
		o.BitrateBps = 8_000_000
	}
	if o.FPS == 0 {
		o.FPS = 15
	}
	if o.GOP == 0 {
		o.GOP = 2 * time.Second
	}
}

// Throughput is one measured figure.
type Throughput struct {
	Bytes     int64         `json:"bytes"`
	Fragments int           `json:"fragments"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	MBps      float64       `json:"mb_per_s"`
}

func throughput(bytes int64, frags int, d time.Duration) Throughput {
	return Throughput{Bytes: bytes, Fragments: frags, Elapsed: d, MBps: float64(bytes) / 1e6 / d.Seconds()}
}

// IngestResult is what the ingest benchmark measured.
type IngestResult struct {
	Options  IngestOptions `json:"-"`
	Baseline Throughput    `json:"baseline"`
	Ingest   Throughput    `json:"ingest"` // encryption at rest on, as the stack runs
	// IngestPlaintext is the same load with encryption at rest off, and
	// AtRestRatio is Ingest over it: what encryption at rest costs.
	IngestPlaintext Throughput `json:"ingest_plaintext_at_rest"`
	AtRestRatio     float64    `json:"at_rest_ratio"`
	Ratio           float64    `json:"ratio"`
	// Persisted latency: from a fragment's first byte leaving the producer to its PERSISTED ACK.
	PersistedP50 time.Duration `json:"persisted_p50_ns"`
	PersistedP99 time.Duration `json:"persisted_p99_ns"`
	Errors       []string      `json:"errors,omitempty"`
}

// Ingest runs producers against an embedded stack and then, twice, the raw
// baseline (AES-256-GCM sealing and fdatasync-writing the same fragment sizes
// to the same disk with pipelined group commit), and reports persisted MB/s
// for the ingest and the better baseline run.
func Ingest(ctx context.Context, o IngestOptions) (IngestResult, error) {
	o.defaults()
	res := IngestResult{Options: o}
	dir, err := os.MkdirTemp(o.Dir, "camstorm-bench-*")
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)

	// Each phase starts with no dirty pages left over from the one before.
	syscall.Sync()
	sizes, latencies, ingestTP, errs, err := runIngest(ctx, filepath.Join(dir, "stack"), o, false)
	if err != nil {
		return res, err
	}
	res.Ingest, res.Errors = ingestTP, errs
	syscall.Sync()
	_, _, plainTP, plainErrs, err := runIngest(ctx, filepath.Join(dir, "stack-plaintext"), o, true)
	if err != nil {
		return res, err
	}
	res.IngestPlaintext, res.Errors = plainTP, append(res.Errors, plainErrs...)
	if plainTP.MBps > 0 {
		res.AtRestRatio = ingestTP.MBps / plainTP.MBps
	}
	if len(sizes) == 0 {
		return res, fmt.Errorf("bench: no fragment was persisted (errors: %v)", errs)
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	res.PersistedP50 = latencies[len(latencies)/2]
	res.PersistedP99 = latencies[len(latencies)*99/100]

	// The disk under a VM varies from run to run; the better of two baseline
	// runs is the ceiling the ratio is taken against.
	for run := range 2 {
		syscall.Sync()
		// A fresh file each run: rewriting blocks just freed is cheaper on
		// thin-provisioned disks and would flatter the second run.
		tp, err := sealAndSync(ctx, filepath.Join(dir, fmt.Sprintf("baseline-%d.log", run)), sizes, o.Streams)
		if err != nil {
			return res, err
		}
		if tp.MBps > res.Baseline.MBps {
			res.Baseline = tp
		}
	}
	res.Ratio = res.Ingest.MBps / res.Baseline.MBps
	return res, nil
}

func runIngest(ctx context.Context, dataDir string, o IngestOptions, plaintextAtRest bool) (sizes []int, latencies []time.Duration, tp Throughput, errs []string, err error) {
	st, err := stack.StartEmbedded(ctx, stack.Options{DataDir: dataDir, PlaintextAtRest: plaintextAtRest})
	if err != nil {
		return nil, nil, tp, nil, err
	}
	defer st.Close(context.Background())
	hc := st.AdminClient()
	defer hc.CloseIdleConnections()
	for i := range o.Streams {
		in := kvsapi.CreateStreamInput{StreamName: fmt.Sprintf("bench-%03d", i), MediaType: "video/h264", DataRetentionInHours: 1}
		if err := kvsclient.Call(ctx, hc, st.ControlPlaneURL, kvsapi.PathCreateStream, in, nil); err != nil {
			return nil, nil, tp, nil, fmt.Errorf("bench: creating stream: %w", err)
		}
	}

	var (
		mu        sync.Mutex
		persisted atomic.Int64
		lastAck   atomic.Int64 // unix nanos of the latest PERSISTED
		wg        sync.WaitGroup
	)
	start := time.Now()
	stopProgress := make(chan struct{})
	if o.Progress != nil {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					o.Progress(time.Since(start), persisted.Load())
				}
			}
		}()
	}
	for i := range o.Streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := producer{name: fmt.Sprintf("bench-%03d", i), seed: int64(i + 1), o: o, endpoint: st.DataPlaneURL}
			s, l, e := p.run(ctx, hc, start.Add(o.Duration), func(n int) {
				persisted.Add(int64(n))
				lastAck.Store(time.Now().UnixNano())
			})
			mu.Lock()
			sizes = append(sizes, s...)
			latencies = append(latencies, l...)
			if e != nil {
				errs = append(errs, e.Error())
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stopProgress)
	if err := ctx.Err(); err != nil {
		return nil, nil, tp, nil, err
	}
	end := time.Unix(0, lastAck.Load())
	return sizes, latencies, throughput(persisted.Load(), len(sizes), end.Sub(start)), errs, nil
}

// producer is one stream sending synthetic media as fast as the ingest takes it.
type producer struct {
	name, endpoint string
	seed           int64
	o              IngestOptions
}

// countingWriter counts bytes on their way to the connection.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

type sent struct {
	size  int
	start time.Time
}

func (p producer) run(ctx context.Context, hc *http.Client, deadline time.Time, onPersisted func(int)) ([]int, []time.Duration, error) {
	src, err := media.NewSynthetic(media.SyntheticConfig{BitrateBps: p.o.BitrateBps, FPS: p.o.FPS, GOP: p.o.GOP, Seed: p.seed, Width: 1280, Height: 720})
	if err != nil {
		return nil, nil, err
	}
	pm, err := kvsclient.StartPutMedia(ctx, hc, p.endpoint, kvsclient.PutMediaOptions{StreamName: p.name})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p.name, err)
	}
	defer pm.Close()

	var (
		mu        sync.Mutex
		inFlight  = map[int64]sent{} // by fragment timecode
		sizes     []int
		latencies []time.Duration
		ackErr    error
	)
	acksDone := make(chan struct{})
	go func() {
		defer close(acksDone)
		for {
			a, err := pm.NextAck()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					mu.Lock()
					ackErr = err
					mu.Unlock()
				}
				return
			}
			switch a.EventType {
			case kvsapi.EventPersisted:
				mu.Lock()
				f, ok := inFlight[a.FragmentTimecode]
				delete(inFlight, a.FragmentTimecode)
				if ok {
					sizes = append(sizes, f.size)
					latencies = append(latencies, time.Since(f.start))
				}
				mu.Unlock()
				if ok {
					onPersisted(f.size)
				}
			case kvsapi.EventError:
				mu.Lock()
				ackErr = fmt.Errorf("%s: ERROR ACK %d %s", p.name, a.ErrorID, a.ErrorCode)
				mu.Unlock()
				return
			}
		}
	}()

	cw := &countingWriter{w: pm}
	bw := bufio.NewWriterSize(cw, 256<<10)
	w := mkv.NewWriter(bw)
	if err := w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{src.Track()}}); err != nil {
		return nil, nil, err
	}
	base := time.Now().UnixMilli()
	var cur struct {
		tc    int64
		from  int64
		start time.Time
		open  bool
	}
	closeFragment := func() {
		if !cur.open {
			return
		}
		mu.Lock()
		inFlight[cur.tc] = sent{size: int(cw.n + int64(bw.Buffered()) - cur.from), start: cur.start}
		mu.Unlock()
	}
	var werr error
	for time.Now().Before(deadline) && ctx.Err() == nil && werr == nil {
		f := src.Next()
		pts := base + f.PTS.Milliseconds()
		if f.Key {
			closeFragment()
			cur.tc, cur.from, cur.start, cur.open = pts, cw.n+int64(bw.Buffered()), time.Now(), true
			werr = w.StartCluster(pts)
		}
		if werr == nil {
			werr = w.WriteFrame(src.Track().Number, pts, f.Key, f.Data)
		}
	}
	if werr == nil {
		werr = w.EndFragment()
	}
	closeFragment()
	if werr == nil {
		werr = bw.Flush()
	}
	_ = pm.CloseWrite()
	select {
	case <-acksDone:
	case <-time.After(30 * time.Second):
		werr = errors.Join(werr, fmt.Errorf("%s: no final PERSISTED within 30s", p.name))
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	if werr != nil || ackErr != nil {
		return sizes, latencies, errors.Join(werr, ackErr)
	}
	return sizes, latencies, nil
}

// sealAndSync is the raw baseline: one goroutine seals each fragment with
// AES-256-GCM while another appends the sealed fragments to a file and calls
// fdatasync once per group of `group` fragments — the pipelined group commit a
// store would do for that many concurrent streams, with no HTTP, TLS,
// parsing, indexing or scheduling.
func sealAndSync(ctx context.Context, path string, sizes []int, group int) (Throughput, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return Throughput{}, fmt.Errorf("bench: baseline file: %w", err)
	}
	defer f.Close()
	var key [32]byte
	_, _ = rand.Read(key[:])
	block, _ := aes.NewCipher(key[:])
	aead, _ := cipher.NewGCM(block)
	maxSize := 0
	for _, s := range sizes {
		maxSize = max(maxSize, s)
	}
	plain := make([]byte, maxSize)
	_, _ = rand.Read(plain)

	// The sealer may run one group ahead of the writer: it seals the next
	// group while the writer waits for the disk.
	sealed := make(chan []byte, group)
	free := make(chan []byte, 2*group+1)
	for range cap(free) {
		free <- make([]byte, 0, maxSize+aead.Overhead())
	}
	stop := make(chan struct{})
	defer close(stop)
	start := time.Now()
	go func() {
		defer close(sealed)
		var nonce [12]byte
		for i, size := range sizes {
			var buf []byte
			select {
			case buf = <-free:
			case <-stop:
				return
			}
			binary.BigEndian.PutUint64(nonce[4:], uint64(i))
			sealed <- aead.Seal(buf[:0], nonce[:], plain[:size], nil)
		}
	}()

	var total int64
	pending := 0
	for b := range sealed {
		if err := ctx.Err(); err != nil {
			return Throughput{}, err
		}
		if _, err := f.Write(b); err != nil {
			return Throughput{}, fmt.Errorf("bench: baseline write: %w", err)
		}
		total += int64(len(b) - aead.Overhead())
		free <- b
		if pending++; pending == group {
			if err := datasync(f); err != nil {
				return Throughput{}, fmt.Errorf("bench: baseline fdatasync: %w", err)
			}
			pending = 0
		}
	}
	if err := datasync(f); err != nil {
		return Throughput{}, fmt.Errorf("bench: baseline fdatasync: %w", err)
	}
	return throughput(total, len(sizes), time.Since(start)), nil
}
