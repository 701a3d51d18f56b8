package fleet

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/consumer"
	"github.com/camstorm/camstorm/simulator/netem"
)

// histogram bounds: 1 µs to 10 minutes, 3 significant digits.
const (
	histMin   = 1
	histMax   = int64(10 * time.Minute / time.Microsecond)
	histSigFi = 3
	// latencyShards spread ACK recording over several locks: thousands of
	// cameras' ACK readers record at once.
	latencyShards = 16
)

var ackTypes = []kvsapi.EventType{kvsapi.EventBuffering, kvsapi.EventReceived, kvsapi.EventPersisted}

// ackLatencies are HDR histograms of ACK latency by type, sharded.
type ackLatencies struct {
	next   atomic.Uint64
	shards [latencyShards]struct {
		mu    sync.Mutex
		hists map[kvsapi.EventType]*hdrhistogram.Histogram
	}
}

func newAckLatencies() *ackLatencies {
	l := &ackLatencies{}
	for i := range l.shards {
		l.shards[i].hists = map[kvsapi.EventType]*hdrhistogram.Histogram{}
		for _, t := range ackTypes {
			l.shards[i].hists[t] = hdrhistogram.New(histMin, histMax, histSigFi)
		}
	}
	return l
}

func (l *ackLatencies) record(t kvsapi.EventType, d time.Duration) {
	if d <= 0 {
		return
	}
	s := &l.shards[l.next.Add(1)%latencyShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.hists[t]; h != nil {
		_ = h.RecordValue(min(max(d.Microseconds(), histMin), histMax)) // clamped: cannot fail
	}
}

func (l *ackLatencies) merged(t kvsapi.EventType) *hdrhistogram.Histogram {
	out := hdrhistogram.New(histMin, histMax, histSigFi)
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		out.Merge(s.hists[t])
		s.mu.Unlock()
	}
	return out
}

// Latency summarises a latency distribution.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func summarize(h *hdrhistogram.Histogram) Latency {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{Count: h.TotalCount(), P50: ms(h.ValueAtQuantile(50)), P95: ms(h.ValueAtQuantile(95)),
		P99: ms(h.ValueAtQuantile(99)), Max: ms(h.Max())}
}

// Totals add up the accounting of every stream (reliability.md §3.4).
type Totals struct {
	Streams int `json:"streams"`
	// From the cameras' ledgers.
	Produced               uint64 `json:"produced_frames"`
	AckedFragments         int    `json:"acked_fragments"`
	AckedFrames            uint64 `json:"acked_frames"`
	CameraDroppedFragments int    `json:"camera_dropped_fragments"`
	CameraDroppedFrames    uint64 `json:"camera_dropped_frames"`
	UnconfirmedFragments   int    `json:"unconfirmed_fragments"`
	// From reading back.
	Stored            int    `json:"stored_fragments"`
	Delivered         uint64 `json:"delivered_frames"`
	LostFrames        uint64 `json:"lost_frames"`
	LostFragments     int    `json:"lost_fragments"`
	DuplicateFrags    int    `json:"duplicate_fragments"`
	DuplicateFrames   uint64 `json:"duplicate_frames"`
	DuplicatesDeduped uint64 `json:"duplicate_frames_after_dedup"`
	Gaps              int    `json:"gaps"`
	GapFrames         uint64 `json:"gap_frames"`
	OutOfOrder        int    `json:"out_of_order"`
	IntegrityFailures int    `json:"integrity_failures"`
	DroppedDelivered  uint64 `json:"dropped_delivered"`
	Unexpected        uint64 `json:"unexpected_frames"`
	UnackedDelivered  uint64 `json:"unacked_delivered"`
	NotServed         int    `json:"not_served"`
	Encrypted         int    `json:"encrypted_streams"`
	SequenceChecked   int    `json:"sequence_checked_streams"`
	// NotVerified counts streams the harness could not read back.
	NotVerified int `json:"not_verified"`
}

