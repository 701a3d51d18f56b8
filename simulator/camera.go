package simulator

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/simulator/media"
)

// ErrInvalidCamera wraps every problem NewCamera finds in its arguments.
var ErrInvalidCamera = errors.New("simulator: invalid camera config")

// Defaults for zero CameraConfig fields.
const (
	// DefaultRetentionHours is what the producer SDK samples create streams with.
	DefaultRetentionHours = 2
	// DefaultFinalAckTimeout bounds the wait for the last PERSISTED after the
	// body is closed.
	DefaultFinalAckTimeout = 15 * time.Second

	// controlCallTimeout bounds each control-plane call.
	controlCallTimeout = 10 * time.Second
	// activeWait bounds how long a created stream may stay CREATING.
	activeWait = 30 * time.Second
	// activePoll is the DescribeStream period while waiting for ACTIVE.
	activePoll = 100 * time.Millisecond
	// maxAckErrorsKept bounds the ERROR ACKs a result keeps (all are counted).
	maxAckErrorsKept = 32
	// writeBuffer is the buffer between the MKV writer and the connection.
	writeBuffer = 64 << 10
)

// Target is where a camera streams: a KVS-compatible control plane and the
// HTTP client (TLS trust, dialer) to reach it and the data endpoints it names.
type Target struct {
	ControlPlaneURL string
	HTTP            *http.Client
}

// CameraConfig describes one simulated camera.
type CameraConfig struct {
	StreamName string
	// Source provides the frames; the camera opens one cluster (fragment)
	// per GOP, on each key frame, with absolute epoch-ms timecodes.
	Source media.Source
	// RetentionHours is used when the camera creates its stream; 0 means
	// DefaultRetentionHours (PERSISTED ACKs need retention > 0).
	RetentionHours int
	// Clock gives timestamps and latencies; default time.Now.
	Clock func() time.Time
	// RealTime paces frames by their PTS, as a real camera produces them.
	// Without it the camera sends the media due before `until` as fast as
	// the service takes it (tests).
	RealTime bool
	// FinalAckTimeout bounds the wait for the last PERSISTED once the body
	// is closed; default DefaultFinalAckTimeout.
	FinalAckTimeout time.Duration
	// OnAck, if set, sees every ACK as it arrives, with its latency from the
	// first byte of its fragment (0 if the fragment is unknown). It is called
	// from the camera's ACK reader and must not block.
	OnAck func(ack kvsapi.Ack, latency time.Duration)
}

// Camera is one simulated camera. Run it once.
type Camera struct {
	cfg    CameraConfig
	target Target
}

