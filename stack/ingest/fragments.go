package ingest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/stack/ingest/fragstore"
)

// defaultListFragments is ListFragments' page size without MaxResults. The
// API documents the range 1-1000 but no default (API_reader_ListFragments.md,
// aws-sdk-go-v2 kinesisvideoarchivedmedia); we take the maximum.
const defaultListFragments = kvsapi.MaxListFragments

// maxNextToken is the longest NextToken the API accepts.
const maxNextToken = 4096

// listCursor is what a ListFragments NextToken carries: the query and where
// the previous page stopped. It is bound to the stream's ARN, which includes
// its creation time, so a token never resumes on another stream or on a
// re-created stream of the same name.
type listCursor struct {
	Version  int    `json:"v"`
	ARN      string `json:"arn"`
	Selector string `json:"sel,omitempty"` // "" = every fragment
	StartMs  int64  `json:"s,omitempty"`
	EndMs    int64  `json:"e,omitempty"`
	After    string `json:"after"`
}

func (c listCursor) token() string {
	raw, _ := json.Marshal(c) // plain fields: cannot fail
	return base64.StdEncoding.EncodeToString(raw)
}

func parseListCursor(token, arn string) (listCursor, *kvsapi.Exception) {
	var c listCursor
	bad := invalidArgument("NextToken was not issued by this service for this stream")
	if len(token) > maxNextToken {
		return c, bad
	}
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil || json.Unmarshal(raw, &c) != nil || c.Version != 1 || c.ARN != arn ||
		!validFragmentNumber(c.After) || c.StartMs > c.EndMs {
		return c, bad
	}
	switch c.Selector {
	case "", kvsapi.SelectProducerTimestamp, kvsapi.SelectServerTimestamp:
	default:
		return c, bad
	}
	return c, nil
}

// listFragments answers ListFragments (§3): the stream's fragments, or those
// whose producer or server timestamp lies in an inclusive range, in
// fragment-number order (KVS promises no order), MaxResults at a time.
func (s *Server) listFragments(w http.ResponseWriter, r *http.Request) {
	var in kvsapi.ListFragmentsInput
	st, ok := s.streamRequest(w, r, ActionListFragments, &in, &in.StreamRef)
	if !ok {
		return
	}
	rec := st.record()
	max := in.MaxResults
	switch {
	case max == 0:
		max = defaultListFragments
	case max < 1 || max > kvsapi.MaxListFragments:
		writeError(w, invalidArgument("MaxResults must be between 1 and %d", kvsapi.MaxListFragments))
		return
	}
	c := listCursor{Version: 1, ARN: rec.ARN}
	var e *kvsapi.Exception
	switch {
	case in.NextToken != "":
		if c, e = parseListCursor(in.NextToken, rec.ARN); e != nil {
			writeError(w, e)
			return
		}
	case in.FragmentSelector != nil:
		sel := in.FragmentSelector
		switch sel.FragmentSelectorType {
		case kvsapi.SelectProducerTimestamp, kvsapi.SelectServerTimestamp:
		default:
			writeError(w, invalidArgument("FragmentSelectorType must be %s or %s", kvsapi.SelectProducerTimestamp, kvsapi.SelectServerTimestamp))
			return
		}
		tr := sel.TimestampRange
		if tr.StartTimestamp.IsZero() || tr.EndTimestamp.IsZero() {
			writeError(w, invalidArgument("TimestampRange needs StartTimestamp and EndTimestamp"))
			return
		}
		if tr.EndTimestamp.Before(tr.StartTimestamp.Time) {
			writeError(w, invalidArgument("TimestampRange ends before it starts"))
			return
		}
		c.Selector, c.StartMs, c.EndMs = sel.FragmentSelectorType, tr.StartTimestamp.UnixMilli(), tr.EndTimestamp.UnixMilli()
	}

	var page []fragstore.Info
	if c.Selector == "" {
		page = s.store.After(rec.Name, c.After, max+1)
	} else {
		page = s.store.Range(rec.Name, c.Selector == kvsapi.SelectServerTimestamp, c.StartMs, c.EndMs, c.After, max+1)
	}
	out := kvsapi.ListFragmentsOutput{Fragments: make([]kvsapi.Fragment, 0, min(len(page), max))}
	if len(page) > max {
		page = page[:max]
		c.After = page[max-1].Number
		next := c.token()
		out.NextToken = &next
	}
	for _, f := range page {
		out.Fragments = append(out.Fragments, kvsapi.Fragment{
			FragmentNumber:               f.Number,
			FragmentSizeInBytes:          f.Size,
			ProducerTimestamp:            kvsapi.Timestamp{Time: msTime(f.ProducerMs)},
			ServerTimestamp:              kvsapi.Timestamp{Time: msTime(f.ServerMs)},
			FragmentLengthInMilliseconds: f.DurationMs,
		})
	}
	writeJSON(w, out)
}

// getMediaForFragmentList serves the listed fragments as media chunks in the
// order requested, without MILLIS_BEHIND_NOW and CONTINUATION_TOKEN. Every
// number must be stored when the request arrives (404 otherwise); one that
// expires or is deleted before its turn gets an error chunk (ERROR_ID 4000)
// and the rest are still served.
func (s *Server) getMediaForFragmentList(w http.ResponseWriter, r *http.Request) {
	var in kvsapi.GetMediaForFragmentListInput
	st, ok := s.streamRequest(w, r, ActionGetMediaForFragmentList, &in, &in.StreamRef)
	if !ok {
		return
	}
	name := st.record().Name
	if n := len(in.Fragments); n < 1 || n > kvsapi.MaxFragmentListLen {
		writeError(w, invalidArgument("Fragments must list 1 to %d fragment numbers, got %d", kvsapi.MaxFragmentListLen, n))
		return
	}
	for _, num := range in.Fragments {
		if !validFragmentNumber(num) {
			writeError(w, invalidArgument("fragment number %q must be 1-128 decimal digits", num))
			return
		}
	}
	for _, num := range in.Fragments {
		if _, ok := s.store.Get(name, num); !ok {
			writeError(w, notFound("fragment %s is not stored in stream %s", num, name))
			return
		}
	}
	cw, ok := s.startMediaResponse(w)
	if ok {
		cw.keys, cw.streamARN = s.keys, st.record().ARN
		cw.keyDenied = s.keyUse(r.Context(), KeyActionRead, st.record().KmsKeyID)
	}
	if !ok {
		return
	}
	defer cw.close()
	order := in.Fragments
	if s.cfg.Defects.ReorderFragments {
		order = pairwiseSwapped(order) // deliberate defect
	}
	for _, num := range order {
		select {
		case <-r.Context().Done():
			return
		case <-s.closed:
			return
		default:
		}
		info, ok := s.store.Get(name, num)
		if !ok {
			if cw.writeError(num, chunkErrFragmentNotFound) != nil {
				return
			}
			continue
		}
		err := cw.writeFragment(info, 0, false)
		switch {
		case err == nil:
			continue
		case errors.Is(err, errConsumerGone):
			return
		case errors.Is(err, fragstore.ErrNotFound):
			err = cw.writeError(num, chunkErrFragmentNotFound)
		default:
			s.cfg.Logf("ingest: GetMediaForFragmentList %s: fragment %s: %v", name, num, err)
			err = cw.writeError(num, s.chunkErrorFor(err))
		}
		if err != nil {
			return
		}
	}
}
