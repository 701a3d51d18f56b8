package scenarios

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/scenarios/segment"
)

// The acceptance corpus: k6-style scripts under testdata/plans run in a
// synctest bubble (virtual time, exact instants), their executed plans
// compared with k6's semantics (/work/helpers/k6-exact.md §1–§6).

// tol is how far an instant may be from the reference's: k6 truncates to
// the nanosecond, floats may round the other way.
const tol = time.Millisecond

// planRun is what one script run produced.
type planRun struct {
	name   string
	res    *Result
	err    error
	log    string
	events []tracedEvent
}

// tracedEvent is an Event with the bubble's clock at the moment it was
// traced, to compare scenarios with different start times.
type tracedEvent struct {
	Event
	Wall time.Duration // since Run was called
}

// runPlan compiles and runs testdata/plans/<name> inside a synctest
// bubble and returns what happened.
func runPlan(t *testing.T, name string, mutate func(*Config)) planRun {
	t.Helper()
	var pr planRun
	pr.name = name
	synctest.Test(t, func(t *testing.T) {
		pr = runPlanInBubble(t, name, mutate)
	})
	return pr
}

func runPlanInBubble(t *testing.T, name string, mutate func(*Config)) planRun {
	t.Helper()
	pr := planRun{name: name}
	p, err := Compile(filepath.Join("testdata", "plans", name))
	if err != nil {
		t.Fatalf("Compile(%s): %v", name, err)
	}
	var mu sync.Mutex
	var log bytes.Buffer
	began := time.Now()
	cfg := Config{Program: p, Log: &syncWriter{mu: &mu, w: &log}, Trace: func(ev Event) {
		mu.Lock()
		pr.events = append(pr.events, tracedEvent{Event: ev, Wall: time.Since(began)})
		mu.Unlock()
	}}
	if mutate != nil {
		mutate(&cfg)
	}
	pr.res, pr.err = Run(context.Background(), cfg)
	mu.Lock()
	pr.log = log.String()
	mu.Unlock()
	return pr
}

// syncWriter serialises writes to w (the trace and the log share mu).
type syncWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// mustRun is runPlan for runs expected to end without a Go error.
func mustRun(t *testing.T, name string, mutate func(*Config)) planRun {
	t.Helper()
	pr := runPlan(t, name, mutate)
	if pr.err != nil {
		t.Fatalf("Run(%s): %v\nlog:\n%s", name, pr.err, pr.log)
	}
	return pr
}

// of returns the events of one kind (and scenario, if not empty).
func (pr planRun) of(kind EventKind, scenario string) []tracedEvent {
	var out []tracedEvent
	for _, e := range pr.events {
		if e.Kind == kind && (scenario == "" || e.Scenario == scenario) {
			out = append(out, e)
		}
	}
	return out
}

// times are the sorted At offsets of events.
func times(evs []tracedEvent) []time.Duration {
	out := make([]time.Duration, len(evs))
	for i, e := range evs {
		out[i] = e.At
	}
	slices.Sort(out)
	return out
}

// summary shows the trace compactly for failure messages.
func (pr planRun) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "script %s: %d events\n", pr.name, len(pr.events))
	for i, e := range pr.events {
		if i == 200 {
			fmt.Fprintf(&b, "  … %d more\n", len(pr.events)-i)
			break
		}
		fmt.Fprintf(&b, "  %-8s %-16s %-15s vu=%d iter=%d count=%d completed=%v\n", e.Scenario, e.At, e.Kind, e.VU, e.Iter, e.Count, e.Completed)
	}
	return b.String()
}

// near reports whether got and want have the same length and each pair
// is within tol.
func near(got, want []time.Duration) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if d := got[i] - want[i]; d > tol || d < -tol {
			return false
		}
	}
	return true
}

