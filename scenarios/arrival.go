package scenarios

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camstorm/camstorm/internal/wait"
	"github.com/camstorm/camstorm/scenarios/segment"
)

// ConstantArrivalRate starts Rate iterations per TimeUnit for Duration,
// whether or not earlier ones have finished (an open model).
type ConstantArrivalRate struct {
	BaseConfig
	Rate            *int64    `json:"rate,omitempty"`
	TimeUnit        *Duration `json:"timeUnit,omitempty"`
	Duration        *Duration `json:"duration,omitempty"`
	PreAllocatedVUs *int64    `json:"preAllocatedVUs,omitempty"`
	MaxVUs          *int64    `json:"maxVUs,omitempty"`
}

// Base implements ExecutorConfig.
func (c *ConstantArrivalRate) Base() *BaseConfig      { return &c.BaseConfig }
func (c *ConstantArrivalRate) usesJS() bool           { return true }
func (c *ConstantArrivalRate) regular() time.Duration { return orDuration(c.Duration, 0) }
func (c *ConstantArrivalRate) total() time.Duration   { return c.regular() + c.gracefulStop() }
func (c *ConstantArrivalRate) timeUnit() time.Duration {
	return orDuration(c.TimeUnit, time.Second)
}

func (c *ConstantArrivalRate) validate() []string {
	var p []string
	if c.Rate == nil || *c.Rate <= 0 {
		p = append(p, "rate is required and must be more than 0 (iterations per timeUnit)")
	}
	if c.timeUnit() <= 0 {
		p = append(p, "timeUnit must be more than 0")
	} else if c.Rate != nil && *c.Rate > 0 && c.timeUnit()/time.Duration(*c.Rate) < minArrivalPeriod {
		p = append(p, fmt.Sprintf("rate %d per timeUnit %s starts an iteration every %s; at most one per %s per instance (shard the test for more)",
			*c.Rate, c.timeUnit(), c.timeUnit()/time.Duration(*c.Rate), minArrivalPeriod))
	}
	if c.Duration == nil {
		p = append(p, "duration is required, e.g. \"1m\"")
	} else if c.regular() < time.Second {
		p = append(p, fmt.Sprintf("duration must be at least 1s (got %s)", c.regular()))
	}
	p = append(p, validateArrivalVUs(c.PreAllocatedVUs, c.MaxVUs)...)
	return p
}

func (c *ConstantArrivalRate) initialVUs(t *segment.Tuple) int64 {
	return scale(t, orInt(c.PreAllocatedVUs, 0))
}
func (c *ConstantArrivalRate) maxVUs(t *segment.Tuple) int64 {
	return scale(t, orInt(c.MaxVUs, orInt(c.PreAllocatedVUs, 0)))
}

// startOf is when global iteration k starts: every timeUnit/rate, the
// first at 0, in [0, duration).
func (c *ConstantArrivalRate) startOf(k int64) (time.Duration, bool) {
	period := time.Duration(float64(c.timeUnit()) / float64(*c.Rate))
	at := time.Duration(k) * period
	return at, at < c.regular()
}

func (c *ConstantArrivalRate) run(s *scenarioRun) error {
	return runArrivals(s, c.regular(), c.initialVUs(s.tuple), c.maxVUs(s.tuple), c.startOf)
}

// RampingArrivalRate moves the iteration start rate linearly through
// Stages (targets are rates per TimeUnit).
type RampingArrivalRate struct {
	BaseConfig
	StartRate       *int64    `json:"startRate,omitempty"`
	TimeUnit        *Duration `json:"timeUnit,omitempty"`
	Stages          []Stage   `json:"stages"`
	PreAllocatedVUs *int64    `json:"preAllocatedVUs,omitempty"`
	MaxVUs          *int64    `json:"maxVUs,omitempty"`
}

// Base implements ExecutorConfig.
func (c *RampingArrivalRate) Base() *BaseConfig      { return &c.BaseConfig }
func (c *RampingArrivalRate) usesJS() bool           { return true }
func (c *RampingArrivalRate) regular() time.Duration { return stagesTotal(c.Stages) }
func (c *RampingArrivalRate) total() time.Duration   { return c.regular() + c.gracefulStop() }
func (c *RampingArrivalRate) timeUnit() time.Duration {
	return orDuration(c.TimeUnit, time.Second)
}

func (c *RampingArrivalRate) validate() []string {
	var p []string
	if len(c.Stages) == 0 {
		p = append(p, "stages is required: at least one {duration, target}")
	}
	if orInt(c.StartRate, 0) < 0 {
		p = append(p, "startRate must be 0 or more")
	}
	for i, s := range c.Stages {
		if s.Duration < 0 || s.Target < 0 {
			p = append(p, fmt.Sprintf("stages[%d]: duration and target must be 0 or more", i))
		}
	}
	if c.timeUnit() <= 0 {
		p = append(p, "timeUnit must be more than 0")
	} else {
		peak := orInt(c.StartRate, 0)
		for _, s := range c.Stages {
			peak = max(peak, s.Target)
		}
		if peak > 0 && c.timeUnit()/time.Duration(peak) < minArrivalPeriod {
			p = append(p, fmt.Sprintf("a rate of %d per timeUnit %s starts an iteration every %s; at most one per %s per instance (shard the test for more)",
				peak, c.timeUnit(), c.timeUnit()/time.Duration(peak), minArrivalPeriod))
		}
	}
	p = append(p, validateArrivalVUs(c.PreAllocatedVUs, c.MaxVUs)...)
	return p
}

