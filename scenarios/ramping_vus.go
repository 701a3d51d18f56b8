package scenarios

import (
	"context"
	"sync"
	"time"

	"github.com/camstorm/camstorm/internal/wait"
	"github.com/camstorm/camstorm/scenarios/segment"
)

// DefaultGracefulRampDown is how long a VU removed by a ramp-down may
// finish its iteration (k6's default).
const DefaultGracefulRampDown = 30 * time.Second

// RampingVUs moves the number of looping VUs through Stages.
type RampingVUs struct {
	BaseConfig
	StartVUs         *int64    `json:"startVUs,omitempty"`
	Stages           []Stage   `json:"stages"`
	GracefulRampDown *Duration `json:"gracefulRampDown,omitempty"`
}

// Base implements ExecutorConfig.
func (c *RampingVUs) Base() *BaseConfig      { return &c.BaseConfig }
func (c *RampingVUs) usesJS() bool           { return true }
func (c *RampingVUs) regular() time.Duration { return stagesTotal(c.Stages) }
func (c *RampingVUs) total() time.Duration   { return c.regular() + c.gracefulStop() }
func (c *RampingVUs) validate() []string {
	return validateStages(orInt(c.StartVUs, 1), c.Stages, "VUs (startVUs)")
}

// steps is the global plan; ownedSteps this instance's share of it: each
// global VU number belongs to one instance and starts and stops at its
// global instant, so the instances' curves add up to the global one.
func (c *RampingVUs) steps() []step { return rampSteps(orInt(c.StartVUs, 1), c.Stages) }

func (c *RampingVUs) initialVUs(t *segment.Tuple) int64 { return maxCount(ownedSteps(c.steps(), t)) }
func (c *RampingVUs) maxVUs(t *segment.Tuple) int64     { return c.initialVUs(t) }

func (c *RampingVUs) run(s *scenarioRun) error {
	steps := ownedSteps(c.steps(), s.tuple)
	rampDown := orDuration(c.GracefulRampDown, DefaultGracefulRampDown)
	_, hard, cancel := s.deadlines(s.test.ctx, c.regular())
	defer cancel()
	var (
		mu      sync.Mutex
		handles []*vuHandle
		wg      sync.WaitGroup
		failed  error
	)
	for _, st := range steps {
		if !wait.Until(hard, s.start.Add(st.At)) {
			break
		}
		mu.Lock()
		for int64(len(handles)) < st.Count {
			handles = append(handles, &vuHandle{s: s})
		}
		for i, h := range handles {
			if int64(i) < st.Count {
				if err := h.start(hard, &wg); err != nil && failed == nil {
					failed = err
				}
			} else {
				h.stop(rampDown)
			}
		}
		mu.Unlock()
	}
	// The regular end: every VU finishes its iteration, cut at the hard end.
	for _, h := range handles {
		h.stop(time.Until(s.start.Add(c.total())))
	}
	wg.Wait()
	return failed
}

// ownedSteps is the part of a global plan this instance runs.
func ownedSteps(global []step, t *segment.Tuple) []step {
	if t == nil || t.IsWhole() {
		return global
	}
	var out []step
	for _, st := range global {
		n := t.Scale(st.Count)
		if len(out) == 0 || out[len(out)-1].Count != n {
			out = append(out, step{st.At, n})
		}
	}
	return out
}

// vuHandle is one slot of a ramping executor: started, it borrows a VU and
// loops iterations; stopped, the VU finishes its iteration and returns,
// interrupted if that takes longer than the grace it was given. A handle
// started again while finishing simply keeps going.
type vuHandle struct {
	s *scenarioRun

	mu       sync.Mutex
	running  bool // its goroutine is alive
	wanted   bool // it should start another iteration
	cancel   context.CancelFunc
	deadline *time.Timer
}

// start makes the handle loop; parent bounds its iterations.
func (h *vuHandle) start(parent context.Context, wg *sync.WaitGroup) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.wanted = true
	if h.deadline != nil {
		h.deadline.Stop()
		h.deadline = nil
	}
	if h.running {
		return nil
	}
	v, err := h.s.getVU()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(parent)
	h.running, h.cancel = true, cancel
	h.s.active.Add(1)
	h.s.trace(Event{Kind: EventVUStart, VU: v.idInTest})
	wg.Go(func() {
		defer func() {
			h.s.trace(Event{Kind: EventVUStop, VU: v.idInTest})
			h.s.active.Add(-1)
			h.s.putVU(v)
			cancel()
		}()
		for {
			h.mu.Lock()
			if !h.wanted || ctx.Err() != nil {
				h.running = false
				if h.deadline != nil {
					h.deadline.Stop()
					h.deadline = nil
				}
				h.mu.Unlock()
				return
			}
			h.mu.Unlock()
			h.s.iterate(ctx, v)
		}
	})
	return nil
}

// stop lets the current iteration finish within grace, then interrupts it.
func (h *vuHandle) stop(grace time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.running || !h.wanted {
		return
	}
	h.wanted = false
	cancel := h.cancel
	if grace <= 0 {
		cancel()
		return
	}
	h.deadline = time.AfterFunc(grace, cancel)
}
