package results

import (
	"fmt"
	"time"
)

// A timeline starts with FirstBucketWidth buckets, aligned to the Unix
// epoch so shards' timelines line up, and doubles the width (merging
// neighbours) whenever it would need more than MaxBuckets: a series'
// memory over time is bounded however long the run.
const (
	FirstBucketWidth = time.Second
	MaxBuckets       = 240
)

// Timeline is one series over time.
type Timeline struct {
	// Width is the bucket width: FirstBucketWidth × 2^k.
	Width time.Duration `json:"width_ns"`
	// First is the index of Buckets[0]; bucket i covers
	// [i×Width, (i+1)×Width) since the Unix epoch.
	First   int64             `json:"first"`
	Buckets []*TimelineBucket `json:"buckets"`
}

// TimelineBucket is what one time bucket of a series holds, by the
// metric's type: a Counter's Sum; a Gauge's Last (by time), Min and Max; a
// Rate's Passes and Fails; a Trend's Hist. Count is the samples.
type TimelineBucket struct {
	Count  int64         `json:"n"`
	Sum    float64       `json:"sum,omitempty"`
	Last   float64       `json:"last,omitempty"`
	LastAt int64         `json:"last_at,omitempty"`
	Min    float64       `json:"min,omitempty"`
	Max    float64       `json:"max,omitempty"`
	Passes int64         `json:"passes,omitempty"`
	Fails  int64         `json:"fails,omitempty"`
	Hist   *LogHistogram `json:"hist,omitempty"`
}

// Start is when bucket i of the timeline begins.
func (tl *Timeline) Start(i int) time.Time {
	return time.Unix(0, (tl.First+int64(i))*int64(tl.Width))
}

func (tl *Timeline) index(at time.Time) int64 {
	if tl.Width <= 0 {
		tl.Width = FirstBucketWidth
	}
	return at.UnixNano() / int64(tl.Width)
}

// bucket returns the bucket holding instant at, coarsening first if the
// timeline would otherwise need more than MaxBuckets.
func (tl *Timeline) bucket(at time.Time) *TimelineBucket {
	i := tl.index(at)
	for len(tl.Buckets) > 0 && max(tl.last(), i)-min(tl.First, i)+1 > MaxBuckets {
		tl.coarsen()
		i = tl.index(at)
	}
	return tl.bucketAt(i)
}

// last is the index of the last bucket.
func (tl *Timeline) last() int64 { return tl.First + int64(len(tl.Buckets)) - 1 }

// bucketAt returns bucket i, growing the slice to reach it.
func (tl *Timeline) bucketAt(i int64) *TimelineBucket {
	switch {
	case len(tl.Buckets) == 0:
		tl.First, tl.Buckets = i, []*TimelineBucket{nil}
	case i < tl.First:
		grown := make([]*TimelineBucket, int(tl.First-i)+len(tl.Buckets))
		copy(grown[tl.First-i:], tl.Buckets)
		tl.First, tl.Buckets = i, grown
	}
	for int(i-tl.First) >= len(tl.Buckets) {
		tl.Buckets = append(tl.Buckets, nil)
	}
	b := tl.Buckets[i-tl.First]
	if b == nil {
		b = &TimelineBucket{}
		tl.Buckets[i-tl.First] = b
	}
	return b
}

