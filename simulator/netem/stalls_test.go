package netem

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGilbertElliottStationaryBadFraction(t *testing.T) {
	for _, tc := range []struct{ p, r float64 }{
		{0.0005, 0.5}, // lte-good
		{0.0158, 0.3}, // wifi-lossy
		{0.1, 0.5},
		{0.3, 0.1},
	} {
		g := geChain{p: tc.p, r: tc.r, rng: newRand(99, uint64(tc.p*1e6), uint64(tc.r*1e6))}
		const steps = 2_000_000
		for range steps {
			g.step()
		}
		want := tc.p / (tc.p + tc.r)
		got := float64(g.badSteps) / float64(g.steps)
		// The chain's bad runs are geometric with mean 1/r; the sample mean of the
		// fraction has a standard error of about sqrt(want·(1+(1-r-p))/(r+p)/steps).
		se := math.Sqrt(want * (2 - tc.p - tc.r) / (tc.p + tc.r) / steps)
		require.InDelta(t, want, got, 5*se+1e-4, "p=%v r=%v: bad fraction %v, want %v", tc.p, tc.r, got, want)
		// Entries into bad happen from good at rate p.
		entries := float64(g.entered) / (float64(g.steps-g.badSteps) * tc.p)
		require.InDelta(t, 1, entries, 0.1, "p=%v r=%v: good→bad transitions per good step / p", tc.p, tc.r)
	}
}

// Every bad step met while moving data costs exactly one slot of stall.
func TestStallTimeIsOneSlotPerBadStep(t *testing.T) {
	const slot = 20 * time.Millisecond
	var recorded time.Duration
	s := &stallShaper{
		chain:  geChain{p: 0.05, r: 0.4, rng: newRand(1)},
		slot:   slot,
		packet: DefaultPacketBytes,
		record: func(d time.Duration) { recorded += d },
	}
	ready := epoch
	var out time.Time
	for range 10_000 {
		out = s.shape(maxChunkBytes, ready) // all ready at once: stalls add up
	}
	packets := int64(10_000 * ((maxChunkBytes + DefaultPacketBytes - 1) / DefaultPacketBytes))
	require.Equal(t, packets, s.chain.steps-s.chain.badSteps, "one good step per packet")
	require.Equal(t, time.Duration(s.chain.badSteps)*slot, recorded)
	require.Equal(t, epoch.Add(recorded), out, "stalls are serial")
	require.InDelta(t, Stalls{P: 0.05, R: 0.4}.LossFraction(), float64(s.chain.badSteps)/float64(s.chain.steps), 0.01)
}

func TestStallsDrawTheSameForTheSameSeed(t *testing.T) {
	run := func(seed uint64) []time.Time {
		s := &stallShaper{chain: geChain{p: 0.1, r: 0.5, rng: newRand(seed)}, slot: time.Millisecond, packet: 1000, record: func(time.Duration) {}}
		var outs []time.Time
		for i := range 200 {
			outs = append(outs, s.shape(4000, epoch.Add(time.Duration(i)*time.Millisecond)))
		}
		return outs
	}
	require.Equal(t, run(3), run(3))
	require.NotEqual(t, run(3), run(4))
}
