// Package fleet runs many simulated cameras at once into one target, over
// chosen network profiles, reads every stream back with a consumer that
// holds the decryption key, and accounts for every frame.
package fleet

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camstorm/camstorm/fixtures"
	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/wait"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/consumer"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/simulator/netem"
)

// Phases of a run, as Progress reports them.
const (
	PhaseStreaming = "streaming"
	PhaseVerifying = "verifying"
)

// Progress is a snapshot of a running fleet, delivered about once a second.
type Progress struct {
	Phase      string        `json:"phase"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	Streaming  int           `json:"streaming"`  // cameras filming now
	Finished   int           `json:"finished"`   // cameras done
	Persisted  int64         `json:"persisted"`  // PERSISTED ACKs so far
	Errors     int64         `json:"errors"`     // ERROR ACKs so far
	Reconnects int64         `json:"reconnects"` // sessions that ended abnormally so far
	Verified   int           `json:"verified"`   // streams read back so far
}

// member is one camera of the fleet and everything it runs with.
type member struct {
	PlannedCamera
	cam  *simulator.Camera
	link *netem.Link // nil on a perfect network
	hc   *http.Client
}

// Run streams cfg.Cameras cameras into target (starts spread over Ramp,
// stops over RampDown), tails LiveConsumers streams while they run, then
// verifies every stream with the consumer's key, VerifyConcurrency at a
// time. progress (if not nil) is called about once a second from a
// separate goroutine. The error is for the harness only (invalid config,
// the clip unreadable, ctx ended); what happened to the target is in the
// Report. If ctx ends, cameras stop filming and deliver what they can
// (bounded by FinalAckTimeout), verification is skipped and the partial
// report is returned with ctx's error.
func Run(ctx context.Context, cfg Config, target simulator.Target, progress func(Progress)) (Report, error) {
	var rep Report
	if err := cfg.Validate(); err != nil {
		return rep, err
	}
	cfg = cfg.withDefaults()
	var key *e2ee.PrivateKey
	if !cfg.Plaintext {
		var err error
		if key, err = e2ee.GenerateKey(cfg.KEM, nil); err != nil {
			return rep, fmt.Errorf("fleet: consumer key: %w", err)
		}
	}
	var live liveCounters
	lat := newAckLatencies()
	members, err := build(cfg, target, key, &live, lat)
	if err != nil {
		return rep, err
	}
	defer func() {
		for _, m := range members {
			if m.link != nil {
				m.link.Close()
			}
		}
	}()

	start := cfg.Clock()
	var phase atomic.Value
	phase.Store(PhaseStreaming)
	stopProgress := startProgress(progress, func() Progress {
		return Progress{
			Phase: phase.Load().(string), Elapsed: cfg.Clock().Sub(start),
			Streaming: int(live.streaming.Load()), Finished: int(live.finished.Load()),
			Persisted: live.persisted.Load(), Errors: live.errors.Load(), Reconnects: live.reconnects.Load(),
			Verified: int(live.verified.Load()),
		}
	})
	defer stopProgress()

	// Live consumers tail their streams until the cameras are done.
	liveCtx, stopLive := context.WithCancel(ctx)
	defer stopLive()
	checkers := make([]*consumer.LiveChecker, len(members))
	var liveWG sync.WaitGroup
	for i, m := range members {
		if !m.Live {
			continue
		}
		checkers[i] = consumer.NewLiveChecker(cfg.Clock)
		liveWG.Go(func() {
			var opener *e2ee.Opener
			if key != nil {
				opener = e2ee.NewOpener(m.Stream, key)
			}
			tailLive(liveCtx, target, m.Stream, opener, checkers[i])
		})
	}

	results := make([]simulator.CameraResult, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() {
			if !wait.For(ctx, m.Start) {
				results[i] = m.cam.Run(ctx, cfg.Clock()) // records the cancellation
				return
			}
			live.streaming.Add(1)
			results[i] = m.cam.Run(ctx, start.Add(m.Stop))
			live.streaming.Add(-1)
			live.finished.Add(1)
			if m.link != nil {
				// Its faults end with the camera: an outage firing on an
				// unused link while others are verified is no fault of it.
				m.link.Close()
			}
		})
	}
	wg.Wait()
	// Give live consumers a moment to see the last fragments, then stop them.
	if ctx.Err() == nil {
		wait.For(ctx, 2*time.Second)
	}
	stopLive()
	liveWG.Wait()

	verifications := make([]*consumer.Verification, len(members))
	if ctx.Err() == nil {
		phase.Store(PhaseVerifying)
		sem := make(chan struct{}, cfg.VerifyConcurrency)
		for i, m := range members {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				var opener *e2ee.Opener
				if key != nil {
					opener = e2ee.NewOpener(m.Stream, key)
				}
				v := consumer.Verify(ctx, target, &results[i].Ledger, opener)
				if c := checkers[i]; c != nil {
					l := c.Result(&results[i].Ledger).Latency
					v.Latency = l
				}
				verifications[i] = &v
				live.verified.Add(1)
			})
		}
		wg.Wait()
	}
	rep = buildReport(cfg, members, results, verifications, checkers, lat)
	rep.Start, rep.End = start, cfg.Clock()
	rep.Interrupted = ctx.Err() != nil
	return rep, ctx.Err()
}

// tailLive follows a stream with GetMedia until ctx ends. The stream may
// not exist yet when it starts, and a tail that fails for good is resumed
// after the last fragment it delivered, so nothing is counted twice.
func tailLive(ctx context.Context, target simulator.Target, stream string, opener *e2ee.Opener, checker *consumer.LiveChecker) {
	start := consumer.StartEarliest()
	for ctx.Err() == nil {
		err := consumer.Tail(ctx, target, stream, start, opener, func(f *consumer.Fragment) error {
			checker.Add(f)
			start = consumer.StartAfterFragment(f.Number)
			return nil
		})
		if err == nil || !wait.For(ctx, 250*time.Millisecond) {
			return
		}
	}
}

// liveCounters feed Progress.
type liveCounters struct {
	streaming, finished, verified atomic.Int64
	persisted, errors, reconnects atomic.Int64
}

// PlannedCamera is one camera of a fleet as its Config and seed decide it,
// before anything runs: the same Config gives the same plan.
type PlannedCamera struct {
	Stream  string `json:"stream"`
	Kind    string `json:"kind"`
	Profile string `json:"profile"`
	// Seed drives its media, its producer's random choices and its faults.
	Seed uint64 `json:"seed"`
	// Start and Stop are the offsets from the run's start of its first and
	// last frame.
	Start time.Duration `json:"start_ns"`
	Stop  time.Duration `json:"stop_ns"`
	// Faults are the scheduled fault events of its network, relative to
	// the run's start, until the latest it can stop delivering (Stop plus
	// the drain and final-ACK timeouts).
	Faults netem.Schedule `json:"faults,omitempty"`
	// Live is set when a live consumer tails its stream.
	Live bool `json:"live,omitempty"`
}

// Plan decides every camera's kind, profile, seed, start, stop and fault
// schedule from cfg, deterministically.
func Plan(cfg Config) ([]PlannedCamera, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := cfg.Cameras
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5DEECE66D))
	kinds := spread(cfg.Mix, n, rng)
	profiles := spread(cfg.Profiles, n, rng)
	liveEvery := 0
	if cfg.LiveConsumers > 0 {
		liveEvery = n / cfg.LiveConsumers
	}
	plan := make([]PlannedCamera, n)
	for i := range plan {
		p := &plan[i]
		p.Stream, p.Kind, p.Profile = streamName(cfg.StreamPrefix, i), kinds[i], profiles[i]
		p.Seed = uint64(cfg.Seed)*1_000_003 + uint64(i)
		p.Live = liveEvery > 0 && i%liveEvery == 0 && i/liveEvery < cfg.LiveConsumers
		p.Stop = cfg.Duration
		if n > 1 {
			p.Start = cfg.Ramp * time.Duration(i) / time.Duration(n)
			p.Stop = cfg.Ramp + cfg.Duration + cfg.RampDown*time.Duration(i)/time.Duration(n)
		}
		prof, err := netem.ProfileByName(p.Profile)
		if err != nil {
			return nil, fmt.Errorf("fleet: camera %d: %w", i, err)
		}
		horizon := p.Stop + cmp.Or(cfg.Camera.DrainTimeout, simulator.DefaultDrainTimeout) +
			cmp.Or(cfg.Camera.FinalAckTimeout, simulator.DefaultFinalAckTimeout)
		if p.Faults, err = netem.NewSchedule(prof, p.Seed, horizon); err != nil {
			return nil, fmt.Errorf("fleet: camera %d: %w", i, err)
		}
	}
	return plan, nil
}

// build makes every planned camera: its link, HTTP client, media source
// and producer.
func build(cfg Config, target simulator.Target, key *e2ee.PrivateKey, live *liveCounters, lat *ackLatencies) ([]*member, error) {
	plan, err := Plan(cfg)
	if err != nil {
		return nil, err
	}
	var clip *fixtures.Clip
	if cfg.Mix.weightOf(KindClip) > 0 {
		if clip, err = fixtures.H264(); err != nil {
			return nil, fmt.Errorf("fleet: loading the H.264 clip: %w", err)
		}
	}
	var recipients []e2ee.PublicKey
	if key != nil {
		recipients = []e2ee.PublicKey{key.Public()}
	}
	onAck := func(a kvsapi.Ack, info simulator.AckInfo) {
		switch a.EventType {
		case kvsapi.EventPersisted:
			live.persisted.Add(1)
		case kvsapi.EventError:
			live.errors.Add(1)
		}
		lat.record(a.EventType, info.Latency)
	}
	onSession := func(reconnect bool) {
		if reconnect {
			live.reconnects.Add(1)
		}
	}
	members := make([]*member, len(plan))
	for i, p := range plan {
		b, err := NewMember(target, MemberSpec{
			Stream: p.Stream, Kind: p.Kind, Profile: p.Profile, Seed: p.Seed,
			Synthetic: cfg.Synthetic, Clip: clip, RetentionHours: cfg.RetentionHours, Recipients: recipients,
			Tuning: cfg.Camera, Clock: cfg.Clock, Devices: cfg.Devices, OnAck: onAck, OnSession: onSession,
		})
		if err != nil {
			return nil, fmt.Errorf("fleet: camera %d: %w", i, err)
		}
		members[i] = &member{PlannedCamera: p, cam: b.Camera, link: b.Link, hc: b.HTTP}
	}
	return members, nil
}

// MemberSpec is everything one camera of a fleet is made from.
type MemberSpec struct {
	Stream  string
	Kind    string // KindClip or KindSynthetic
	Profile string // a netem profile name
	// Seed drives its media, its producer's random choices and its faults.
	Seed uint64
	// Synthetic describes a synthetic camera's media (its Seed is replaced
	// by Seed); Clip is the clip a KindClip camera loops (required then).
	Synthetic media.SyntheticConfig
	Clip      *fixtures.Clip
	// WrapSource, if set, wraps the media source before the camera gets
	// it, to observe the frames it takes.
	WrapSource     func(media.Source) media.Source
	RetentionHours int
	// Recipients turn E2EE on (nil: plaintext).
	Recipients []e2ee.PublicKey
	Tuning     CameraTuning
	Clock      func() time.Time
	// Devices, when set, makes the camera an enrolled device (Config.Devices).
	Devices *Devices
	// Dial, if set, dials the camera's real connections (beneath its
	// link's faults), and gives a perfect-profile camera its own transport
	// dialling with it instead of the target's client: a way to act on
	// every camera's network at once.
	Dial      netem.DialFunc
	OnAck     func(kvsapi.Ack, simulator.AckInfo)
	OnSession func(reconnect bool)
}

// Member is one camera of a fleet, built and ready to run.
type Member struct {
	Camera *simulator.Camera
	// Link is its network; nil for a perfect profile. Close it once the
	// camera's Run has returned.
	Link *netem.Link
	// HTTP is the client the camera and its credentials use.
	HTTP *http.Client
}

// NewMember makes one camera from spec, as Run makes each of its own: its
// media source (the clip or synthetic frames), its link (a non-perfect
// profile's link starts its fault schedule now, and the camera gets its own
// transport so faults hit only its connections), its credentials (an
// enrolled device when Devices is set) and its producer.
func NewMember(target simulator.Target, spec MemberSpec) (*Member, error) {
	m := &Member{HTTP: target.HTTP}
	var src media.Source
	switch spec.Kind {
	case KindClip:
		if spec.Clip == nil {
			return nil, fmt.Errorf("%w: a %s camera needs a Clip", ErrInvalidConfig, KindClip)
		}
		src = media.NewClip(spec.Clip)
	case KindSynthetic:
		sc := spec.Synthetic
		sc.Seed = int64(spec.Seed)
		var err error
		if src, err = media.NewSynthetic(sc); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: camera kind %q unknown (known: %s, %s)", ErrInvalidConfig, spec.Kind, KindClip, KindSynthetic)
	}
	if spec.WrapSource != nil {
		src = spec.WrapSource(src)
	}
	prof, err := netem.ProfileByName(spec.Profile)
	if err != nil {
		return nil, err
	}
	baseTLS := tlsConfigOf(target.HTTP)
	if !prof.Perfect() {
		var opts []netem.Option
		if spec.Dial != nil {
			opts = append(opts, netem.WithDialer(spec.Dial))
		}
		// The link's clock starts now, as the run's does.
		if m.Link, err = netem.NewLink(prof, spec.Seed, opts...); err != nil {
			return nil, err
		}
		// Its own transport, so faults hit only its connections; no
		// idle connections kept, as a camera calls the control plane
		// rarely.
		m.HTTP = &http.Client{Transport: &http.Transport{DialContext: m.Link.DialContext, TLSClientConfig: baseTLS,
			DisableKeepAlives: true, ForceAttemptHTTP2: false}}
	} else if spec.Dial != nil {
		m.HTTP = &http.Client{Transport: &http.Transport{DialContext: spec.Dial, TLSClientConfig: baseTLS,
			DisableKeepAlives: true, ForceAttemptHTTP2: false}}
	}
	camTarget := simulator.Target{ControlPlaneURL: target.ControlPlaneURL, HTTP: m.HTTP, Credentials: target.Credentials, Region: target.Region}
	if d := spec.Devices; d != nil {
		tr, _ := m.HTTP.Transport.(*http.Transport)
		camTarget.Credentials = simulator.NewIoTCredentialsProvider(&simulator.DeviceCredentials{
			EnrollURL: d.EnrollURL, EnrollToken: d.EnrollToken, CredentialsURL: d.CredentialsURL, RoleAlias: d.RoleAlias,
			ThingName: spec.Stream, Transport: tr, Seed: spec.Seed})
	}
	tune := spec.Tuning
	m.Camera, err = simulator.NewCamera(simulator.CameraConfig{
		StreamName: spec.Stream, Source: src, RetentionHours: spec.RetentionHours, Recipients: spec.Recipients,
		RotateKeyAfter: tune.RotateKeyAfter, BufferDuration: tune.BufferDuration, Staleness: tune.Staleness,
		Rotation: tune.Rotation, FinalAckTimeout: tune.FinalAckTimeout, DrainTimeout: tune.DrainTimeout,
		Offline: tune.Offline, Seed: spec.Seed, Clock: spec.Clock, OnAck: spec.OnAck, OnSession: spec.OnSession,
	}, camTarget)
	if err != nil {
		if m.Link != nil {
			m.Link.Close()
		}
		return nil, err
	}
	return m, nil
}

// spread assigns n items to the weights' names in proportion, in an order
// shuffled by rng so each kind is spread over the ramp.
func spread(w Weights, n int, rng *rand.Rand) []string {
	out := make([]string, 0, n)
	for i, c := range w.counts(n) {
		for range c {
			out = append(out, w[i].Name)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// tlsConfigOf returns the TLS settings of an HTTP client's transport.
func tlsConfigOf(hc *http.Client) *tls.Config {
	if tr, ok := hc.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
		return tr.TLSClientConfig
	}
	return nil
}

// startProgress calls progress with snapshot() about once a second until
// the returned stop is called.
func startProgress(progress func(Progress), snapshot func() Progress) (stop func()) {
	if progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				progress(snapshot())
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