// NewCamera checks cfg and target, reporting every problem at once (each
// wrapping ErrInvalidCamera), and fills in defaults.
func NewCamera(cfg CameraConfig, target Target) (*Camera, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidCamera}, args...)...))
	}
	if !kvsapi.ValidStreamName(cfg.StreamName) {
		bad("StreamName %q must be 1-%d characters of [a-zA-Z0-9_.-]", cfg.StreamName, kvsapi.MaxStreamNameLen)
	}
	if cfg.Source == nil {
		bad("Source is nil")
	}
	if cfg.RetentionHours < 0 || cfg.RetentionHours > kvsapi.MaxRetentionHours {
		bad("RetentionHours is %d, want 0..%d (0: %d)", cfg.RetentionHours, kvsapi.MaxRetentionHours, DefaultRetentionHours)
	}
	if cfg.FinalAckTimeout < 0 {
		bad("FinalAckTimeout is %v, want >= 0", cfg.FinalAckTimeout)
	}
	if target.ControlPlaneURL == "" {
		bad("Target.ControlPlaneURL is empty")
	}
	if target.HTTP == nil {
		bad("Target.HTTP is nil")
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.RetentionHours == 0 {
		cfg.RetentionHours = DefaultRetentionHours
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.FinalAckTimeout == 0 {
		cfg.FinalAckTimeout = DefaultFinalAckTimeout
	}
	return &Camera{cfg: cfg, target: target}, nil
}

// Phase is the step of a camera's run in which a failure happened.
type Phase string

// Phases of a run, in order.
const (
	PhaseDescribe Phase = "describe" // DescribeStream
	PhaseCreate   Phase = "create"   // CreateStream, waiting for ACTIVE
	PhaseEndpoint Phase = "endpoint" // GetDataEndpoint(PUT_MEDIA)
	PhaseConnect  Phase = "connect"  // opening the PutMedia request
	PhaseStream   Phase = "stream"   // sending frames and reading ACKs
	PhaseFinish   Phase = "finish"   // waiting for the last PERSISTED
	PhaseCanceled Phase = "canceled" // the context ended before streaming began
)

// Failure kinds that are not exception types or ERROR ACKs.
const (
	KindFinalAckTimeout = "final PERSISTED timeout"
	KindConnection      = "connection"
	KindCanceled        = "canceled"
	KindNotPersisted    = "fragments not PERSISTED"
)

// Failure is what ended a camera's run early, or left it incomplete.
type Failure struct {
	Phase Phase `json:"phase"`
	// Kind groups failures for counting: an exception type, "ERROR ACK
	// <code>", "connection", "final PERSISTED timeout" or "canceled".
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func (f *Failure) String() string { return fmt.Sprintf("%s: %s: %s", f.Phase, f.Kind, f.Message) }

// AckTiming records one kind of ACK for a fragment.
type AckTiming struct {
	Seen    bool          `json:"seen"`
	Latency time.Duration `json:"latency_ns"` // from the fragment's first byte
}

// AckError is one ERROR ACK.
type AckError struct {
	FragmentTimecode int64          `json:"fragment_timecode"`
	FragmentNumber   string         `json:"fragment_number,omitempty"`
	ErrorID          kvsapi.ErrorID `json:"error_id"`
	ErrorCode        string         `json:"error_code"`
}

// Kind is how the error is counted: "ERROR ACK <id> <code>".
func (e AckError) Kind() string { return fmt.Sprintf("ERROR ACK %d %s", int(e.ErrorID), e.ErrorCode) }

// SentFragment is one fragment (cluster) as the camera sent it and as the
// service acknowledged it.
type SentFragment struct {
	Timecode  int64     `json:"timecode"` // cluster timecode, epoch ms
	Frames    int       `json:"frames"`
	Size      int64     `json:"size"`   // cluster bytes as written
	SHA256    [32]byte  `json:"sha256"` // of those bytes
	FirstByte time.Time `json:"first_byte"`
	// Complete is false for a fragment cut short by a failed session.
	Complete bool `json:"complete"`
	// Number is the service's fragment number, from the first ACK that named it.
	Number    string    `json:"number,omitempty"`
	Buffering AckTiming `json:"buffering"`
	Received  AckTiming `json:"received"`
	Persisted AckTiming `json:"persisted"`
	Error     *AckError `json:"error,omitempty"`
}

// CameraResult is everything one run produced. Outcomes are data: a run that
// failed says so in Failure.
type CameraResult struct {
	StreamName    string `json:"stream_name"`
	CreatedStream bool   `json:"created_stream"`
	// RetentionHours is the stream's retention as DescribeStream reported
	// it; with 0 the service sends no PERSISTED ACKs.
	RetentionHours int            `json:"retention_hours"`
	Start          time.Time      `json:"start"`
	End            time.Time      `json:"end"`
	Fragments      []SentFragment `json:"fragments"`
	Frames         int64          `json:"frames"`
	Bytes          int64          `json:"bytes"` // MKV bytes written to the PutMedia body
	AckErrors      []AckError     `json:"ack_errors,omitempty"`
	// AckErrorCount counts every ERROR ACK; AckErrors keeps the first few.
	AckErrorCount int `json:"ack_error_count"`
	Idle          int `json:"idle_acks"`
	// UnmatchedAcks names no fragment this camera sent.
	UnmatchedAcks int      `json:"unmatched_acks"`
	Failure       *Failure `json:"failure,omitempty"`
}

// Persisted counts fragments acknowledged PERSISTED.
func (r *CameraResult) Persisted() int {
	n := 0
	for i := range r.Fragments {
		if r.Fragments[i].Persisted.Seen {
			n++
		}
	}
	return n
}

func (r *CameraResult) fail(phase Phase, kind string, err error) {
	if r.Failure == nil {
		r.Failure = &Failure{Phase: phase, Kind: kind, Message: err.Error()}
	}
}

// failureKind names err for counting: its exception type when it is one.
func failureKind(err error) string {
	var e *kvsapi.Exception
	switch {
	case errors.As(err, &e) && e.Type != "":
		return e.Type
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return KindCanceled
	default:
		return KindConnection
	}
}

// Run streams until `until` (or until ctx ends): it finds or creates the
// stream, opens one PutMedia session, sends a cluster per GOP, and at the end
// closes the open fragment with END_OF_FRAGMENT and waits (bounded) for its
// last PERSISTED. It never returns an error: failures are in the result.
func (c *Camera) Run(ctx context.Context, until time.Time) (res CameraResult) {
	res = CameraResult{StreamName: c.cfg.StreamName, Start: c.cfg.Clock()}
	defer func() { res.End = c.cfg.Clock() }()
	if err := ctx.Err(); err != nil {
		res.fail(PhaseCanceled, KindCanceled, err)
		return res
	}
	endpoint, ok := c.prepare(ctx, &res)
	if !ok {
		return res
	}
	c.streamSession(ctx, endpoint, until, &res)
	return res
}

// prepare runs the control-plane steps the producer SDK takes before
// streaming (kvs-protocol.md §4.1, §4.8): DescribeStream, CreateStream only
// on ResourceNotFoundException, then DescribeStream until ACTIVE, then
// GetDataEndpoint(PUT_MEDIA).
func (c *Camera) prepare(ctx context.Context, res *CameraResult) (dataEndpoint string, ok bool) {
	ref := kvsapi.StreamRef{StreamName: c.cfg.StreamName}
	info, err := c.describe(ctx, ref)
	phase := PhaseDescribe
	switch {
	case kvsclient.IsException(err, kvsapi.ExcResourceNotFound):
		phase = PhaseCreate
		in := kvsapi.CreateStreamInput{StreamName: c.cfg.StreamName, MediaType: mediaType(c.cfg.Source.Track()),
			DataRetentionInHours: c.cfg.RetentionHours}
		err = c.call(ctx, kvsapi.PathCreateStream, in, nil)
		switch {
		case err == nil:
			res.CreatedStream = true
		case kvsclient.IsException(err, kvsapi.ExcResourceInUse):
			// Created meanwhile by someone else: use it.
		default:
			res.fail(PhaseCreate, failureKind(err), err)
			return "", false
		}
	case err != nil:
		res.fail(PhaseDescribe, failureKind(err), err)
		return "", false
	}
	if info.Status != kvsapi.StatusActive {
		if info, err = c.waitActive(ctx, ref); err != nil {
			res.fail(phase, failureKind(err), err)
			return "", false
		}
	}
	res.RetentionHours = info.DataRetentionInHours
	var out kvsapi.GetDataEndpointOutput
	if err := c.call(ctx, kvsapi.PathGetDataEndpoint, kvsapi.GetDataEndpointInput{StreamRef: ref, APIName: "PUT_MEDIA"}, &out); err != nil {
		res.fail(PhaseEndpoint, failureKind(err), err)
		return "", false
	}
	if out.DataEndpoint == "" {
		res.fail(PhaseEndpoint, KindConnection, errors.New("GetDataEndpoint returned no DataEndpoint"))
		return "", false
	}
	return out.DataEndpoint, true
}

func (c *Camera) call(ctx context.Context, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, controlCallTimeout)
	defer cancel()
	return kvsclient.Call(ctx, c.target.HTTP, c.target.ControlPlaneURL, path, in, out)
}

func (c *Camera) describe(ctx context.Context, ref kvsapi.StreamRef) (kvsapi.StreamInfo, error) {
	var out kvsapi.DescribeStreamOutput
	err := c.call(ctx, kvsapi.PathDescribeStream, ref, &out)
	return out.StreamInfo, err
}

// waitActive repeats DescribeStream until the stream is ACTIVE, as the SDK
// does while it is CREATING (bounded by activeWait).
func (c *Camera) waitActive(ctx context.Context, ref kvsapi.StreamRef) (kvsapi.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, activeWait)
	defer cancel()
	t := time.NewTicker(activePoll)
	defer t.Stop()
	for {
		info, err := c.describe(ctx, ref)
		if err != nil && !kvsclient.IsException(err, kvsapi.ExcResourceNotFound) {
			return info, err
		}
		if err == nil && info.Status == kvsapi.StatusActive {
			return info, nil
		}
		select {
		case <-ctx.Done():
			return info, fmt.Errorf("stream %s not ACTIVE (last status %q): %w", ref.StreamName, info.Status, ctx.Err())
		case <-t.C:
		}
	}
}

func mediaType(t mkv.TrackSpec) string {
	switch t.CodecID {
	case mkv.CodecH264:
		return "video/h264"
	case "V_MPEGH/ISO/HEVC":
		return "video/h265"
	}
	return ""
}

// clusterTap sits between the MKV writer and the connection's buffer: it
// counts every byte and hashes the bytes of the open cluster.
type clusterTap struct {
	w       io.Writer
	total   int64
	hashing bool
	h       hash.Hash
	size    int64
}

func (t *clusterTap) Write(b []byte) (int, error) {
	n, err := t.w.Write(b)
	t.total += int64(n)
	if t.hashing {
		t.h.Write(b[:n])
		t.size += int64(n)
	}
	return n, err
}

// session is the state shared between the sending loop and the ACK reader.
type session struct {
	clock func() time.Time
	onAck func(kvsapi.Ack, time.Duration)

	mu      sync.Mutex
	res     *CameraResult
	byTC    map[int64]int // fragment timecode -> index in res.Fragments
	pending int           // complete fragments not yet PERSISTED
	failed  error         // ERROR ACK or read error that ended the session
	kind    string
	settled chan struct{} // closed when pending reaches 0 after closing
	closing bool
}

func (s *session) handle(a kvsapi.Ack) {
	now := s.clock()
	s.mu.Lock()
	var latency time.Duration
	i, known := s.byTC[a.FragmentTimecode]
	var f *SentFragment
	if known && a.HasTimecode {
		f = &s.res.Fragments[i]
		latency = now.Sub(f.FirstByte)
		if f.Number == "" {
			f.Number = a.FragmentNumber
		}
	}
	switch a.EventType {
	case kvsapi.EventIdle:
		s.res.Idle++
	case kvsapi.EventBuffering, kvsapi.EventReceived, kvsapi.EventPersisted:
		if f == nil {
			s.res.UnmatchedAcks++
			break
		}
		t := &f.Buffering
		switch a.EventType {
		case kvsapi.EventReceived:
			t = &f.Received
		case kvsapi.EventPersisted:
			t = &f.Persisted
		}
		if !t.Seen {
			*t = AckTiming{Seen: true, Latency: latency}
			if a.EventType == kvsapi.EventPersisted && f.Complete {
				s.pending--
				s.maybeSettled()
			}
		}
	case kvsapi.EventError:
		e := AckError{FragmentTimecode: a.FragmentTimecode, FragmentNumber: a.FragmentNumber, ErrorID: a.ErrorID, ErrorCode: a.ErrorCode}
		s.res.AckErrorCount++
		if len(s.res.AckErrors) < maxAckErrorsKept {
			s.res.AckErrors = append(s.res.AckErrors, e)
		}
		if f != nil && f.Error == nil {
			f.Error = &e
		}
		if s.failed == nil {
			// The service closes the connection after an ERROR ACK (§1.2).
			s.failed, s.kind = fmt.Errorf("fragment %d: ERROR ACK %d %s", a.FragmentTimecode, int(a.ErrorID), a.ErrorCode), e.Kind()
		}
	}
	s.mu.Unlock()
	if s.onAck != nil {
		s.onAck(a, latency)
	}
}

