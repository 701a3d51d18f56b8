package scenarios

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camstorm/camstorm/scenarios/segment"
)

// DefaultMaxDuration bounds the iteration executors (k6's default).
const DefaultMaxDuration = 10 * time.Minute

// SharedIterations runs Iterations iterations shared among VUs VUs: each
// VU takes the next one when it finishes, so fast VUs do more.
type SharedIterations struct {
	BaseConfig
	VUs         *int64    `json:"vus,omitempty"`
	Iterations  *int64    `json:"iterations,omitempty"`
	MaxDuration *Duration `json:"maxDuration,omitempty"`
}

// Base implements ExecutorConfig.
func (c *SharedIterations) Base() *BaseConfig { return &c.BaseConfig }
func (c *SharedIterations) usesJS() bool      { return true }
func (c *SharedIterations) vus() int64        { return orInt(c.VUs, 1) }
func (c *SharedIterations) iterations() int64 { return orInt(c.Iterations, 1) }
func (c *SharedIterations) regular() time.Duration {
	return orDuration(c.MaxDuration, DefaultMaxDuration)
}
func (c *SharedIterations) total() time.Duration { return c.regular() + c.gracefulStop() }

func (c *SharedIterations) validate() []string {
	var p []string
	if c.vus() <= 0 {
		p = append(p, fmt.Sprintf("vus must be more than 0 (got %d)", c.vus()))
	}
	if c.iterations() < c.vus() {
		p = append(p, fmt.Sprintf("iterations (%d) must be at least vus (%d)", c.iterations(), c.vus()))
	}
	if c.regular() < time.Second {
		p = append(p, fmt.Sprintf("maxDuration must be at least 1s (got %s)", c.regular()))
	}
	return p
}

// split is this instance's share: VUs by the tuple, then iterations in
// proportion to how the VUs split (as k6 does), so no instance has
// iterations and no VU to run them.
func (c *SharedIterations) split(t *segment.Tuple) (vus, iterations int64) {
	if t == nil || t.IsWhole() {
		return c.vus(), c.iterations()
	}
	return t.Scale(c.vus()), t.ScaleBy(c.vus(), c.iterations())
}

// ids numbers this instance's iterations so that over all instances they
// are 0..iterations-1 exactly once.
func (c *SharedIterations) ids(t *segment.Tuple) func(local int64) int64 {
	if t == nil || t.IsWhole() {
		return func(local int64) int64 { return local }
	}
	d := t.Derived(c.vus())
	if d == nil {
		return func(local int64) int64 { return local }
	}
	return d.GlobalIndex
}

func (c *SharedIterations) initialVUs(t *segment.Tuple) int64 { v, _ := c.split(t); return v }
func (c *SharedIterations) maxVUs(t *segment.Tuple) int64     { return c.initialVUs(t) }

func (c *SharedIterations) run(s *scenarioRun) error {
	vus, total := c.split(s.tuple)
	reg, hard, cancel := s.deadlines(s.test.ctx, c.regular())
	defer cancel()
	var attempted atomic.Int64
	id := c.ids(s.tuple)
	err := runVUs(s, vus, func(_ int64, v *VU) {
		for reg.Err() == nil {
			local := attempted.Add(1) - 1
			if local >= total {
				return
			}
			s.iterations.Add(1)
			s.iterateAs(hard, v, local, id(local))
		}
	})
	if n := min(attempted.Load(), total); n < total {
		s.dropped(total - n)
	}
	return err
}

// PerVUIterations makes each of VUs VUs run Iterations iterations.
type PerVUIterations struct {
	BaseConfig
	VUs         *int64    `json:"vus,omitempty"`
	Iterations  *int64    `json:"iterations,omitempty"`
	MaxDuration *Duration `json:"maxDuration,omitempty"`
}

// Base implements ExecutorConfig.
func (c *PerVUIterations) Base() *BaseConfig { return &c.BaseConfig }
func (c *PerVUIterations) usesJS() bool      { return true }
func (c *PerVUIterations) vus() int64        { return orInt(c.VUs, 1) }
func (c *PerVUIterations) iterations() int64 { return orInt(c.Iterations, 1) }
func (c *PerVUIterations) regular() time.Duration {
	return orDuration(c.MaxDuration, DefaultMaxDuration)
}
func (c *PerVUIterations) total() time.Duration { return c.regular() + c.gracefulStop() }

