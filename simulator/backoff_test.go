package simulator

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoffIsFullJitterUnderADoublingCeiling(t *testing.T) {
	b := backoff{base: 100 * time.Millisecond, cap: 10 * time.Second, rng: rand.New(rand.NewPCG(1, 2))}
	ceilings := []time.Duration{100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000}
	for i, ceil := range ceilings {
		ceil *= time.Millisecond
		d := b.next()
		require.True(t, d >= 0 && d < ceil, "retry %d waited %v, want [0, %v)", i+1, d, ceil)
	}
	// Full jitter: over many draws at the cap the waits spread over the range.
	var lo, hi int
	for range 1000 {
		d := b.next()
		if d < 2*time.Second {
			lo++
		}
		if d > 8*time.Second {
			hi++
		}
	}
	require.Greater(t, lo, 100, "waits below 2 s")
	require.Greater(t, hi, 100, "waits above 8 s")
	b.reset()
	require.Less(t, b.next(), 100*time.Millisecond, "after reset")
}

func TestBackoffSameSeedSameWaits(t *testing.T) {
	draw := func(seed uint64) []time.Duration {
		b := backoff{base: 100 * time.Millisecond, cap: 10 * time.Second, rng: rand.New(rand.NewPCG(seed, 0))}
		var out []time.Duration
		for range 10 {
			out = append(out, b.next())
		}
		return out
	}
	require.Equal(t, draw(7), draw(7))
	require.NotEqual(t, draw(7), draw(8))
}