// maybeSettled closes settled once the body is closed and every complete
// fragment is PERSISTED. s.mu must be held.
func (s *session) maybeSettled() {
	if s.closing && s.pending <= 0 {
		select {
		case <-s.settled:
		default:
			close(s.settled)
		}
	}
}

// openFragment registers a new fragment; closeFragment fills in its size
// and hash once its last frame is written.
func (s *session) openFragment(f SentFragment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byTC[f.Timecode] = len(s.res.Fragments)
	s.res.Fragments = append(s.res.Fragments, f)
}

func (s *session) closeFragment(tap *clusterTap, frames int, complete bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &s.res.Fragments[len(s.res.Fragments)-1]
	f.Size, f.Frames, f.Complete = tap.size, frames, complete
	copy(f.SHA256[:], tap.h.Sum(nil))
	if complete && !f.Persisted.Seen {
		s.pending++
	}
	tap.hashing, tap.size = false, 0
	tap.h.Reset()
}

func (s *session) failure() (kind string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kind, s.failed
}

// streamSession is one PutMedia session from header to last PERSISTED.
//
// This is where the SDK-faithful producer plugs in: it replaces this one
// session with a loop of sessions over a bounded fragment buffer, trimming on
// PERSISTED, rolling back to the fragment after the last RECEIVED on
// reconnect, backing off with full jitter and rotating the connection
// (kvs-protocol.md §4.2-§4.8). The frame source, pacing, cluster tap and ACK
// bookkeeping here stay as they are.
func (c *Camera) streamSession(ctx context.Context, endpoint string, until time.Time, res *CameraResult) {
	// The session outlives ctx so a cancelled run can still close its open
	// fragment and collect the last ACKs; sessionCancel aborts it.
	sessionCtx, sessionCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer sessionCancel()
	pm, err := kvsclient.StartPutMedia(sessionCtx, c.target.HTTP, endpoint, kvsclient.PutMediaOptions{
		StreamName: c.cfg.StreamName, ProducerTime: c.cfg.Clock(),
	})
	if err != nil {
		res.fail(PhaseConnect, failureKind(err), err)
		return
	}
	s := &session{clock: c.cfg.Clock, onAck: c.cfg.OnAck, res: res, byTC: map[int64]int{}, settled: make(chan struct{})}
	ackDone := make(chan error, 1)
	go func() {
		for {
			a, err := pm.NextAck()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				ackDone <- err
				return
			}
			s.handle(a)
			if a.EventType == kvsapi.EventError {
				ackDone <- nil
				return
			}
		}
	}()

	sendErr, ackEnded, ackErr := c.send(ctx, pm, until, s, ackDone)
	_ = pm.CloseWrite()
	var timeoutErr error
	if !ackEnded {
		s.mu.Lock()
		s.closing = true
		s.maybeSettled()
		s.mu.Unlock()
		timer := time.NewTimer(c.cfg.FinalAckTimeout)
		select {
		case ackErr = <-ackDone:
			ackEnded = true
		case <-s.settled:
		case <-timer.C:
			s.mu.Lock()
			timeoutErr = fmt.Errorf("%d fragments not PERSISTED %v after the body was closed", s.pending, c.cfg.FinalAckTimeout)
			s.mu.Unlock()
		}
		timer.Stop()
	}
	_ = pm.Close()
	if !ackEnded {
		<-ackDone // Close ends the reader promptly; its error is our own doing
	}
	// The first cause wins: an ERROR ACK makes the service close the
	// connection, which then fails the writer too.
	if kind, failed := s.failure(); failed != nil {
		res.fail(PhaseStream, kind, failed)
	}
	if sendErr != nil {
		res.fail(PhaseStream, KindConnection, sendErr)
	}
	if ackErr != nil && res.Persisted() < countComplete(res.Fragments) {
		res.fail(PhaseStream, KindConnection, fmt.Errorf("reading ACKs: %w", ackErr))
	}
	if timeoutErr != nil {
		res.fail(PhaseFinish, KindFinalAckTimeout, timeoutErr)
	}
	// A service that ends the session cleanly owes a PERSISTED for every
	// complete fragment of a stream with retention.
	if complete, persisted := countComplete(res.Fragments), res.Persisted(); res.RetentionHours > 0 && persisted < complete {
		res.fail(PhaseFinish, KindNotPersisted, fmt.Errorf("%d of %d complete fragments were never acknowledged PERSISTED", complete-persisted, complete))
	}
}

