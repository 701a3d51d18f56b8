package conformance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// Verdict is a case's outcome. The four are distinct: a skip says the
// target could not be tested that way, a harness error that camstorm could
// not carry the case out — neither says anything about conformance.
type Verdict string

// Verdicts.
const (
	Pass    Verdict = "pass"
	Fail    Verdict = "fail"
	Skip    Verdict = "skip"
	Harness Verdict = "error"
)

// Result is a judged case, with everything needed to read it without the
// code: the requirement, what was done, what was expected, what happened.
type Result struct {
	ID          string      `json:"id"`
	Suite       string      `json:"suite"`
	Title       string      `json:"title"`
	Requirement Requirement `json:"requirement"`
	// Level is the case's (it may be weaker than the requirement's).
	Level    Level      `json:"level"`
	Source   string     `json:"source,omitempty"`
	Stimulus string     `json:"stimulus"`
	Expected string     `json:"expected"`
	Verdict  Verdict    `json:"verdict"`
	Actual   []string   `json:"actual,omitempty"`
	Reason   string     `json:"reason,omitempty"`
	Evidence []Evidence `json:"evidence,omitempty"`
	Log      []string   `json:"log,omitempty"`
	Started  time.Time  `json:"started"`
	Duration Duration   `json:"duration"`
}

// Duration marshals as seconds with millisecond precision.
type Duration time.Duration

// MarshalJSON writes seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", time.Duration(d).Seconds())), nil
}

// UnmarshalJSON reads seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s float64
	if _, err := fmt.Sscan(string(b), &s); err != nil {
		return fmt.Errorf("duration %s: want seconds", b)
	}
	*d = Duration(s * float64(time.Second))
	return nil
}

// Report is a whole run.
type Report struct {
	Target   string    `json:"target"`
	Started  time.Time `json:"started"`
	Duration Duration  `json:"duration"`
	Results  []Result  `json:"results"`
}

// Counts of a report's verdicts.
type Counts struct {
	Pass, Fail, Skip, Harness int
	// MustFail counts failed cases at level MUST.
	MustFail int
}

// Counts tallies the verdicts.
func (r *Report) Counts() Counts {
	var c Counts
	for _, res := range r.Results {
		switch res.Verdict {
		case Pass:
			c.Pass++
		case Fail:
			c.Fail++
			if res.Level == Must {
				c.MustFail++
			}
		case Skip:
			c.Skip++
		case Harness:
			c.Harness++
		}
	}
	return c
}

// Event is what a Runner tells its observer: a case started (Result nil)
// or finished.
type Event struct {
	Case   *Case
	Suite  string
	Index  int // 1-based position in the run
	Total  int
	Result *Result
}