func secs(s ...float64) []time.Duration {
	out := make([]time.Duration, len(s))
	for i, v := range s {
		out[i] = time.Duration(math.Round(v * float64(time.Second)))
	}
	return out
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

// aggregate returns a metric's (or sub-metric's) whole-run aggregate.
func aggregate(t *testing.T, res *Result, metric string, tags map[string]string) (results.Aggregate, bool) {
	t.Helper()
	if res.SummaryInput.Aggregate == nil {
		return results.Aggregate{}, false
	}
	return res.SummaryInput.Aggregate(metric, results.Selector{Metric: metric, Tags: tags})
}

// counterSum is a Counter's total (0 when it has no samples).
func counterSum(t *testing.T, res *Result, metric string) float64 {
	t.Helper()
	a, ok := aggregate(t, res, metric, nil)
	if !ok {
		return 0
	}
	return a.Sum
}

// completedIn counts iteration_end events by completion.
func (pr planRun) completedIn(scenario string) (completed, interrupted int) {
	for _, e := range pr.of(EventIterationEnd, scenario) {
		if e.Completed {
			completed++
		} else {
			interrupted++
		}
	}
	return completed, interrupted
}

// perVU counts completed iterations per VU id.
func (pr planRun) perVU(scenario string) map[int64]int {
	out := map[int64]int{}
	for _, e := range pr.of(EventIterationEnd, scenario) {
		if e.Completed {
			out[e.VU]++
		}
	}
	return out
}

// stopsWithin checks that the sorted stops each fall in [drop, drop+slack].
func stopsWithin(stops, drops []time.Duration, slack time.Duration) bool {
	if len(stops) != len(drops) {
		return false
	}
	for i := range stops {
		if stops[i] < drops[i] || stops[i] > drops[i]+slack+tol {
			return false
		}
	}
	return true
}

func TestPlanRampingVUs(t *testing.T) {
	t.Run("0→10→10→0 starts at 1..10s, stops finish within the iteration", func(t *testing.T) {
		pr := mustRun(t, "rv_ramp.js", nil)
		starts := times(pr.of(EventVUStart, "ramp"))
		if want := secs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10); !near(starts, want) {
			t.Errorf("vu_start = %v, want %v\n%s", starts, want, pr.summary())
		}
		stops := times(pr.of(EventVUStop, "ramp"))
		if drops := secs(21, 22, 23, 24, 25, 26, 27, 28, 29, 30); !stopsWithin(stops, drops, 300*time.Millisecond) {
			t.Errorf("vu_stop = %v, want each within 0.3s after %v\n%s", stops, drops, pr.summary())
		}
		if _, interrupted := pr.completedIn("ramp"); interrupted != 0 {
			t.Errorf("%d interrupted iterations, want 0 (a ramp-down lets the iteration finish)\n%s", interrupted, pr.summary())
		}
	})
	t.Run("5→0→5", func(t *testing.T) {
		pr := mustRun(t, "rv_down_up.js", nil)
		starts := times(pr.of(EventVUStart, "downup"))
		want := append(repeat(0, 5), secs(6, 7, 8, 9)...)
		// The fifth VU reaches the plan at exactly 10s, the instant the
		// stages end; it may or may not be traced.
		if len(starts) == len(want)+1 && near(starts[len(want):], secs(10)) {
			starts = starts[:len(want)]
		}
		if !near(starts, want) {
			t.Errorf("vu_start = %v, want %v (+ possibly 10s)\n%s", starts, want, pr.summary())
		}
		stops := times(pr.of(EventVUStop, "downup"))
		if len(stops) < 5 || !stopsWithin(stops[:5], secs(1, 2, 3, 4, 5), 300*time.Millisecond) {
			t.Errorf("first vu_stops = %v, want each within 0.3s after 1,2,3,4,5s\n%s", stops, pr.summary())
		}
		if len(stops) != len(pr.of(EventVUStart, "downup")) {
			t.Errorf("%d vu_stop for %d vu_start\n%s", len(stops), len(pr.of(EventVUStart, "downup")), pr.summary())
		}
	})
	t.Run("zero-duration stages jump", func(t *testing.T) {
		pr := mustRun(t, "rv_jump.js", nil)
		starts := times(pr.of(EventVUStart, "jump"))
		if want := repeat(0, 5); !near(starts, want) {
			t.Errorf("vu_start = %v, want %v\n%s", starts, want, pr.summary())
		}
		stops := times(pr.of(EventVUStop, "jump"))
		if drops := secs(1, 2, 3, 5, 5); !stopsWithin(stops, drops, 300*time.Millisecond) {
			t.Errorf("vu_stop = %v, want each within 0.3s after %v\n%s", stops, drops, pr.summary())
		}
	})
	t.Run("gracefulRampDown 0 interrupts at the drop", func(t *testing.T) {
		pr := mustRun(t, "rv_rampdown0.js", nil)
		ends := pr.of(EventIterationEnd, "cut")
		var at []time.Duration
		for _, e := range ends {
			if e.Completed {
				t.Errorf("iteration of VU %d completed at %s; a 10s iteration cannot\n%s", e.VU, e.At, pr.summary())
			}
			at = append(at, e.At)
		}
		slices.Sort(at)
		// One VU leaves at the 2s drop, the other at the 4s end; both are
		// hard-stopped at once (min(drop+gracefulRampDown, end+gracefulStop)).
		if want := secs(2, 4); !near(at, want) {
			t.Errorf("interrupted iteration ends = %v, want %v\n%s", at, want, pr.summary())
		}
		if n := counterSum(t, pr.res, "iterations"); n != 0 {
			t.Errorf("iterations = %v, want 0", n)
		}
	})
	t.Run("gracefulStop cuts the last iteration", func(t *testing.T) {
		pr := mustRun(t, "rv_gracefulstop.js", nil)
		ends := pr.of(EventIterationEnd, "stop")
		if len(ends) != 2 || !ends[0].Completed || ends[1].Completed ||
			!near([]time.Duration{ends[0].At, ends[1].At}, secs(0.6, 3)) {
			t.Fatalf("iteration ends, want completed at 0.6s and interrupted at 3s (1s end + 2s gracefulStop)\n%s", pr.summary())
		}
		if n := counterSum(t, pr.res, "iterations"); n != 1 {
			t.Errorf("SummaryInput iterations = %v, want 1 (interrupted iterations emit none)", n)
		}
		if a, ok := aggregate(t, pr.res, "iteration_duration", nil); !ok || a.Samples != 1 {
			t.Errorf("iteration_duration samples = %d (ok=%v), want 1", a.Samples, ok)
		}
		if got := fileCounter(pr.res.File, "iterations"); got != 1 {
			t.Errorf("File iterations = %v, want 1", got)
		}
	})
}

