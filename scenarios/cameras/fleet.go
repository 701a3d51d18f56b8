package cameras

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/camstorm/camstorm/fixtures"
	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/simulator/netem"
)

// MaxOutage bounds one Outage.
const MaxOutage = time.Hour

// Fleet starts cameras on demand and accounts for them. It is safe for
// concurrent use.
type Fleet struct {
	cfg      Config
	m        metrics
	emit     func(...results.Sample)
	key      *e2ee.PrivateKey // nil when Plaintext
	clip     *fixtures.Clip   // nil when the mix has no clip cameras
	sw       *netem.Switch
	bufferMs int64 // how far back a camera may resend, for de-duplicating PERSISTED

	mu      sync.Mutex
	closed  bool
	running []*Running // in start order
	active  int
}

// New checks cfg, reporting every problem at once (each wrapping
// ErrInvalidConfig), defines the camera and viewer metrics in reg, loads
// the clip if the mix has clip cameras and generates the consumer key
// every camera encrypts for. emit receives every sample; it is called
// from many goroutines (ACK readers, capture timers), never while the
// Fleet holds a lock, and should not block for long. nil discards samples.
func New(cfg Config, reg *results.Registry, emit func(...results.Sample)) (*Fleet, error) {
	cfg = cfg.withDefaults()
	err := cfg.validate()
	if reg == nil {
		err = errors.Join(err, fmt.Errorf("%w: no metrics registry", ErrInvalidConfig))
	}
	if err != nil {
		return nil, err
	}
	m, err := defineMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("cameras: %w", err)
	}
	if emit == nil {
		emit = func(...results.Sample) {}
	}
	f := &Fleet{cfg: cfg, m: m, emit: emit, sw: netem.NewSwitch(nil, nil)}
	buffer := cfg.Camera.BufferDuration
	if buffer == 0 {
		buffer = simulator.DefaultBufferDuration
	}
	f.bufferMs = buffer.Milliseconds()
	if weightOf(cfg.Mix, fleet.KindClip) > 0 {
		if f.clip, err = fixtures.H264(); err != nil {
			return nil, fmt.Errorf("cameras: loading the H.264 clip: %w", err)
		}
	}
	if !cfg.Plaintext {
		if f.key, err = e2ee.GenerateKey(cfg.KEM, nil); err != nil {
			return nil, fmt.Errorf("cameras: consumer key: %w", err)
		}
	}
	return f, nil
}

// Start starts camera number index (a global index: the same index is the
// same camera, see Identity) filming now, until Stop or ctx's end. tags
// (which carry the scenario) are copied onto every sample of the camera.
// It does not wait for the camera to connect. A camera that cannot be made
// (a negative index, an index too large for a stream name, a closed Fleet)
// is returned already done, its Result saying why.
func (f *Fleet) Start(ctx context.Context, index int64, tags map[string]string) *Running {
	id := f.Identity(index)
	ctx, cancel := context.WithCancel(ctx)
	r := &Running{id: id, f: f, cancel: cancel, done: make(chan struct{})}
	r.obs = newObserver(f, id, tags)
	f.mu.Lock()
	closed := f.closed
	if !closed {
		f.running = append(f.running, r)
		f.active++
	}
	f.mu.Unlock()
	fail := func(msg string) *Running {
		r.res = simulator.CameraResult{StreamName: id.Stream, Start: f.cfg.Clock(), End: f.cfg.Clock(),
			Failure: &simulator.Failure{Phase: "setup", Kind: "invalid camera", Message: msg}}
		r.endFilming()
		close(r.done)
		cancel()
		return r
	}
	switch {
	case closed:
		r.filmingOnce.Do(func() {}) // it never counted as active
		return fail("the camera fleet is closed")
	case index < 0:
		return fail(fmt.Sprintf("camera index %d is negative", index))
	}
	var recipients []e2ee.PublicKey
	if f.key != nil {
		recipients = []e2ee.PublicKey{f.key.Public()}
	}
	src := &countingSource{onFragment: r.obs.fragmentTaken}
	mem, err := fleet.NewMember(f.cfg.Target, fleet.MemberSpec{
		Stream: id.Stream, Kind: id.Kind, Profile: id.Profile, Seed: id.Seed,
		Synthetic: f.cfg.Synthetic, Clip: f.clip, RetentionHours: f.cfg.RetentionHours, Recipients: recipients,
		Tuning: f.cfg.Camera, Clock: f.cfg.Clock, Devices: f.cfg.Devices, Dial: f.sw.DialContext,
		WrapSource: func(s media.Source) media.Source { src.Source = s; return src },
		OnAck:      r.obs.onAck, OnSession: r.obs.onSession,
	})
	if err != nil {
		return fail(err.Error())
	}
	go r.run(ctx, mem, src)
	return r
}

// Active is the number of cameras filming now: started, and neither
// stopped nor finished.
func (f *Fleet) Active() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.active
}

// Started is the number of cameras Start was called for.
func (f *Fleet) Started() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.running)
}

// Streams lists the streams of every started camera, in start order.
func (f *Fleet) Streams() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.running))
	for i, r := range f.running {
		out[i] = r.id.Stream
	}
	return out
}

// Outage takes every camera's network down at once for d (at most
// MaxOutage), whatever its profile: open connections become black holes
// and dials are refused until it ends, so every camera reconnects when it
// notices — a reconnect storm. It does not block; an outage already
// running is extended if this one ends later.
func (f *Fleet) Outage(d time.Duration) { f.sw.Outage(min(d, MaxOutage)) }

// Close stops every camera still filming and waits until each has
// delivered what it could (bounded by its FinalAckTimeout). Later Starts
// return cameras that failed; Verify and Tail still work.
func (f *Fleet) Close() {
	f.mu.Lock()
	f.closed = true
	running := append([]*Running(nil), f.running...)
	f.mu.Unlock()
	for _, r := range running {
		r.Stop()
	}
	for _, r := range running {
		<-r.done
	}
}

// snapshot returns the cameras started so far.
func (f *Fleet) snapshot() []*Running {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*Running(nil), f.running...)
}

// opener returns the consumer's opener for stream (nil when plaintext).
func (f *Fleet) opener(stream string) *e2ee.Opener {
	if f.key == nil {
		return nil
	}
	return e2ee.NewOpener(stream, f.key)
}

// cameraTags are tags plus the camera's profile and kind.
func cameraTags(tags map[string]string, id Identity) map[string]string {
	out := make(map[string]string, len(tags)+2)
	maps.Copy(out, tags)
	out[TagProfile], out[TagKind] = id.Profile, id.Kind
	return out
}
