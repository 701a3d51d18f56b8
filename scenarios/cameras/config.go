package cameras

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/simulator/netem"
)

// ErrInvalidConfig wraps every problem New finds in a Config.
var ErrInvalidConfig = errors.New("cameras: invalid config")

// Config describes the cameras a Fleet starts. Zero fields take the
// defaults noted.
type Config struct {
	// Target is where cameras stream; its Credentials are also the
	// consumer's (Verify, Tail).
	Target simulator.Target
	// Mix shares cameras among kinds (fleet.KindClip, fleet.KindSynthetic);
	// default fleet.DefaultMix.
	Mix fleet.Weights
	// Profiles shares cameras among netem profiles; default
	// fleet.DefaultProfiles.
	Profiles fleet.Weights
	// Synthetic describes synthetic cameras' media; zero fields take the
	// fleet defaults (fleet.DefaultBitrateBps, DefaultFPS, DefaultGOP,
	// DefaultWidth x DefaultHeight). Its Seed is replaced per camera.
	Synthetic media.SyntheticConfig
	// Camera tunes every camera's producer, RotateKeyAfter (the E2EE epoch
	// length) included; zero fields take the SDK defaults.
	Camera fleet.CameraTuning
	// Plaintext turns end-to-end encryption off; KEM chooses the HPKE KEM
	// of the consumer key (default X25519).
	Plaintext bool
	KEM       e2ee.KEM
	// RetentionHours for the streams cameras create; 0 means 2.
	RetentionHours int
	// StreamPrefix names the streams PREFIX-000000, PREFIX-000001... by
	// global camera index; default "camstorm-" and the start time.
	StreamPrefix string
	// Seed decides every camera's kind, profile, media, producer choices
	// and faults, per global index.
	Seed int64
	// Clock gives timestamps and latencies; default time.Now.
	Clock func() time.Time
	// Devices, when set, makes every camera an enrolled device signing
	// with its own temporary credentials (see fleet.Config.Devices).
	Devices *fleet.Devices
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if len(c.Mix) == 0 {
		c.Mix = fleet.DefaultMix
	}
	if len(c.Profiles) == 0 {
		c.Profiles = fleet.DefaultProfiles
	}
	s := &c.Synthetic
	if s.BitrateBps == 0 {
		s.BitrateBps = fleet.DefaultBitrateBps
	}
	if s.FPS == 0 {
		s.FPS = fleet.DefaultFPS
	}
	if s.GOP == 0 {
		s.GOP = fleet.DefaultGOP
	}
	if s.Width == 0 && s.Height == 0 {
		s.Width, s.Height = fleet.DefaultWidth, fleet.DefaultHeight
	}
	if c.KEM == 0 {
		c.KEM = e2ee.KEMX25519
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.StreamPrefix == "" {
		c.StreamPrefix = "camstorm-" + c.Clock().UTC().Format("20060102T150405")
	}
	return c
}

// validate reports every problem with c (after defaults) at once.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.Target.ControlPlaneURL == "" {
		bad("Target.ControlPlaneURL is empty")
	}
	if c.Target.HTTP == nil {
		bad("Target.HTTP is nil")
	}
	checkWeights := func(w fleet.Weights, what string, known []string) {
		total := 0
		for _, x := range w {
			if x.Weight < 0 {
				bad("%s %s has a negative weight", what, x.Name)
			}
			if !slices.Contains(known, x.Name) {
				bad("%s %q unknown (known: %s)", what, x.Name, strings.Join(known, ", "))
			}
			total += max(x.Weight, 0)
		}
		if total <= 0 {
			bad("%s %s gives nothing a weight above 0", what, w)
		}
	}
	checkWeights(c.Mix, "camera kind", []string{fleet.KindClip, fleet.KindSynthetic})
	checkWeights(c.Profiles, "profile", netem.ProfileNames())
	if c.RetentionHours < 0 || c.RetentionHours > kvsapi.MaxRetentionHours {
		bad("RetentionHours is %d, want 0..%d", c.RetentionHours, kvsapi.MaxRetentionHours)
	}
	if c.KEM != e2ee.KEMX25519 && c.KEM != e2ee.KEMMLKEM768X25519 {
		bad("KEM is %#04x, want X25519 (%#04x) or ML-KEM-768+X25519 (%#04x)", uint16(c.KEM), uint16(e2ee.KEMX25519), uint16(e2ee.KEMMLKEM768X25519))
	}
	t := c.Camera
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"BufferDuration", t.BufferDuration}, {"Staleness", t.Staleness}, {"Rotation", t.Rotation},
		{"FinalAckTimeout", t.FinalAckTimeout}, {"DrainTimeout", t.DrainTimeout}, {"RotateKeyAfter", t.RotateKeyAfter}} {
		if d.v < 0 {
			bad("Camera.%s is %v, want >= 0 (0: the default)", d.name, d.v)
		}
	}
	if name := streamName(c.StreamPrefix, 0); !kvsapi.ValidStreamName(name) {
		bad("StreamPrefix %q gives stream names like %q; want [a-zA-Z0-9_.-], at most %d characters in all",
			c.StreamPrefix, name, kvsapi.MaxStreamNameLen)
	}
	if weightOf(c.Mix, fleet.KindSynthetic) > 0 {
		if c.Synthetic.GOP > kvsapi.MaxFragmentDuration {
			bad("Synthetic.GOP is %v; a fragment is one GOP and the service limit is %v", c.Synthetic.GOP, kvsapi.MaxFragmentDuration)
		}
		if err := c.Synthetic.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%w: synthetic media: %w", ErrInvalidConfig, err))
		}
	}
	return errors.Join(errs...)
}

func weightOf(w fleet.Weights, name string) int {
	for _, x := range w {
		if x.Name == name {
			return x.Weight
		}
	}
	return 0
}

// streamName is the stream of the camera with global index i.
func streamName(prefix string, i int64) string { return fmt.Sprintf("%s-%06d", prefix, i) }
