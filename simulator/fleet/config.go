package fleet

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/simulator/netem"
)

// ErrInvalidConfig wraps every problem Config.Validate finds.
var ErrInvalidConfig = errors.New("fleet: invalid config")

// Camera kinds, as Mix names them.
const (
	KindClip      = "clip"
	KindSynthetic = "synthetic"
)

// Defaults for zero Config fields.
const (
	DefaultCameras    = 100
	DefaultDuration   = time.Minute
	DefaultBitrateBps = 1_000_000
	DefaultFPS        = 15
	DefaultGOP        = 2 * time.Second
	DefaultWidth      = 1280
	DefaultHeight     = 720
	// DefaultVerifyConcurrency streams are read back at once.
	DefaultVerifyConcurrency = 8
	// DefaultLiveConsumers streams are also tailed live, for end-to-end latency.
	DefaultLiveConsumers = 4
	// maxRamp caps the default ramp.
	maxRamp = 5 * time.Second
	// maxCameras keeps one process's goroutines, connections and file
	// descriptors within reason; shard larger fleets.
	maxCameras = 20_000
)

// DefaultMix is a fifth clip cameras, the rest synthetic.
var DefaultMix = Weights{{KindClip, 20}, {KindSynthetic, 80}}

// DefaultProfiles: every camera on a perfect network.
var DefaultProfiles = Weights{{"perfect", 1}}

// Weight is one named share of a Weights.
type Weight struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
}

// Weights is a weighted choice among named things, in the order given:
// which camera kinds, which network profiles.
type Weights []Weight

// String is the flag form, e.g. "clip=20,synthetic=80".
func (w Weights) String() string {
	parts := make([]string, len(w))
	for i, x := range w {
		parts[i] = x.Name + "=" + strconv.Itoa(x.Weight)
	}
	return strings.Join(parts, ",")
}

// ParseWeights reads "a=3,b=1" or "a,b" (a bare name weighs 1), checking
// each name with known, and reports every problem at once. what names the
// things in messages ("camera kind", "profile").
func ParseWeights(s, what string, known []string) (Weights, error) {
	var (
		w    Weights
		errs []error
		seen = map[string]bool{}
	)
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, weight, hasWeight := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		n := 1
		if hasWeight {
			var err error
			if n, err = strconv.Atoi(strings.TrimSpace(weight)); err != nil || n < 0 {
				errs = append(errs, fmt.Errorf("%w: %s %q: want name or name=weight with a whole weight >= 0", ErrInvalidConfig, what, part))
				continue
			}
		}
		switch {
		case !slices.Contains(known, name):
			errs = append(errs, fmt.Errorf("%w: %s %q unknown (known: %s)", ErrInvalidConfig, what, name, strings.Join(known, ", ")))
			continue
		case seen[name]:
			errs = append(errs, fmt.Errorf("%w: %s %q named twice", ErrInvalidConfig, what, name))
			continue
		}
		seen[name] = true
		w = append(w, Weight{name, n})
	}
	if len(errs) == 0 && w.total() == 0 {
		errs = append(errs, fmt.Errorf("%w: %q gives no %s a weight above 0", ErrInvalidConfig, s, what))
	}
	return w, errors.Join(errs...)
}

func (w Weights) total() int {
	t := 0
	for _, x := range w {
		t += x.Weight
	}
	return t
}

// weightOf returns the weight of name (0 if absent).
func (w Weights) weightOf(name string) int {
	for _, x := range w {
		if x.Name == name {
			return x.Weight
		}
	}
	return 0
}

// counts splits n among the names in proportion to their weights, by
// largest remainder, so the counts always add up to n.
func (w Weights) counts(n int) []int {
	total := w.total()
	out := make([]int, len(w))
	if total == 0 {
		return out
	}
	rem := make([]int, len(w))
	given := 0
	for i, x := range w {
		out[i] = n * x.Weight / total
		rem[i] = n * x.Weight % total
		given += out[i]
	}
	for ; given < n; given++ {
		best := 0
		for i := range rem {
			if rem[i] > rem[best] {
				best = i
			}
		}
		out[best]++
		rem[best] = -1
	}
	return out
}

