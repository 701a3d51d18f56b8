package netem

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTokenBucketPacesAtTheRate(t *testing.T) {
	const bytesPerSec = 100_000.0
	b := &tokenBucket{bytesPerSec: bytesPerSec, depth: 10 * time.Millisecond} // 1000-byte burst
	var out time.Time
	for range 100 {
		out = b.release(1000, epoch) // all ready at once
	}
	// 100 kB at 100 kB/s: the last 1000-byte chunk may go once 99 kB have drained,
	// less the burst.
	require.Equal(t, epoch.Add(990*time.Millisecond-10*time.Millisecond), out)

	// An idle bucket refills: a chunk ready long after goes at once.
	later := epoch.Add(time.Hour)
	require.Equal(t, later, b.release(1000, later))
}

func TestBitrateString(t *testing.T) {
	for b, want := range map[Bitrate]string{6 * Mbps: "6Mbps", 1600 * Kbps: "1.6Mbps", 750 * Kbps: "750kbps", 12: "12bps"} {
		require.Equal(t, want, b.String())
	}
}
