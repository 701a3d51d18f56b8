package netem

import (
	"errors"
	"fmt"
	"time"
)

// Bitrate is a rate in bits per second.
type Bitrate int64

// Bitrate units.
const (
	Kbps Bitrate = 1000
	Mbps Bitrate = 1000 * Kbps
)

func (b Bitrate) String() string {
	switch {
	case b >= Mbps && b%(Mbps/1000) == 0:
		return fmt.Sprintf("%gMbps", float64(b)/float64(Mbps))
	case b >= Kbps:
		return fmt.Sprintf("%gkbps", float64(b)/float64(Kbps))
	}
	return fmt.Sprintf("%dbps", int64(b))
}

// Bandwidth caps each direction with a token bucket (zero means no cap). Burst is
// the bucket depth in bytes; zero means 10 ms worth of the rate, at least 1500 B.
// It also shrinks the chunks of a capped direction to about 20 ms of its rate, so
// data arrives paced rather than in large lumps.
type Bandwidth struct {
	Up, Down Bitrate
	Burst    int
}

var _ Fault = Bandwidth{}

// Validate reports every problem.
func (f Bandwidth) Validate() error {
	var errs []error
	if f.Up < 0 {
		errs = append(errs, fmt.Errorf("up rate %v is negative", f.Up))
	}
	if f.Down < 0 {
		errs = append(errs, fmt.Errorf("down rate %v is negative", f.Down))
	}
	if f.Burst < 0 {
		errs = append(errs, fmt.Errorf("burst %d is negative", f.Burst))
	}
	return errors.Join(errs...)
}

// Attach installs one token bucket per capped direction.
func (f Bandwidth) Attach(c *Conn) {
	for _, d := range Directions {
		rate := f.Up
		if d == Down {
			rate = f.Down
		}
		if rate <= 0 {
			continue
		}
		bytesPerSec := float64(rate) / 8
		burst := f.Burst
		if burst == 0 {
			burst = max(int(bytesPerSec/100), 1500)
		}
		c.LimitChunk(d, int(bytesPerSec/50))
		b := &tokenBucket{bytesPerSec: bytesPerSec, depth: durationOf(burst, bytesPerSec)}
		c.Shape(d, b.release)
	}
}

// tokenBucket is a GCRA (virtual scheduling) bucket: tat is the time the bucket
// would be empty; a chunk may go once tat is within depth of now.
type tokenBucket struct {
	bytesPerSec float64
	depth       time.Duration
	tat         time.Time
}

func (b *tokenBucket) release(n int, ready time.Time) time.Time {
	if b.tat.Before(ready) {
		b.tat = ready
	}
	out := b.tat.Add(-b.depth)
	if out.Before(ready) {
		out = ready
	}
	b.tat = b.tat.Add(durationOf(n, b.bytesPerSec))
	return out
}

func durationOf(n int, bytesPerSec float64) time.Duration {
	return time.Duration(float64(n) / bytesPerSec * float64(time.Second))
}
