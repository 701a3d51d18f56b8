package netem

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNamedProfilesAreValidAndDocumented(t *testing.T) {
	for _, name := range ProfileNames() {
		p, err := ProfileByName(name)
		require.NoError(t, err, name)
		require.Equal(t, name, p.Name)
		require.NoError(t, p.Validate(), name)
		require.NotEmpty(t, p.Source, name)
		switch {
		case name == "perfect":
			require.True(t, p.Perfect())
		case strings.HasPrefix(name, "flaky-") || name == "chaos":
			require.Contains(t, p.Source, "not realistic", name)
		default:
			require.True(t, strings.HasPrefix(p.Source, "derived:"), "%s must say it is derived: %q", name, p.Source)
		}
	}
}

func TestProfileByNameReturnsFreshCopies(t *testing.T) {
	a, err := ProfileByName("lte-good")
	require.NoError(t, err)
	a.Faults[0] = Latency{Delay: time.Hour}
	b, err := ProfileByName("lte-good")
	require.NoError(t, err)
	require.NotEqual(t, a.Faults[0], b.Faults[0])
}

func TestUnknownProfileListsValidNames(t *testing.T) {
	_, err := ProfileByName("5g")
	require.ErrorIs(t, err, ErrUnknownProfile)
	for _, name := range ProfileNames() {
		assert.Contains(t, err.Error(), name)
	}
}

func TestProfileValidateReportsEveryProblem(t *testing.T) {
	p := Profile{
		Name: "broken",
		Faults: []Fault{
			Latency{Delay: -time.Millisecond, Jitter: -time.Millisecond},
			nil,
			Stalls{P: 2, R: 0, Slot: 0},
			Bandwidth{Up: -1},
		},
		Events: []EventSpec{
			{Kind: "meteor", Gap: Span{time.Second, time.Second}},
			{Kind: KindOutage, Gap: Span{0, time.Second}},
			{Kind: KindCut, Gap: Span{2 * time.Second, time.Second}},
		},
	}
	err := p.Validate()
	require.ErrorIs(t, err, ErrInvalidProfile)
	require.True(t, errors.Is(err, ErrUnknownKind))
	for _, want := range []string{
		"faults[0] (netem.Latency): delay -1ms is negative", "jitter -1ms is negative",
		"faults[1]: nil",
		"p 2 is outside [0, 1]", "r 0 is outside", "slot 0s must be > 0",
		"faults[3] (netem.Bandwidth): up rate -1bps is negative",
		`events[0] (meteor): netem: unknown event kind "meteor" (known: [blackhole cut freeze outage reset])`,
		"events[1] (outage): gap min 0s is below 1ms", "outage lasts: duration min must be > 0",
		"events[2] (cut): gap max 1s is below min 2s", "cut counts bytes: bytes min must be > 0",
	} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestNewLinkReportsProfileAndOptionProblemsTogether(t *testing.T) {
	_, err := NewLink(Profile{Faults: []Fault{Latency{Delay: -1}}}, 1,
		WithQueueBytes(10), WithClock(nil), WithSchedule(Schedule{{Kind: "meteor"}}))
	require.Error(t, err)
	for _, want := range []string{"delay -1ns is negative", "nil clock", "queue bytes 10", `"meteor"`} {
		assert.Contains(t, err.Error(), want)
	}
}