// Config describes a fleet run. Zero fields take the defaults noted; Validate
// reports every problem at once.
type Config struct {
	Cameras int // default DefaultCameras
	// Duration is how long every camera streams once all have started;
	// default DefaultDuration.
	Duration time.Duration
	// Mix shares cameras among kinds (KindClip, KindSynthetic); default DefaultMix.
	Mix Weights
	// Profiles shares cameras among network profiles (netem names); default
	// DefaultProfiles.
	Profiles Weights
	// Synthetic describes the synthetic cameras' media; zero fields take
	// DefaultBitrateBps, DefaultFPS, DefaultGOP, DefaultWidth x DefaultHeight.
	// Seed is ignored: each camera's seed derives from Config.Seed.
	Synthetic media.SyntheticConfig
	// Ramp spreads camera starts evenly over this long; default
	// min(Duration/10, 5s). NoRamp starts them all at once. RampDown
	// spreads their stops the same way after Duration (default 0: all stop
	// together).
	Ramp     time.Duration
	RampDown time.Duration
	// Seed fixes which cameras are of which kind and profile, every
	// synthetic camera's frames and every fault schedule.
	Seed int64
	// StreamPrefix names the streams PREFIX-0000, PREFIX-0001...; default
	// "fleet-" and the start time, so runs against one target do not mix.
	StreamPrefix string
	// RetentionHours for the streams the cameras create; default 2.
	RetentionHours int
	// Plaintext turns end-to-end encryption off; KEM chooses the HPKE KEM
	// that wraps epoch keys (default X25519).
	Plaintext bool
	KEM       e2ee.KEM
	// VerifyConcurrency is how many streams are read back at once; default 8.
	VerifyConcurrency int
	// LiveConsumers is how many streams are also tailed with GetMedia while
	// the cameras run, to measure end-to-end latency; default
	// min(Cameras, DefaultLiveConsumers); NoLiveConsumers for none.
	LiveConsumers int
	// Camera tunes every camera's producer (zero fields: the SDK defaults
	// of simulator.CameraConfig). StreamName, Source, Recipients, Seed,
	// Clock and OnAck are set by the fleet.
	Camera CameraTuning
	// Clock is the time source for timestamps and latencies; default time.Now.
	Clock func() time.Time
	// Devices, when set, makes every camera a device of the target's
	// identity service, as cameras are with AWS IoT: it enrols (its thing
	// name is its stream name), gets temporary credentials from the
	// credential provider and signs every call with them. Otherwise the
	// cameras sign with the target's Credentials, if it has any. The
	// consumers always use the target's Credentials.
	Devices *Devices
}

// Devices is where cameras enrol and get their credentials.
type Devices struct {
	EnrollURL   string `json:"enroll_url"`
	EnrollToken string `json:"-"`
	// CredentialsURL is the credential provider's base URL (mutual TLS).
	CredentialsURL string `json:"credentials_url"`
	RoleAlias      string `json:"role_alias"`
}

// CameraTuning is the part of simulator.CameraConfig a fleet passes through.
type CameraTuning struct {
	BufferDuration  time.Duration `json:"buffer_duration_ns,omitempty"`
	Staleness       time.Duration `json:"staleness_ns,omitempty"`
	Rotation        time.Duration `json:"rotation_ns,omitempty"`
	FinalAckTimeout time.Duration `json:"final_ack_timeout_ns,omitempty"`
	DrainTimeout    time.Duration `json:"drain_timeout_ns,omitempty"`
	RotateKeyAfter  time.Duration `json:"rotate_key_after_ns,omitempty"`
	// Offline makes cameras send as fast as the service takes their media
	// (benchmarks) instead of in real time.
	Offline bool `json:"offline,omitempty"`
}

// NoRamp, as Config.Ramp, starts every camera at once.
const NoRamp time.Duration = -1

// NoLiveConsumers, as Config.LiveConsumers, tails no stream.
const NoLiveConsumers = -1

