// Package consumer reads a stream's fragments back from a KVS-compatible
// service and checks them against what a camera sent: nothing acknowledged
// lost, every cluster byte-identical, frame sequences continuous.
package consumer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/media"
)

const (
	// batchSize is how many fragments one GetMediaForFragmentList asks for
	// (the API allows 1000; smaller batches keep one response short).
	batchSize = 100
	// maxListed bounds the fragments one verification lists, so a stream
	// holding far more than the run sent cannot exhaust memory.
	maxListed = 1_000_000
	// maxDetails bounds every list of fragment numbers or gaps a
	// Verification keeps; the counts are always complete.
	maxDetails = 100
	// callTimeout bounds each control-plane call and ListFragments page.
	callTimeout = 30 * time.Second
	// readTimeout bounds one GetMediaForFragmentList response.
	readTimeout = 2 * time.Minute
)

// LostFragment is an acknowledged fragment that could not be read back.
type LostFragment struct {
	Number   string `json:"number"`
	Timecode int64  `json:"timecode"`
	// Reason: "not listed" (the service does not have it) or "not served:
	// …" (listed, but GetMediaForFragmentList returned no cluster).
	Reason string `json:"reason"`
}

// SequenceGap is a hole or overlap in the synthetic frame sequence between
// two consecutive stored fragments (by producer timestamp).
type SequenceGap struct {
	AfterFragment string `json:"after_fragment"`
	LastSeq       uint64 `json:"last_seq"` // last sequence number before the gap
	NextFragment  string `json:"next_fragment"`
	NextSeq       uint64 `json:"next_seq"` // first one after it
}

// Verification is what a stream's read-back showed (reliability.md §3.4).
type Verification struct {
	Stream string `json:"stream"`
	// Persisted is |A|: fragments the camera saw PERSISTED.
	Persisted int `json:"persisted"`
	// Stored is |S|: fragments ListFragments returned in the run's time window.
	Stored int `json:"stored"`
	// Delivered counts stored fragments whose cluster GetMediaForFragmentList served.
	Delivered int `json:"delivered"`
	// Lost is |A − S|, counting fragments listed but not served as lost too.
	Lost          int            `json:"lost"`
	LostFragments []LostFragment `json:"lost_fragments,omitempty"`
	// Corrupted counts delivered clusters whose SHA-256 differs from the sent one.
	Corrupted          int      `json:"corrupted"`
	CorruptedFragments []string `json:"corrupted_fragments,omitempty"`
	// Duplicates is count(S) − distinct producer timestamps in S.
	Duplicates int `json:"duplicates"`
	// Unexpected counts stored fragments that match nothing the camera sent.
	Unexpected int `json:"unexpected"`
	// SequenceChecked is true when the frames carry synthetic sequence numbers.
	SequenceChecked bool `json:"sequence_checked"`
	// SequenceGaps counts holes and overlaps in the frame sequence;
	// MissingFrames and DuplicateFrames total their sizes.
	SequenceGaps    int           `json:"sequence_gaps"`
	MissingFrames   uint64        `json:"missing_frames"`
	DuplicateFrames uint64        `json:"duplicate_frames"`
	Gaps            []SequenceGap `json:"gaps,omitempty"`
	// Err is set when the harness could not complete the check (the
	// service was unreachable, a response was malformed): neither pass nor fail.
	Err string `json:"error,omitempty"`
}

// OK reports a completed verification that found nothing wrong.
func (v *Verification) OK() bool {
	return v.Err == "" && v.Lost == 0 && v.Corrupted == 0 && v.Duplicates == 0 && v.SequenceGaps == 0
}

// readBack is one fragment as served.
type readBack struct {
	number  string
	served  bool
	errText string // error chunk's code, or why reading stopped
	sha     [32]byte
	size    int64
	frames  int
	// Synthetic frame sequence: first and last number, and the breaks
	// inside this cluster (frames without a number count as breaks).
	synthetic               bool
	firstSeq, lastSeq       uint64
	breaks                  int
	missing, duplicateFrame uint64
}

