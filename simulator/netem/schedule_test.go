package netem

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScheduleIsAFunctionOfProfileAndSeed(t *testing.T) {
	p, err := ProfileByName("chaos")
	require.NoError(t, err)
	a, err := NewSchedule(p, 42, 30*time.Minute)
	require.NoError(t, err)
	b, err := NewSchedule(p, 42, 30*time.Minute)
	require.NoError(t, err)
	require.Equal(t, a, b, "same profile and seed")
	require.NotEmpty(t, a)

	c, err := NewSchedule(p, 43, 30*time.Minute)
	require.NoError(t, err)
	require.NotEqual(t, a, c, "another seed")

	short, err := NewSchedule(p, 42, 5*time.Minute)
	require.NoError(t, err)
	require.Equal(t, a[:len(short)], short, "a shorter horizon gives a prefix")
}

func TestScheduleEventsRespectTheirSpecs(t *testing.T) {
	p, err := ProfileByName("chaos")
	require.NoError(t, err)
	s, err := NewSchedule(p, 7, time.Hour)
	require.NoError(t, err)
	require.NoError(t, s.Validate())
	specs := map[Kind]EventSpec{}
	for _, sp := range p.Events {
		specs[sp.Kind] = sp
	}
	ended := map[Kind]time.Duration{}
	for i, ev := range s {
		if i > 0 {
			require.GreaterOrEqual(t, ev.At, s[i-1].At, "ordered: %+v", ev)
		}
		sp := specs[ev.Kind]
		gap := ev.At - ended[ev.Kind]
		require.True(t, gap >= sp.Gap.Min && gap <= sp.Gap.Max, "gap %v of %+v outside %+v", gap, ev, sp.Gap)
		if eventKinds[ev.Kind].rules.lasts {
			require.True(t, ev.Duration >= sp.Duration.Min && ev.Duration <= sp.Duration.Max, "%+v", ev)
		} else {
			require.Zero(t, ev.Duration, "%+v", ev)
		}
		if ev.Kind == KindCut {
			require.True(t, ev.Bytes >= sp.Bytes.Min && ev.Bytes <= sp.Bytes.Max, "%+v", ev)
		}
		ended[ev.Kind] = ev.At + ev.Duration
	}
}

func TestAddingASpecDoesNotMoveTheOthers(t *testing.T) {
	reset := EventSpec{Kind: KindReset, Gap: Span{time.Second, 10 * time.Second}}
	cut := EventSpec{Kind: KindCut, Gap: Span{time.Second, 10 * time.Second}, Bytes: ByteRange{1, 100}}
	only, err := NewSchedule(Profile{Events: []EventSpec{reset}}, 9, time.Hour)
	require.NoError(t, err)
	both, err := NewSchedule(Profile{Events: []EventSpec{reset, cut}}, 9, time.Hour)
	require.NoError(t, err)
	var resets Schedule
	for _, ev := range both {
		if ev.Kind == KindReset {
			resets = append(resets, ev)
		}
	}
	require.Equal(t, only, resets)
}

func TestFlakyProfilesFireEveryKindWithinAMinute(t *testing.T) {
	for _, name := range []string{"flaky-outage", "flaky-reset", "flaky-halfopen", "flaky-cut", "flaky-freeze", "chaos"} {
		p, err := ProfileByName(name)
		require.NoError(t, err)
		for seed := uint64(0); seed < 200; seed++ {
			s, err := NewSchedule(p, seed, time.Minute)
			require.NoError(t, err)
			seen := map[Kind]bool{}
			for _, ev := range s {
				seen[ev.Kind] = true
			}
			for _, sp := range p.Events {
				require.True(t, seen[sp.Kind], "%s seed %d: no %s within a minute: %+v", name, seed, sp.Kind, s)
			}
		}
	}
}

func TestScheduleValidateReportsEveryProblem(t *testing.T) {
	err := Schedule{
		{At: -time.Second, Kind: KindReset},
		{At: time.Second, Kind: "meteor"},
		{At: 2 * time.Second, Kind: KindOutage},
		{At: 3 * time.Second, Kind: KindCut},
		{At: 4 * time.Second, Kind: KindReset, Duration: time.Second},
	}.Validate()
	require.Error(t, err)
	for _, want := range []string{"schedule[0] (reset at -1s): negative time", `unknown event kind "meteor"`,
		"schedule[2] (outage at 2s): duration 0s", "schedule[3] (cut at 3s): bytes 0", "schedule[4] (reset at 4s): duration 1s"} {
		assert.Contains(t, err.Error(), want)
	}
	require.True(t, errors.Is(err, ErrUnknownKind))
}

func TestScheduleTooLongIsAnError(t *testing.T) {
	p := Profile{Events: []EventSpec{{Kind: KindReset, Gap: Span{time.Millisecond, time.Millisecond}}}}
	_, err := NewSchedule(p, 1, 24*time.Hour)
	require.ErrorIs(t, err, ErrScheduleTooLong)
}
