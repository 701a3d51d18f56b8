package scenarios

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/scenarios/cameras"
)

// NewVUsForBenchmark initialises n VUs of p the way Run does (the same
// newVU, pool and scenario code) and runs one iteration of the default
// function on each, in a per-vu-iterations scenario named "bench", so a
// benchmark can weigh what live VUs hold. env is __ENV. Every VU stays
// alive until release is called. An iteration that throws is an error:
// a VU that failed half way would weigh less than a real one.
func NewVUsForBenchmark(ctx context.Context, p *Program, env map[string]string, n int) (release func(), err error) {
	if p == nil || n < 1 {
		return nil, fmt.Errorf("%w: NewVUsForBenchmark needs a program and at least one VU", ErrInvalidConfig)
	}
	runCtx, cancel := context.WithCancel(ctx)
	reg := results.NewRegistry()
	var logBuf lockedBuffer
	t := &testRun{
		ctx: runCtx, cancel: cancel, program: p, env: maps.Clone(env), tags: map[string]string{},
		registry: reg, builtin: defineBuiltins(reg), store: results.NewStore(), checks: results.NewChecks(),
		fleets: map[string]*cameras.Fleet{}, sharedData: map[string][]byte{}, log: &logBuf,
		httpClient: httpClientFor(nil, false), userAgent: "camstorm (k6-compatible)",
	}
	if t.env == nil {
		t.env = map[string]string{}
	}
	t.collector = newCollector(t.store, nil)
	t.pool = &vuPool{newVU: t.newVU}
	fail := func(err error) (func(), error) {
		cancel()
		_ = t.collector.close()
		return nil, err
	}
	if err := t.pool.preallocate(t.ctx, int64(n)); err != nil {
		return fail(err)
	}
	sc := &PerVUIterations{BaseConfig: BaseConfig{Name: "bench", Executor: "per-vu-iterations"}}
	s := newScenarioRun(t, sc)
	t.scenarios = []*scenarioRun{s}
	s.start = time.Now()
	t.start = s.start
	vus := make([]*VU, 0, n)
	for range n {
		v, err := s.getVU()
		if err != nil {
			return fail(err)
		}
		vus = append(vus, v)
		if !s.iterate(runCtx, v) {
			return fail(fmt.Errorf("%w: a benchmark iteration was interrupted: %s", ErrScript, logBuf.String()))
		}
		if t.errorsLogged.Load() > 0 {
			return fail(fmt.Errorf("%w: a benchmark iteration threw: %s", ErrScript, logBuf.String()))
		}
	}
	return func() {
		for _, v := range vus {
			s.putVU(v)
		}
		vus = nil
		cancel()
		_ = t.collector.close()
		t.httpClient.CloseIdleConnections()
	}, nil
}

// lockedBuffer is a log sink VUs may write from any goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
