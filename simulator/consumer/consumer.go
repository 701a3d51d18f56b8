// Package consumer reads a stream back from a KVS-compatible service — live
// with GetMedia or by number with GetMediaForFragmentList — authenticates and
// decrypts it with the consumer's own key, and accounts for every frame
// against the camera's Ledger: nothing acknowledged lost, nothing duplicated,
// reordered, forged or unexplained.
package consumer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/simulator"
)

// maxListed bounds the fragments one listing holds, so a stream holding far
// more than a run sent cannot exhaust memory.
const maxListed = 1_000_000

// ErrTooManyFragments: a listing found more than maxListed fragments.
var ErrTooManyFragments = errors.New("consumer: too many fragments in the window")

// Verify reads back what the camera's ledger says it sent — the fragments
// ListFragments finds between ledger.Start and ledger.End (producer
// timestamps), fetched with GetMediaForFragmentList and opened with opener
// (nil for a plaintext camera) — and measures them against the ledger.
// Problems with the service are results; Err says the check could not be
// completed.
func Verify(ctx context.Context, target simulator.Target, ledger *simulator.Ledger, opener *e2ee.Opener) Verification {
	if ledger == nil {
		return Verification{Err: "no ledger to verify against"}
	}
	var c Checker
	stored, err := verify(ctx, target, ledger, opener, &c)
	v := c.Result(ledger)
	v.Stored = stored
	if err != nil && v.Err == "" {
		v.Err = err.Error()
	}
	return v
}

func verify(ctx context.Context, target simulator.Target, ledger *simulator.Ledger, opener *e2ee.Opener, c *Checker) (int, error) {
	if ledger.Start.IsZero() && ledger.End.IsZero() {
		if ledger.AckedFragments == 0 {
			return 0, nil // the camera sent nothing
		}
		return 0, errors.New("the ledger has acknowledged fragments but no time window")
	}
	r := &Reader{Target: target, Stream: ledger.Stream, Opener: opener}
	listed, err := r.List(ctx, ledger.Start, ledger.End)
	if err != nil {
		return 0, err
	}
	numbers := make([]string, len(listed))
	producerMs := make(map[string]int64, len(listed))
	for i, f := range listed {
		numbers[i] = f.FragmentNumber
		producerMs[f.FragmentNumber] = f.ProducerTimestamp.UnixMilli()
	}
	err = r.ReadFragments(ctx, numbers, func(f *Fragment) error {
		if f.ProducerTimestamp.IsZero() {
			if ms, ok := producerMs[f.Number]; ok {
				f.ProducerTimestamp = time.UnixMilli(ms)
			}
		}
		c.Add(f)
		return nil
	})
	return len(listed), err
}

// List pages through ListFragments for the fragments whose producer
// timestamps lie in [from, to] (inclusive, ms), returned in storage order:
// by producer timestamp, then fragment number.
func (r *Reader) List(ctx context.Context, from, to time.Time) ([]kvsapi.Fragment, error) {
	endpoint, err := r.dataEndpoint(ctx, "LIST_FRAGMENTS")
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	sel := &kvsapi.FragmentSelector{FragmentSelectorType: kvsapi.SelectProducerTimestamp}
	sel.TimestampRange.StartTimestamp = kvsapi.Timestamp{Time: from}
	sel.TimestampRange.EndTimestamp = kvsapi.Timestamp{Time: to}
	in := kvsapi.ListFragmentsInput{StreamRef: r.ref(), FragmentSelector: sel, MaxResults: kvsapi.MaxListFragments}
	var all []kvsapi.Fragment
	for {
		var out kvsapi.ListFragmentsOutput
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		err := kvsclient.Call(callCtx, r.httpClient(), endpoint, kvsapi.PathListFragments, in, &out)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("consumer: ListFragments %s: %w", r.Stream, err)
		}
		all = append(all, out.Fragments...)
		if len(all) > maxListed {
			return nil, fmt.Errorf("%w: more than %d in %s between %s and %s", ErrTooManyFragments, maxListed, r.Stream,
				from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
		}
		if out.NextToken == nil || *out.NextToken == "" {
			break
		}
		if *out.NextToken == in.NextToken {
			return nil, fmt.Errorf("consumer: ListFragments %s: NextToken did not advance", r.Stream)
		}
		in = kvsapi.ListFragmentsInput{StreamRef: r.ref(), NextToken: *out.NextToken, MaxResults: kvsapi.MaxListFragments}
	}
	// ListFragments promises no order, not even across pages.
	slices.SortFunc(all, func(a, b kvsapi.Fragment) int {
		if n := cmp.Compare(a.ProducerTimestamp.UnixMilli(), b.ProducerTimestamp.UnixMilli()); n != 0 {
			return n
		}
		return compareFragmentNumbers(a.FragmentNumber, b.FragmentNumber)
	})
	return all, nil
}