// fileCounter sums a counter over every series of a results file.
func fileCounter(f *results.File, metric string) float64 {
	if f == nil {
		return -1
	}
	_, store, _, _, err := f.Load()
	if err != nil {
		return -1
	}
	a, ok := store.Aggregate(metric, results.Selector{Metric: metric}, time.Second)
	if !ok {
		return 0
	}
	return a.Sum
}

func TestPlanConstantVUs(t *testing.T) {
	pr := mustRun(t, "cv.js", nil)
	per := pr.perVU("steady")
	if len(per) != 2 || per[1]+per[2] != 10 || per[1] != 5 {
		t.Errorf("completed per VU = %v, want 5 each for VUs 1 and 2\n%s", per, pr.summary())
	}
	if _, interrupted := pr.completedIn("steady"); interrupted != 0 {
		t.Errorf("%d interrupted, want 0\n%s", interrupted, pr.summary())
	}
	starts := pr.of(EventIterationStart, "steady")
	want := append(repeat(0, 2), secs(0.7, 0.7, 1.4, 1.4, 2.1, 2.1, 2.8, 2.8)...)
	if got := times(starts); !near(got, want) {
		t.Errorf("iteration starts = %v, want %v\n%s", got, want, pr.summary())
	}
	if n := counterSum(t, pr.res, "iterations"); n != 10 {
		t.Errorf("iterations = %v, want 10", n)
	}
}

func TestPlanSharedIterations(t *testing.T) {
	t.Run("vus 3 iterations 10", func(t *testing.T) {
		pr := mustRun(t, "si.js", nil)
		per := pr.perVU("shared")
		sum := 0
		for _, n := range per {
			sum += n
		}
		if sum != 10 || len(per) != 3 {
			t.Errorf("completed per VU = %v (sum %d), want 3 VUs summing to 10\n%s", per, sum, pr.summary())
		}
		if n := counterSum(t, pr.res, "iterations"); n != 10 {
			t.Errorf("iterations = %v, want 10", n)
		}
		if d := pr.of(EventDropped, "shared"); len(d) != 0 {
			t.Errorf("dropped events %v, want none\n%s", d, pr.summary())
		}
	})
	t.Run("maxDuration 1s gracefulStop 0", func(t *testing.T) {
		pr := mustRun(t, "si_cut.js", nil)
		completed, interrupted := pr.completedIn("cut")
		if completed != 3 || interrupted != 1 {
			t.Errorf("completed %d interrupted %d, want 3 and 1\n%s", completed, interrupted, pr.summary())
		}
		d := pr.of(EventDropped, "cut")
		if len(d) != 1 || d[0].Count != 96 {
			t.Errorf("dropped events %+v, want one of 96\n%s", d, pr.summary())
		}
		if n := counterSum(t, pr.res, "dropped_iterations"); n != 96 {
			t.Errorf("dropped_iterations = %v, want 96", n)
		}
		if n := counterSum(t, pr.res, "iterations"); n != 3 {
			t.Errorf("iterations = %v, want 3", n)
		}
	})
}

