package consumer

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/camstorm/camstorm/simulator"
)

const (
	// maxDetails bounds every list of examples a Verification keeps; the
	// counts beside them are always complete.
	maxDetails = 100
	// maxRecords and maxRuns bound a Checker's memory (about 100 bytes per
	// fragment); past them it stops accounting and says so.
	maxRecords = 1_000_000
	maxRuns    = 4_000_000
)

// NotServedFragment is a fragment the service listed or was asked for but
// did not serve.
type NotServedFragment struct {
	Number string `json:"number"`
	Reason string `json:"reason"`
}

// IntegrityFailure is an example of a fragment that failed authentication.
type IntegrityFailure struct {
	Fragment string `json:"fragment"`
	Timecode int64  `json:"timecode"`
	Error    string `json:"error"`
}

// DuplicateFragment is a stored fragment whose producer timestamp an
// earlier stored fragment (Kept) already has.
type DuplicateFragment struct {
	Number            string `json:"number"`
	Kept              string `json:"kept"`
	ProducerTimestamp int64  `json:"producer_timestamp_ms"`
}

// Reorder is a place where the sequence numbers go back in storage order.
type Reorder struct {
	Fragment string `json:"fragment"`
	After    uint64 `json:"after"` // the number before
	Seq      uint64 `json:"seq"`   // the smaller number that followed
}

// LatencySummary describes end-to-end latency: from a fragment's last frame
// (producer time) to the moment a live consumer had it authenticated.
type LatencySummary struct {
	Count int64         `json:"count"`
	Min   time.Duration `json:"min"`
	P50   time.Duration `json:"p50"`
	P90   time.Duration `json:"p90"`
	P99   time.Duration `json:"p99"`
	Max   time.Duration `json:"max"`
}