// Runner runs selected cases against a target. It never prints or exits:
// it returns a Report and tells Observe about progress.
type Runner struct {
	Target *Target
	// Select holds case-ID prefixes or suite names; empty runs everything.
	Select []string
	// Timeout bounds each case whose own Timeout is zero; default 60 s.
	Timeout time.Duration
	// Parallel is how many Parallel cases may run at once; default 4.
	Parallel int
	// RunID prefixes the names of resources cases create; default the
	// start time in base 36.
	RunID string
	// Observe, if set, is called as cases start and finish, from the
	// runner's goroutines (serialised).
	Observe func(Event)
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// ErrNothingSelected is returned when a selection matches no case.
var ErrNothingSelected = errors.New("no case matches the selection")

type selected struct {
	suite string
	c     *Case
}

// Select returns the cases of suites that match patterns (case-ID
// prefixes, case-insensitive, or suite names), in declaration order. A
// pattern that matches nothing is an error naming it.
func Select(suites []*Suite, patterns []string) ([]*Suite, error) {
	if err := Validate(suites...); err != nil {
		return nil, err
	}
	if len(patterns) == 0 {
		return suites, nil
	}
	used := make([]bool, len(patterns))
	var out []*Suite
	for _, s := range suites {
		var cases []*Case
		for _, c := range s.Cases {
			for i, p := range patterns {
				if strings.EqualFold(p, s.Name) || strings.HasPrefix(strings.ToUpper(c.ID), strings.ToUpper(p)) {
					used[i] = true
					cases = append(cases, c)
					break
				}
			}
		}
		if len(cases) > 0 {
			out = append(out, &Suite{Name: s.Name, Title: s.Title, Cases: cases})
		}
	}
	var unknown []string
	for i, u := range used {
		if !u {
			unknown = append(unknown, fmt.Sprintf("%q", patterns[i]))
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%w: %s (give a suite name or a case-ID prefix; --list shows them)", ErrNothingSelected, strings.Join(unknown, ", "))
	}
	return out, nil
}

// watchdogGrace is how long a case that overran its timeout gets to notice
// its cancelled context before the runner gives up on it.
var watchdogGrace = 10 * time.Second

// Run runs the selected cases and returns the report; every case runs, so
// all failures are collected. Parallel cases run side by side (at most
// Parallel), the others alone, in declaration order.
func (r *Runner) Run(ctx context.Context, suites ...*Suite) (*Report, error) {
	chosen, err := Select(suites, r.Select)
	if err != nil {
		return nil, err
	}
	if r.Target == nil {
		return nil, errors.New("conformance: no target")
	}
	if r.Parallel < 0 || r.Timeout < 0 {
		return nil, fmt.Errorf("conformance: Parallel %d and Timeout %v must not be negative", r.Parallel, r.Timeout)
	}
	now := r.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	runID := r.RunID
	if runID == "" {
		runID = "cf" + strings.ToLower(fmt.Sprintf("%x", start.UnixMilli()%(1<<36)))
	}
	var all []selected
	for _, s := range chosen {
		for _, c := range s.Cases {
			all = append(all, selected{s.Name, c})
		}
	}
	rep := &Report{Target: r.Target.Name, Started: start, Results: make([]Result, len(all))}
	var obsMu sync.Mutex
	observe := func(e Event) {
		if r.Observe != nil {
			obsMu.Lock()
			defer obsMu.Unlock()
			r.Observe(e)
		}
	}
	workers := cmp.Or(r.Parallel, 4)
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for i, sc := range all {
		if !sc.c.Parallel {
			wg.Wait() // an exclusive case runs alone
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			observe(Event{Case: sc.c, Suite: sc.suite, Index: i + 1, Total: len(all)})
			res := r.runCase(ctx, sc, runID, now)
			rep.Results[i] = res
			observe(Event{Case: sc.c, Suite: sc.suite, Index: i + 1, Total: len(all), Result: &res})
		}()
		if !sc.c.Parallel {
			wg.Wait()
		}
	}
	wg.Wait()
	rep.Duration = Duration(now().Sub(start))
	return rep, nil
}

func (r *Runner) runCase(ctx context.Context, sc selected, runID string, now func() time.Time) (res Result) {
	c := sc.c
	req, _ := LookupRequirement(c.Requirement)
	res = Result{ID: c.ID, Suite: sc.suite, Title: c.Title, Requirement: req, Level: c.level(), Source: c.Source,
		Stimulus: c.Stimulus, Expected: c.Expected, Started: now()}
	defer func() { res.Duration = Duration(now().Sub(res.Started)) }()
	for _, need := range c.Needs {
		if !r.Target.Has(need) {
			res.Verdict, res.Reason = Skip, fmt.Sprintf("the target does not offer %q (%s)", need, need.Describe())
			return res
		}
	}
	if err := ctx.Err(); err != nil {
		res.Verdict, res.Reason = Harness, "the run was cancelled before this case: "+err.Error()
		return res
	}
	timeout := cmp.Or(c.Timeout, r.Timeout, 60*time.Second)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := &T{Target: r.Target, c: c, prefix: runID}
	done := make(chan struct{})
	var panicked string
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				panicked = fmt.Sprintf("the case panicked: %v\n%s", p, debug.Stack())
			}
		}()
		c.Run(cctx, t)
	}()
	overran := false
	select {
	case <-done:
	case <-cctx.Done():
		select {
		case <-done:
		case <-time.After(watchdogGrace):
			overran = true
		}
	}
	if overran {
		// Its cleanups (a clock moved back, a KMS link healed) still run,
		// as soon as the case gives up.
		go func() { <-done; t.runCleanups() }()
	} else {
		t.runCleanups()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	res.Evidence, res.Log = t.evidence, t.log
	var problem string // why the case could not finish, if it could not
	switch {
	case overran:
		problem = fmt.Sprintf("watchdog: the case did not finish within %v (+%v grace); its cleanups run when it ends, and cases after it may see what it changed", timeout, watchdogGrace)
	case panicked != "":
		problem = panicked
	case t.harness != "":
		problem = t.harness
	}
	switch {
	case len(t.failures) > 0:
		// A failure observed stays a failure even if the case could not
		// finish afterwards (a forbidden DeleteStream that succeeded
		// leaves nothing for the case's final check to read).
		res.Verdict, res.Actual = Fail, t.failures
		if problem != "" {
			res.Reason = "after the failure, the case could not finish: " + problem
		}
	case problem != "":
		res.Verdict, res.Reason = Harness, problem
	case t.skip != "":
		res.Verdict, res.Reason = Skip, t.skip
	case cctx.Err() != nil && ctx.Err() == nil:
		res.Verdict, res.Reason = Harness, fmt.Sprintf("timeout: the case ran out of its %v", timeout)
	case ctx.Err() != nil:
		res.Verdict, res.Reason = Harness, "the run was cancelled: "+ctx.Err().Error()
	default:
		res.Verdict = Pass
	}
	return res
}
