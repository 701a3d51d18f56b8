package results

import (
	"fmt"
	"math"
	"slices"
)

// BucketRelativeError bounds how far a percentile of one time bucket may
// be from the exact value: the buckets' histograms are log-bucketed with
// this relative accuracy, far smaller than a full HDR histogram.
const BucketRelativeError = 0.01

// logGamma is the ratio between neighbouring bucket bounds: a value in
// (γ^(i-1), γ^i] reads as 2γ^i/(γ+1), within BucketRelativeError of it.
var logGamma = (1 + BucketRelativeError) / (1 - BucketRelativeError)

var logGammaLn = math.Log(logGamma)

// minLogValue: smaller magnitudes are counted as zero.
const minLogValue = 1e-6

// LogHistogram is a compact, exactly mergeable histogram of float values
// with a relative error of BucketRelativeError: dense counts over the range
// of bucket indexes seen, one run for positive and one for negative values,
// and a zero count. A latency spread over four decades takes about 2 KiB.
type LogHistogram struct {
	Count int64   `json:"count"`
	Zeros int64   `json:"zeros,omitempty"`
	Sum   float64 `json:"sum"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Pos   logRun  `json:"pos"`
	Neg   logRun  `json:"neg,omitzero"`
}

// logRun holds the counts of buckets Offset, Offset+1, ...
type logRun struct {
	Offset int32    `json:"offset"`
	Counts []uint32 `json:"counts"`
}

func logIndex(v float64) int32 { return int32(math.Ceil(math.Log(v) / logGammaLn)) }

func logValue(i int32) float64 { return 2 * math.Pow(logGamma, float64(i)) / (logGamma + 1) }

func (r *logRun) add(i int32, n uint32) {
	switch {
	case len(r.Counts) == 0:
		r.Offset, r.Counts = i, []uint32{n}
	case i < r.Offset:
		grown := make([]uint32, int(r.Offset-i)+len(r.Counts))
		copy(grown[r.Offset-i:], r.Counts)
		r.Offset, r.Counts = i, grown
		r.Counts[0] += n
	case int(i-r.Offset) >= len(r.Counts):
		r.Counts = append(r.Counts, make([]uint32, int(i-r.Offset)-len(r.Counts)+1)...)
		r.Counts[i-r.Offset] += n
	default:
		r.Counts[i-r.Offset] += n
	}
}

// Add records one value; NaN and infinities are ignored.
func (h *LogHistogram) Add(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	if h.Count == 0 {
		h.Min, h.Max = v, v
	} else {
		h.Min, h.Max = min(h.Min, v), max(h.Max, v)
	}
	h.Count++
	h.Sum += v
	switch a := math.Abs(v); {
	case a < minLogValue:
		h.Zeros++
	case v > 0:
		h.Pos.add(logIndex(a), 1)
	default:
		h.Neg.add(logIndex(a), 1)
	}
}

// Merge adds o's values to h, exactly.
func (h *LogHistogram) Merge(o *LogHistogram) {
	if o == nil || o.Count == 0 {
		return
	}
	if h.Count == 0 {
		h.Min, h.Max = o.Min, o.Max
	} else {
		h.Min, h.Max = min(h.Min, o.Min), max(h.Max, o.Max)
	}
	h.Count += o.Count
	h.Zeros += o.Zeros
	h.Sum += o.Sum
	for i, n := range o.Pos.Counts {
		if n > 0 {
			h.Pos.add(o.Pos.Offset+int32(i), n)
		}
	}
	for i, n := range o.Neg.Counts {
		if n > 0 {
			h.Neg.add(o.Neg.Offset+int32(i), n)
		}
	}
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) by k6's rule (interpolation
// at q×(n−1)) over the bucketed values, clamped to the exact min and max.
func (h *LogHistogram) Quantile(q float64) float64 {
	if h.Count == 0 || math.IsNaN(q) {
		return 0
	}
	q = min(max(q, 0), 1)
	pos := q * float64(h.Count-1)
	lo, hi := int64(math.Floor(pos)), int64(math.Ceil(pos))
	a, b := h.rank(lo), h.rank(hi)
	return a + (b-a)*(pos-float64(lo))
}

// rank is the r-th smallest value (0-based), as its bucket reads.
func (h *LogHistogram) rank(r int64) float64 {
	if r <= 0 {
		return h.Min
	}
	if r >= h.Count-1 {
		return h.Max
	}
	seen := int64(0)
	for i := len(h.Neg.Counts) - 1; i >= 0; i-- {
		if seen += int64(h.Neg.Counts[i]); r < seen {
			return min(max(-logValue(h.Neg.Offset+int32(i)), h.Min), h.Max)
		}
	}
	if seen += h.Zeros; r < seen {
		return 0
	}
	for i, n := range h.Pos.Counts {
		if seen += int64(n); r < seen {
			return min(max(logValue(h.Pos.Offset+int32(i)), h.Min), h.Max)
		}
	}
	return h.Max
}

// Clone returns an independent copy.
func (h *LogHistogram) Clone() *LogHistogram {
	c := *h
	c.Pos.Counts, c.Neg.Counts = slices.Clone(h.Pos.Counts), slices.Clone(h.Neg.Counts)
	return &c
}

// maxLogRun bounds a run read from a file: four decades take ~460 buckets;
// the full float range about 70,000.
const maxLogRun = 80_000

// check rejects a histogram whose counts do not add up (from a file).
func (h *LogHistogram) check() error {
	var n int64
	for _, r := range []logRun{h.Pos, h.Neg} {
		if len(r.Counts) > maxLogRun || r.Offset < -maxLogRun || int64(r.Offset)+int64(len(r.Counts)) > maxLogRun {
			return fmt.Errorf("histogram run of %d buckets from %d (at most %d buckets within ±%d)", len(r.Counts), r.Offset, maxLogRun, maxLogRun)
		}
		for _, c := range r.Counts {
			n += int64(c)
		}
	}
	if h.Zeros < 0 || n+h.Zeros != h.Count {
		return fmt.Errorf("histogram holds %d values and %d zeros but says %d", n, h.Zeros, h.Count)
	}
	if h.Count > 0 && !(h.Min <= h.Max) {
		return fmt.Errorf("histogram min %v above max %v", h.Min, h.Max)
	}
	return nil
}
