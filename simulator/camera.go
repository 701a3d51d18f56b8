package simulator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/simulator/media"
)

// ErrInvalidCamera wraps every problem NewCamera finds in its arguments.
var ErrInvalidCamera = errors.New("simulator: invalid camera config")

// Defaults for zero CameraConfig fields, as the KVS producer SDK
// (producer-c, kvs-protocol.md §4.2-§4.7) unless noted.
const (
	// DefaultRetentionHours is what the producer SDK samples create streams with.
	DefaultRetentionHours = 2
	// DefaultBufferDuration is the SDK's view window (bufferDuration).
	DefaultBufferDuration = 120 * time.Second
	// DefaultReplayDuration is 0.5 × buffer (REPLAY_DURATION_FACTOR).
	DefaultReplayDuration = DefaultBufferDuration / 2
	// DefaultStaleness is producer-c's connectionStalenessDuration.
	DefaultStaleness = 5 * time.Second
	// DefaultRotation is the SDK's token cap (40 min); a camera rotates its
	// connection this long after opening it, minus jitter.
	DefaultRotation = 40 * time.Minute
	// DefaultBackoffBase and DefaultBackoffCap shape the SDK's exponential
	// backoff with full jitter.
	DefaultBackoffBase = 100 * time.Millisecond
	DefaultBackoffCap  = 10 * time.Second
	// DefaultEndpointCache is how long DescribeStream and GetDataEndpoint
	// results are reused (DEFAULT_ENDPOINT_CACHE_UPDATE_PERIOD).
	DefaultEndpointCache = 40 * time.Minute
	// DefaultFinalAckTimeout bounds the wait for the last PERSISTED of a
	// session that ends cleanly.
	DefaultFinalAckTimeout = 15 * time.Second
	// DefaultDrainTimeout bounds how long after its last frame a camera keeps
	// reconnecting to deliver what it still buffers (camstorm's choice; the
	// SDK's stopStreamSync waits up to 120 s).
	DefaultDrainTimeout = 30 * time.Second

	// stateRetries is how often one control-plane step is tried before the
	// stream is reset and its buffer thrown away (SERVICE_CALL_MAX_RETRY_COUNT).
	stateRetries = 5
	// controlCallTimeout bounds each control-plane call.
	controlCallTimeout = 10 * time.Second
	// activeWait bounds how long a created stream may stay CREATING.
	activeWait = 30 * time.Second
	// activePoll is the DescribeStream period while waiting for ACTIVE.
	activePoll = 100 * time.Millisecond
	// maxAckErrorsKept bounds the ERROR ACKs a result keeps (all are counted).
	maxAckErrorsKept = 16
	// rotationJitterMax caps the random amount a rotation comes early
	// (randomizeAuthInfoExpiration: 10 % of the period, at most 3 min).
	rotationJitterMax = 3 * time.Minute
)

// Target is where a camera streams: a KVS-compatible control plane, the
// HTTP client (TLS trust, dialer) to reach it and the data endpoints it
// names, and the credentials that sign each request.
type Target struct {
	ControlPlaneURL string
	HTTP            *http.Client
	// Credentials sign every request with SigV4 (service kinesisvideo) in
	// Region; nil sends requests unsigned. Against AWS, use the standard
	// credential chain (config.LoadDefaultConfig's Credentials).
	Credentials aws.CredentialsProvider
	Region      string
}

// Client is the HTTP client requests to the target go through: HTTP, with
// each request signed when Credentials are set.
func (t Target) Client() *http.Client {
	if t.Credentials == nil {
		return t.HTTP
	}
	return &http.Client{Transport: &kvsclient.SigningTransport{Base: t.HTTP.Transport, Credentials: t.Credentials, Region: t.Region},
		Timeout: t.HTTP.Timeout}
}

// CameraConfig describes one simulated camera: what it films, how its
// producer behaves, and how it encrypts.
type CameraConfig struct {
	StreamName string
	// Source provides the frames; the camera opens one cluster (fragment)
	// per GOP, on each key frame, with absolute epoch-ms timecodes.
	Source media.Source
	// RetentionHours is used when the camera creates its stream; 0 means
	// DefaultRetentionHours (PERSISTED ACKs need retention > 0).
	RetentionHours int

	// Recipients turn end-to-end encryption on: every frame is sealed and
	// each epoch key wrapped for these consumers (internal/e2ee).
	Recipients []e2ee.PublicKey
	// RotateKeyAfter and RotateKeyFragments bound one E2EE epoch (0: the
	// e2ee defaults).
	RotateKeyAfter     time.Duration
	RotateKeyFragments int

	// Producer behaviour (zero: the SDK defaults above).
	BufferDuration time.Duration // oldest buffered media is evicted beyond this
	BufferBytes    int64         // and beyond this many bytes (0: no byte bound)
	ReplayDuration time.Duration // resent after a connection that looked dead
	Staleness      time.Duration // no BUFFERING for this much sent media: reconnect
	Rotation       time.Duration // connection lifetime before a planned rotation
	BackoffBase    time.Duration
	BackoffCap     time.Duration
	EndpointCache  time.Duration
	// FinalAckTimeout bounds the wait for the last PERSISTED once everything
	// is sent; DrainTimeout bounds reconnecting after the last frame.
	FinalAckTimeout time.Duration
	DrainTimeout    time.Duration

	// Seed drives every random choice (backoff jitter, rotation jitter).
	Seed uint64
	// Clock gives timestamps and latencies; default time.Now.
	Clock func() time.Time
	// Offline produces the media due before `until` as fast as the service
	// takes it, blocking instead of evicting when the buffer is full (the
	// SDK's offline mode). Otherwise frames come in real time, as a real
	// camera captures them, and overflow evicts the oldest fragment.
	Offline bool
	// OnAck, if set, sees every ACK as it arrives, with what the camera
	// knows of its fragment. It is called from an ACK reader and must not
	// block.
	OnAck func(ack kvsapi.Ack, info AckInfo)
	// OnSession, if set, is called when a PutMedia session opens;
	// reconnect is true when the one before it ended abnormally.
	OnSession func(reconnect bool)
}

