package scenarios

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a k6 option duration: a Go-style string ("1m30s", "500ms",
// with "d" for days as k6 allows) or a number of milliseconds.
type Duration time.Duration

// ParseDuration reads a k6 duration string.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if ms, err := strconv.ParseFloat(s, 64); err == nil {
		return fromMillis(ms)
	}
	days := time.Duration(0)
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, fmt.Errorf("duration %q: want e.g. 30s, 1m30s, 2h or 1d12h", s)
		}
		if n < 0 || n > maxDays {
			return 0, fmt.Errorf("duration %q: too long (at most %d days)", s, maxDays)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return Duration(days), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want e.g. 30s, 1m30s, 2h or 1d12h", s)
	}
	if d > math.MaxInt64-days {
		return 0, fmt.Errorf("duration %q: too long (at most %d days)", s, maxDays)
	}
	return Duration(days + d), nil
}

// maxDays keeps day counts within a time.Duration (about 292 years).
const maxDays = 100_000

// fromMillis converts a number of milliseconds, refusing NaN, infinities
// and values a time.Duration cannot hold.
func fromMillis(ms float64) (Duration, error) {
	switch {
	case math.IsNaN(ms) || math.IsInf(ms, 0):
		return 0, fmt.Errorf("duration %v: not a number of milliseconds", ms)
	case math.Abs(ms) > float64(maxDays)*24*3600*1000:
		return 0, fmt.Errorf("duration of %g ms: too long (at most %d days)", ms, maxDays)
	}
	return Duration(ms * float64(time.Millisecond)), nil
}

// UnmarshalJSON accepts a duration string or a number of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := ParseDuration(s)
		if err != nil {
			return err
		}
		*d = v
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("duration %s: want a string such as \"30s\" or a number of milliseconds", b)
	}
	v, err := fromMillis(ms)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalJSON writes the Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// D is the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }
