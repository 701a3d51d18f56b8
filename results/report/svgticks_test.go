package report

import (
	"math"
	"testing"
)

// TestNiceTicksAlwaysFinite: degenerate ranges (one point, huge spans,
// NaN) still give at least two finite, increasing ticks, so no chart is
// drawn with NaN coordinates.
func TestNiceTicksAlwaysFinite(t *testing.T) {
	for _, tc := range [][2]float64{{-1e308, -1e308}, {-1e308, 1e308}, {math.NaN(), 1}, {5, 5}, {0, 0}, {1e300, 1e300}, {3, 2}, {0, math.Inf(1)}} {
		for _, isTime := range []bool{false, true} {
			ticks := niceTicks(tc[0], tc[1], isTime)
			if len(ticks) < 2 {
				t.Fatalf("niceTicks(%v, %v, %v) = %v, want at least two ticks", tc[0], tc[1], isTime, ticks)
			}
			for i, v := range ticks {
				if math.IsNaN(v) || math.IsInf(v, 0) || (i > 0 && !(v > ticks[i-1])) {
					t.Fatalf("niceTicks(%v, %v, %v) = %v, want finite increasing ticks", tc[0], tc[1], isTime, ticks)
				}
			}
		}
	}
}