// coarsen doubles the width, merging each pair of neighbouring buckets.
func (tl *Timeline) coarsen() {
	first := floorDiv(tl.First, 2)
	last := floorDiv(tl.First+int64(len(tl.Buckets))-1, 2)
	out := make([]*TimelineBucket, last-first+1)
	for j, b := range tl.Buckets {
		if b == nil {
			continue
		}
		k := floorDiv(tl.First+int64(j), 2) - first
		if out[k] == nil {
			out[k] = &TimelineBucket{}
		}
		out[k].merge(b)
	}
	tl.Width *= 2
	tl.First, tl.Buckets = first, out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Add records one sample of a metric of type t.
func (tl *Timeline) Add(t MetricType, v float64, at time.Time) {
	if at.IsZero() {
		return
	}
	b := tl.bucket(at)
	first := b.Count == 0
	b.Count++
	switch t {
	case Counter:
		b.Sum += v
	case Gauge:
		if first || at.UnixNano() >= b.LastAt {
			b.Last, b.LastAt = v, at.UnixNano()
		}
		if first {
			b.Min, b.Max = v, v
		} else {
			b.Min, b.Max = min(b.Min, v), max(b.Max, v)
		}
	case Rate:
		if v != 0 {
			b.Passes++
		} else {
			b.Fails++
		}
	case Trend:
		if b.Hist == nil {
			b.Hist = &LogHistogram{}
		}
		b.Hist.Add(v)
		b.Sum += v
	}
}

// merge adds o's samples to b.
func (b *TimelineBucket) merge(o *TimelineBucket) {
	if o == nil || o.Count == 0 {
		return
	}
	if b.Count == 0 {
		b.Min, b.Max = o.Min, o.Max
	} else {
		b.Min, b.Max = min(b.Min, o.Min), max(b.Max, o.Max)
	}
	if b.Count == 0 || o.LastAt >= b.LastAt {
		b.Last, b.LastAt = o.Last, o.LastAt
	}
	b.Count += o.Count
	b.Sum += o.Sum
	b.Passes += o.Passes
	b.Fails += o.Fails
	if o.Hist != nil {
		if b.Hist == nil {
			b.Hist = &LogHistogram{}
		}
		b.Hist.Merge(o.Hist)
	}
}

// Merge adds o into tl exactly: both are brought to one width wide
// enough for their union to fit MaxBuckets.
func (tl *Timeline) Merge(o *Timeline) {
	if o == nil || len(o.Buckets) == 0 {
		return
	}
	src := o.Clone()
	if len(tl.Buckets) == 0 {
		*tl = *src
		return
	}
	for tl.Width < src.Width {
		tl.coarsen()
	}
	for src.Width < tl.Width {
		src.coarsen()
	}
	for max(tl.last(), src.last())-min(tl.First, src.First)+1 > MaxBuckets {
		tl.coarsen()
		src.coarsen()
	}
	for j, b := range src.Buckets {
		if b != nil {
			tl.bucketAt(src.First + int64(j)).merge(b)
		}
	}
}

// Clone returns an independent copy.
func (tl *Timeline) Clone() *Timeline {
	if tl == nil {
		return nil
	}
	c := &Timeline{Width: tl.Width, First: tl.First, Buckets: make([]*TimelineBucket, len(tl.Buckets))}
	for i, b := range tl.Buckets {
		if b == nil {
			continue
		}
		cb := *b
		if b.Hist != nil {
			cb.Hist = b.Hist.Clone()
		}
		c.Buckets[i] = &cb
	}
	return c
}

// check rejects a timeline read from a file that would break readers.
func (tl *Timeline) check() error {
	if k := tl.Width / FirstBucketWidth; tl.Width%FirstBucketWidth != 0 || k < 1 || k&(k-1) != 0 {
		return fmt.Errorf("timeline width %v: want %v times a power of two", tl.Width, FirstBucketWidth)
	}
	if len(tl.Buckets) > MaxBuckets {
		return fmt.Errorf("timeline of %d buckets (at most %d)", len(tl.Buckets), MaxBuckets)
	}
	// Within 1970..2200, so merging timelines never overflows their times.
	const latest = int64(7_258_118_400) * int64(time.Second)
	if tl.First < 0 || tl.Width > time.Duration(latest) || tl.First > latest/int64(tl.Width)-int64(len(tl.Buckets)) {
		return fmt.Errorf("timeline from bucket %d of %v: outside 1970-2200", tl.First, tl.Width)
	}
	for _, b := range tl.Buckets {
		if b != nil && b.Hist != nil {
			if err := b.Hist.check(); err != nil {
				return err
			}
		}
	}
	return nil
}