func (t *Totals) add(v *consumer.Verification) {
	t.Streams++
	t.Produced += v.Produced
	t.AckedFragments += v.AckedFragments
	t.AckedFrames += v.AckedFrames
	t.CameraDroppedFragments += v.CameraDroppedFragments
	t.CameraDroppedFrames += v.CameraDroppedFrames
	t.Stored += v.Stored
	t.Delivered += v.Delivered
	t.LostFrames += v.LostFrames
	t.LostFragments += v.LostFragments
	t.DuplicateFrags += v.DuplicateFragments
	t.DuplicateFrames += v.DuplicateFrames
	t.DuplicatesDeduped += v.DuplicateFramesAfterDedup
	t.Gaps += v.Gaps
	t.GapFrames += v.GapFrames
	t.OutOfOrder += v.OutOfOrder
	t.IntegrityFailures += v.IntegrityFailures
	t.DroppedDelivered += v.DroppedDelivered
	t.Unexpected += v.Unexpected
	t.UnackedDelivered += v.UnackedDelivered
	t.NotServed += v.NotServed
	if v.Encrypted {
		t.Encrypted++
	}
	if v.SequenceChecked {
		t.SequenceChecked++
	}
	if v.Err != "" {
		t.NotVerified++
	}
}

// Network totals what the cameras' links did to them.
type Network struct {
	Dials        int64 `json:"dials"`
	DialsRefused int64 `json:"dials_refused"`
	Resets       int64 `json:"resets"`
	Cuts         int64 `json:"cuts"`
	BlackHoles   int64 `json:"black_holes"`
	Outages      int64 `json:"outages"`
	Freezes      int64 `json:"freezes"`
	// Stalled is the time data was held by stalls and freezes, summed over
	// connections and directions.
	Stalled time.Duration `json:"stalled_ns"`
}

func (n *Network) add(s netem.Stats) {
	n.Dials += s.Dials
	n.DialsRefused += s.DialsRefused
	n.Resets += s.Resets
	n.Cuts += s.Cuts
	n.BlackHoles += s.BlackHoles
	n.Outages += s.Outages
	n.Freezes += s.Events[netem.KindFreeze]
	n.Stalled += s.Stalled
}

// Faults counts the scheduled faults that acted.
func (n Network) Faults() int64 { return n.Resets + n.Cuts + n.BlackHoles + n.Outages + n.Freezes }

// CameraSummary is one camera's line in the report.
type CameraSummary struct {
	Stream   string             `json:"stream"`
	Kind     string             `json:"kind"`
	Profile  string             `json:"profile"`
	Counters simulator.Counters `json:"counters"`
	Network  *Network           `json:"network,omitempty"`
	// Faults are the scheduled faults that acted on its connections.
	Faults       []netem.FiredEvent     `json:"faults,omitempty"`
	Failure      *simulator.Failure     `json:"failure,omitempty"`
	AckErrors    []simulator.AckError   `json:"ack_errors,omitempty"`
	Verification *consumer.Verification `json:"verification,omitempty"`
}