// Verify reads back the fragments of stream that lie in the time window of
// want (what one camera sent) and checks them: every fragment the camera saw
// PERSISTED is stored and served, each served cluster hashes as sent, no
// producer timestamp is stored twice, and for synthetic sources the frame
// sequence runs on without holes or overlaps across all stored fragments.
// Problems with the service are results; a harness failure sets Err.
func Verify(ctx context.Context, target simulator.Target, stream string, want []simulator.SentFragment) Verification {
	v := Verification{Stream: stream}
	for i := range want {
		if want[i].Persisted.Seen {
			v.Persisted++
		}
	}
	if len(want) == 0 {
		return v
	}
	if err := verify(ctx, target, stream, want, &v); err != nil {
		v.Err = err.Error()
	}
	return v
}

func verify(ctx context.Context, target simulator.Target, stream string, want []simulator.SentFragment, v *Verification) error {
	ref := kvsapi.StreamRef{StreamName: stream}
	listEP, err := dataEndpoint(ctx, target, ref, "LIST_FRAGMENTS")
	if err != nil {
		return err
	}
	mediaEP, err := dataEndpoint(ctx, target, ref, "GET_MEDIA_FOR_FRAGMENT_LIST")
	if err != nil {
		return err
	}
	lo, hi := want[0].Timecode, want[0].Timecode
	for i := range want {
		lo, hi = min(lo, want[i].Timecode), max(hi, want[i].Timecode)
	}
	// The window is exactly the sent timecodes (inclusive; ABSOLUTE producer
	// timestamps are the cluster timecodes), so earlier runs on the same
	// stream stay out of it.
	stored, err := listFragments(ctx, target.HTTP, listEP, ref, time.UnixMilli(lo), time.UnixMilli(hi))
	if err != nil {
		return err
	}
	v.Stored = len(stored)

	got := make(map[string]*readBack, len(stored))
	numbers := make([]string, 0, len(stored))
	for _, f := range stored {
		numbers = append(numbers, f.FragmentNumber)
	}
	for start := 0; start < len(numbers); start += batchSize {
		batch := numbers[start:min(start+batchSize, len(numbers))]
		if err := readFragments(ctx, target.HTTP, mediaEP, ref, batch, got); err != nil {
			return err
		}
	}
	compare(want, stored, got, v)
	return nil
}

func dataEndpoint(ctx context.Context, target simulator.Target, ref kvsapi.StreamRef, api string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var out kvsapi.GetDataEndpointOutput
	if err := kvsclient.Call(ctx, target.HTTP, target.ControlPlaneURL, kvsapi.PathGetDataEndpoint,
		kvsapi.GetDataEndpointInput{StreamRef: ref, APIName: api}, &out); err != nil {
		return "", fmt.Errorf("GetDataEndpoint(%s): %w", api, err)
	}
	return out.DataEndpoint, nil
}

// listFragments pages through ListFragments for producer timestamps in [from, to].
func listFragments(ctx context.Context, hc *http.Client, endpoint string, ref kvsapi.StreamRef, from, to time.Time) ([]kvsapi.Fragment, error) {
	sel := &kvsapi.FragmentSelector{FragmentSelectorType: kvsapi.SelectProducerTimestamp}
	sel.TimestampRange.StartTimestamp = kvsapi.Timestamp{Time: from}
	sel.TimestampRange.EndTimestamp = kvsapi.Timestamp{Time: to}
	in := kvsapi.ListFragmentsInput{StreamRef: ref, FragmentSelector: sel, MaxResults: kvsapi.MaxListFragments}
	var all []kvsapi.Fragment
	for {
		var out kvsapi.ListFragmentsOutput
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		err := kvsclient.Call(callCtx, hc, endpoint, kvsapi.PathListFragments, in, &out)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("ListFragments: %w", err)
		}
		all = append(all, out.Fragments...)
		if len(all) > maxListed {
			return nil, fmt.Errorf("ListFragments: more than %d fragments in the run's window", maxListed)
		}
		if out.NextToken == nil || *out.NextToken == "" {
			return all, nil
		}
		if *out.NextToken == in.NextToken {
			return nil, errors.New("ListFragments: NextToken did not advance")
		}
		in = kvsapi.ListFragmentsInput{StreamRef: ref, NextToken: *out.NextToken, MaxResults: kvsapi.MaxListFragments}
	}
}