func countComplete(fs []SentFragment) int {
	n := 0
	for i := range fs {
		if fs[i].Complete {
			n++
		}
	}
	return n
}

// send writes the header and then frames until `until`, ctx's end, a write
// error or the end of the ACK stream (the service closed the session). On a
// planned end it closes the last fragment with END_OF_FRAGMENT and flushes.
func (c *Camera) send(ctx context.Context, pm *kvsclient.PutMedia, until time.Time, s *session, ackDone <-chan error) (sendErr error, ackEnded bool, ackErr error) {
	// The tap sees the bytes as the writer produces them, so a cluster's
	// size and hash are final when its last frame is written.
	bw := bufio.NewWriterSize(pm, writeBuffer)
	tap := &clusterTap{w: bw, h: sha256.New()}
	defer func() { s.res.Bytes = tap.total }()
	w := mkv.NewWriter(tap)
	src := c.cfg.Source
	track := src.Track()
	if err := w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{track}}); err != nil {
		return err, false, nil
	}
	start := c.cfg.Clock()
	base := start.UnixMilli()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	open, frames := false, 0
	finish := func(complete bool) {
		if open {
			s.closeFragment(tap, frames, complete)
			open = false
		}
	}
	// closeBody ends the last fragment with END_OF_FRAGMENT and flushes.
	closeBody := func() error {
		finish(true)
		if err := w.EndFragment(); err != nil {
			return err
		}
		return bw.Flush()
	}
	for {
		f := src.Next()
		due := start.Add(f.PTS)
		if !due.Before(until) {
			return closeBody(), false, nil
		}
		if d := due.Sub(c.cfg.Clock()); c.cfg.RealTime && d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
			case ackErr = <-ackDone:
				timer.Stop()
				finish(false)
				return nil, true, ackErr
			}
		}
		select {
		case <-ctx.Done():
			return closeBody(), false, nil
		case ackErr = <-ackDone:
			finish(false)
			return nil, true, ackErr
		default:
		}
		pts := base + f.PTS.Milliseconds()
		if f.Key {
			finish(true)
			if err := bw.Flush(); err != nil {
				return err, false, nil
			}
			s.openFragment(SentFragment{Timecode: pts, FirstByte: c.cfg.Clock()})
			tap.hashing, open, frames = true, true, 0
			if err := w.StartCluster(pts); err != nil {
				finish(false)
				return err, false, nil
			}
		}
		if !open {
			continue // frames before the first key frame are dropped, as the SDK does
		}
		if err := w.WriteFrame(track.Number, pts, f.Key, f.Data); err != nil {
			finish(false)
			return err, false, nil
		}
		frames++
		s.res.Frames++
		if c.cfg.RealTime {
			// A real camera sends each frame as it is captured.
			if err := bw.Flush(); err != nil {
				finish(false)
				return err, false, nil
			}
		}
	}
}
