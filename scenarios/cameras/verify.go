package cameras

import (
	"context"
	"fmt"
	"sync"

	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/simulator/consumer"
)

// DefaultVerifyConcurrency is how many streams Verify reads at once when
// asked for fewer than one.
const DefaultVerifyConcurrency = 8

// maxProblems bounds the examples a VerifySummary keeps.
const maxProblems = 20

// VerifySummary totals what Verify found over every started camera.
type VerifySummary struct {
	// Streams is how many cameras were verified or tried.
	Streams int `json:"streams"`
	// Passed streams were read back complete with nothing wrong; Failed
	// ones had a problem; NotVerified could not be read back (or ctx
	// ended first): neither pass nor fail.
	Passed int `json:"passed"`
	// Worst are the cameras that fared worst (results.WorstCameras).
	Worst       []results.CameraSummary `json:"worst,omitempty"`
	Failed      int                     `json:"failed"`
	NotVerified int                     `json:"not_verified"`
	// AckedFragments were acknowledged PERSISTED to the cameras; of them,
	// LostFragments came back incomplete or not at all (LostFrames frames).
	AckedFragments int    `json:"acked_fragments"`
	LostFragments  int    `json:"lost_fragments"`
	LostFrames     uint64 `json:"lost_frames"`
	// Delivered counts distinct frames read back and authenticated.
	Delivered uint64 `json:"delivered_frames"`
	// IntegrityFailures counts fragments that failed authentication.
	IntegrityFailures int `json:"integrity_failures"`
	// Problems are the first few problems, "stream: problem".
	Problems []string `json:"problems,omitempty"`
}

// OK reports that every stream was verified and none had a problem.
func (s VerifySummary) OK() bool { return s.Failed == 0 && s.NotVerified == 0 }

// Verify reads back the stream of every camera started so far with the
// consumer key, concurrency at a time (below 1: DefaultVerifyConcurrency),
// and checks each against its camera's ledger (consumer.Verify). It waits
// for each camera to be done first (Stop them, or Close the fleet). Per
// camera it emits one camera_lost and one camera_integrity_failures sample
// (0 when nothing was wrong) and a camera_unverified sample if the stream
// could not be read back. If ctx ends, cameras not yet verified count as
// not verified.
func (f *Fleet) Verify(ctx context.Context, concurrency int) VerifySummary {
	if concurrency < 1 {
		concurrency = DefaultVerifyConcurrency
	}
	var (
		mu  sync.Mutex
		sum VerifySummary
		wg  sync.WaitGroup
		sem = make(chan struct{}, concurrency)
	)
	note := func(problem string) {
		if len(sum.Problems) < maxProblems {
			sum.Problems = append(sum.Problems, problem)
		}
	}
	for _, r := range f.snapshot() {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			v := f.verifyOne(ctx, r)
			res := r.Result()
			cs := results.CameraSummary{Stream: r.id.Stream, Profile: r.id.Profile, Kind: r.id.Kind,
				Fragments: int64(res.Fragments), Persisted: int64(v.AckedFragments), Lost: int64(v.LostFragments),
				Integrity: int64(v.IntegrityFailures), Reconnects: int64(res.Reconnects), AckErrors: int64(res.AckErrors)}
			switch {
			case res.Failure != nil:
				cs.Problem = res.Failure.String()
			case v.Err != "":
				cs.Problem = "not verified: " + v.Err
			}
			mu.Lock()
			defer mu.Unlock()
			sum.Worst = results.WorstCameras(append(sum.Worst, cs), results.MaxWorstCameras)
			sum.Streams++
			sum.AckedFragments += v.AckedFragments
			sum.LostFragments += v.LostFragments
			sum.LostFrames += v.LostFrames
			sum.Delivered += v.Delivered
			sum.IntegrityFailures += v.IntegrityFailures
			switch {
			case v.Err != "":
				sum.NotVerified++
				note(fmt.Sprintf("%s: not verified: %s", r.id.Stream, v.Err))
			case v.OK():
				sum.Passed++
			default:
				sum.Failed++
				for _, p := range v.Problems() {
					note(r.id.Stream + ": " + p)
				}
			}
		})
	}
	wg.Wait()
	return sum
}

// verifyOne waits for r and verifies its stream, emitting its samples.
func (f *Fleet) verifyOne(ctx context.Context, r *Running) consumer.Verification {
	var v consumer.Verification
	select {
	case <-r.done:
		res := r.res
		v = consumer.Verify(ctx, f.cfg.Target, &res.Ledger, f.opener(r.id.Stream))
	case <-ctx.Done():
		v = consumer.Verification{Stream: r.id.Stream, Err: "the camera had not finished: " + ctx.Err().Error()}
	}
	o, now := r.obs, f.cfg.Clock()
	out := []results.Sample{
		o.sample(f.m.lost, now, float64(v.LostFragments), o.tags),
		o.sample(f.m.integrity, now, float64(v.IntegrityFailures), o.tags),
	}
	if v.Err != "" {
		out = append(out, o.sample(f.m.unverified, now, 1, o.tags))
	}
	f.emit(out...)
	return v
}
