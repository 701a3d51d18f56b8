package fleet

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/simulator/media"
)

// ErrInvalidConfig wraps every problem Config.Validate finds.
var ErrInvalidConfig = errors.New("fleet: invalid config")

// Defaults for zero Config fields.
const (
	DefaultCameras           = 100
	DefaultDuration          = time.Minute
	DefaultBitrateBps        = 1_000_000
	DefaultFPS               = 15
	DefaultGOP               = 2 * time.Second
	DefaultWidth             = 1280
	DefaultHeight            = 720
	DefaultVerifyConcurrency = 8
	// maxRamp caps the default ramp.
	maxRamp = 5 * time.Second
	// maxCameras keeps one process's goroutines, connections and file
	// descriptors within reason; shard larger fleets.
	maxCameras = 10_000
)

// Mix is the relative share of each kind of camera, as weights: Clip=20,
// Synthetic=80 makes a fifth of the fleet loop the real H.264 clip.
type Mix struct {
	Clip      int `json:"clip"`
	Synthetic int `json:"synthetic"`
}

// DefaultMix is a fifth clip cameras, the rest synthetic.
var DefaultMix = Mix{Clip: 20, Synthetic: 80}

// String is the flag form, e.g. "clip=20,synthetic=80".
func (m Mix) String() string { return fmt.Sprintf("clip=%d,synthetic=%d", m.Clip, m.Synthetic) }

// ParseMix reads "clip=20,synthetic=80" (either part may be left out and
// counts as 0), reporting every problem at once.
func ParseMix(s string) (Mix, error) {
	var m Mix
	var errs []error
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		n, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case !ok || err != nil || n < 0:
			errs = append(errs, fmt.Errorf("%w: mix part %q: want kind=weight with a weight >= 0", ErrInvalidConfig, part))
			continue
		case seen[k]:
			errs = append(errs, fmt.Errorf("%w: mix names %q twice", ErrInvalidConfig, k))
			continue
		}
		seen[k] = true
		switch k {
		case "clip":
			m.Clip = n
		case "synthetic":
			m.Synthetic = n
		default:
			errs = append(errs, fmt.Errorf("%w: mix kind %q unknown (known: clip, synthetic)", ErrInvalidConfig, k))
		}
	}
	if len(errs) == 0 && m.Clip+m.Synthetic == 0 {
		errs = append(errs, fmt.Errorf("%w: mix %q has no camera kind with a weight above 0", ErrInvalidConfig, s))
	}
	return m, errors.Join(errs...)
}

// Config describes a fleet run. Zero fields take the defaults noted; Validate
// reports every problem at once.
type Config struct {
	Cameras  int           // default DefaultCameras
	Duration time.Duration // how long each camera streams; default DefaultDuration
	Mix      Mix           // default DefaultMix
	// Synthetic describes the synthetic cameras' media; zero fields take
	// DefaultBitrateBps, DefaultFPS, DefaultGOP, DefaultWidth x DefaultHeight.
	// Seed is ignored: each camera's seed derives from Config.Seed.
	Synthetic media.SyntheticConfig
	// Ramp spreads camera starts evenly over this long; default
	// min(Duration/10, 5s). NoRamp starts them all at once.
	Ramp time.Duration
	// Seed fixes which cameras are clip cameras and every synthetic
	// camera's frame sizes and padding.
	Seed int64
	// StreamPrefix names the streams PREFIX-0000, PREFIX-0001...; default
	// "fleet-" and the start time, so runs against one target do not mix.
	StreamPrefix string
	// RetentionHours for the streams the cameras create; default 2.
	RetentionHours int
	// VerifyConcurrency is how many streams are read back at once; default 8.
	VerifyConcurrency int
	// FinalAckTimeout bounds each camera's wait for its last PERSISTED;
	// default simulator.DefaultFinalAckTimeout.
	FinalAckTimeout time.Duration
	// Clock is the time source for timestamps and latencies; default time.Now.
	Clock func() time.Time
}

// NoRamp, as Config.Ramp, starts every camera at once.
const NoRamp time.Duration = -1

// withDefaults fills zero fields; Validate works on the result.
func (c Config) withDefaults() Config {
	if c.Cameras == 0 {
		c.Cameras = DefaultCameras
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Mix == (Mix{}) {
		c.Mix = DefaultMix
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
	if c.VerifyConcurrency == 0 {
		c.VerifyConcurrency = DefaultVerifyConcurrency
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
	if c.Mix.Clip < 0 || c.Mix.Synthetic < 0 {
		bad("Mix %s has a negative weight", c.Mix)
	}
	if c.Ramp < 0 {
		bad("Ramp is %v, want >= 0 (or NoRamp)", c.Ramp)
	}
	if c.RetentionHours < 0 || c.RetentionHours > kvsapi.MaxRetentionHours {
		bad("RetentionHours is %d, want 0..%d", c.RetentionHours, kvsapi.MaxRetentionHours)
	}
	if c.VerifyConcurrency < 1 {
		bad("VerifyConcurrency is %d, want >= 1", c.VerifyConcurrency)
	}
	if c.FinalAckTimeout < 0 {
		bad("FinalAckTimeout is %v, want >= 0", c.FinalAckTimeout)
	}
	// Names: PREFIX-NNNN must be a valid stream name.
	if name := streamName(c.StreamPrefix, max(c.Cameras, 1)-1); !kvsapi.ValidStreamName(name) {
		bad("StreamPrefix %q gives stream names like %q; want [a-zA-Z0-9_.-], at most %d characters in all",
			c.StreamPrefix, name, kvsapi.MaxStreamNameLen)
	}
	if c.Mix.Synthetic > 0 {
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