// Report is the outcome of a fleet run. Passed says whether the target kept
// everything it acknowledged intact; Problems says, in sentences, what did
// not; Warnings what the cameras could not deliver (not the target's fault
// under a faulty network, but worth knowing).
type Report struct {
	Config struct {
		Cameras        int            `json:"cameras"`
		Duration       time.Duration  `json:"duration_ns"`
		Mix            string         `json:"mix"`
		Profiles       string         `json:"profiles"`
		Ramp           time.Duration  `json:"ramp_ns"`
		RampDown       time.Duration  `json:"ramp_down_ns"`
		Seed           int64          `json:"seed"`
		StreamPrefix   string         `json:"stream_prefix"`
		Synthetic      SyntheticShape `json:"synthetic"`
		RetentionHours int            `json:"retention_hours,omitempty"`
		Encrypted      bool           `json:"e2ee"`
		KEM            string         `json:"kem,omitempty"`
		Camera         CameraTuning   `json:"camera"`
	} `json:"config"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Cameras counts cameras by kind and by profile.
	Cameras  map[string]int `json:"cameras"`
	Profiles map[string]int `json:"profiles"`
	// CamerasUndelivered counts cameras that ended with fragments not
	// acknowledged; CamerasNotStarted those ctx stopped before they began.
	CamerasUndelivered int `json:"cameras_undelivered"`
	CamerasNotStarted  int `json:"cameras_not_started,omitempty"`
	// Interrupted is set when the context ended the run: the streams were
	// not verified and the report is partial.
	Interrupted bool `json:"interrupted,omitempty"`
	// Producer sums every camera's counters.
	Producer simulator.Counters `json:"producer"`
	Network  Network            `json:"network"`
	// AckLatency by ACK type, from the first byte of the fragment's latest
	// send; EndToEnd from a frame's capture to a live consumer having it.
	AckLatency map[string]Latency `json:"ack_latency"`
	EndToEnd   *Latency           `json:"end_to_end_latency,omitempty"`
	// Errors counts problems by kind: exception types, ERROR ACK codes,
	// connection errors, verification errors.
	Errors       map[string]int  `json:"errors"`
	Verification Totals          `json:"verification"`
	PerCamera    []CameraSummary `json:"per_camera"`
}

// SyntheticShape echoes the synthetic media settings.
type SyntheticShape struct {
	BitrateBps int           `json:"bitrate_bps"`
	FPS        int           `json:"fps"`
	GOP        time.Duration `json:"gop_ns"`
	Width      int           `json:"width"`
	Height     int           `json:"height"`
}

// Problems lists, as sentences, everything that makes the run fail: data
// acknowledged and then lost, integrity failures, duplicates left after
// de-duplication, unexplained gaps, reordering, frames the cameras never
// produced or had dropped, cameras that got nothing acknowledged, streams
// that could not be verified. Empty means the run passed.
func (r *Report) Problems() []string {
	var p []string
	v := r.Verification
	add := func(n uint64, format string) {
		if n > 0 {
			p = append(p, fmt.Sprintf(format, n))
		}
	}
	add(v.LostFrames, "%d frames acknowledged PERSISTED were lost")
	add(uint64(v.IntegrityFailures), "%d fragments failed authentication or decryption")
	add(v.DuplicatesDeduped, "%d frames were delivered twice even after de-duplication")
	add(uint64(v.Gaps), "%d holes in the frame sequence nobody accounts for")
	add(uint64(v.OutOfOrder), "%d places where frames come back out of order")
	add(v.DroppedDelivered, "%d frames the cameras dropped came back anyway")
	add(v.Unexpected, "%d frames came back that no camera produced")
	add(uint64(r.camerasNothingAcked()), "%d cameras got nothing acknowledged")
	add(uint64(v.NotVerified), "%d streams could not be verified")
	if r.Interrupted {
		p = append(p, "the run was interrupted, so nothing was verified")
	}
	return p
}

// Warnings lists what did not make the run fail but a reader should know.
func (r *Report) Warnings() []string {
	var w []string
	if r.CamerasUndelivered > 0 {
		w = append(w, fmt.Sprintf("%d cameras ended with fragments not acknowledged (see per-camera failures)", r.CamerasUndelivered))
	}
	if n := r.Verification.CameraDroppedFrames; n > 0 {
		w = append(w, fmt.Sprintf("cameras dropped %d frames themselves (buffer overflow, rejected fragments, or undeliverable)", n))
	}
	if n := r.Verification.DuplicateFrags; n > 0 {
		w = append(w, fmt.Sprintf("the service stores %d fragments twice (consumers de-duplicate them by producer timestamp)", n))
	}
	return w
}

func (r *Report) camerasNothingAcked() int {
	n := 0
	for _, c := range r.PerCamera {
		if c.Counters.Fragments > 0 && c.Verification != nil && c.Verification.AckedFragments == 0 && r.Config.RetentionHours != 0 {
			n++
		}
	}
	return n
}

// Passed reports a run with no problems.
func (r *Report) Passed() bool { return len(r.Problems()) == 0 }

func buildReport(cfg Config, members []*member, results []simulator.CameraResult, verifications []*consumer.Verification,
	checkers []*consumer.LiveChecker, lat *ackLatencies) Report {
	var r Report
	c := &r.Config
	c.Cameras, c.Duration, c.Mix, c.Profiles = cfg.Cameras, cfg.Duration, cfg.Mix.String(), cfg.Profiles.String()
	c.Ramp, c.RampDown, c.Seed, c.StreamPrefix, c.RetentionHours = cfg.Ramp, cfg.RampDown, cfg.Seed, cfg.StreamPrefix, cfg.RetentionHours
	s := cfg.Synthetic
	c.Synthetic = SyntheticShape{BitrateBps: s.BitrateBps, FPS: s.FPS, GOP: s.GOP, Width: s.Width, Height: s.Height}
	c.Encrypted, c.Camera = !cfg.Plaintext, cfg.Camera
	if !cfg.Plaintext {
		c.KEM = fmt.Sprintf("%#04x", uint16(cfg.KEM))
	}
	r.Cameras, r.Profiles, r.Errors = map[string]int{}, map[string]int{}, map[string]int{}
	e2e := hdrhistogram.New(histMin, histMax, histSigFi)
	for i, m := range members {
		res := &results[i]
		r.Cameras[m.Kind]++
		r.Profiles[m.Profile]++
		sum := CameraSummary{Stream: m.Stream, Kind: m.Kind, Profile: m.Profile, Counters: res.Counters,
			Failure: res.Failure, AckErrors: res.AckErrorsKept}
		addCounters(&r.Producer, &res.Counters)
		if m.link != nil {
			var n Network
			n.add(m.link.Stats())
			sum.Network = &n
			r.Network.add(m.link.Stats())
			sum.Faults, _ = m.link.Fired()
		}
		switch {
		case res.Failure == nil:
		case res.Failure.Phase == simulator.PhaseCanceled:
			r.CamerasNotStarted++
		default:
			r.CamerasUndelivered++
			r.Errors[res.Failure.Kind]++
		}
		for _, e := range res.AckErrorsKept {
			r.Errors[e.Kind()]++
		}
		if extra := res.Counters.AckErrors - len(res.AckErrorsKept); extra > 0 {
			r.Errors["ERROR ACK (not kept)"] += extra
		}
		if v := verifications[i]; v != nil {
			sum.Verification = v
			r.Verification.add(v)
			r.Verification.UnconfirmedFragments += res.Ledger.UnconfirmedFragments
			if v.Err != "" {
				r.Errors["verification: could not read back"]++
			}
		}
		if ch := checkers[i]; ch != nil {
			e2e.Merge(ch.Latency())
		}
		r.PerCamera = append(r.PerCamera, sum)
	}
	r.AckLatency = map[string]Latency{}
	for _, t := range ackTypes {
		r.AckLatency[string(t)] = summarize(lat.merged(t))
	}
	if e2e.TotalCount() > 0 {
		l := summarize(e2e)
		r.EndToEnd = &l
	}
	sort.SliceStable(r.PerCamera, func(i, j int) bool { return r.PerCamera[i].Stream < r.PerCamera[j].Stream })
	return r
}

func addCounters(dst, c *simulator.Counters) {
	dst.Fragments += c.Fragments
	dst.Bytes += c.Bytes
	dst.Sessions += c.Sessions
	dst.Reconnects += c.Reconnects
	dst.Rotations += c.Rotations
	dst.StaleResets += c.StaleResets
	dst.ConnectFailures += c.ConnectFailures
	dst.ControlFailures += c.ControlFailures
	dst.Resent += c.Resent
	dst.StreamResets += c.StreamResets
	dst.Idle += c.Idle
	dst.UnmatchedAcks += c.UnmatchedAcks
	dst.AckErrors += c.AckErrors
}