// readFragments fetches one batch with GetMediaForFragmentList and records
// each chunk: its cluster's hash and frame sequence, or its error.
func readFragments(ctx context.Context, hc *http.Client, endpoint string, ref kvsapi.StreamRef, numbers []string, got map[string]*readBack) error {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	body, err := json.Marshal(kvsapi.GetMediaForFragmentListInput{StreamRef: ref, Fragments: numbers})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+kvsapi.PathGetMediaForFragmentList, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", kvsapi.JSONContentType)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("GetMediaForFragmentList: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		if resp.StatusCode == http.StatusNotFound {
			// A listed fragment vanished (expired, deleted): read them one by
			// one so the others are still checked.
			if len(numbers) > 1 {
				for _, n := range numbers {
					if err := readFragments(ctx, hc, endpoint, ref, []string{n}, got); err != nil {
						return err
					}
				}
				return nil
			}
			got[numbers[0]] = &readBack{number: numbers[0], errText: "not found: " + string(bytes.TrimSpace(msg))}
			return nil
		}
		return fmt.Errorf("GetMediaForFragmentList: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	if err := parseChunks(resp.Body, got); err != nil {
		// The stream broke mid-way: what was read stands; the rest is
		// recorded as not served, with the reason.
		for _, n := range numbers {
			if _, ok := got[n]; !ok {
				got[n] = &readBack{number: n, errText: "response unreadable: " + err.Error()}
			}
		}
	}
	return nil
}

// parseChunks demuxes a GetMediaForFragmentList body (kvs-protocol.md §2.5):
// per fragment an EBML header, Segment, header elements, Tags naming the
// fragment, the Cluster, then more Tags; or an error chunk of Tags only.
func parseChunks(r io.Reader, got map[string]*readBack) error {
	d := mkv.NewDemuxer(r, mkv.Limits{})
	var (
		cur *readBack
		h   hash.Hash = sha256.New()
	)
	for {
		ev, err := d.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if cur != nil && !cur.served {
				cur.errText = "chunk unreadable: " + err.Error()
			}
			return err
		}
		switch ev.Kind {
		case mkv.KindTags:
			var number, errID, errCode string
			for _, t := range ev.Tags {
				switch t.Name {
				case kvsapi.TagFragmentNumber:
					number = t.Value
				case kvsapi.TagErrorID:
					errID = t.Value
				case kvsapi.TagErrorCode:
					errCode = t.Value
				}
			}
			if number != "" {
				cur = &readBack{number: number}
				got[number] = cur
				if errID != "" {
					cur.errText = "error chunk " + errID + " " + errCode
				}
			}
		case mkv.KindClusterStart:
			if cur == nil {
				return errors.New("a cluster before any fragment-number tag")
			}
			h.Reset()
			h.Write(ev.Raw)
			cur.size = int64(len(ev.Raw))
		case mkv.KindBlock, mkv.KindClusterOther:
			if cur == nil {
				return errors.New("a block before any fragment-number tag")
			}
			h.Write(ev.Raw)
			cur.size += int64(len(ev.Raw))
			if ev.Kind == mkv.KindBlock {
				cur.addFrame(ev.Raw[len(ev.Raw)-ev.FrameSize:])
			}
		case mkv.KindClusterEnd:
			if cur != nil {
				copy(cur.sha[:], h.Sum(nil))
				cur.served = true
			}
		}
	}
}

func (r *readBack) addFrame(data []byte) {
	defer func() { r.frames++ }()
	seq, ok := media.SyntheticSequence(data)
	switch {
	case !ok:
		if r.synthetic || r.frames == 0 {
			r.breaks++ // counted only if the fragment turns out synthetic
		}
		return
	case !r.synthetic:
		r.synthetic = true
		if r.frames > 0 {
			r.breaks = 1 // unnumbered frames before the first numbered one
		} else {
			r.breaks = 0
		}
		r.firstSeq, r.lastSeq = seq, seq
		return
	case seq > r.lastSeq+1:
		r.breaks++
		r.missing += seq - r.lastSeq - 1
	case seq <= r.lastSeq:
		r.breaks++
		r.duplicateFrame += r.lastSeq - seq + 1
	}
	r.lastSeq = seq
}

