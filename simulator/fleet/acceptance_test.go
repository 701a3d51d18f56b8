package fleet_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/stack/audit"
)

// flakyFleet is the acceptance fleet: 200 E2EE cameras for a minute, a
// quarter each on networks with outages, resets, half-open black holes
// and cuts in the middle of fragments.
func flakyFleet(seed int64) fleet.Config {
	return fleet.Config{
		Cameras: 200, Duration: time.Minute, Seed: seed, StreamPrefix: "flaky",
		Mix: fleet.Weights{{Name: fleet.KindSynthetic, Weight: 1}},
		Profiles: fleet.Weights{{Name: "flaky-outage", Weight: 1}, {Name: "flaky-reset", Weight: 1},
			{Name: "flaky-halfopen", Weight: 1}, {Name: "flaky-cut", Weight: 1}},
		Synthetic: media.SyntheticConfig{BitrateBps: 128_000, FPS: 15, GOP: time.Second, Width: 320, Height: 240},
	}
}

// TestFleetSurvivesFlakyNetworks is the acceptance run: faults
// really happen (reconnects > 0, every kind fired), and still nothing
// acknowledged is lost, nothing fails authentication, and the consumer
// sees no duplicate after de-duplication. Authentication is on and least
// privilege applies: every camera is an enrolled device whose IoT
// credentials may write only its own stream, the consumers assume the
// consumer role, and nobody is refused anything.
func TestFleetSurvivesFlakyNetworks(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 200 cameras for a minute")
	}
	st, target, devices := secured(t)
	cfg := flakyFleet(42)
	cfg.Devices = devices
	rep, err := fleet.Run(context.Background(), cfg, target, nil)
	require.NoError(t, err)
	v := rep.Verification
	t.Logf("acked %d frames in %d fragments, delivered %d; reconnects %d, stale resets %d, resent %d; "+
		"network: %d resets, %d cuts, %d black holes, %d outages, %d dials refused; camera-dropped %d, unconfirmed %d; "+
		"PERSISTED p99 %.0f ms",
		v.AckedFrames, v.AckedFragments, v.Delivered, rep.Producer.Reconnects, rep.Producer.StaleResets, rep.Producer.Resent,
		rep.Network.Resets, rep.Network.Cuts, rep.Network.BlackHoles, rep.Network.Outages, rep.Network.DialsRefused,
		v.CameraDroppedFrames, v.UnconfirmedFragments, rep.AckLatency["PERSISTED"].P99)
	require.Equal(t, 200, v.Streams)
	require.Zero(t, v.NotVerified)
	require.Zero(t, v.LostFrames, "acknowledged frames lost")
	require.Zero(t, v.LostFragments)
	require.Zero(t, v.IntegrityFailures, "fragments failing authentication")
	require.Zero(t, v.DuplicatesDeduped, "duplicates exposed to the consumer after de-duplication")
	require.True(t, rep.Passed(), "problems: %v", rep.Problems())
	// Every stream that delivered media delivered it end-to-end encrypted. A
	// camera on a flaky profile of a heavily loaded machine can end the
	// minute without a fragment through; it has nothing to judge.
	silent := 0
	for _, c := range rep.PerCamera {
		switch {
		case c.Verification == nil || c.Verification.Delivered == 0:
			silent++
		default:
			require.True(t, c.Verification.Encrypted, "stream %s delivered frames without E2EE", c.Stream)
		}
	}
	require.Equal(t, 200-silent, v.Encrypted)
	require.LessOrEqual(t, silent, 2, "cameras that delivered nothing in the whole minute")
	require.Positive(t, v.AckedFrames)

	// Each camera wrote as itself, and no request was refused.
	require.NoError(t, st.FlushAudit())
	cameras := map[string]bool{}
	denied := 0
	f, err := os.Open(st.AuditLog)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, audit.Query(f, audit.Filter{}, func(r audit.Record) error {
		if r.Denied() {
			denied++
		}
		if r.EventName == "PutMedia" && r.ErrorCode == "" {
			cameras[r.UserIdentity.ARN] = true
		}
		return nil
	}))
	require.Zero(t, denied, "requests refused")
	require.Len(t, cameras, 200, "PutMedia principals: one per camera, its own thing")

	// The faults really happened.
	require.Positive(t, rep.Producer.Reconnects, "reconnects")
	require.Positive(t, rep.Producer.StaleResets, "half-open connections detected by staleness")
	require.Positive(t, rep.Network.Resets, "resets")
	require.Positive(t, rep.Network.Cuts, "cuts mid-fragment")
	require.Positive(t, rep.Network.BlackHoles, "black holes")
	require.Positive(t, rep.Network.Outages, "outages")

	// What fired is what the seed planned.
	plan, err := fleet.Plan(cfg)
	require.NoError(t, err)
	for i, c := range rep.PerCamera {
		require.Equal(t, plan[i].Stream, c.Stream)
		for _, f := range c.Faults {
			require.Contains(t, plan[i].Faults, f.Event, "%s: a fault that fired was planned", c.Stream)
		}
	}
}

// TestSameSeedSameFaults: the fault schedule is a function of the seed.
func TestSameSeedSameFaults(t *testing.T) {
	a, err := fleet.Plan(flakyFleet(42))
	require.NoError(t, err)
	b, err := fleet.Plan(flakyFleet(42))
	require.NoError(t, err)
	require.Equal(t, a, b, "the same seed plans the same cameras and faults")
	events := 0
	for _, c := range a {
		events += len(c.Faults)
	}
	require.Greater(t, events, 400, "about one fault every 5-20 s per camera")
	c, err := fleet.Plan(flakyFleet(43))
	require.NoError(t, err)
	require.NotEqual(t, a, c, "another seed, other faults")
}