func (c *RampingArrivalRate) initialVUs(t *segment.Tuple) int64 {
	return scale(t, orInt(c.PreAllocatedVUs, 0))
}
func (c *RampingArrivalRate) maxVUs(t *segment.Tuple) int64 {
	return scale(t, orInt(c.MaxVUs, orInt(c.PreAllocatedVUs, 0)))
}

// startOf is when global iteration k (0-based) starts: the instant the
// area under the rate curve reaches k+1, found per stage (flat: linear;
// ramp: the root of the quadratic). An iteration landing exactly on a
// stage boundary belongs to the earlier stage; none starts at or after
// the end of the last stage.
func (c *RampingArrivalRate) startOf(k int64) (time.Duration, bool) {
	i := float64(k + 1)
	unit := float64(c.timeUnit())
	from := float64(orInt(c.StartRate, 0)) / unit // iterations per ns
	var done float64
	var s time.Duration
	for _, st := range c.Stages {
		d := float64(st.Duration.D())
		to := float64(st.Target) / unit
		end := done + d*(from+to)/2
		if i <= end && d > 0 {
			var x float64
			if from == to {
				x = (i - done) / to
			} else {
				root := d * (from*from*d + 2*(i-done)*(to-from))
				x = (from*d - math.Sqrt(math.Max(root, 0))) / (from - to)
			}
			at := s + time.Duration(x)
			return at, at < c.regular()
		}
		done, from, s = end, to, s+st.Duration.D()
	}
	return 0, false
}

func (c *RampingArrivalRate) run(s *scenarioRun) error {
	return runArrivals(s, c.regular(), c.initialVUs(s.tuple), c.maxVUs(s.tuple), c.startOf)
}

// minArrivalPeriod is the shortest gap between iteration starts one
// instance schedules: a million a second.
const minArrivalPeriod = time.Microsecond

func validateArrivalVUs(pre, maxVUs *int64) []string {
	var p []string
	if pre == nil {
		p = append(p, "preAllocatedVUs is required (VUs initialised before the test; more up to maxVUs are added when iterations would be dropped)")
	} else if *pre < 0 {
		p = append(p, "preAllocatedVUs must be 0 or more")
	}
	if pre != nil && maxVUs != nil && *maxVUs < *pre {
		p = append(p, fmt.Sprintf("maxVUs (%d) must be at least preAllocatedVUs (%d)", *maxVUs, *pre))
	}
	return p
}

// runArrivals is the open model both arrival-rate executors share: this
// instance fires the global iterations it owns at startOf's instants; an
// iteration with no idle VU at its instant is dropped (never queued), and
// each drop asks for one more VU, up to maxVUs, one initialising at a time.
func runArrivals(s *scenarioRun, regular time.Duration, pre, maxVUs int64, startOf func(k int64) (time.Duration, bool)) error {
	reg, hard, cancel := s.deadlines(s.test.ctx, regular)
	defer cancel()
	idle := make(chan *VU, max(maxVUs, pre))
	var (
		wg           sync.WaitGroup
		vuCount      atomic.Int64
		initialising atomic.Bool
		warned       bool
		failMu       sync.Mutex
		failed       error
	)
	addVU := func() error {
		v, err := s.getVU()
		if err != nil {
			return err
		}
		vuCount.Add(1)
		s.trace(Event{Kind: EventVUStart, VU: v.idInTest})
		idle <- v
		return nil
	}
	for range pre {
		if err := addVU(); err != nil {
			return err
		}
	}
	for local := int64(0); ; local++ {
		global := local
		if s.tuple != nil {
			global = s.tuple.GlobalIndex(local)
		}
		at, ok := startOf(global)
		if !ok || !wait.Until(reg, s.start.Add(at)) {
			break
		}
		select {
		case v := <-idle:
			s.active.Add(1)
			wg.Go(func() {
				s.iterateAs(hard, v, local, global)
				s.active.Add(-1)
				idle <- v
			})
			continue
		default:
		}
		s.dropped(1)
		switch {
		case vuCount.Load() < maxVUs && initialising.CompareAndSwap(false, true):
			wg.Go(func() {
				defer initialising.Store(false)
				if err := addVU(); err != nil {
					failMu.Lock()
					failed = err
					failMu.Unlock()
				}
			})
		case vuCount.Load() >= maxVUs && !warned:
			warned = true
			s.test.logf("warn", "scenario %s: insufficient VUs, reached %d active VUs and cannot initialise more", s.base.Name, maxVUs)
		}
	}
	wg.Wait()
	for range vuCount.Load() {
		v := <-idle
		s.trace(Event{Kind: EventVUStop, VU: v.idInTest})
		s.putVU(v)
	}
	failMu.Lock()
	defer failMu.Unlock()
	return failed
}
