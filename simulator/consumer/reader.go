package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/internal/wait"
	"github.com/camstorm/camstorm/simulator"
)

// ErrGaveUp: a reader's connections kept failing beyond its RetryPolicy.
var ErrGaveUp = errors.New("consumer: gave up after repeated connection failures")

// errResponseEnded: the service ended a GetMedia response, which only a
// closing service or a broken connection does.
var errResponseEnded = errors.New("consumer: the media response ended")

// Defaults of a Reader's zero fields.
const (
	DefaultBatchSize       = 100
	DefaultResponseTimeout = 2 * time.Minute
	DefaultRetryAttempts   = 8
	DefaultBackoff         = 100 * time.Millisecond
	DefaultMaxBackoff      = 5 * time.Second
	// recentFragments is how many delivered fragment numbers a tail
	// remembers so that a reconnect never hands one out twice.
	recentFragments = 4096
	// callTimeout bounds each control-plane call and ListFragments page.
	callTimeout = 30 * time.Second
)

// StartSelector says where GetMedia starts (kvs-protocol.md §3).
type StartSelector = kvsapi.StartSelector

// StartNow tails from the latest fragment on.
func StartNow() StartSelector { return StartSelector{StartSelectorType: kvsapi.StartNow} }

// StartEarliest starts at the oldest stored fragment.
func StartEarliest() StartSelector { return StartSelector{StartSelectorType: kvsapi.StartEarliest} }

// StartAfterFragment starts with the fragment after the numbered one.
func StartAfterFragment(number string) StartSelector {
	return StartSelector{StartSelectorType: kvsapi.StartFragmentNumber, AfterFragmentNumber: number}
}

// StartAtProducerTime starts at the fragment with that producer timestamp.
func StartAtProducerTime(t time.Time) StartSelector {
	return StartSelector{StartSelectorType: kvsapi.StartProducerTimestamp, StartTimestamp: kvsapi.Ts(t)}
}

// StartAtServerTime starts at the fragment with that server timestamp.
func StartAtServerTime(t time.Time) StartSelector {
	return StartSelector{StartSelectorType: kvsapi.StartServerTimestamp, StartTimestamp: kvsapi.Ts(t)}
}

// StartAtToken continues where an earlier GetMedia stopped.
func StartAtToken(token string) StartSelector {
	return StartSelector{StartSelectorType: kvsapi.StartContinuationToken, ContinuationToken: token}
}

// RetryPolicy bounds how a Reader retries a dropped or refused connection.
// Zero fields take the defaults.
type RetryPolicy struct {
	// Attempts is how many connections in a row may fail before the reader
	// gives up; one that delivers a fragment resets the count. Default 8.
	Attempts int
	// Backoff is the first wait, doubled after each failure up to
	// MaxBackoff; each wait is drawn from [d/2, d) with a generator seeded
	// by Seed. Defaults 100 ms and 5 s.
	Backoff, MaxBackoff time.Duration
	Seed                uint64
	// Sleep waits for d or until ctx ends (returning its error); nil uses a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = DefaultRetryAttempts
	}
	if p.Backoff <= 0 {
		p.Backoff = DefaultBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	p.MaxBackoff = max(p.MaxBackoff, p.Backoff)
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	return p
}

// delay is the wait before retry number n (from 1).
func (p RetryPolicy) delay(n int, rng *rand.Rand) time.Duration {
	d := p.Backoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	return d/2 + time.Duration(rng.Int64N(int64(d/2)+1))
}

// sleep is RetryPolicy's default Sleep: wait.For, failing with ctx's error.
func sleep(ctx context.Context, d time.Duration) error {
	if !wait.For(ctx, d) {
		return ctx.Err()
	}
	return nil
}

// Reader reads one stream's fragments back: live with GetMedia (Tail) or
// by number with GetMediaForFragmentList (ReadFragments). With an Opener it
// authenticates and decrypts every fragment before handing it on; without
// one it reads the synthetic sequence numbers of plaintext frames. A Reader
// is not safe for concurrent use.
type Reader struct {
	Target simulator.Target
	Stream string
	// Opener holds the consumer's private key; nil for a plaintext camera.
	Opener *e2ee.Opener
	Limits Limits
	Retry  RetryPolicy
	// BatchSize is how many fragments one GetMediaForFragmentList asks for:
	// default 100, at most 1000 (the API's limit).
	BatchSize int
	// ResponseTimeout bounds one GetMediaForFragmentList response; default 2 min.
	ResponseTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time

	parser *chunkParser
	plain  []byte
}

