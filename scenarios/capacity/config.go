package capacity

import (
	"errors"
	"fmt"
	"time"

	"github.com/camstorm/camstorm/scenarios/cameras"
	"github.com/camstorm/camstorm/simulator/fleet"
)

// ErrInvalidConfig wraps every problem Search finds in a Config.
var ErrInvalidConfig = errors.New("capacity: invalid config")

// Defaults for a Config's zero fields: low-bitrate cameras (as
// scenarios/ramp.js) on a perfect network, so the search measures the
// target, not the network.
const (
	DefaultStart      = 50
	DefaultStep       = 50
	DefaultMax        = 600
	DefaultHold       = 20 * time.Second
	DefaultWarmup     = 5 * time.Second
	DefaultDrain      = 10 * time.Second
	DefaultBitrateBps = 64_000
	DefaultFPS        = 5
	DefaultGOP        = time.Second
	DefaultWidth      = 320
	DefaultHeight     = 240
	DefaultProfile    = "perfect"
)

// NoWarmup, as Config.Warmup, measures each step as soon as it starts.
const NoWarmup time.Duration = -1

// Config is one capacity search.
type Config struct {
	// Cameras says where cameras stream and what they film: Target,
	// Devices, Synthetic media, Mix, Profiles, Seed. Zero media fields
	// take this package's defaults (not the fleet's), an empty Mix is
	// synthetic cameras only and empty Profiles is DefaultProfile.
	Cameras cameras.Config
	// SLO is what every step must meet; it needs at least one term.
	SLO SLO
	// Start cameras first, then Step more at a time, up to Max.
	Start, Step, Max int
	// Warmup is how long each step runs before it is measured: the new
	// cameras start over its first half and settle in the second
	// (NoWarmup: all at once, measured at once). Hold is how long the
	// step is measured for.
	Warmup, Hold time.Duration
	// Drain bounds how long stopped cameras deliver what they still
	// buffer (their FinalAckTimeout) unless Cameras.Camera sets it.
	Drain time.Duration
	// VerifyConcurrency is how many streams are read back at once when
	// the SLO has a lost term (below 1: cameras.DefaultVerifyConcurrency).
	VerifyConcurrency int
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.Start == 0 {
		c.Start = DefaultStart
	}
	if c.Step == 0 {
		c.Step = DefaultStep
	}
	if c.Max == 0 {
		c.Max = max(DefaultMax, c.Start)
	}
	if c.Hold == 0 {
		c.Hold = DefaultHold
	}
	if c.Warmup == 0 {
		c.Warmup = DefaultWarmup
	}
	if c.Drain == 0 {
		c.Drain = DefaultDrain
	}
	cc := &c.Cameras
	if len(cc.Mix) == 0 {
		cc.Mix = fleet.Weights{{Name: fleet.KindSynthetic, Weight: 1}}
	}
	if len(cc.Profiles) == 0 {
		cc.Profiles = fleet.Weights{{Name: DefaultProfile, Weight: 1}}
	}
	s := &cc.Synthetic
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
	if cc.Camera.FinalAckTimeout == 0 {
		cc.Camera.FinalAckTimeout = c.Drain
	}
	return c
}

// validate reports every problem with c (after defaults) at once; the
// cameras' own config is checked by cameras.New.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if len(c.SLO.Terms) == 0 {
		bad("the SLO has no terms")
	}
	if c.Start < 1 {
		bad("Start is %d, want >= 1", c.Start)
	}
	if c.Step < 1 {
		bad("Step is %d, want >= 1", c.Step)
	}
	if c.Max < c.Start {
		bad("Max is %d, below Start %d", c.Max, c.Start)
	}
	if c.Max > MaxCameras {
		bad("Max is %d; one instance streams at most %d cameras", c.Max, MaxCameras)
	}
	if c.Step >= 1 && c.Max >= c.Start && c.Start >= 1 && (c.Max-c.Start)/c.Step+1 > MaxSteps {
		bad("Start %d, Step %d and Max %d make %d steps; at most %d (raise Step)", c.Start, c.Step, c.Max, (c.Max-c.Start)/c.Step+1, MaxSteps)
	}
	if c.Hold < time.Second {
		bad("Hold is %v, want >= 1s (a step needs ACKs to measure)", c.Hold)
	}
	if c.Warmup < 0 && c.Warmup != NoWarmup {
		bad("Warmup is %v, want >= 0 (or NoWarmup)", c.Warmup)
	}
	if c.Drain < 0 {
		bad("Drain is %v, want >= 0", c.Drain)
	}
	return errors.Join(errs...)
}

// Bounds of a search: what one instance streams, and how many steps.
const (
	MaxCameras = 20_000
	MaxSteps   = 1_000
)

// sizes are the fleet sizes the search tries: Start, Start+Step, ...,
// with Max as the last one even when Step does not land on it. A valid
// config has at most MaxSteps of them.
func (c Config) sizes() []int {
	var out []int
	for n := c.Start; len(out) <= MaxSteps; n += c.Step {
		if n >= c.Max || n > c.Max-c.Step {
			if n < c.Max {
				out = append(out, n)
			}
			return append(out, c.Max)
		}
		out = append(out, n)
	}
	return out
}
