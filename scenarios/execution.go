package scenarios

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camstorm/camstorm/internal/wait"
	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/scenarios/segment"
)

// EventKind names what a trace Event records.
type EventKind string

// The trace events: what the executors did and when, so tests (and
// curious users) can compare the executed plan with k6's semantics.
const (
	EventIterationStart EventKind = "iteration_start"
	EventIterationEnd   EventKind = "iteration_end" // Completed says whether it ran to the end
	EventDropped        EventKind = "dropped"       // Count iterations not started
	EventVUStart        EventKind = "vu_start"      // a VU (or camera) became active in a scenario
	EventVUStop         EventKind = "vu_stop"
)

// Event is one thing an executor did, at an offset from the scenario's
// start (after its startTime).
type Event struct {
	Kind      EventKind     `json:"kind"`
	Scenario  string        `json:"scenario"`
	At        time.Duration `json:"at_ns"`
	VU        int64         `json:"vu,omitempty"`   // VU id in the test, or camera index
	Iter      int64         `json:"iter,omitempty"` // iteration id in the test
	Count     int64         `json:"count,omitempty"`
	Completed bool          `json:"completed,omitempty"`
}

// scenarioRun is one scenario of a running test.
type scenarioRun struct {
	cfg   ExecutorConfig
	base  *BaseConfig
	test  *testRun
	tuple *segment.Tuple
	// start is when the executor began, after startTime.
	start time.Time
	// tags are the run's tags, the scenario's and scenario=<name>.
	tags map[string]string
	env  map[string]string
	// iterations counts iterations started on this instance.
	iterations atomic.Int64
	// active counts what the vus gauge counts for this scenario.
	active atomic.Int64
	// began is start in Unix ns, for readers on other goroutines (the
	// ticker, other scenarios' VUs); 0 until the scenario starts.
	began atomic.Int64
}

func newScenarioRun(t *testRun, cfg ExecutorConfig) *scenarioRun {
	b := cfg.Base()
	tags := maps.Clone(t.tags)
	if tags == nil {
		tags = map[string]string{}
	}
	maps.Copy(tags, b.Tags)
	tags["scenario"] = b.Name
	env := maps.Clone(t.env)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, b.Env)
	return &scenarioRun{cfg: cfg, base: b, test: t, tuple: t.tuple, tags: tags, env: env}
}

// since is the offset of now from the scenario's start.
func (s *scenarioRun) since() time.Duration { return time.Since(s.start) }

func (s *scenarioRun) trace(ev Event) {
	if s.test.trace == nil {
		return
	}
	ev.Scenario = s.base.Name
	ev.At = s.since()
	s.test.trace(ev)
}

// deadlines returns the scenario's regular context (it ends at start +
// regular) and its hard context (regular + gracefulStop), both derived
// from ctx. No iteration starts after the regular deadline; iterations
// still running at the hard one are interrupted.
func (s *scenarioRun) deadlines(ctx context.Context, regular time.Duration) (reg, hard context.Context, cancel func()) {
	hardEnd := s.start.Add(regular + s.base.gracefulStop())
	hard, cancelHard := context.WithDeadline(ctx, hardEnd)
	reg, cancelReg := context.WithDeadline(hard, s.start.Add(regular))
	return reg, hard, func() { cancelReg(); cancelHard() }
}

// getVU takes an initialised VU from the test's pool and activates it for
// this scenario.
func (s *scenarioRun) getVU() (*VU, error) {
	v, err := s.test.pool.get()
	if err != nil {
		return nil, err
	}
	v.activate(s)
	return v, nil
}

func (s *scenarioRun) putVU(v *VU) { s.test.pool.put(v) }

// iterate runs one iteration of the scenario's exec function on v and
// reports whether it completed. ctx interrupts it. Completed iterations
// emit iteration_duration and iterations; interrupted ones emit neither.
func (s *scenarioRun) iterate(ctx context.Context, v *VU) bool {
	local := s.iterations.Add(1) - 1
	global := local
	if s.tuple != nil {
		global = s.tuple.GlobalIndex(local)
	}
	return s.iterateAs(ctx, v, local, global)
}

// iterateAs is iterate with the iteration ids chosen by the executor.
func (s *scenarioRun) iterateAs(ctx context.Context, v *VU, local, global int64) bool {
	s.trace(Event{Kind: EventIterationStart, VU: v.idInTest, Iter: global})
	began := time.Now()
	completed := v.runIteration(ctx, s, local, global)
	if min := s.test.minIterationDuration; completed && min > 0 {
		if rest := min - time.Since(began); rest > 0 {
			completed = wait.For(ctx, rest)
		}
	}
	end := time.Now()
	s.trace(Event{Kind: EventIterationEnd, VU: v.idInTest, Iter: global, Completed: completed})
	if !completed {
		s.test.interrupted.Add(1)
	} else {
		s.test.completed.Add(1)
		tags := v.sampleTags()
		s.test.emit(
			results.Sample{Metric: s.test.builtin.iterationDuration, Time: end, Value: msOf(end.Sub(began)), Tags: tags, Metadata: v.metadata()},
			results.Sample{Metric: s.test.builtin.iterations, Time: end, Value: 1, Tags: tags, Metadata: v.metadata()},
		)
	}
	return completed
}

// dropped emits dropped_iterations for n iterations never started.
func (s *scenarioRun) dropped(n int64) {
	if n <= 0 {
		return
	}
	s.trace(Event{Kind: EventDropped, Count: n})
	s.test.emit(results.Sample{Metric: s.test.builtin.droppedIterations, Time: time.Now(), Value: float64(n), Tags: s.tags})
}

// msOf is a duration in k6's unit for time metrics.
func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// vuPool holds the test's initialised VUs; scenarios borrow them.
type vuPool struct {
	mu    sync.Mutex
	free  []*VU
	count int64 // VUs initialised
	newVU func(id int64) (*VU, error)
}

// get returns a free VU or initialises a new one.
func (p *vuPool) get() (*VU, error) {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		v := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return v, nil
	}
	p.count++
	id := p.count
	p.mu.Unlock()
	v, err := p.newVU(id)
	if err != nil {
		p.mu.Lock()
		p.count--
		p.mu.Unlock()
		return nil, err
	}
	return v, nil
}

// put returns v to the pool.
func (p *vuPool) put(v *VU) {
	p.mu.Lock()
	p.free = append(p.free, v)
	p.mu.Unlock()
}

// initialised is the vus_max gauge.
func (p *vuPool) initialised() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

// preallocate initialises VUs until n exist or ctx ends.
func (p *vuPool) preallocate(ctx context.Context, n int64) error {
	var vus []*VU
	for p.initialised() < n {
		if err := ctx.Err(); err != nil {
			for _, v := range vus {
				p.put(v)
			}
			return err
		}
		v, err := p.get()
		if err != nil {
			for _, v := range vus {
				p.put(v)
			}
			return err
		}
		vus = append(vus, v)
	}
	for _, v := range vus {
		p.put(v)
	}
	return nil
}