func (r *Reader) httpClient() *http.Client {
	if r.Target.HTTP != nil {
		return r.Target.Client()
	}
	return http.DefaultClient
}

func (r *Reader) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reader) ref() kvsapi.StreamRef { return kvsapi.StreamRef{StreamName: r.Stream} }

// dataEndpoint asks the control plane where api is served for the stream.
func (r *Reader) dataEndpoint(ctx context.Context, api string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var out kvsapi.GetDataEndpointOutput
	if err := kvsclient.Call(ctx, r.httpClient(), r.Target.ControlPlaneURL, kvsapi.PathGetDataEndpoint,
		kvsapi.GetDataEndpointInput{StreamRef: r.ref(), APIName: api}, &out); err != nil {
		return "", fmt.Errorf("GetDataEndpoint(%s): %w", api, err)
	}
	return out.DataEndpoint, nil
}

// post sends a media request and returns the 200 response, or the API error.
func (r *Reader) post(ctx context.Context, url string, in any) (*http.Response, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", kvsapi.JSONContentType)
	resp, err := r.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		var eb kvsapi.ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Message == "" {
			eb.Message = string(bytes.TrimSpace(data))
		}
		return nil, &kvsapi.Exception{Status: resp.StatusCode, Type: resp.Header.Get(kvsapi.HeaderErrorType), Message: eb.Message}
	}
	return resp, nil
}

// parse prepares the chunk parser for a new response, keeping its buffers.
func (r *Reader) parse(body io.Reader, tailing bool) *chunkParser {
	if r.parser == nil {
		r.parser = newChunkParser(body, r.Limits, tailing)
		return r.parser
	}
	p := r.parser
	p.d = newDemuxer(body, p.lim)
	p.tailing, p.eof, p.reset, p.tracksRaw = tailing, false, false, p.tracksRaw[:0]
	p.startChunk()
	return p
}

// prepare opens (or numbers) a fragment before it is handed out.
func (r *Reader) prepare(f *Fragment) {
	if f.Err != nil {
		return
	}
	if r.Opener == nil {
		numberPlaintext(f)
		return
	}
	need := sealedBytes(f)
	if cap(r.plain) < need {
		r.plain = make([]byte, 0, need+need/4)
	}
	r.plain = open(r.Opener, f, r.plain[:0])
}

// callbackError carries the caller's own error out unchanged.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

// permanent reports errors a new connection cannot cure.
func permanent(err error) bool {
	var ex *kvsapi.Exception
	if errors.As(err, &ex) {
		switch {
		case ex.Type == kvsapi.ExcConnectionLimitExceeded, ex.Type == kvsapi.ExcClientLimitExceeded:
			return false
		case ex.Status >= 400 && ex.Status < 500:
			return true
		}
		return false
	}
	return errors.Is(err, mkv.ErrInvalid) || errors.Is(err, mkv.ErrTooLarge) || errors.Is(err, mkv.ErrTooDeep) ||
		errors.Is(err, ErrMalformedResponse)
}