// Verification is what reading a stream back showed, measured against the
// camera's Ledger (reliability.md §3.4). Counts are exact; every list of
// examples holds at most 100 entries.
type Verification struct {
	Stream string `json:"stream"`

	// From the camera's ledger.
	Produced               uint64 `json:"produced_frames"`
	AckedFragments         int    `json:"acked_fragments"`
	AckedFrames            uint64 `json:"acked_frames"`
	CameraDroppedFragments int    `json:"camera_dropped_fragments"`
	CameraDroppedFrames    uint64 `json:"camera_dropped_frames"`
	// Unconfirmed: sent in full, never acknowledged PERSISTED (evicted, or
	// waiting at the end); stored or not, neither is a problem.
	CameraUnconfirmedFragments int    `json:"camera_unconfirmed_fragments"`
	CameraUnconfirmedFrames    uint64 `json:"camera_unconfirmed_frames"`

	// Stored counts the fragments ListFragments returned in the ledger's
	// window (Verify only); Received those read back, served or not.
	Stored   int `json:"stored"`
	Received int `json:"received"`
	// NotServed counts fragments the service could not serve.
	NotServed          int                 `json:"not_served"`
	NotServedFragments []NotServedFragment `json:"not_served_fragments,omitempty"`

	// SequenceChecked: frames carry sequence numbers (authenticated E2EE
	// numbers or synthetic SEI ones), so the counts below are per frame.
	// Otherwise the stream was checked per fragment, by timecode, only.
	SequenceChecked bool `json:"sequence_checked"`
	// Encrypted: the fragments carried the E2EE key track.
	Encrypted bool `json:"encrypted"`
	// Delivered counts distinct frames read back (and authenticated).
	Delivered uint64 `json:"delivered_frames"`

	// LostFrames are acknowledged frames not delivered; LostFragments the
	// acknowledged fragments with any frame missing (a lower bound where a
	// hole spans fragment boundaries of a plaintext stream); LostHoles the
	// missing ranges.
	LostFrames    uint64               `json:"lost_frames"`
	LostFragments int                  `json:"lost_fragments"`
	LostHoles     []simulator.SeqRange `json:"lost_holes,omitempty"`

	// DuplicateFragments counts stored fragments whose producer timestamp
	// an earlier one has; DuplicateFrames the sequence numbers delivered
	// more than once, before and after keeping only the first fragment of
	// each producer timestamp.
	DuplicateFragments        int                 `json:"duplicate_fragments"`
	Duplicates                []DuplicateFragment `json:"duplicates,omitempty"`
	DuplicateFrames           uint64              `json:"duplicate_frames"`
	DuplicateFramesAfterDedup uint64              `json:"duplicate_frames_after_dedup"`

	// Gaps are holes nobody accounted for: missing sequence numbers inside
	// the delivered range that the camera neither dropped nor saw
	// acknowledged nor lists as unconfirmed, up to its last acknowledged
	// frame (later ones were still in flight).
	Gaps      int                  `json:"gaps"`
	GapFrames uint64               `json:"gap_frames"`
	GapRanges []simulator.SeqRange `json:"gap_ranges,omitempty"`

	// OutOfOrder counts places where sequence numbers decrease in storage
	// order (by producer timestamp, after de-duplication).
	OutOfOrder int       `json:"out_of_order"`
	Reorders   []Reorder `json:"reorders,omitempty"`

	// IntegrityFailures counts fragments that failed authentication or
	// decryption; IntegrityFailedFrames their frames that did.
	IntegrityFailures     int                `json:"integrity_failures"`
	IntegrityFailedFrames int                `json:"integrity_failed_frames"`
	IntegrityErrors       []IntegrityFailure `json:"integrity_errors,omitempty"`

	// UnnumberedFrames are frames without a sequence number in a stream
	// whose other frames have one.
	UnnumberedFrames uint64 `json:"unnumbered_frames"`
	// DroppedDelivered are frames the camera says it dropped that were
	// delivered all the same.
	DroppedDelivered       uint64               `json:"dropped_delivered"`
	DroppedDeliveredRanges []simulator.SeqRange `json:"dropped_delivered_ranges,omitempty"`
	// Unexpected are delivered frames numbered beyond what the camera produced.
	Unexpected uint64 `json:"unexpected_frames"`
	// UnackedDelivered are delivered frames the camera sent but never saw
	// acknowledged (unconfirmed, or in flight when it stopped): neither
	// lost nor a problem.
	UnackedDelivered uint64 `json:"unacked_delivered"`

	// Latency is set by a LiveChecker.
	Latency *LatencySummary `json:"latency,omitempty"`

	// Err is set when the harness could not complete the check (the
	// service was unreachable, a response malformed): neither pass nor fail.
	Err string `json:"error,omitempty"`
}

// OK reports a completed verification that found nothing wrong.
func (v *Verification) OK() bool {
	return v.Err == "" && v.LostFrames == 0 && v.LostFragments == 0 && v.NotServed == 0 &&
		v.DuplicateFragments == 0 && v.DuplicateFrames == 0 && v.Gaps == 0 && v.OutOfOrder == 0 &&
		v.IntegrityFailures == 0 && v.UnnumberedFrames == 0 && v.DroppedDelivered == 0 && v.Unexpected == 0
}

// Problems lists in words what OK found wrong (nothing when it passed).
func (v *Verification) Problems() []string {
	var out []string
	add := func(n uint64, format string) {
		if n > 0 {
			out = append(out, fmt.Sprintf(format, n))
		}
	}
	if v.Err != "" {
		out = append(out, "not verified: "+v.Err)
	}
	add(v.LostFrames, "%d acknowledged frames lost")
	add(uint64(v.LostFragments), "%d acknowledged fragments incomplete or missing")
	add(uint64(v.NotServed), "%d fragments not served")
	add(uint64(v.DuplicateFragments), "%d fragments stored twice")
	add(v.DuplicateFrames, "%d frames delivered more than once")
	add(uint64(v.Gaps), "%d unexplained gaps in the frame sequence")
	add(uint64(v.OutOfOrder), "%d places out of order")
	add(uint64(v.IntegrityFailures), "%d fragments failed authentication")
	add(v.UnnumberedFrames, "%d frames without a sequence number")
	add(v.DroppedDelivered, "%d frames the camera dropped were delivered")
	add(v.Unexpected, "%d frames the camera never produced")
	return out
}

