package capacity

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/camstorm/camstorm/internal/wait"
	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/results/report"
	"github.com/camstorm/camstorm/scenarios/cameras"
)

// Why a search stopped (report.Capacity.Stop).
const (
	StopSLOBroken  = "slo broken"
	StopMaxReached = "max reached"
	StopCancelled  = "cancelled"
	StopLost       = "acknowledged fragments lost"
)

// TagStep is the tag carrying a camera's step (the fleet size at which it
// was started) on every sample it emits.
const TagStep = "capacity_step"

// Step is one measured fleet size, as progress sees it.
type Step struct {
	report.CapacityStep
	// Elapsed is the time since the search began, at the end of the hold.
	Elapsed time.Duration
	// Active is how many cameras were filming when the hold ended.
	Active int
	// ACKs, ErrorACKs and Persisted are the hold's counts.
	ACKs, ErrorACKs, Persisted float64
	// PersistedP999 and BufferingP99 are in ms (0 when none arrived).
	PersistedP999, BufferingP99 float64
}

// Search steps a fleet of cameras up from cfg.Start by cfg.Step: each step
// starts the new cameras spread evenly over the first half of cfg.Warmup
// (the running ones keep filming), waits out the warm-up, measures
// cfg.Hold and judges the step against cfg.SLO. It
// stops after the first step that breaks the SLO, after cfg.Max, or when
// ctx ends; then it stops every camera (each delivers what it buffers for
// at most cfg.Drain), reads the streams back if the SLO has a lost term,
// fits the USL to (cameras, PERSISTED fragments/s) and finds the knee.
// Its time is bounded by steps × (Warmup + Hold) + Drain, plus the
// read-back when there is a lost term.
//
// progress, if not nil, is called after each step. A step that breaks the
// SLO is an outcome, not an error: the error is for a bad config, a fleet
// that cannot be made, or ctx ending (then the steps measured so far are
// returned too, Stop being StopCancelled).
func Search(ctx context.Context, cfg Config, progress func(Step)) (*report.Capacity, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var win windows
	reg := results.NewRegistry()
	f, err := cameras.New(cfg.Cameras, reg, win.emit)
	if err != nil {
		return nil, fmt.Errorf("capacity: %w", err)
	}
	began := time.Now()
	out := &report.Capacity{SLO: cfg.SLO.String(), Steps: []report.CapacityStep{}}
	camCtx, stopCameras := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCameras()

	started := 0
	for _, size := range cfg.sizes() {
		tags := map[string]string{TagStep: strconv.Itoa(size)}
		stepBegan := time.Now()
		spread := max(cfg.Warmup, 0) / 2
		first, added := started, size-started
		for ; started < size; started++ {
			// Spread the new cameras over the first half of the warm-up:
			// cameras started at one instant cut their GOPs in step and
			// hit the target as one burst a second.
			at := stepBegan.Add(spread * time.Duration(started-first) / time.Duration(added))
			if !wait.Until(ctx, at) {
				break
			}
			f.Start(camCtx, int64(started), tags)
		}
		if !wait.Until(ctx, stepBegan.Add(max(cfg.Warmup, 0))) {
			out.Stop = StopCancelled
			break
		}
		win.start()
		ok := wait.For(ctx, cfg.Hold)
		store := win.stop()
		if !ok {
			out.Stop = StopCancelled
			break
		}
		st := judge(cfg, size, measure(store, cfg.Hold))
		st.Elapsed, st.Active = time.Since(began), f.Active()
		out.Steps = append(out.Steps, st.CapacityStep)
		if progress != nil {
			progress(st)
		}
		if !st.OK {
			out.Stop = StopSLOBroken
			break
		}
	}
	if out.Stop == "" {
		out.Stop = StopMaxReached
	}
	stopCameras()
	f.Close()
	if cfg.SLO.Has(TermLost) && ctx.Err() == nil {
		judgeLost(ctx, cfg, f, out)
	}
	finish(out)
	out.At = time.Now()
	if out.Stop == StopCancelled {
		return out, fmt.Errorf("capacity: search stopped after %d steps: %w", len(out.Steps), context.Cause(ctx))
	}
	return out, nil
}

// judge turns a hold's window into a step.
func judge(cfg Config, size int, w window) Step {
	m := Measure{PersistedP99: w.persistedP99, PersistedP999: w.persistedP999, BufferingP99: w.bufferingP99, ErrorRate: w.errorRate()}
	failed := judgeExceptLost(cfg.SLO, m)
	return Step{
		CapacityStep: report.CapacityStep{
			Cameras: size, Throughput: w.persisted / cfg.Hold.Seconds(),
			PersistedP99: finiteOr0(w.persistedP99), ErrorRate: m.ErrorRate,
			OK: len(failed) == 0, Failed: failed,
		},
		ACKs: w.acks, ErrorACKs: w.errorAcks, Persisted: w.persisted,
		PersistedP999: finiteOr0(w.persistedP999), BufferingP99: finiteOr0(w.bufferingP99),
	}
}

// judgeExceptLost judges every term but lost, which only the read-back
// after the search can measure.
func judgeExceptLost(slo SLO, m Measure) []string {
	var rest SLO
	for _, t := range slo.Terms {
		if t.Name != TermLost {
			rest.Terms = append(rest.Terms, t)
		}
	}
	return rest.Judge(m)
}

// judgeLost reads every stream back. Lost fragments cannot be pinned on
// one step (a camera films through every step after its own), so when
// the lost term breaks, every step is marked as breaking it and none is
// sustainable.
func judgeLost(ctx context.Context, cfg Config, f *cameras.Fleet, out *report.Capacity) {
	sum := f.Verify(ctx, cfg.VerifyConcurrency)
	failed := cfg.SLO.Judge(Measure{Lost: float64(sum.LostFragments)})
	for _, t := range cfg.SLO.Terms {
		if t.Name != TermLost {
			continue
		}
		for _, text := range failed {
			if text != t.Text {
				continue
			}
			for i := range out.Steps {
				out.Steps[i].OK = false
				out.Steps[i].Failed = append(out.Steps[i].Failed, t.Text)
			}
			out.Stop = fmt.Sprintf("%s (%d of %d, after %s)", StopLost, sum.LostFragments, sum.AckedFragments, out.Stop)
		}
	}
}

// finish sets Sustainable, Knee and the USL fit from the steps.
func finish(out *report.Capacity) {
	n := make([]float64, len(out.Steps))
	x := make([]float64, len(out.Steps))
	for i, s := range out.Steps {
		n[i], x[i] = float64(s.Cameras), s.Throughput
		if s.OK {
			out.Sustainable = max(out.Sustainable, s.Cameras)
		}
	}
	out.Knee = report.Knee(n, x)
	if fit, err := report.FitUSL(n, x); err == nil {
		out.USL = fit
	}
}
