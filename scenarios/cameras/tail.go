package cameras

import (
	"context"
	"maps"
	"time"

	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/simulator/consumer"
)

// tailRetry is the pause before a viewer reconnects after its tail failed
// for good (the stream may not exist yet).
const tailRetry = 250 * time.Millisecond

// TailResult is what one viewer received.
type TailResult struct {
	Fragments         int   `json:"fragments"`
	Bytes             int64 `json:"bytes"`
	IntegrityFailures int   `json:"integrity_failures"`
	// Errors counts fragments the service could not serve and tails that
	// failed for good (each resumed after a pause); LastError is the last.
	Errors    int    `json:"errors"`
	LastError string `json:"last_error,omitempty"`
	// MaxLatency is the longest producer-to-viewer latency seen.
	MaxLatency time.Duration `json:"max_latency_ns"`
}

// Tail is one viewer: it follows stream live with GetMedia from now on
// for d (or until ctx ends), authenticating and decrypting each fragment
// with the consumer key, and emits viewer_fragments, viewer_bytes,
// viewer_latency and viewer_integrity_failures per fragment and
// viewer_errors per failure. A tail that fails for good (the stream not
// created yet, the service refusing) resumes after the last fragment it
// received. tags are copied onto every sample, with the profile and kind
// when stream is one of the fleet's.
func (f *Fleet) Tail(ctx context.Context, stream string, d time.Duration, tags map[string]string) TailResult {
	var res TailResult
	if d <= 0 {
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	vt := maps.Clone(tags)
	if vt == nil {
		vt = map[string]string{}
	}
	if i, ok := f.indexOf(stream); ok {
		vt = cameraTags(tags, f.Identity(i))
	}
	meta := map[string]string{MetaCamera: stream}
	sample := func(m *results.Metric, at time.Time, v float64) results.Sample {
		return results.Sample{Metric: m, Time: at, Value: v, Tags: vt, Metadata: meta}
	}
	failed := func(err error) {
		res.Errors++
		res.LastError = err.Error()
		f.emit(sample(f.m.viewerErrors, f.cfg.Clock(), 1))
	}
	opener := f.opener(stream)
	start := consumer.StartNow()
	for ctx.Err() == nil {
		err := consumer.Tail(ctx, f.cfg.Target, stream, start, opener, func(fr *consumer.Fragment) error {
			now := f.cfg.Clock()
			start = consumer.StartAfterFragment(fr.Number)
			if fr.Err != nil {
				failed(fr.Err)
				return nil
			}
			var bytes int64
			last, hasFrames := fr.Timecode, false
			for _, t := range fr.Tracks {
				for _, x := range t.Frames {
					bytes += int64(len(x.Data))
					if !hasFrames || x.Timecode > last {
						last, hasFrames = x.Timecode, true
					}
				}
			}
			integrity := 0
			if fr.Integrity != nil {
				integrity = 1
				res.IntegrityFailures++
			}
			res.Fragments++
			res.Bytes += bytes
			out := []results.Sample{sample(f.m.viewerFragments, now, 1), sample(f.m.viewerBytes, now, float64(bytes)),
				sample(f.m.viewerIntegrity, now, float64(integrity))}
			if hasFrames && !fr.ProducerTimestamp.IsZero() {
				produced := fr.ProducerTimestamp.Add(time.Duration(last-fr.Timecode) * time.Millisecond)
				lat := max(now.Sub(produced), 0)
				res.MaxLatency = max(res.MaxLatency, lat)
				out = append(out, sample(f.m.viewerLatency, now, float64(lat)/float64(time.Millisecond)))
			}
			f.emit(out...)
			return nil
		})
		if err == nil || ctx.Err() != nil {
			break
		}
		failed(err)
		t := time.NewTimer(tailRetry)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	return res
}
