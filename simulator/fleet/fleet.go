// Package fleet runs many simulated cameras at once into one target, reads
// every stream back with the consumer, and accounts for the result.
package fleet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/camstorm/camstorm/fixtures"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/consumer"
	"github.com/camstorm/camstorm/simulator/media"
)

// Camera kinds, as reported.
const (
	KindClip      = "clip"
	KindSynthetic = "synthetic"
)

// Phases of a run, as Progress reports them.
const (
	PhaseStreaming = "streaming"
	PhaseVerifying = "verifying"
)

// Progress is a snapshot of a running fleet, delivered about once a second.
type Progress struct {
	Phase     string        `json:"phase"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	Streaming int           `json:"streaming"` // cameras currently running
	Finished  int           `json:"finished"`  // cameras done streaming
	Persisted int64         `json:"persisted"` // fragments acknowledged PERSISTED so far
	Errors    int64         `json:"errors"`    // ERROR ACKs and failed cameras so far
	Verified  int           `json:"verified"`  // streams read back so far
}

// Latency summarises one ACK type's latency from a fragment's first byte.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Totals of the read-back over every stream (reliability.md §3.4).
type Totals struct {
	Streams         int    `json:"streams"`
	Persisted       int    `json:"persisted"`
	Stored          int    `json:"stored"`
	Delivered       int    `json:"delivered"`
	Lost            int    `json:"lost"`
	Corrupted       int    `json:"corrupted"`
	Duplicates      int    `json:"duplicates"`
	Unexpected      int    `json:"unexpected"`
	SequenceChecked int    `json:"sequence_checked_streams"`
	SequenceGaps    int    `json:"sequence_gaps"`
	MissingFrames   uint64 `json:"missing_frames"`
	DuplicateFrames uint64 `json:"duplicate_frames"`
	// NotVerified counts streams the harness could not read back (see Errors).
	NotVerified int `json:"not_verified"`
}

// CameraSummary is one camera's line in the report.
type CameraSummary struct {
	Stream       string                 `json:"stream"`
	Kind         string                 `json:"kind"`
	Fragments    int                    `json:"fragments"`
	Persisted    int                    `json:"persisted"`
	Frames       int64                  `json:"frames"`
	Bytes        int64                  `json:"bytes"`
	Failure      *simulator.Failure     `json:"failure,omitempty"`
	AckErrors    []simulator.AckError   `json:"ack_errors,omitempty"`
	Verification *consumer.Verification `json:"verification,omitempty"`
}

// Report is the outcome of a fleet run. Passed says whether the target kept
// everything it acknowledged; Problems says, in sentences, what did not.
type Report struct {
	Config struct {
		Cameras        int            `json:"cameras"`
		Duration       time.Duration  `json:"duration_ns"`
		Mix            Mix            `json:"mix"`
		Ramp           time.Duration  `json:"ramp_ns"`
		Seed           int64          `json:"seed"`
		StreamPrefix   string         `json:"stream_prefix"`
		Synthetic      syntheticShape `json:"synthetic"`
		RetentionHours int            `json:"retention_hours,omitempty"`
	} `json:"config"`
	Start   time.Time      `json:"start"`
	End     time.Time      `json:"end"`
	Cameras map[string]int `json:"cameras"` // by kind
	// CamerasFailed counts cameras whose run ended with a Failure;
	// CamerasNotStarted those the end of the context stopped before they began.
	CamerasFailed     int `json:"cameras_failed"`
	CamerasNotStarted int `json:"cameras_not_started,omitempty"`
	// Interrupted is set when the context ended the run: the streams were
	// not verified and the report is partial.
	Interrupted bool  `json:"interrupted,omitempty"`
	Fragments   int   `json:"fragments_sent"`
	Persisted   int   `json:"fragments_persisted"`
	Frames      int64 `json:"frames"`
	Bytes       int64 `json:"bytes"`
	// AckLatency by ACK type (BUFFERING, RECEIVED, PERSISTED), from the
	// first byte of the fragment.
	AckLatency map[string]Latency `json:"ack_latency"`
	// Errors counts failures by kind: exception types, ERROR ACK codes,
	// connection errors, PERSISTED timeouts, verification errors.
	Errors       map[string]int  `json:"errors"`
	Verification Totals          `json:"verification"`
	PerCamera    []CameraSummary `json:"per_camera"`
}

type syntheticShape struct {
	BitrateBps int           `json:"bitrate_bps"`
	FPS        int           `json:"fps"`
	GOP        time.Duration `json:"gop_ns"`
	Width      int           `json:"width"`
	Height     int           `json:"height"`
}

// Problems lists, as sentences, everything that makes the run fail: data
// lost or corrupted, duplicates, sequence gaps, failed cameras, streams that
// could not be verified. Empty means the run passed.
func (r *Report) Problems() []string {
	var p []string
	v := r.Verification
	add := func(n int, format string) {
		if n > 0 {
			p = append(p, fmt.Sprintf(format, n))
		}
	}
	add(v.Lost, "%d fragments acknowledged PERSISTED were lost")
	add(v.Corrupted, "%d fragments came back with different bytes")
	add(v.Duplicates, "%d fragments are stored twice")
	add(v.SequenceGaps, "%d holes or overlaps in the frame sequence")
	add(r.CamerasFailed, "%d cameras failed")
	add(v.NotVerified, "%d streams could not be verified")
	if r.Interrupted {
		p = append(p, "the run was interrupted, so nothing was verified")
	}
	return p
}

// Passed reports a run with no problems.
func (r *Report) Passed() bool { return len(r.Problems()) == 0 }

// histogram bounds: 1 µs to 10 minutes, 3 significant digits.
const (
	histMin   = 1
	histMax   = int64(10 * time.Minute / time.Microsecond)
	histSigFi = 3
)

var ackTypes = []kvsapi.EventType{kvsapi.EventBuffering, kvsapi.EventReceived, kvsapi.EventPersisted}

// Run streams cfg.Cameras cameras into target for cfg.Duration (starts spread
// over cfg.Ramp), then verifies every stream, cfg.VerifyConcurrency at a time.
// progress (if not nil) is called about once a second from a separate
// goroutine. The error is for the harness only (invalid config, the clip
// unreadable, ctx ended); what happened to the target is in the Report. If
// ctx ends, cameras close their sessions, verification is skipped and the
// partial report is returned with ctx's error.
func Run(ctx context.Context, cfg Config, target simulator.Target, progress func(Progress)) (Report, error) {
	var rep Report
	if err := cfg.Validate(); err != nil {
		return rep, err
	}
	cfg = cfg.withDefaults()
	kinds := assignKinds(cfg)
	var clip *fixtures.Clip
	if slices.Contains(kinds, KindClip) {
		var err error
		if clip, err = fixtures.H264(); err != nil {
			return rep, fmt.Errorf("fleet: loading the H.264 clip: %w", err)
		}
	}
	cams := make([]*simulator.Camera, cfg.Cameras)
	var live struct{ streaming, finished, verified, persisted, errors atomic.Int64 }
	onAck := func(a kvsapi.Ack, _ time.Duration) {
		switch a.EventType {
		case kvsapi.EventPersisted:
			live.persisted.Add(1)
		case kvsapi.EventError:
			live.errors.Add(1)
		}
	}
	for i := range cams {
		var src media.Source
		if kinds[i] == KindClip {
			src = media.NewClip(clip)
		} else {
			sc := cfg.Synthetic
			sc.Seed = cfg.Seed*1_000_003 + int64(i)
			var err error
			if src, err = media.NewSynthetic(sc); err != nil {
				return rep, fmt.Errorf("fleet: camera %d: %w", i, err)
			}
		}
		cam, err := simulator.NewCamera(simulator.CameraConfig{
			StreamName: streamName(cfg.StreamPrefix, i), Source: src, RetentionHours: cfg.RetentionHours,
			Clock: cfg.Clock, RealTime: true, FinalAckTimeout: cfg.FinalAckTimeout, OnAck: onAck,
		}, target)
		if err != nil {
			return rep, fmt.Errorf("fleet: camera %d: %w", i, err)
		}
		cams[i] = cam
	}

	start := cfg.Clock()
	phase := atomic.Value{}
	phase.Store(PhaseStreaming)
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if progress == nil {
			return
		}
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				progress(Progress{
					Phase: phase.Load().(string), Elapsed: cfg.Clock().Sub(start),
					Streaming: int(live.streaming.Load()), Finished: int(live.finished.Load()),
					Persisted: live.persisted.Load(), Errors: live.errors.Load(), Verified: int(live.verified.Load()),
				})
			}
		}
	}()
	defer func() {
		close(stopProgress)
		<-progressDone
	}()

	results := make([]simulator.CameraResult, cfg.Cameras)
	var wg sync.WaitGroup
	for i, cam := range cams {
		offset := time.Duration(0)
		if cfg.Cameras > 1 {
			offset = cfg.Ramp * time.Duration(i) / time.Duration(cfg.Cameras)
		}
		wg.Go(func() {
			if !sleep(ctx, offset) {
				results[i] = cam.Run(ctx, cfg.Clock()) // records the cancellation
				return
			}
			live.streaming.Add(1)
			results[i] = cam.Run(ctx, cfg.Clock().Add(cfg.Duration))
			live.streaming.Add(-1)
			live.finished.Add(1)
			if results[i].Failure != nil {
				live.errors.Add(1)
			}
		})
	}
	wg.Wait()

	verifications := make([]*consumer.Verification, cfg.Cameras)
	if ctx.Err() == nil {
		phase.Store(PhaseVerifying)
		sem := make(chan struct{}, cfg.VerifyConcurrency)
		for i := range results {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				v := consumer.Verify(ctx, target, results[i].StreamName, results[i].Fragments)
				verifications[i] = &v
				live.verified.Add(1)
			})
		}
		wg.Wait()
	}
	rep = buildReport(cfg, kinds, results, verifications)
	rep.Start, rep.End = start, cfg.Clock()
	rep.Interrupted = ctx.Err() != nil
	return rep, ctx.Err()
}

// assignKinds decides each camera's kind: the mix's shares, rounded, in an
// order shuffled by the seed so clip cameras are spread over the ramp.
func assignKinds(cfg Config) []string {
	total := cfg.Mix.Clip + cfg.Mix.Synthetic
	clips := (cfg.Cameras*cfg.Mix.Clip + total/2) / total
	kinds := make([]string, cfg.Cameras)
	for i := range kinds {
		kinds[i] = KindSynthetic
		if i < clips {
			kinds[i] = KindClip
		}
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5DEECE66D))
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	return kinds
}

// sleep waits d or until ctx ends; it reports whether the full wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func buildReport(cfg Config, kinds []string, results []simulator.CameraResult, verifications []*consumer.Verification) Report {
	var r Report
	r.Config.Cameras, r.Config.Duration, r.Config.Mix, r.Config.Ramp = cfg.Cameras, cfg.Duration, cfg.Mix, cfg.Ramp
	r.Config.Seed, r.Config.StreamPrefix, r.Config.RetentionHours = cfg.Seed, cfg.StreamPrefix, cfg.RetentionHours
	s := cfg.Synthetic
	r.Config.Synthetic = syntheticShape{BitrateBps: s.BitrateBps, FPS: s.FPS, GOP: s.GOP, Width: s.Width, Height: s.Height}
	r.Cameras = map[string]int{}
	r.Errors = map[string]int{}
	hists := map[kvsapi.EventType]*hdrhistogram.Histogram{}
	for _, t := range ackTypes {
		hists[t] = hdrhistogram.New(histMin, histMax, histSigFi)
	}
	record := func(t kvsapi.EventType, a simulator.AckTiming) {
		if a.Seen {
			us := min(max(a.Latency.Microseconds(), histMin), histMax)
			_ = hists[t].RecordValue(us) // clamped into range: cannot fail
		}
	}
	for i := range results {
		res := &results[i]
		r.Cameras[kinds[i]]++
		sum := CameraSummary{Stream: res.StreamName, Kind: kinds[i], Fragments: len(res.Fragments),
			Persisted: res.Persisted(), Frames: res.Frames, Bytes: res.Bytes, Failure: res.Failure, AckErrors: res.AckErrors}
		r.Fragments += len(res.Fragments)
		r.Persisted += sum.Persisted
		r.Frames += res.Frames
		r.Bytes += res.Bytes
		switch {
		case res.Failure == nil:
		case res.Failure.Phase == simulator.PhaseCanceled:
			r.CamerasNotStarted++
		default:
			r.CamerasFailed++
			r.Errors[res.Failure.Kind]++
		}
		counted := map[string]int{}
		for _, e := range res.AckErrors {
			counted[e.Kind()]++
		}
		if extra := res.AckErrorCount - len(res.AckErrors); extra > 0 {
			counted["ERROR ACK (not kept)"] += extra
		}
		for k, n := range counted {
			// The failure already counts the ERROR ACK that ended the session.
			if res.Failure != nil && res.Failure.Kind == k {
				n--
			}
			if n > 0 {
				r.Errors[k] += n
			}
		}
		for j := range res.Fragments {
			f := &res.Fragments[j]
			record(kvsapi.EventBuffering, f.Buffering)
			record(kvsapi.EventReceived, f.Received)
			record(kvsapi.EventPersisted, f.Persisted)
		}
		if v := verifications[i]; v != nil {
			sum.Verification = v
			t := &r.Verification
			t.Streams++
			t.Persisted += v.Persisted
			t.Stored += v.Stored
			t.Delivered += v.Delivered
			t.Lost += v.Lost
			t.Corrupted += v.Corrupted
			t.Duplicates += v.Duplicates
			t.Unexpected += v.Unexpected
			t.SequenceGaps += v.SequenceGaps
			t.MissingFrames += v.MissingFrames
			t.DuplicateFrames += v.DuplicateFrames
			if v.SequenceChecked {
				t.SequenceChecked++
			}
			if v.Err != "" {
				t.NotVerified++
				r.Errors["verification: could not read back"]++
			}
		}
		r.PerCamera = append(r.PerCamera, sum)
	}
	r.AckLatency = map[string]Latency{}
	for _, t := range ackTypes {
		h := hists[t]
		ms := func(us int64) float64 { return float64(us) / 1000 }
		r.AckLatency[string(t)] = Latency{Count: h.TotalCount(), P50: ms(h.ValueAtQuantile(50)),
			P95: ms(h.ValueAtQuantile(95)), P99: ms(h.ValueAtQuantile(99)), Max: ms(h.Max())}
	}
	sort.SliceStable(r.PerCamera, func(i, j int) bool { return r.PerCamera[i].Stream < r.PerCamera[j].Stream })
	return r
}