// compare fills v from what was sent, listed and served.
func compare(want []simulator.SentFragment, stored []kvsapi.Fragment, got map[string]*readBack, v *Verification) {
	byNumber := make(map[string]*simulator.SentFragment, len(want))
	byTimecode := make(map[int64]*simulator.SentFragment, len(want))
	for i := range want {
		if want[i].Number != "" {
			byNumber[want[i].Number] = &want[i]
		}
		byTimecode[want[i].Timecode] = &want[i]
	}
	listed := make(map[string]bool, len(stored))
	seenPTS := make(map[int64]bool, len(stored))
	for _, f := range stored {
		listed[f.FragmentNumber] = true
		pts := f.ProducerTimestamp.UnixMilli()
		if seenPTS[pts] {
			v.Duplicates++
		}
		seenPTS[pts] = true
		rb := got[f.FragmentNumber]
		sent := byNumber[f.FragmentNumber]
		if sent == nil {
			sent = byTimecode[pts]
		}
		if sent == nil {
			v.Unexpected++
		}
		if rb == nil || !rb.served {
			continue
		}
		v.Delivered++
		if sent != nil && sent.Complete && rb.sha != sent.SHA256 {
			v.Corrupted++
			if len(v.CorruptedFragments) < maxDetails {
				v.CorruptedFragments = append(v.CorruptedFragments, f.FragmentNumber)
			}
		}
	}
	for i := range want {
		f := &want[i]
		if !f.Persisted.Seen {
			continue
		}
		reason := ""
		switch rb := got[f.Number]; {
		case !listed[f.Number]:
			reason = "not listed"
		case rb == nil:
			reason = "not served"
		case !rb.served:
			reason = "not served: " + rb.errText
		}
		if reason == "" {
			continue
		}
		v.Lost++
		if len(v.LostFragments) < maxDetails {
			v.LostFragments = append(v.LostFragments, LostFragment{Number: f.Number, Timecode: f.Timecode, Reason: reason})
		}
	}
	checkSequence(stored, got, v)
}

// checkSequence walks the served fragments in producer-timestamp order and
// reports every hole or overlap in the synthetic frame sequence. Fragments
// without synthetic frames are skipped; if none has them, nothing is checked.
func checkSequence(stored []kvsapi.Fragment, got map[string]*readBack, v *Verification) {
	type entry struct {
		pts int64
		rb  *readBack
	}
	var seq []entry
	for _, f := range stored {
		if rb := got[f.FragmentNumber]; rb != nil && rb.served && rb.frames > 0 {
			if rb.synthetic {
				seq = append(seq, entry{f.ProducerTimestamp.UnixMilli(), rb})
			}
		}
	}
	if len(seq) == 0 {
		return
	}
	v.SequenceChecked = true
	slices.SortStableFunc(seq, func(a, b entry) int {
		if a.pts != b.pts {
			return compareInt(a.pts, b.pts)
		}
		return compareNumbers(a.rb.number, b.rb.number)
	})
	gap := func(after, next *readBack, last, first uint64) {
		v.SequenceGaps++
		if first > last {
			v.MissingFrames += first - last - 1
		} else {
			v.DuplicateFrames += last - first + 1
		}
		if len(v.Gaps) < maxDetails {
			v.Gaps = append(v.Gaps, SequenceGap{AfterFragment: after.number, LastSeq: last, NextFragment: next.number, NextSeq: first})
		}
	}
	for i, e := range seq {
		if e.rb.breaks > 0 {
			// Holes or overlaps inside one cluster.
			v.SequenceGaps += e.rb.breaks
			v.MissingFrames += e.rb.missing
			v.DuplicateFrames += e.rb.duplicateFrame
			if len(v.Gaps) < maxDetails {
				v.Gaps = append(v.Gaps, SequenceGap{AfterFragment: e.rb.number, LastSeq: e.rb.firstSeq, NextFragment: e.rb.number, NextSeq: e.rb.lastSeq})
			}
		}
		if i > 0 {
			prev := seq[i-1].rb
			if e.rb.firstSeq != prev.lastSeq+1 {
				gap(prev, e.rb, prev.lastSeq, e.rb.firstSeq)
			}
		}
	}
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareNumbers orders decimal fragment numbers numerically.
func compareNumbers(a, b string) int {
	if len(a) != len(b) {
		return compareInt(int64(len(a)), int64(len(b)))
	}
	return compareInt(int64(bytes.Compare([]byte(a), []byte(b))), 0)
}
