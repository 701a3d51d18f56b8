package capacity

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// TestConfigBoundsHugeSearches: steps and sizes that would overflow or
// take forever are refused up front, and sizes never overflows.
func TestConfigBoundsHugeSearches(t *testing.T) {
	slo, err := ParseSLO("persisted_p99<2s")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		start, step, max int
		want             string
	}{
		{2, math.MaxInt - 1, math.MaxInt, "at most 20000 cameras"},
		{1, 1, 2_000_000_000, "at most 20000 cameras"},
		{1, 1, 5000, "at most 1000"},
	} {
		c := Config{SLO: slo, Start: tc.start, Step: tc.step, Max: tc.max, Hold: time.Second}
		err := c.validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("validate(start %d, step %d, max %d) = %v, want %q", tc.start, tc.step, tc.max, err, tc.want)
		}
	}
	c := Config{Start: 2, Step: math.MaxInt - 1, Max: math.MaxInt}
	if got := c.sizes(); len(got) != 2 || got[0] != 2 || got[1] != math.MaxInt {
		t.Errorf("sizes with an overflowing step = %v, want [2 max]", got)
	}
}