// fragRecord is all a Checker keeps of one fragment.
type fragRecord struct {
	number     string
	pts, tc    int64 // producer timestamp and cluster timecode, ms
	frames     int32 // video frames
	failed     int32 // of them, frames that failed authentication
	unnumbered int32 // of them, frames without a number that did not fail
	notServed  bool
	runOff     int32 // its runs: Checker.runs[runOff : runOff+runN]
	runN       int32
}

// Checker accounts for the fragments of one stream as they are read back,
// keeping per fragment only its timestamps and the runs of its frames'
// sequence numbers, never the frames. Feed it with Add in any order and
// ask for the Result against the camera's Ledger. The zero value is ready
// to use; a Checker is not safe for concurrent use (see LiveChecker).
type Checker struct {
	recs []fragRecord
	runs []simulator.SeqRange

	opened, encrypted bool
	overflow          bool

	notServed          int
	notServedExamples  []NotServedFragment
	integrity          int
	integrityFrames    int
	integrityExamples  []IntegrityFailure
	seenSequenceNumber bool
}

// Add accounts for one fragment (its frames are not kept).
func (c *Checker) Add(f *Fragment) {
	if len(c.recs) >= maxRecords || len(c.runs) >= maxRuns {
		c.overflow = true
		return
	}
	rec := fragRecord{number: f.Number, pts: f.ProducerTimestamp.UnixMilli(), tc: f.Timecode, runOff: int32(len(c.runs))}
	if f.ProducerTimestamp.IsZero() {
		rec.pts = f.Timecode
	}
	if f.Err != nil {
		rec.notServed = true
		c.notServed++
		if len(c.notServedExamples) < maxDetails {
			c.notServedExamples = append(c.notServedExamples, NotServedFragment{Number: f.Number, Reason: f.Err.Error()})
		}
		c.recs = append(c.recs, rec)
		return
	}
	c.opened = c.opened || f.Opened
	c.encrypted = c.encrypted || f.Encrypted
	if f.Integrity != nil {
		c.integrity++
		c.integrityFrames += f.FailedFrames
		if len(c.integrityExamples) < maxDetails {
			c.integrityExamples = append(c.integrityExamples, IntegrityFailure{Fragment: f.Number, Timecode: f.Timecode, Error: f.Integrity.Error()})
		}
	}
	if video := f.Video(); video != nil {
		rec.frames = int32(len(video.Frames))
		var cur simulator.SeqRange
		open := false
		for _, fr := range video.Frames {
			switch {
			case fr.Err != nil:
				rec.failed++
				continue
			case !fr.HasSeq:
				rec.unnumbered++
				continue
			}
			c.seenSequenceNumber = true
			if open && fr.Seq == cur.Last+1 && cur.Last+1 != 0 {
				cur.Last = fr.Seq
				continue
			}
			if open {
				c.runs = append(c.runs, cur)
				rec.runN++
			}
			cur, open = simulator.SeqRange{First: fr.Seq, Last: fr.Seq}, true
		}
		if open {
			c.runs = append(c.runs, cur)
			rec.runN++
		}
	}
	c.recs = append(c.recs, rec)
}

func (c *Checker) recRuns(r *fragRecord) []simulator.SeqRange {
	return c.runs[r.runOff : r.runOff+r.runN]
}

// compareFragmentNumbers orders decimal fragment numbers numerically.
func compareFragmentNumbers(a, b string) int {
	if len(a) != len(b) {
		return cmp.Compare(len(a), len(b))
	}
	return cmp.Compare(a, b)
}