// Tail reads the stream with GetMedia from start on, handing each fragment
// to fn as it arrives, until ctx ends (then it returns nil) or fn returns an
// error (returned as is). A dropped connection is reopened from the last
// continuation token, with backoff, up to Retry.Attempts times in a row; no
// fragment is handed out twice. The Fragment is valid only during fn.
func (r *Reader) Tail(ctx context.Context, start StartSelector, fn func(*Fragment) error) error {
	if err := checkSelector(start); err != nil {
		return err
	}
	rp := r.Retry.withDefaults()
	rng := rand.New(rand.NewPCG(rp.Seed, 0x7461696c))
	t := tailState{sel: start, seen: newRecentSet(recentFragments)}
	var endpoint string
	failures := 0
	for {
		var err error
		if endpoint == "" {
			endpoint, err = r.dataEndpoint(ctx, "GET_MEDIA")
		}
		if err == nil {
			var delivered int
			delivered, err = r.tailOnce(ctx, endpoint+kvsapi.PathGetMedia, &t, fn)
			if delivered > 0 {
				failures = 0
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		var cb *callbackError
		if errors.As(err, &cb) {
			return cb.err
		}
		if permanent(err) {
			return fmt.Errorf("consumer: GetMedia %s: %w", r.Stream, err)
		}
		if failures++; failures > rp.Attempts {
			return fmt.Errorf("%w: GetMedia %s: %d connections failed in a row, the last: %w", ErrGaveUp, r.Stream, failures, err)
		}
		if rp.Sleep(ctx, rp.delay(failures, rng)) != nil {
			return nil
		}
	}
}

func checkSelector(s StartSelector) error {
	var problem string
	switch s.StartSelectorType {
	case kvsapi.StartNow, kvsapi.StartEarliest:
	case kvsapi.StartFragmentNumber:
		if s.AfterFragmentNumber == "" {
			problem = "needs AfterFragmentNumber"
		}
	case kvsapi.StartProducerTimestamp, kvsapi.StartServerTimestamp:
		if s.StartTimestamp == nil {
			problem = "needs StartTimestamp"
		}
	case kvsapi.StartContinuationToken:
		if s.ContinuationToken == "" {
			problem = "needs ContinuationToken"
		}
	default:
		problem = "is not a StartSelectorType"
	}
	if problem != "" {
		return fmt.Errorf("consumer: start selector %q %s", s.StartSelectorType, problem)
	}
	return nil
}

// tailState is where a tail resumes and what it has handed out.
type tailState struct {
	sel       StartSelector
	connected time.Time // first connection, for resuming a NOW start
	delivered bool
	seen      *recentSet
}

// tailOnce runs one GetMedia connection and reports how many fragments it handed out.
func (r *Reader) tailOnce(ctx context.Context, url string, t *tailState, fn func(*Fragment) error) (int, error) {
	sel := t.sel
	if t.connected.IsZero() {
		t.connected = r.now()
	} else if !t.delivered && sel.StartSelectorType == kvsapi.StartNow {
		// NOW again would skip what arrived while reconnecting.
		sel = StartAtServerTime(t.connected)
	}
	resp, err := r.post(ctx, url, kvsapi.GetMediaInput{StreamRef: r.ref(), StartSelector: sel})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	p := r.parse(resp.Body, true)
	n := 0
	for {
		f, err := p.next()
		if errors.Is(err, io.EOF) {
			return n, errResponseEnded
		}
		if err != nil {
			return n, err
		}
		if ctx.Err() != nil {
			return n, ctx.Err() // what is buffered is not handed out once ctx ended
		}
		if f.Number == "" || !t.seen.add(f.Number) {
			continue // already handed out before a reconnect
		}
		r.prepare(f)
		if err := fn(f); err != nil {
			return n, &callbackError{err}
		}
		n++
		t.delivered = true
		if f.ContinuationToken != "" {
			t.sel = StartAtToken(f.ContinuationToken)
		} else {
			t.sel = StartAfterFragment(f.Number)
		}
	}
}

// ReadFragments reads the numbered fragments with GetMediaForFragmentList,
// BatchSize at a time, and hands each to fn in the order served. Every
// requested number reaches fn: one the service could not serve arrives with
// Err set (wrapping ErrNotServed). Failed connections are retried as in
// Tail, asking only for what is still missing. The Fragment is valid only
// during fn.
func (r *Reader) ReadFragments(ctx context.Context, numbers []string, fn func(*Fragment) error) error {
	if len(numbers) == 0 {
		return nil
	}
	endpoint, err := r.dataEndpoint(ctx, "GET_MEDIA_FOR_FRAGMENT_LIST")
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	url := endpoint + kvsapi.PathGetMediaForFragmentList
	size := r.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	size = min(size, kvsapi.MaxFragmentListLen)
	rp := r.Retry.withDefaults()
	rng := rand.New(rand.NewPCG(rp.Seed, 0x6c697374))
	for start := 0; start < len(numbers); start += size {
		batch := numbers[start:min(start+size, len(numbers))]
		if err := r.readBatch(ctx, url, batch, fn, rp, rng); err != nil {
			var cb *callbackError
			if errors.As(err, &cb) {
				return cb.err
			}
			return fmt.Errorf("consumer: GetMediaForFragmentList %s: %w", r.Stream, err)
		}
	}
	return nil
}

// readBatch reads one batch to the end, retrying what is missing.
func (r *Reader) readBatch(ctx context.Context, url string, batch []string, fn func(*Fragment) error, rp RetryPolicy, rng *rand.Rand) error {
	missing := append([]string(nil), batch...)
	failures := 0
	for {
		served, err := r.listOnce(ctx, url, missing, fn)
		if served > 0 {
			failures = 0
		}
		rest := missing[:0]
		for _, n := range missing {
			if n != "" {
				rest = append(rest, n)
			}
		}
		missing = rest
		if err == nil || len(missing) == 0 {
			// What a finished response left out was not served.
			for _, n := range missing {
				if cbErr := fn(&Fragment{Number: n, MillisBehindNow: -1,
					Err: fmt.Errorf("%w: the response ended without it", ErrNotServed)}); cbErr != nil {
					return &callbackError{cbErr}
				}
			}
			return nil
		}
		var cb *callbackError
		if errors.As(err, &cb) || ctx.Err() != nil {
			return err
		}
		if kvsclient.IsException(err, kvsapi.ExcResourceNotFound) {
			// A listed fragment is gone (expired, deleted): the request is
			// refused whole, so ask for each on its own.
			if len(missing) == 1 {
				return errAsFragment(fn, missing[0], err)
			}
			for _, n := range missing {
				if err := r.readBatch(ctx, url, []string{n}, fn, rp, rng); err != nil {
					return err
				}
			}
			return nil
		}
		if permanent(err) {
			return err
		}
		if failures++; failures > rp.Attempts {
			return fmt.Errorf("%w: %d requests failed in a row, the last: %w", ErrGaveUp, failures, err)
		}
		if err := rp.Sleep(ctx, rp.delay(failures, rng)); err != nil {
			return err
		}
	}
}

func errAsFragment(fn func(*Fragment) error, number string, err error) error {
	if cbErr := fn(&Fragment{Number: number, MillisBehindNow: -1, Err: fmt.Errorf("%w: %w", ErrNotServed, err)}); cbErr != nil {
		return &callbackError{cbErr}
	}
	return nil
}

// listOnce runs one GetMediaForFragmentList request. Numbers it served are
// blanked out of want; it reports how many.
func (r *Reader) listOnce(ctx context.Context, url string, want []string, fn func(*Fragment) error) (int, error) {
	timeout := r.ResponseTimeout
	if timeout <= 0 {
		timeout = DefaultResponseTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := r.post(ctx, url, kvsapi.GetMediaForFragmentListInput{StreamRef: r.ref(), Fragments: want})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	p := r.parse(resp.Body, false)
	n := 0
	for {
		f, err := p.next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		asked := false
		for i, w := range want {
			if w != "" && w == f.Number {
				want[i], asked = "", true
				break
			}
		}
		if !asked {
			continue // not asked for, or served twice: a service bug the caller cannot use
		}
		r.prepare(f)
		if err := fn(f); err != nil {
			return n, &callbackError{err}
		}
		n++
	}
}

// recentSet remembers the last n strings added.
type recentSet struct {
	ring []string
	next int
	set  map[string]struct{}
}

func newRecentSet(n int) *recentSet {
	return &recentSet{ring: make([]string, n), set: make(map[string]struct{}, n)}
}

// add reports whether s is new, remembering it.
func (s *recentSet) add(v string) bool {
	if _, ok := s.set[v]; ok {
		return false
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.set, old)
	}
	s.ring[s.next] = v
	s.set[v] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
	return true
}

// Tail reads stream from start with GetMedia until ctx ends; see Reader.Tail.
func Tail(ctx context.Context, target simulator.Target, stream string, start StartSelector, opener *e2ee.Opener, fn func(*Fragment) error) error {
	r := Reader{Target: target, Stream: stream, Opener: opener}
	return r.Tail(ctx, start, fn)
}
