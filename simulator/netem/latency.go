package netem

import (
	"errors"
	"fmt"
	"time"
)

// Latency delays every chunk in both directions by Delay plus a uniform draw from
// [-Jitter, +Jitter] (never below zero). Delays are pipelined: data written
// back-to-back arrives back-to-back, one Delay later, and in order (a chunk never
// overtakes the previous one, as on TCP), so latency alone does not reduce
// throughput below QueueBytes/Delay.
type Latency struct {
	Delay  time.Duration // one way
	Jitter time.Duration
}

var _ Fault = Latency{}

// Validate reports every problem.
func (f Latency) Validate() error {
	var errs []error
	if f.Delay < 0 {
		errs = append(errs, fmt.Errorf("delay %v is negative", f.Delay))
	}
	if f.Jitter < 0 {
		errs = append(errs, fmt.Errorf("jitter %v is negative", f.Jitter))
	}
	return errors.Join(errs...)
}

// Attach delays both directions, each with its own jitter generator.
func (f Latency) Attach(c *Conn) {
	for _, d := range Directions {
		rng := c.Rand("latency/" + d.String())
		c.Shape(d, func(_ int, ready time.Time) time.Time {
			delay := f.Delay
			if f.Jitter > 0 {
				delay += time.Duration(rng.Int64N(int64(2*f.Jitter)+1)) - f.Jitter
			}
			return ready.Add(max(delay, 0))
		})
	}
}