// Result measures what was added against ledger (nil: no camera account,
// so only duplicates, order, integrity and unexplained holes are checked).
func (c *Checker) Result(ledger *simulator.Ledger) Verification {
	var v Verification
	if ledger != nil {
		v.Stream = ledger.Stream
		v.Produced, v.AckedFragments, v.AckedFrames = ledger.Produced, ledger.AckedFragments, ledger.AckedFrames
		v.CameraDroppedFragments, v.CameraDroppedFrames = ledger.DroppedFragments, ledger.DroppedFrames
		v.CameraUnconfirmedFragments = ledger.UnconfirmedFragments
		for _, u := range ledger.Unconfirmed {
			v.CameraUnconfirmedFrames += u.Len()
		}
	}
	v.Received = len(c.recs)
	v.NotServed, v.NotServedFragments = c.notServed, slices.Clone(c.notServedExamples)
	v.IntegrityFailures, v.IntegrityFailedFrames = c.integrity, c.integrityFrames
	v.IntegrityErrors = slices.Clone(c.integrityExamples)
	v.Encrypted = c.encrypted
	if c.overflow {
		v.Err = fmt.Sprintf("more than %d fragments or %d sequence runs: accounting stopped", maxRecords, maxRuns)
	}

	// Storage order: by producer timestamp, then fragment number.
	order := make([]int32, 0, len(c.recs))
	for i := range c.recs {
		if !c.recs[i].notServed {
			order = append(order, int32(i))
		}
	}
	slices.SortFunc(order, func(a, b int32) int {
		ra, rb := &c.recs[a], &c.recs[b]
		if n := cmp.Compare(ra.pts, rb.pts); n != 0 {
			return n
		}
		return compareFragmentNumbers(ra.number, rb.number)
	})
	// The first fragment of each producer timestamp is kept.
	kept := order[:0:0]
	for i, idx := range order {
		r := &c.recs[idx]
		if i > 0 {
			if prev := &c.recs[kept[len(kept)-1]]; prev.pts == r.pts {
				v.DuplicateFragments++
				if len(v.Duplicates) < maxDetails {
					v.Duplicates = append(v.Duplicates, DuplicateFragment{Number: r.number, Kept: prev.number, ProducerTimestamp: r.pts})
				}
				continue
			}
		}
		kept = append(kept, idx)
	}

	v.SequenceChecked = c.seenSequenceNumber || c.opened
	if !v.SequenceChecked {
		c.fragmentLevel(&v, ledger, kept)
		return v
	}
	var delivered, dedup seqSet
	for _, idx := range order {
		for _, run := range c.recRuns(&c.recs[idx]) {
			v.DuplicateFrames += delivered.add(run)
		}
	}
	var prevLast uint64
	havePrev := false
	for _, idx := range kept {
		r := &c.recs[idx]
		v.UnnumberedFrames += uint64(r.unnumbered)
		for _, run := range c.recRuns(r) {
			v.DuplicateFramesAfterDedup += dedup.add(run)
			if havePrev && run.First < prevLast {
				v.OutOfOrder++
				if len(v.Reorders) < maxDetails {
					v.Reorders = append(v.Reorders, Reorder{Fragment: r.number, After: prevLast, Seq: run.First})
				}
			}
			prevLast, havePrev = run.Last, true
		}
	}
	v.Delivered = delivered.size()
	c.againstLedger(&v, ledger, kept, delivered)
	return v
}