// withDefaults fills zero fields; Validate works on the result.
func (c Config) withDefaults() Config {
	if c.Cameras == 0 {
		c.Cameras = DefaultCameras
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if len(c.Mix) == 0 {
		c.Mix = DefaultMix
	}
	if len(c.Profiles) == 0 {
		c.Profiles = DefaultProfiles
	}
	s := &c.Synthetic
	if s.BitrateBps == 0 {
		s.BitrateBps = DefaultBitrateBps
	}
	if s.FPS == 0 {
		s.FPS = DefaultFPS
	}
	if s.GOP == 0 {
		s.GOP = DefaultGOP
	}
	if s.Width == 0 && s.Height == 0 {
		s.Width, s.Height = DefaultWidth, DefaultHeight
	}
	switch {
	case c.Ramp == 0 && c.Duration > 0:
		c.Ramp = min(c.Duration/10, maxRamp)
	case c.Ramp == NoRamp:
		c.Ramp = 0
	}
	if c.KEM == 0 {
		c.KEM = e2ee.KEMX25519
	}
	if c.VerifyConcurrency == 0 {
		c.VerifyConcurrency = DefaultVerifyConcurrency
	}
	switch c.LiveConsumers {
	case 0:
		c.LiveConsumers = min(c.Cameras, DefaultLiveConsumers)
	case NoLiveConsumers:
		c.LiveConsumers = 0
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.StreamPrefix == "" {
		c.StreamPrefix = "fleet-" + c.Clock().UTC().Format("20060102T150405")
	}
	return c
}

// Validate reports every problem with c (after defaults) at once, each
// wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.Cameras < 1 || c.Cameras > maxCameras {
		bad("Cameras is %d, want 1..%d (shard larger fleets over several processes)", c.Cameras, maxCameras)
	}
	if c.Duration < 0 {
		bad("Duration is %v, want > 0", c.Duration)
	}
	checkWeights := func(w Weights, what string, known []string) {
		for _, x := range w {
			if x.Weight < 0 {
				bad("%s %s has a negative weight", what, x.Name)
			}
			if !slices.Contains(known, x.Name) {
				bad("%s %q unknown (known: %s)", what, x.Name, strings.Join(known, ", "))
			}
		}
		if w.total() <= 0 {
			bad("%s %s gives nothing a weight above 0", what, w)
		}
	}
	checkWeights(c.Mix, "camera kind", []string{KindClip, KindSynthetic})
	checkWeights(c.Profiles, "profile", netem.ProfileNames())
	if c.Ramp < 0 {
		bad("Ramp is %v, want >= 0 (or NoRamp)", c.Ramp)
	}
	if c.RampDown < 0 {
		bad("RampDown is %v, want >= 0", c.RampDown)
	}
	if c.RetentionHours < 0 || c.RetentionHours > kvsapi.MaxRetentionHours {
		bad("RetentionHours is %d, want 0..%d", c.RetentionHours, kvsapi.MaxRetentionHours)
	}
	if c.KEM != e2ee.KEMX25519 && c.KEM != e2ee.KEMMLKEM768X25519 {
		bad("KEM is %#04x, want X25519 (%#04x) or ML-KEM-768+X25519 (%#04x)", uint16(c.KEM), uint16(e2ee.KEMX25519), uint16(e2ee.KEMMLKEM768X25519))
	}
	if c.VerifyConcurrency < 1 {
		bad("VerifyConcurrency is %d, want >= 1", c.VerifyConcurrency)
	}
	if c.LiveConsumers < 0 || c.LiveConsumers > c.Cameras {
		bad("LiveConsumers is %d, want 0..Cameras (%d)", c.LiveConsumers, c.Cameras)
	}
	t := c.Camera
	for name, d := range map[string]time.Duration{"BufferDuration": t.BufferDuration, "Staleness": t.Staleness,
		"Rotation": t.Rotation, "FinalAckTimeout": t.FinalAckTimeout, "DrainTimeout": t.DrainTimeout, "RotateKeyAfter": t.RotateKeyAfter} {
		if d < 0 {
			bad("Camera.%s is %v, want >= 0 (0: the default)", name, d)
		}
	}
	// Names: PREFIX-NNNN must be a valid stream name.
	if name := streamName(c.StreamPrefix, max(c.Cameras, 1)-1); !kvsapi.ValidStreamName(name) {
		bad("StreamPrefix %q gives stream names like %q; want [a-zA-Z0-9_.-], at most %d characters in all",
			c.StreamPrefix, name, kvsapi.MaxStreamNameLen)
	}
	if c.Mix.weightOf(KindSynthetic) > 0 {
		if c.Synthetic.GOP > kvsapi.MaxFragmentDuration {
			bad("Synthetic.GOP is %v; a fragment is one GOP and the service limit is %v", c.Synthetic.GOP, kvsapi.MaxFragmentDuration)
		}
		if err := c.Synthetic.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%w: synthetic media: %w", ErrInvalidConfig, err))
		}
	}
	return errors.Join(errs...)
}

func streamName(prefix string, i int) string { return fmt.Sprintf("%s-%04d", prefix, i) }