func TestPlanPerVUIterations(t *testing.T) {
	t.Run("vus 2 iterations 3", func(t *testing.T) {
		pr := mustRun(t, "pvi.js", nil)
		if per := pr.perVU("each"); len(per) != 2 || per[1] != 3 || per[2] != 3 {
			t.Errorf("completed per VU = %v, want 3 each\n%s", per, pr.summary())
		}
	})
	t.Run("maxDuration cut drops per VU", func(t *testing.T) {
		pr := mustRun(t, "pvi_cut.js", nil)
		if per := pr.perVU("cut"); len(per) != 2 || per[1] != 3 || per[2] != 3 {
			t.Errorf("completed per VU = %v, want 3 each (0, 0.4, 0.8s)\n%s", per, pr.summary())
		}
		d := pr.of(EventDropped, "cut")
		if len(d) != 2 || d[0].Count != 2 || d[1].Count != 2 {
			t.Errorf("dropped events %+v, want two of 2 (one per VU)\n%s", d, pr.summary())
		}
		if a, ok := aggregate(t, pr.res, "dropped_iterations", nil); !ok || a.Sum != 4 {
			t.Errorf("dropped_iterations = %+v, want sum 4", a)
		}
	})
}

// ks are the instants k×period for k in ks.
func ks(period time.Duration, ks ...int) []time.Duration {
	out := make([]time.Duration, len(ks))
	for i, k := range ks {
		out[i] = time.Duration(k) * period
	}
	return out
}