// againstLedger fills the per-frame accounting.
func (c *Checker) againstLedger(v *Verification, ledger *simulator.Ledger, kept []int32, delivered seqSet) {
	var acked, dropped, unconfirmed seqSet
	var lastAcked uint64
	haveAcked := false
	if ledger != nil {
		unconfirmed = normalized(ledger.Unconfirmed)
		ackedRanges := make([]simulator.SeqRange, 0, len(ledger.Acked))
		for _, a := range ledger.Acked {
			ackedRanges = append(ackedRanges, a.Frames)
		}
		acked = normalized(ackedRanges)
		droppedRanges := make([]simulator.SeqRange, 0, len(ledger.Dropped))
		for _, d := range ledger.Dropped {
			droppedRanges = append(droppedRanges, d.Frames)
		}
		// A frame both dropped and unconfirmed may have been stored.
		subtract(normalized(droppedRanges).r, unconfirmed.r, func(r simulator.SeqRange) { dropped.add(r) })
		if n := len(acked.r); n > 0 {
			lastAcked, haveAcked = acked.r[n-1].Last, true
		}
	}

	// Lost: acknowledged, not delivered.
	subtract(acked.r, delivered.r, func(h simulator.SeqRange) {
		v.LostFrames += h.Len()
		if len(v.LostHoles) < maxDetails {
			v.LostHoles = append(v.LostHoles, h)
		}
	})
	if ledger != nil {
		v.LostFragments = c.lostFragments(ledger, kept, delivered)
	}

	// Dropped by the camera, delivered anyway.
	for _, d := range dropped.r {
		for _, x := range clip(delivered.r, d.First, d.Last) {
			v.DroppedDelivered += x.Len()
			if len(v.DroppedDeliveredRanges) < maxDetails {
				v.DroppedDeliveredRanges = append(v.DroppedDeliveredRanges, x)
			}
		}
	}
	if ledger != nil {
		if ledger.Produced > 0 {
			v.Unexpected = overlapLen(delivered.r, []simulator.SeqRange{{First: ledger.Produced, Last: ^uint64(0)}})
		} else {
			v.Unexpected = delivered.size()
		}
		if ledger.Produced > 0 {
			explained := normalized(append(slices.Clone(acked.r), dropped.r...))
			subtract(clip(delivered.r, 0, ledger.Produced-1), explained.r, func(x simulator.SeqRange) {
				v.UnackedDelivered += x.Len()
			})
		}
	}

	// Gaps: holes inside the delivered range nobody accounted for.
	if len(delivered.r) < 2 {
		return
	}
	hi := delivered.r[len(delivered.r)-1].Last
	if ledger != nil {
		if !haveAcked {
			return // everything the camera sent was still in flight
		}
		hi = min(hi, lastAcked)
	}
	var holes []simulator.SeqRange
	subtract([]simulator.SeqRange{{First: delivered.r[0].First, Last: hi}}, delivered.r, func(h simulator.SeqRange) {
		holes = append(holes, h)
	})
	explained := normalized(slices.Concat(acked.r, dropped.r, unconfirmed.r))
	subtract(holes, explained.r, func(g simulator.SeqRange) {
		v.Gaps++
		v.GapFrames += g.Len()
		if len(v.GapRanges) < maxDetails {
			v.GapRanges = append(v.GapRanges, g)
		}
	})
}

// lostFragments counts acknowledged fragments not read back whole. Per
// acknowledged run: the fragments it holds minus those stored intact (all
// frames authenticated, numbered and contiguous, inside the run's frames
// and timecodes), but at least the number of holes in it.
func (c *Checker) lostFragments(ledger *simulator.Ledger, kept []int32, delivered seqSet) int {
	intact := make([]int, len(ledger.Acked))
	for _, idx := range kept {
		r := &c.recs[idx]
		if r.failed > 0 || r.unnumbered > 0 || r.runN != 1 {
			continue
		}
		run := c.recRuns(r)[0]
		i, found := slices.BinarySearchFunc(ledger.Acked, run.First, func(a simulator.AckedRun, s uint64) int {
			switch {
			case a.Frames.Last < s:
				return -1
			case a.Frames.First > s:
				return 1
			}
			return 0
		})
		if !found {
			continue
		}
		a := ledger.Acked[i]
		if run.Last <= a.Frames.Last && r.tc >= a.FirstTimecode && r.tc <= a.LastTimecode {
			intact[i]++
		}
	}
	lost := 0
	for i, a := range ledger.Acked {
		holes := 0
		subtract([]simulator.SeqRange{a.Frames}, delivered.r, func(simulator.SeqRange) { holes++ })
		lost += max(a.Fragments-intact[i], holes, 0)
	}
	return lost
}

// fragmentLevel accounts for a stream whose frames carry no sequence
// numbers: stored fragments are matched to acknowledged runs by timecode.
func (c *Checker) fragmentLevel(v *Verification, ledger *simulator.Ledger, kept []int32) {
	var stored []int
	var frames []uint64
	if ledger != nil {
		stored = make([]int, len(ledger.Acked))
		frames = make([]uint64, len(ledger.Acked))
	}
	for _, idx := range kept {
		r := &c.recs[idx]
		if r.failed > 0 {
			continue
		}
		v.Delivered += uint64(r.frames)
		if ledger == nil {
			continue
		}
		i, found := slices.BinarySearchFunc(ledger.Acked, r.tc, func(a simulator.AckedRun, tc int64) int {
			switch {
			case a.LastTimecode < tc:
				return -1
			case a.FirstTimecode > tc:
				return 1
			}
			return 0
		})
		if found {
			stored[i]++
			frames[i] += uint64(r.frames)
		}
	}
	if ledger == nil {
		return
	}
	for i, a := range ledger.Acked {
		if missing := a.Fragments - stored[i]; missing > 0 {
			v.LostFragments += missing
		}
		if n := a.Frames.Len(); frames[i] < n {
			v.LostFrames += n - frames[i]
			if len(v.LostHoles) < maxDetails {
				// Which frames is unknown without numbers; the run stands for them.
				v.LostHoles = append(v.LostHoles, a.Frames)
			}
		}
	}
}

// Latency histogram range, in microseconds: 1 µs to 1 hour, 3 significant digits.
const (
	latencyMinUs = 1
	latencyMaxUs = int64(time.Hour / time.Microsecond)
	latencySig   = 3
)

// LiveChecker is a Checker for a live consumer (fed from Tail): safe for
// concurrent use, and it records each fragment's end-to-end latency, from
// the producer timestamp of its last frame to the clock's now when Add is
// called, into an HDR histogram.
type LiveChecker struct {
	mu      sync.Mutex
	c       Checker
	now     func() time.Time
	latency *hdrhistogram.Histogram
}

// NewLiveChecker returns a LiveChecker reading time from now (nil: time.Now).
func NewLiveChecker(now func() time.Time) *LiveChecker {
	if now == nil {
		now = time.Now
	}
	return &LiveChecker{now: now, latency: hdrhistogram.New(latencyMinUs, latencyMaxUs, latencySig)}
}

// Add accounts for one fragment and records its latency.
func (l *LiveChecker) Add(f *Fragment) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.c.Add(f)
	if f.Err != nil || f.ProducerTimestamp.IsZero() {
		return
	}
	last, ok := f.lastFrameTimecode()
	if !ok {
		return
	}
	produced := f.ProducerTimestamp.Add(time.Duration(last-f.Timecode) * time.Millisecond)
	us := min(max(now.Sub(produced).Microseconds(), latencyMinUs), latencyMaxUs)
	_ = l.latency.RecordValue(us) // clamped into range: cannot fail
}

// Latency returns a copy of the latency histogram (µs).
func (l *LiveChecker) Latency() *hdrhistogram.Histogram {
	l.mu.Lock()
	defer l.mu.Unlock()
	return hdrhistogram.Import(l.latency.Export())
}

// Result is the Checker's result so far, with a latency summary.
func (l *LiveChecker) Result(ledger *simulator.Ledger) Verification {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := l.c.Result(ledger)
	h := l.latency
	us := func(x int64) time.Duration { return time.Duration(x) * time.Microsecond }
	v.Latency = &LatencySummary{Count: h.TotalCount()}
	if h.TotalCount() > 0 {
		*v.Latency = LatencySummary{Count: h.TotalCount(), Min: us(h.Min()), P50: us(h.ValueAtQuantile(50)),
			P90: us(h.ValueAtQuantile(90)), P99: us(h.ValueAtQuantile(99)), Max: us(h.Max())}
	}
	return v
}