func (c *PerVUIterations) validate() []string {
	var p []string
	if c.vus() <= 0 {
		p = append(p, fmt.Sprintf("vus must be more than 0 (got %d)", c.vus()))
	}
	if c.iterations() <= 0 {
		p = append(p, fmt.Sprintf("iterations must be more than 0 (got %d)", c.iterations()))
	}
	if c.regular() < time.Second {
		p = append(p, fmt.Sprintf("maxDuration must be at least 1s (got %s)", c.regular()))
	}
	return p
}

func (c *PerVUIterations) initialVUs(t *segment.Tuple) int64 { return scale(t, c.vus()) }
func (c *PerVUIterations) maxVUs(t *segment.Tuple) int64     { return c.initialVUs(t) }

func (c *PerVUIterations) run(s *scenarioRun) error {
	reg, hard, cancel := s.deadlines(s.test.ctx, c.regular())
	defer cancel()
	n := c.iterations()
	// Iteration ids: VU k's i-th iteration is k*n+i, k the VU's global
	// index in the scenario, so shards number 0..vus*n-1 exactly once.
	return runVUs(s, c.initialVUs(s.tuple), func(slot int64, v *VU) {
		k := slot
		if s.tuple != nil {
			k = s.tuple.GlobalIndex(slot)
		}
		for i := int64(0); i < n; i++ {
			if reg.Err() != nil {
				s.dropped(n - i)
				return
			}
			local := s.iterations.Add(1) - 1
			s.iterateAs(hard, v, local, k*n+i)
		}
	})
}

// ConstantVUs keeps VUs VUs looping iterations for Duration.
type ConstantVUs struct {
	BaseConfig
	VUs      *int64    `json:"vus,omitempty"`
	Duration *Duration `json:"duration,omitempty"`
}

// Base implements ExecutorConfig.
func (c *ConstantVUs) Base() *BaseConfig      { return &c.BaseConfig }
func (c *ConstantVUs) usesJS() bool           { return true }
func (c *ConstantVUs) vus() int64             { return orInt(c.VUs, 1) }
func (c *ConstantVUs) regular() time.Duration { return orDuration(c.Duration, 0) }
func (c *ConstantVUs) total() time.Duration   { return c.regular() + c.gracefulStop() }

func (c *ConstantVUs) validate() []string {
	var p []string
	if c.vus() <= 0 {
		p = append(p, fmt.Sprintf("vus must be more than 0 (got %d)", c.vus()))
	}
	if c.Duration == nil {
		p = append(p, "duration is required, e.g. \"30s\"")
	} else if c.regular() < time.Second {
		p = append(p, fmt.Sprintf("duration must be at least 1s (got %s)", c.regular()))
	}
	return p
}

func (c *ConstantVUs) initialVUs(t *segment.Tuple) int64 { return scale(t, c.vus()) }
func (c *ConstantVUs) maxVUs(t *segment.Tuple) int64     { return c.initialVUs(t) }

func (c *ConstantVUs) run(s *scenarioRun) error {
	reg, hard, cancel := s.deadlines(s.test.ctx, c.regular())
	defer cancel()
	return runVUs(s, c.initialVUs(s.tuple), func(_ int64, v *VU) {
		for reg.Err() == nil {
			s.iterate(hard, v)
		}
	})
}

// runVUs runs loop on n VUs at once (slot is each one's index 0..n-1 in
// the scenario), each counted active while it loops, and returns when all
// have finished.
func runVUs(s *scenarioRun, n int64, loop func(slot int64, v *VU)) error {
	vus := make([]*VU, 0, n)
	for range n {
		v, err := s.getVU()
		if err != nil {
			for _, v := range vus {
				s.putVU(v)
			}
			return err
		}
		vus = append(vus, v)
	}
	var wg sync.WaitGroup
	for slot, v := range vus {
		s.active.Add(1)
		s.trace(Event{Kind: EventVUStart, VU: v.idInTest})
		wg.Go(func() {
			defer func() {
				s.trace(Event{Kind: EventVUStop, VU: v.idInTest})
				s.active.Add(-1)
				s.putVU(v)
			}()
			loop(int64(slot), v)
		})
	}
	wg.Wait()
	return nil
}

func orInt(p *int64, def int64) int64 {
	if p == nil {
		return def
	}
	return *p
}

func orDuration(p *Duration, def time.Duration) time.Duration {
	if p == nil {
		return def
	}
	return p.D()
}

// scale is this instance's share of n.
func scale(t *segment.Tuple, n int64) int64 {
	if t == nil {
		return n
	}
	return t.Scale(n)
}