func upTo(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestPlanConstantArrivalRate(t *testing.T) {
	t.Run("10/s for 2s, enough VUs", func(t *testing.T) {
		pr := mustRun(t, "car.js", nil)
		starts := times(pr.of(EventIterationStart, "rate"))
		if want := ks(100*time.Millisecond, upTo(20)...); !near(starts, want) {
			t.Errorf("starts = %v, want %v\n%s", starts, want, pr.summary())
		}
		if n := counterSum(t, pr.res, "dropped_iterations"); n != 0 {
			t.Errorf("dropped_iterations = %v, want 0\n%s", n, pr.summary())
		}
	})
	t.Run("one busy VU drops every other", func(t *testing.T) {
		pr := mustRun(t, "car_drop.js", nil)
		starts := times(pr.of(EventIterationStart, "rate"))
		if want := ks(100*time.Millisecond, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18); !near(starts, want) {
			t.Errorf("starts = %v, want %v\n%s", starts, want, pr.summary())
		}
		if n := counterSum(t, pr.res, "dropped_iterations"); n != 10 {
			t.Errorf("dropped_iterations = %v, want 10", n)
		}
		if d := pr.of(EventDropped, "rate"); !near(times(d), ks(100*time.Millisecond, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)) {
			t.Errorf("dropped at %v, want odd k×100ms\n%s", times(d), pr.summary())
		}
	})
	t.Run("grows from 1 to 3 VUs", func(t *testing.T) {
		pr := mustRun(t, "car_grow.js", nil)
		// 0.25s iterations every 0.1s: drops at 0.1s (2nd VU) and 0.4s
		// (3rd VU); three VUs then always leave one idle.
		if n := len(pr.of(EventVUStart, "rate")); n != 3 {
			t.Errorf("%d VUs started, want 3\n%s", n, pr.summary())
		}
		if d := times(pr.of(EventDropped, "rate")); !near(d, secs(0.1, 0.4)) {
			t.Errorf("dropped at %v, want [100ms 400ms]\n%s", d, pr.summary())
		}
		if n := len(pr.of(EventIterationStart, "rate")); n != 18 {
			t.Errorf("%d starts, want 18\n%s", n, pr.summary())
		}
	})
}

// rampStart is §3's ramp formula for iteration i (1-based).
func rampStart(from, to, dur float64, i float64) time.Duration {
	x := (from*dur - math.Sqrt(math.Max(dur*(from*from*dur+2*i*(to-from)), 0))) / (from - to)
	return time.Duration(x)
}

func TestPlanRampingArrivalRate(t *testing.T) {
	t.Run("0→10/s over 10s: sqrt(2i)", func(t *testing.T) {
		pr := mustRun(t, "rar_ramp.js", nil)
		starts := times(pr.of(EventIterationStart, "ramp"))
		var want []time.Duration
		for i := 1; i <= 49; i++ {
			want = append(want, time.Duration(math.Sqrt(2*float64(i))*float64(time.Second)))
		}
		if !near(starts, want) {
			t.Errorf("starts = %v, want %v\n%s", starts, want, pr.summary())
		}
		// And exactly as §3's formula computes them (to the ns).
		per := 10 / float64(time.Second)
		for i, at := range starts {
			if f := rampStart(0, per, float64(10*time.Second), float64(i+1)); at != f && len(starts) == 49 {
				t.Errorf("start %d at %v, want exactly %v", i+1, at, f)
				break
			}
		}
	})
	t.Run("2/s for 5s then 2→0 over 5s", func(t *testing.T) {
		pr := mustRun(t, "rar_flat_down.js", nil)
		starts := times(pr.of(EventIterationStart, "fd"))
		want := secs(0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.527864045, 6.127016653, 6.837722339, 7.763932022)
		if !near(starts, want) {
			t.Errorf("starts = %v, want %v (the 15th at 10s is the deadline race)\n%s", starts, want, pr.summary())
		}
	})
	t.Run("timeUnit 1m", func(t *testing.T) {
		pr := mustRun(t, "rar_minute.js", nil)
		starts := times(pr.of(EventIterationStart, "perminute"))
		if want := secs(1, 2); !near(starts, want) {
			t.Errorf("starts = %v, want %v\n%s", starts, want, pr.summary())
		}
	})
}

func TestPlanStartTimeEnvAndTags(t *testing.T) {
	pr := mustRun(t, "start_time.js", nil)
	first, second := pr.of(EventIterationStart, "first"), pr.of(EventIterationStart, "second")
	if len(first) != 2 || len(second) != 2 {
		t.Fatalf("starts: first %d second %d, want 2 each\n%s", len(first), len(second), pr.summary())
	}
	if gap := second[0].Wall - first[0].Wall; gap < 2*time.Second-tol || gap > 2*time.Second+tol {
		t.Errorf("second's first iteration %v after first's, want 2s\n%s", gap, pr.summary())
	}
	if second[0].At > tol {
		t.Errorf("second's first iteration at %v from its own start, want 0", second[0].At)
	}
	for _, v := range pr.res.Verdicts {
		if !v.OK {
			t.Errorf("threshold %s %q failed (got %v): a scenario saw the wrong __ENV or exec.scenario.name\nlog:\n%s", v.Key, v.Threshold.Source, v.Got, pr.log)
		}
	}
	for _, c := range []struct {
		tags map[string]string
		want float64
	}{
		{map[string]string{"who": "alpha", "scenario": "first", "team": "red"}, 2},
		{map[string]string{"who": "beta", "scenario": "second", "team": "blue"}, 2},
		{map[string]string{"who": "alpha", "team": "blue"}, 0},
	} {
		a, _ := aggregate(t, pr.res, "seen", c.tags)
		if a.Sum != c.want {
			t.Errorf("seen%v = %v, want %v", c.tags, a.Sum, c.want)
		}
	}
	if pr.res.ExitCode != 0 {
		t.Errorf("exit %d, want 0\nlog:\n%s", pr.res.ExitCode, pr.log)
	}
}

func shard(t *testing.T, s string) func(*Config) {
	t.Helper()
	tu, err := segment.ParseShard(s)
	if err != nil {
		t.Fatalf("ParseShard(%q): %v", s, err)
	}
	return func(c *Config) { c.Segment = tu }
}

func TestPlanSegments(t *testing.T) {
	t.Run("ramping-vus halves", func(t *testing.T) {
		for _, c := range []struct {
			shard string
			want  []time.Duration
		}{
			{"0/2", secs(1, 3, 5, 7, 9)},
			{"1/2", secs(2, 4, 6, 8, 10)},
		} {
			pr := mustRun(t, "rv_ramp.js", shard(t, c.shard))
			if got := times(pr.of(EventVUStart, "ramp")); !near(got, c.want) {
				t.Errorf("shard %s: vu_start = %v, want %v\n%s", c.shard, got, c.want, pr.summary())
			}
		}
	})
	t.Run("constant-arrival-rate thirds", func(t *testing.T) {
		whole := times(mustRun(t, "car_thirds.js", nil).of(EventIterationStart, "rate"))
		var union []time.Duration
		for i := range 3 {
			s := fmt.Sprintf("%d/3", i)
			pr := mustRun(t, "car_thirds.js", shard(t, s))
			var want []time.Duration
			for k := i; k < 20; k += 3 {
				want = append(want, time.Duration(k)*100*time.Millisecond)
			}
			got := times(pr.of(EventIterationStart, "rate"))
			if !near(got, want) {
				t.Errorf("shard %s: starts = %v, want %v\n%s", s, got, want, pr.summary())
			}
			for _, e := range pr.of(EventIterationStart, "rate") {
				if k := int64(math.Round(float64(e.At) / float64(100*time.Millisecond))); e.Iter != k {
					t.Errorf("shard %s: iteration at %v has global id %d, want %d", s, e.At, e.Iter, k)
				}
			}
			union = append(union, got...)
		}
		slices.Sort(union)
		if !near(union, whole) {
			t.Errorf("union of thirds = %v, want the unsegmented %v", union, whole)
		}
	})
	t.Run("shared-iterations thirds", func(t *testing.T) {
		for i, want := range []int{5, 5, 0} {
			s := fmt.Sprintf("%d/3", i)
			pr := mustRun(t, "si_thirds.js", shard(t, s))
			if got, _ := pr.completedIn("thirds"); got != want {
				t.Errorf("shard %s: %d completed, want %d\n%s", s, got, want, pr.summary())
			}
		}
	})
}

// verdicts indexes a run's verdicts by "key source".
func verdicts(res *Result) map[string]results.Verdict {
	out := map[string]results.Verdict{}
	for _, v := range res.Verdicts {
		out[v.Key+" "+v.Threshold.Source] = v
	}
	return out
}

func TestPlanThresholds(t *testing.T) {
	t.Run("every form and aggregation passes", func(t *testing.T) {
		pr := mustRun(t, "thresholds_pass.js", nil)
		got := verdicts(pr.res)
		for _, key := range []string{
			"hits count==10", "hits rate>0", "hits count>=10", "hits{parity:odd} count==4", "hits{scenario:main} count==10",
			"hits{kind:unit} count==10", "gauge7 value==7", "ratio rate==0.6", "trend avg==3", "trend min==1", "trend max==5",
			"trend med>=2.99", "trend med<=3.01", "trend p(90)>=4", "trend p(95)<=5", "trend p(0)==1", "trend{parity:even} max==5", "trend{parity:even} min==1",
			"iterations count==10", "iterations{scenario:main} count==10", "empty_rate rate>0.99",
		} {
			v, ok := got[key]
			switch {
			case !ok:
				t.Errorf("no verdict for %q (have %v)", key, slices.Sorted(mapKeys(got)))
			case !v.OK:
				t.Errorf("threshold %q failed: got %v (empty %v), want pass", key, v.Got, v.Empty)
			}
		}
		if pr.res.ExitCode != 0 {
			t.Errorf("exit %d, want 0", pr.res.ExitCode)
		}
	})
	t.Run("empty sinks at the end", func(t *testing.T) {
		pr := mustRun(t, "thresholds_empty.js", nil)
		got := verdicts(pr.res)
		if v := got["no_rate rate>0.99"]; !v.OK {
			t.Errorf("empty Rate 'rate>0.99' = %+v, want pass", v)
		}
		if v, ok := got["never count>0"]; !ok || v.OK {
			t.Errorf("empty Counter 'count>0' = %+v, want fail", v)
		}
		if pr.res.ExitCode != ExitThresholdsFailed {
			t.Errorf("exit %d, want 99", pr.res.ExitCode)
		}
	})
	t.Run("failing threshold exits 99", func(t *testing.T) {
		pr := mustRun(t, "thresholds_fail.js", nil)
		if pr.res.ExitCode != ExitThresholdsFailed || pr.res.Abort != "" {
			t.Errorf("exit %d abort %q, want 99 and no abort", pr.res.ExitCode, pr.res.Abort)
		}
	})
	for _, c := range []struct {
		script   string
		min, max time.Duration
	}{
		// Evaluated every 2s of test time: the first evaluation after the
		// 5s delay is at 6s; without a delay the first one (2s) aborts.
		{"thresholds_abort.js", 6 * time.Second, 7 * time.Second},
		{"thresholds_abort_now.js", 2 * time.Second, 3 * time.Second},
	} {
		t.Run(c.script, func(t *testing.T) {
			pr := mustRun(t, c.script, nil)
			if pr.res.ExitCode != ExitThresholdsFailed || pr.res.Abort != "thresholds" {
				t.Errorf("exit %d abort %q, want 99 \"thresholds\"\n%s", pr.res.ExitCode, pr.res.Abort, pr.summary())
			}
			if pr.res.Duration < c.min || pr.res.Duration >= c.max {
				t.Errorf("run took %v, want in [%v, %v) (duration 20s)", pr.res.Duration, c.min, c.max)
			}
			if !strings.Contains(pr.log, "teardown ran") {
				t.Errorf("teardown did not run after the abort; log:\n%s", pr.log)
			}
		})
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestPlanInvalidThresholds(t *testing.T) {
	pr := runPlan(t, "thresholds_invalid.js", nil)
	if pr.err == nil || ExitCodeOf(pr.err) != ExitInvalidConfig {
		t.Fatalf("Run(thresholds_invalid.js) = %v (exit %d), want an invalid-config error (104)", pr.err, ExitCodeOf(pr.err))
	}
	for _, w := range []string{"hits", "avg", "ratio", "p(95)", "no_such_metric"} {
		if !strings.Contains(pr.err.Error(), w) {
			t.Errorf("Run(thresholds_invalid.js) = %q, want every problem named, including %q", pr.err, w)
		}
	}
	if len(pr.of(EventIterationStart, "")) != 0 {
		t.Errorf("iterations ran despite invalid thresholds\n%s", pr.summary())
	}
}

func TestPlanLayersReplaceScenarios(t *testing.T) {
	pr := mustRun(t, "layered.js", func(c *Config) {
		c.EnvOptions = Options{Duration: dur("2s")}
		c.FlagOptions = Options{VUs: i64(2)}
	})
	joined := strings.Join(pr.res.Warnings, "\n")
	if !strings.Contains(joined, `"env" level configuration`) || !strings.Contains(joined, "scenarios") {
		t.Errorf("warnings %q, want the env layer named as overriding the scenarios", pr.res.Warnings)
	}
	if n := len(pr.of(EventIterationStart, "scripted")); n != 0 {
		t.Errorf("%d iterations in the script's scenario, want 0 (replaced)\n%s", n, pr.summary())
	}
	// constant-vus, 2 VUs (the flag), 2s (the env): 0.3s iterations at 0..1.8s.
	if per := pr.perVU("default"); len(per) != 2 || per[1] != 7 || per[2] != 7 {
		t.Errorf("completed per VU = %v, want 7 each for 2 VUs\n%s", per, pr.summary())
	}
}

func TestPlanExactInstants(t *testing.T) {
	t.Run("ramping-vus 0→3 over 10s ceils to the ns", func(t *testing.T) {
		pr := mustRun(t, "rv_thirds.js", nil)
		got := times(pr.of(EventVUStart, "thirds"))
		want := []time.Duration{3333333334, 6666666667, 10 * time.Second}
		if !slices.Equal(got, want) {
			t.Errorf("vu_start = %v, want exactly %v\n%s", got, want, pr.summary())
		}
	})
	t.Run("ramping-arrival-rate ramp then flat", func(t *testing.T) {
		pr := mustRun(t, "rar_ramp_flat.js", nil)
		got := times(pr.of(EventIterationStart, "rf"))
		// Ramp: area 4 → 1s, √2 s, √3 s, 2s; flat 4/s: 2.25 … 4s. Float
		// truncation puts the 12th at 3.999999999s, inside the deadline, as
		// k6's own arithmetic does (§3: flat rates come out 1 ns early).
		want := secs(1, math.Sqrt2, math.Sqrt(3), 2, 2.25, 2.5, 2.75, 3, 3.25, 3.5, 3.75, 4)
		if !near(got, want) {
			t.Errorf("starts = %v, want %v\n%s", got, want, pr.summary())
		}
	})
	t.Run("minIterationDuration", func(t *testing.T) {
		pr := mustRun(t, "min_iter.js", nil)
		if got := times(pr.of(EventIterationStart, "default")); !near(got, secs(0, 1, 2)) {
			t.Errorf("starts = %v, want [0s 1s 2s]\n%s", got, pr.summary())
		}
	})
}

func TestPlanIDsAndGauges(t *testing.T) {
	pr := mustRun(t, "si.js", nil)
	var ids []int64
	for _, e := range pr.of(EventIterationStart, "shared") {
		ids = append(ids, e.Iter)
	}
	slices.Sort(ids)
	if want := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(ids, want) {
		t.Errorf("global iteration ids = %v, want %v (one shared counter)", ids, want)
	}
	cv := mustRun(t, "cv.js", nil)
	for _, c := range []struct {
		metric string
		want   float64
	}{{"vus", 2}, {"vus_max", 2}} {
		a, ok := aggregate(t, cv.res, c.metric, nil)
		if !ok || a.Max != c.want {
			t.Errorf("cv.js %s max = %v (ok %v), want %v", c.metric, a.Max, ok, c.want)
		}
	}
	cut := mustRun(t, "si_cut.js", nil)
	if a, ok := aggregate(t, cut.res, "dropped_iterations", map[string]string{"scenario": "cut"}); !ok || a.Sum != 96 {
		t.Errorf("dropped_iterations{scenario:cut} = %v (ok %v), want 96", a.Sum, ok)
	}
}

func TestPlanRampDownGrace(t *testing.T) {
	t.Run("gracefulRampDown 2s", func(t *testing.T) {
		pr := mustRun(t, "rv_rampdown2.js", nil)
		var at []time.Duration
		for _, e := range pr.of(EventIterationEnd, "rd") {
			if e.Completed {
				t.Errorf("a 10s iteration completed at %v\n%s", e.At, pr.summary())
			}
			at = append(at, e.At)
		}
		slices.Sort(at)
		// min(drop + gracefulRampDown, end + gracefulStop): 2+2 and 3+2.
		if want := secs(4, 5); !near(at, want) {
			t.Errorf("interrupted at %v, want %v\n%s", at, want, pr.summary())
		}
	})
	t.Run("rising again while finishing reuses the VU", func(t *testing.T) {
		pr := mustRun(t, "rv_reuse.js", nil)
		if got := times(pr.of(EventVUStart, "reuse")); !near(got, repeat(0, 2)) {
			t.Errorf("vu_start = %v, want both at 0 only (the stopping VU is taken back)\n%s", got, pr.summary())
		}
		if got := times(pr.of(EventVUStop, "reuse")); len(got) != 2 || got[0] < secs(3.2)[0] {
			t.Errorf("vu_stop = %v, want two, after the 3.2s end\n%s", got, pr.summary())
		}
	})
}

func TestPlanArrivalVUs(t *testing.T) {
	pr := mustRun(t, "car_grow.js", nil)
	if starts, stops := len(pr.of(EventVUStart, "rate")), len(pr.of(EventVUStop, "rate")); starts != stops {
		t.Errorf("%d vu_start and %d vu_stop, want as many\n%s", starts, stops, pr.summary())
	}
	// The vus gauge of an arrival-rate scenario counts VUs inside an
	// iteration: 0.25s iterations every 0.1s are 2 or 3 at a time.
	if a, ok := aggregate(t, pr.res, "vus", nil); !ok || a.Max > 3 || a.Min < 2 {
		t.Errorf("vus min %v max %v (ok %v), want within [2, 3]", a.Min, a.Max, ok)
	}
	if a, ok := aggregate(t, pr.res, "vus_max", nil); !ok || a.Max != 3 {
		t.Errorf("vus_max max %v (ok %v), want 3", a.Max, ok)
	}
}

func TestPlanSegmentsMore(t *testing.T) {
	t.Run("ramping-arrival-rate halves add up", func(t *testing.T) {
		whole := times(mustRun(t, "rar_ramp.js", nil).of(EventIterationStart, "ramp"))
		var union []time.Duration
		for i := range 2 {
			s := fmt.Sprintf("%d/2", i)
			pr := mustRun(t, "rar_ramp.js", shard(t, s))
			for _, e := range pr.of(EventIterationStart, "ramp") {
				if e.Iter%2 != int64(i) {
					t.Errorf("shard %s ran global iteration %d at %v, owned by the other half", s, e.Iter, e.At)
				}
				union = append(union, e.At)
			}
		}
		slices.Sort(union)
		if !near(union, whole) {
			t.Errorf("union of halves = %v, want the unsegmented %v", union, whole)
		}
	})
	t.Run("VU ids are global", func(t *testing.T) {
		for i := range 2 {
			s := fmt.Sprintf("%d/2", i)
			pr := mustRun(t, "rv_ramp.js", shard(t, s))
			for _, e := range pr.of(EventVUStart, "ramp") {
				if (e.VU-1)%2 != int64(i) {
					t.Errorf("shard %s started VU %d, want ids %d, %d, … (global numbering)", s, e.VU, i+1, i+3)
				}
			}
		}
	})
	for _, c := range []struct {
		script, scenario string
		want             map[int64]int // completed per VU id, per shard of 2
	}{
		{"pvi.js", "each", map[int64]int{1: 3}},
		{"cv.js", "steady", map[int64]int{1: 5}},
	} {
		t.Run(c.script+" halves", func(t *testing.T) {
			for i := range 2 {
				s := fmt.Sprintf("%d/2", i)
				pr := mustRun(t, c.script, shard(t, s))
				per := pr.perVU(c.scenario)
				want := map[int64]int{int64(i + 1): c.want[1]}
				if fmt.Sprint(per) != fmt.Sprint(want) {
					t.Errorf("shard %s: completed per VU = %v, want %v\n%s", s, per, want, pr.summary())
				}
			}
		})
	}
}