// Camera is one simulated camera. Run it once.
type Camera struct {
	cfg    CameraConfig
	target Target
	sealer *e2ee.Sealer
	header []byte // MKV header every session starts with
	tracks []mkv.TrackSpec
	rng    *rand.Rand
	active atomic.Pointer[run] // the run in progress, for Buffered
}

// Buffered reports the media bytes the camera holds that the service has
// not yet acknowledged (0 when it is not running).
func (c *Camera) Buffered() int64 {
	r := c.active.Load()
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bytes
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
	for name, d := range map[string]time.Duration{
		"BufferDuration": cfg.BufferDuration, "ReplayDuration": cfg.ReplayDuration, "Staleness": cfg.Staleness,
		"Rotation": cfg.Rotation, "BackoffBase": cfg.BackoffBase, "BackoffCap": cfg.BackoffCap,
		"EndpointCache": cfg.EndpointCache, "FinalAckTimeout": cfg.FinalAckTimeout, "DrainTimeout": cfg.DrainTimeout,
	} {
		if d < 0 {
			bad("%s is %v, want >= 0 (0: the default)", name, d)
		}
	}
	if cfg.BufferBytes < 0 {
		bad("BufferBytes is %d, want >= 0 (0: no byte bound)", cfg.BufferBytes)
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
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if cfg.RetentionHours == 0 {
		cfg.RetentionHours = DefaultRetentionHours
	}
	def(&cfg.BufferDuration, DefaultBufferDuration)
	def(&cfg.ReplayDuration, min(DefaultReplayDuration, cfg.BufferDuration/2))
	def(&cfg.Staleness, DefaultStaleness)
	def(&cfg.Rotation, DefaultRotation)
	def(&cfg.BackoffBase, DefaultBackoffBase)
	def(&cfg.BackoffCap, DefaultBackoffCap)
	def(&cfg.EndpointCache, DefaultEndpointCache)
	def(&cfg.FinalAckTimeout, DefaultFinalAckTimeout)
	def(&cfg.DrainTimeout, DefaultDrainTimeout)
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	c := &Camera{cfg: cfg, target: target, rng: rand.New(rand.NewPCG(cfg.Seed, 0x63616d73746f726d))}
	c.tracks = []mkv.TrackSpec{cfg.Source.Track()}
	if len(cfg.Recipients) > 0 {
		s, err := e2ee.NewSealer(e2ee.SealerConfig{Stream: cfg.StreamName, Recipients: cfg.Recipients,
			RotateAfter: cfg.RotateKeyAfter, RotateFragments: cfg.RotateKeyFragments})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidCamera, err)
		}
		c.sealer = s
		c.tracks = append(c.tracks, KeyTrack)
	}
	h, err := mkv.AppendHeader(nil, mkv.Header{Tracks: c.tracks})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCamera, err)
	}
	c.header = h
	return c, nil
}

// KeyTrack is the track that carries E2EE epoch envelopes, one block at the
// start of every fragment (docs/E2EE.md).
var KeyTrack = mkv.TrackSpec{Number: 2, UID: 0xC5E2EE, Type: mkv.TrackMetadata, CodecID: e2ee.CodecID, Name: e2ee.TrackName}

// SetRecipients changes who may decrypt: the next fragment starts a new
// E2EE epoch wrapped for exactly these consumers. Safe while Run runs.
func (c *Camera) SetRecipients(r []e2ee.PublicKey) error {
	if c.sealer == nil {
		return fmt.Errorf("%w: the camera was made without Recipients, so it does not encrypt", ErrInvalidCamera)
	}
	return c.sealer.SetRecipients(r)
}

// AckInfo is what a camera knows of the fragment an ACK names.
type AckInfo struct {
	// Latency runs from the first byte of the fragment's latest send (0 if
	// the fragment is unknown).
	Latency time.Duration
	// Bytes is the fragment's size as sent (0 if unknown).
	Bytes int
}

// Phase is the step of a camera's run in which a failure happened.
type Phase string

// Phases of a run.
const (
	PhaseDescribe Phase = "describe" // DescribeStream
	PhaseCreate   Phase = "create"   // CreateStream, waiting for ACTIVE
	PhaseEndpoint Phase = "endpoint" // GetDataEndpoint(PUT_MEDIA)
	PhaseConnect  Phase = "connect"  // opening the PutMedia request
	PhaseStream   Phase = "stream"   // sending frames and reading ACKs
	PhaseFinish   Phase = "finish"   // delivering what is buffered after the last frame
	PhaseCanceled Phase = "canceled" // the context ended before streaming began
)

// Failure kinds that are not exception types or ERROR ACKs.
const (
	KindConnection   = "connection"
	KindCanceled     = "canceled"
	KindNotPersisted = "fragments not PERSISTED"
)

// Failure is what kept a camera from delivering: the last thing that went
// wrong before it gave up, or what was still undelivered at the end.
type Failure struct {
	Phase Phase `json:"phase"`
	// Kind groups failures for counting: an exception type, "ERROR ACK
	// <code>", "connection", "fragments not PERSISTED" or "canceled".
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func (f *Failure) String() string { return fmt.Sprintf("%s: %s: %s", f.Phase, f.Kind, f.Message) }

// AckError is one ERROR ACK.
type AckError struct {
	FragmentTimecode int64          `json:"fragment_timecode"`
	FragmentNumber   string         `json:"fragment_number,omitempty"`
	ErrorID          kvsapi.ErrorID `json:"error_id"`
	ErrorCode        string         `json:"error_code"`
}

// Kind is how the error is counted: "ERROR ACK <id> <code>".
func (e AckError) Kind() string { return fmt.Sprintf("ERROR ACK %d %s", int(e.ErrorID), e.ErrorCode) }

// Counters are what a camera's producer did, for reports and assertions.
type Counters struct {
	Fragments   int   `json:"fragments"`    // fragments produced
	Bytes       int64 `json:"bytes_sent"`   // MKV bytes written, resends included
	Sessions    int   `json:"sessions"`     // PutMedia sessions opened
	Reconnects  int   `json:"reconnects"`   // sessions opened after one ended abnormally
	Rotations   int   `json:"rotations"`    // planned connection rotations
	StaleResets int   `json:"stale_resets"` // sessions ended for want of BUFFERING ACKs
	// ConnectFailures counts PutMedia requests that could not be opened;
	// ControlFailures failed control-plane calls.
	ConnectFailures int `json:"connect_failures"`
	ControlFailures int `json:"control_failures"`
	// Resent counts fragments sent again after a rollback.
	Resent int `json:"resent"`
	// StreamResets counts buffers thrown away after a control-plane step
	// failed stateRetries times, as the SDK's continuous-retry handler does.
	StreamResets int `json:"stream_resets"`
	Idle         int `json:"idle_acks"`
	// UnmatchedAcks name no fragment the camera still buffers.
	UnmatchedAcks int `json:"unmatched_acks"`
	AckErrors     int `json:"ack_errors"`
}

// CameraResult is everything one run produced. Outcomes are data: a run that
// failed says so in Failure.
type CameraResult struct {
	StreamName    string `json:"stream_name"`
	CreatedStream bool   `json:"created_stream"`
	// RetentionHours is the stream's retention as DescribeStream reported
	// it; with 0 the service sends no PERSISTED ACKs.
	RetentionHours int       `json:"retention_hours"`
	Encrypted      bool      `json:"encrypted"`
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	Ledger         Ledger    `json:"ledger"`
	Counters
	// AckErrorsKept keeps the first few ERROR ACKs (Counters.AckErrors counts all).
	AckErrorsKept []AckError `json:"ack_errors_kept,omitempty"`
	Failure       *Failure   `json:"failure,omitempty"`
}

func (r *CameraResult) fail(phase Phase, kind string, err error) {
	r.Failure = &Failure{Phase: phase, Kind: kind, Message: err.Error()}
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

// Run films until `until` (or until ctx ends) while the producer streams
// what it films: it finds or creates the stream, keeps a bounded buffer,
// reconnects with backoff and rollback when sessions fail, rotates its
// connection, and after the last frame keeps delivering (bounded by
// DrainTimeout) until everything is PERSISTED. It never returns an error:
// what happened is in the result.
func (c *Camera) Run(ctx context.Context, until time.Time) (res CameraResult) {
	res = CameraResult{StreamName: c.cfg.StreamName, Start: c.cfg.Clock(), Encrypted: c.sealer != nil}
	res.Ledger.Stream = c.cfg.StreamName
	defer func() { res.End = c.cfg.Clock() }()
	if err := ctx.Err(); err != nil {
		res.fail(PhaseCanceled, KindCanceled, err)
		return res
	}
	r := newRun(c, &res)
	c.active.Store(r)
	defer c.active.Store(nil)
	filmed := r.capture(ctx, until)
	r.upload(ctx)
	<-filmed
	r.finish()
	return res
}
