package scenarios

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camstorm/camstorm/internal/wait"
	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/scenarios/cameras"
	"github.com/camstorm/camstorm/scenarios/segment"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/grafana/sobek"
)

// k6's exit codes (errext/exitcodes), the ones a scenario run can end with.
const (
	ExitOK               = 0
	ExitThresholdsFailed = 99
	ExitSetupTimeout     = 100
	ExitTeardownTimeout  = 101
	ExitInvalidConfig    = 104
	ExitExternalAbort    = 105
	ExitScriptException  = 107
	ExitScriptAborted    = 108
	ExitMarkedFailed     = 110
)

// Errors that end a run before or outside its scenarios, by exit code.
var (
	ErrSetupTimeout = errors.New("setup() timed out")
	// ErrAborted is exec.test.abort() called where there is no run to end
	// yet (init code): exit 108, as in k6.
	ErrAborted         = errors.New("test aborted")
	ErrTeardownTimeout = errors.New("teardown() timed out")
)

// ExitCodeOf maps an error from Run to k6's exit code (0 for nil).
func ExitCodeOf(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrInvalidConfig), errors.Is(err, results.ErrThreshold), errors.Is(err, results.ErrMetric):
		return ExitInvalidConfig
	case errors.Is(err, ErrAborted):
		return ExitScriptAborted
	case errors.Is(err, ErrSetupTimeout):
		return ExitSetupTimeout
	case errors.Is(err, ErrTeardownTimeout):
		return ExitTeardownTimeout
	case errors.Is(err, ErrScript):
		return ExitScriptException
	}
	return 255
}

// Defaults for lifecycle timeouts (k6's).
const (
	DefaultSetupTimeout    = 60 * time.Second
	DefaultTeardownTimeout = 60 * time.Second
	handleSummaryTimeout   = 2 * time.Minute
	thresholdEvery         = 2 * time.Second
	gaugeEvery             = time.Second
	maxIterationErrorsLog  = 50
)

// Target is what a run drives: the KVS-compatible service the cameras
// stream to (its HTTP client also serves k6/http), and optionally its KMS
// and device identity service.
type Target struct {
	Sim     simulator.Target
	KMSURL  string
	Devices *fleet.Devices
}

// Config is one run of a script.
type Config struct {
	Program *Program
	// Env is __ENV: -e values over the system environment, as k6 does.
	Env map[string]string
	// EnvOptions and FlagOptions layer over the script's options in that
	// order (script < env < flags).
	EnvOptions, FlagOptions Options
	Target                  Target
	Outputs                 []results.Output
	// Segment is this instance's share of the test (nil: all of it).
	Segment *segment.Tuple
	// Seed decides every camera's kind, profile, media and faults.
	Seed int64
	// StartAt, if set, is the wall-clock instant the scenarios start (a
	// synchronised start for shards); setup runs before it.
	StartAt time.Time
	// NoThresholds skips threshold evaluation (k6's --no-thresholds).
	NoThresholds bool
	// Tags are added to the script's run tags (e.g. instance_id for shards).
	Tags map[string]string
	// Log receives k6-style log lines; Stdout handleSummary's "stdout".
	Log, Stdout io.Writer
	// Progress, if set, is called about once a second.
	Progress func(Progress)
	// Trace, if set, sees every executor event (tests compare plans).
	Trace func(Event)
}

// Progress is a snapshot of a running test.
type Progress struct {
	Elapsed     time.Duration
	VUs, VUsMax int64
	Cameras     int64
	Iterations  int64
	Interrupted int64
	Scenarios   int // still running
	// Running totals of what was delivered and what went wrong.
	Persisted int64 // fragments PERSISTED
	Bytes     int64 // media bytes sent by cameras
	HTTPReqs  int64
	Errors    int64 // ERROR ACKs, failed HTTP requests, failed checks
}

// Result is what a run produced.
type Result struct {
	// ExitCode follows k6: 0, 99 (thresholds), 105, 107, 108 or 110.
	ExitCode int
	// Abort says why the run ended early, if it did.
	Abort    string
	Verdicts []results.Verdict
	// Summary is the data handleSummary received (k6's shape).
	Summary map[string]any
	// SummaryInput renders the default text summary.
	SummaryInput results.SummaryInput
	// File holds everything aggregated, for --out camstorm and merging.
	File     *results.File
	Options  Options
	Warnings []string
	Duration time.Duration
}

// testRun is one run in progress.
type testRun struct {
	ctx     context.Context
	cancel  context.CancelFunc
	program *Program
	tuple   *segment.Tuple
	tags    map[string]string
	env     map[string]string
	options Options

	registry   *results.Registry
	builtin    builtinMetrics
	store      *results.Store
	checks     *results.Checks
	collector  *collector
	pool       *vuPool
	fleets     map[string]*cameras.Fleet
	trace      func(Event)
	log        io.Writer
	logMu      sync.Mutex
	start      time.Time
	httpClient *http.Client
	userAgent  string
	target     Target
	kmsURL     string

	minIterationDuration time.Duration
	setupData            []byte

	expectedMu sync.Mutex
	expectedSt *expectedStatuses

	sharedMu   sync.Mutex
	sharedData map[string][]byte

	scenarios              []*scenarioRun
	completed, interrupted atomic.Int64
	errorsLogged           atomic.Int64

	worstMu sync.Mutex
	worst   []results.CameraSummary

	abortMu     sync.Mutex
	abortReason string
	abortCode   int
	failedMark  atomic.Bool
}

func (t *testRun) targetSim() simulator.Target { return t.target.Sim }

func (t *testRun) emit(samples ...results.Sample) { t.collector.emit(samples...) }

// logf writes a k6-style line: "INFO[0003] message".
func (t *testRun) logf(level, format string, args ...any) {
	if t.log == nil {
		return
	}
	secs := 0
	if !t.start.IsZero() {
		secs = int(time.Since(t.start).Seconds())
	}
	tag := strings.ToUpper(level)
	if len(tag) > 4 {
		tag = tag[:4]
	}
	t.logMu.Lock()
	defer t.logMu.Unlock()
	fmt.Fprintf(t.log, "%s[%04d] %s\n", tag, secs, fmt.Sprintf(format, args...))
}

// iterationError logs an exception thrown by an iteration (bounded).
func (t *testRun) iterationError(s *scenarioRun, v *VU, err error) {
	n := t.errorsLogged.Add(1)
	switch {
	case n <= maxIterationErrorsLog:
		t.logf("error", "%s executor=%s scenario=%s vu=%d", jsErrorText(err), s.base.Executor, s.base.Name, v.idInTest)
	case n == maxIterationErrorsLog+1:
		t.logf("error", "more iteration errors are not logged")
	}
}

func jsErrorText(err error) string {
	var ex *sobek.Exception
	if errors.As(err, &ex) {
		return strings.TrimSpace(ex.String())
	}
	return err.Error()
}

// abort ends the run early with a reason; the first one wins.
func (t *testRun) abort(e *abortError) { t.abortWith(e.reason, ExitScriptAborted) }

func (t *testRun) abortWith(reason string, code int) {
	t.abortMu.Lock()
	if t.abortReason == "" {
		t.abortReason, t.abortCode = reason, code
	}
	t.abortMu.Unlock()
	t.cancel()
}

// noteCameras keeps the worst cameras a camera scenario read back.
func (t *testRun) noteCameras(cams []results.CameraSummary) {
	t.worstMu.Lock()
	defer t.worstMu.Unlock()
	t.worst = results.WorstCameras(append(t.worst, cams...), results.MaxWorstCameras)
}

func (t *testRun) markFailed(reason string) {
	t.failedMark.Store(true)
	if reason != "" {
		t.logf("warn", "test marked failed: %s", reason)
	}
}

func (t *testRun) optionsValue() any {
	b, _ := json.Marshal(t.options)
	var v any
	_ = json.Unmarshal(b, &v)
	return v
}

func (t *testRun) activeVUs() int64 {
	var n int64
	for _, s := range t.scenarios {
		if s.cfg.usesJS() {
			n += s.active.Load()
		}
	}
	return n
}

func (t *testRun) activeCameras() int64 {
	var n int64
	for _, f := range t.fleets {
		n += int64(f.Active())
	}
	return n
}

func (t *testRun) setExpected(e *expectedStatuses) {
	t.expectedMu.Lock()
	t.expectedSt = e
	t.expectedMu.Unlock()
}

func (t *testRun) expected() *expectedStatuses {
	t.expectedMu.Lock()
	defer t.expectedMu.Unlock()
	return t.expectedSt
}

// shared builds a SharedArray's data once per run.
func (t *testRun) shared(name string, build func() ([]byte, error)) ([]byte, error) {
	t.sharedMu.Lock()
	defer t.sharedMu.Unlock()
	if b, ok := t.sharedData[name]; ok {
		return b, nil
	}
	b, err := build()
	if err != nil {
		return nil, err
	}
	t.sharedData[name] = b
	return b, nil
}

func (s *scenarioRun) progress() float64 {
	total := s.cfg.regular()
	b := s.began.Load()
	if total <= 0 || b == 0 {
		return 0
	}
	return min(1, float64(time.Since(time.Unix(0, b)))/float64(total))
}

// Run runs a script: options, setup, the scenarios, teardown and the
// summary, with thresholds evaluated every 2 s and at the end. The error
// is for runs that cannot start or whose lifecycle functions fail (see
// ExitCodeOf); a run that ends is described by the Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Program == nil {
		return nil, fmt.Errorf("%w: no script", ErrScript)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	reg := results.NewRegistry()
	t := &testRun{
		ctx: runCtx, cancel: cancel, program: cfg.Program, tuple: cfg.Segment, env: maps.Clone(cfg.Env),
		registry: reg, builtin: defineBuiltins(reg), store: newTimelineStore(), checks: results.NewChecks(),
		fleets: map[string]*cameras.Fleet{}, trace: cfg.Trace, log: cfg.Log, sharedData: map[string][]byte{},
		tags: map[string]string{},
	}
	if t.env == nil {
		t.env = map[string]string{}
	}
	t.store.OnSeriesWarning = func(n int) {
		t.logf("warn", "%d distinct tag sets (time series) so far: each costs memory, a Trend's up to ~200 KiB; keep unique ids (stream, request id) out of tags", n)
	}
	t.collector = newCollector(t.store, nil)
	res := &Result{}

	// Options: evaluate the script once, layer env and flags over it.
	initVU, err := t.newVU(0)
	if err != nil {
		return nil, err
	}
	optJSON, err := jsonOf(initVU.rt, initVU.exports.Get("options"))
	if err != nil {
		return nil, fmt.Errorf("%w: reading options: %v", ErrScript, err)
	}
	scriptOpts, warnings, err := ParseOptions(optJSON)
	if err != nil {
		return nil, err
	}
	opts := scriptOpts
	for _, layer := range []struct {
		name string
		o    Options
	}{{"env", cfg.EnvOptions}, {"cli", cfg.FlagOptions}} {
		var w string
		if opts, w = opts.Apply(layer.o); w != "" {
			warnings = append(warnings, fmt.Sprintf("%q level configuration: %s", layer.name, w))
		}
	}
	plan, w, err := Consolidate(opts)
	warnings = append(warnings, w...)
	if err != nil {
		return nil, err
	}
	t.options = opts
	res.Options, res.Warnings = opts, warnings
	for _, w := range warnings {
		t.logf("warn", "%s", w)
	}
	t.tags = maps.Clone(opts.Tags)
	if t.tags == nil {
		t.tags = map[string]string{}
	}
	maps.Copy(t.tags, cfg.Tags)
	if opts.MinIterationDuration != nil {
		t.minIterationDuration = opts.MinIterationDuration.D()
	}
	if opts.UserAgent != nil {
		t.userAgent = *opts.UserAgent
	} else {
		t.userAgent = "camstorm (k6-compatible)"
	}
	t.target, t.kmsURL = cfg.Target, cfg.Target.KMSURL
	t.httpClient = httpClientFor(cfg.Target.Sim.HTTP, opts.InsecureSkipTLSVerify != nil && *opts.InsecureSkipTLSVerify)
	if err := checkExecs(plan, initVU); err != nil {
		return nil, err
	}
	if err := checkInstanceLimits(plan, cfg.Segment); err != nil {
		return nil, err
	}
	if err := results.ValidateTrendStats(opts.SummaryTrendStats); err != nil {
		return nil, fmt.Errorf("%w: summaryTrendStats: %v", ErrInvalidConfig, err)
	}

	// Camera fleets define the camera metrics thresholds may name.
	for _, sc := range plan.Scenarios {
		cs, ok := sc.(cameraScenario)
		if !ok {
			continue
		}
		f, err := newFleet(t, cfg, sc.Base().Name, cs.cameraOptions())
		if err != nil {
			return nil, err
		}
		defer f.Close()
		t.fleets[sc.Base().Name] = f
	}
	var thresholds *results.Thresholds
	if !cfg.NoThresholds && len(opts.Thresholds) > 0 {
		if thresholds, err = results.NewThresholds(opts.Thresholds, reg); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	t.collector = newCollector(t.store, cfg.Outputs)

	// VUs exist before setup, as in k6.
	var initial int64
	for _, sc := range plan.Scenarios {
		if sc.usesJS() {
			initial += sc.initialVUs(cfg.Segment)
		}
	}
	t.pool = &vuPool{newVU: t.newVU}
	t.start = time.Now()
	if err := t.pool.preallocate(runCtx, initial); err != nil {
		t.collector.close()
		return nil, err
	}
	// Built before the ticker starts, which reads them.
	for _, sc := range plan.Scenarios {
		t.scenarios = append(t.scenarios, newScenarioRun(t, sc))
	}
	stopTicker := t.startTicker(cfg, thresholds)

	finish := func(runErr error) (*Result, error) {
		stopTicker()
		if t.httpClient != nil {
			t.httpClient.CloseIdleConnections()
		}
		if n := t.errorsLogged.Load(); n > maxIterationErrorsLog {
			t.logf("error", "%d iterations threw in all; the first %d are logged above", n, maxIterationErrorsLog)
		}
		elapsed := time.Since(t.start)
		res.Duration = elapsed
		if thresholds != nil {
			res.Verdicts = thresholds.Evaluate(t.store, elapsed, true)
		}
		closeErr := t.collector.close()
		res.SummaryInput = results.SummaryInput{
			Metrics: reg.All(), Verdicts: res.Verdicts, Root: t.checks.Root(), Duration: elapsed,
			TrendStats: opts.SummaryTrendStats,
			Aggregate: func(metric string, sel results.Selector) (results.Aggregate, bool) {
				return t.store.Aggregate(metric, sel, elapsed)
			},
		}
		if opts.SummaryTimeUnit != nil {
			res.SummaryInput.TimeUnit = *opts.SummaryTimeUnit
		}
		if len(t.setupData) > 0 {
			var sd any
			if json.Unmarshal(t.setupData, &sd) == nil {
				res.SummaryInput.SetupData = sd
			}
		}
		res.Summary = results.SummaryData(res.SummaryInput)
		res.File = results.NewFile(results.RunInfo{Script: cfg.Program.Path, Seed: cfg.Seed, Segment: segmentText(cfg.Segment),
			Sequence: sequenceText(cfg.Segment), Start: t.start, End: t.start.Add(elapsed), Tags: t.tags,
			Version: results.Version(), Target: cfg.Target.Sim.ControlPlaneURL, Machine: results.Machine()}, reg, t.store, thresholds, t.checks)
		t.worstMu.Lock()
		res.File.Cameras = t.worst
		t.worstMu.Unlock()
		res.Abort = t.abortReason
		switch {
		case t.abortCode != 0:
			res.ExitCode = t.abortCode
		case ctx.Err() != nil:
			res.ExitCode, res.Abort = ExitExternalAbort, "interrupted"
		case results.Failed(res.Verdicts):
			res.ExitCode = ExitThresholdsFailed
		case t.failedMark.Load():
			res.ExitCode = ExitMarkedFailed
		}
		if closeErr != nil {
			t.logf("error", "writing outputs: %v", closeErr)
		}
		return res, runErr
	}

	// setup()
	if opts.NoSetup == nil || !*opts.NoSetup {
		if data, err := t.lifecycle("setup", orDuration(opts.SetupTimeout, DefaultSetupTimeout), ErrSetupTimeout, runCtx, nil); err != nil {
			return finish(err)
		} else {
			t.setupData = data
		}
	}
	if !cfg.StartAt.IsZero() {
		t.logf("info", "waiting for the synchronised start at %s", cfg.StartAt.UTC().Format(time.RFC3339Nano))
		wait.Until(runCtx, cfg.StartAt)
	}

	// The scenarios, together, each after its startTime.
	var wg sync.WaitGroup
	var firstErr error
	var errMu sync.Mutex
	execStart := time.Now()
	for _, s := range t.scenarios {
		wg.Go(func() {
			if !wait.Until(runCtx, execStart.Add(s.base.StartTime.D())) {
				return
			}
			s.start = time.Now()
			s.began.Store(s.start.UnixNano())
			if err := s.cfg.run(s); err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
					t.cancel()
				}
				errMu.Unlock()
			}
		})
	}
	wg.Wait()

	// teardown() runs even after an abort, with a context of its own.
	if opts.NoTeardown == nil || !*opts.NoTeardown {
		tctx := context.WithoutCancel(ctx)
		if _, err := t.lifecycle("teardown", orDuration(opts.TeardownTimeout, DefaultTeardownTimeout), ErrTeardownTimeout, tctx, t.setupData); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return finish(firstErr)
}

// lifecycle runs setup or teardown in a VU of its own, if the script
// exports it, and returns what it returned as JSON.
func (t *testRun) lifecycle(name string, timeout time.Duration, timeoutErr error, parent context.Context, data []byte) ([]byte, error) {
	v, err := t.newVU(0)
	if err != nil {
		return nil, err
	}
	fn, ok := v.exported(name)
	if !ok {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	v.ctx = ctx
	v.tags = maps.Clone(t.tags)
	v.tags["group"] = "::" + name
	v.group = "::" + name
	var args []sobek.Value
	if data != nil {
		val, err := parseJSON(v.rt, data)
		if err == nil {
			args = append(args, val)
		}
	}
	ret, err := v.call(ctx, fn, args...)
	var ae *abortError
	switch {
	case errors.As(err, &ae):
		t.abort(ae)
		return nil, nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return nil, fmt.Errorf("%w after %s", timeoutErr, timeout)
	case err != nil:
		return nil, fmt.Errorf("%w: %s() threw: %s", ErrScript, name, jsErrorText(err))
	}
	if ret == nil || sobek.IsUndefined(ret) {
		return nil, nil
	}
	b, err := jsonOf(v.rt, ret)
	if err != nil {
		return nil, fmt.Errorf("%w: %s() returned a value that is not JSON: %v", ErrScript, name, err)
	}
	return b, nil
}

// HandleSummary calls the script's handleSummary(data) in a VU of its own
// and returns what it asked to write, by destination ("stdout", "stderr"
// or a path). ok is false when the script does not export it; errors are
// for the caller to log (they never change the exit code).
func HandleSummary(ctx context.Context, p *Program, env map[string]string, data map[string]any) (out map[string][]byte, ok bool, err error) {
	t := &testRun{ctx: ctx, program: p, env: env, registry: results.NewRegistry(), store: results.NewStore(),
		checks: results.NewChecks(), sharedData: map[string][]byte{}, tags: map[string]string{}, cancel: func() {}}
	t.builtin = defineBuiltins(t.registry)
	t.collector = newCollector(t.store, nil)
	v, err := t.newVU(0)
	if err != nil {
		return nil, true, err
	}
	fn, ok := v.exported("handleSummary")
	if !ok {
		return nil, false, nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, true, err
	}
	arg, err := parseJSON(v.rt, b)
	if err != nil {
		return nil, true, err
	}
	cctx, cancel := context.WithTimeout(ctx, handleSummaryTimeout)
	defer cancel()
	ret, err := v.call(cctx, fn, arg)
	if err != nil {
		return nil, true, fmt.Errorf("handleSummary() threw: %s", jsErrorText(err))
	}
	out = map[string][]byte{}
	if ret == nil || sobek.IsUndefined(ret) || sobek.IsNull(ret) {
		return out, true, nil
	}
	obj := ret.ToObject(v.rt)
	for _, k := range obj.Keys() {
		val := obj.Get(k)
		if ab, isAB := val.Export().(sobek.ArrayBuffer); isAB {
			out[k] = ab.Bytes()
			continue
		}
		out[k] = []byte(val.String())
	}
	return out, true, nil
}

// What one instance runs at most; larger tests are sharded.
const (
	MaxInstanceVUs     = 100_000
	MaxInstanceCameras = 20_000
)

// checkInstanceLimits refuses plans one instance cannot hold, before any
// VU or camera exists, naming how many shards would.
func checkInstanceLimits(plan Plan, t *segment.Tuple) error {
	var vus, cams int64
	for _, sc := range plan.Scenarios {
		vus += sc.maxVUs(t)
		if cs, ok := sc.(cameraScenario); ok {
			cams += maxCount(ownedSteps(cs.steps(), t))
		}
	}
	var errs []error
	if vus > MaxInstanceVUs {
		errs = append(errs, fmt.Errorf("%w: the scenarios need up to %d VUs on this instance; one instance runs at most %d (about 114 KiB each): run it as %d shards with --shard i/n",
			ErrInvalidConfig, vus, MaxInstanceVUs, (vus+MaxInstanceVUs-1)/MaxInstanceVUs))
	}
	if cams > MaxInstanceCameras {
		errs = append(errs, fmt.Errorf("%w: the scenarios stream up to %d cameras on this instance; one instance runs at most %d: run it as %d shards with --shard i/n",
			ErrInvalidConfig, cams, MaxInstanceCameras, (cams+MaxInstanceCameras-1)/MaxInstanceCameras))
	}
	return errors.Join(errs...)
}

// checkExecs makes sure every JS scenario's exec function is exported.
func checkExecs(plan Plan, v *VU) error {
	var errs []error
	for _, sc := range plan.Scenarios {
		if !sc.usesJS() {
			continue
		}
		b := sc.Base()
		if _, ok := v.exported(b.execName()); !ok {
			what := fmt.Sprintf("exports no function %q", b.execName())
			switch val := v.exports.Get(b.execName()); {
			case val != nil && !sobek.IsUndefined(val):
				what = fmt.Sprintf("exports %q, but as a %s, not a function", b.execName(), val.ExportType())
			case b.Exec == "":
				what = "has no default export (export default function () {...})"
			}
			errs = append(errs, fmt.Errorf("%w: scenario %q: the script %s", ErrInvalidConfig, b.Name, what))
		}
	}
	return errors.Join(errs...)
}

// startTicker emits vus, vus_max and cameras every second, evaluates the
// thresholds every two (aborting on abortOnFail) and reports progress.
func (t *testRun) startTicker(cfg Config, th *results.Thresholds) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		gauge := time.NewTicker(gaugeEvery)
		defer gauge.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-gauge.C:
				vus, vusMax, cams := t.activeVUs(), t.pool.initialised(), t.activeCameras()
				samples := []results.Sample{
					{Metric: t.builtin.vus, Time: now, Value: float64(vus), Tags: t.tags},
					{Metric: t.builtin.vusMax, Time: now, Value: float64(vusMax), Tags: t.tags},
				}
				if len(t.fleets) > 0 {
					samples = append(samples, results.Sample{Metric: t.builtin.cameras, Time: now, Value: float64(cams), Tags: t.tags})
				}
				t.emit(samples...)
				if cfg.Progress != nil {
					running := 0
					for _, s := range t.scenarios {
						if b := s.began.Load(); b != 0 && now.Sub(time.Unix(0, b)) < s.cfg.total() {
							running++
						}
					}
					p := Progress{Elapsed: now.Sub(t.start), VUs: vus, VUsMax: vusMax, Cameras: cams,
						Iterations: t.completed.Load(), Interrupted: t.interrupted.Load(), Scenarios: running}
					t.progressTotals(&p, now.Sub(t.start))
					cfg.Progress(p)
				}
				if th != nil && now.Sub(last) >= thresholdEvery {
					last = now
					elapsed := now.Sub(t.start)
					if v := th.Evaluate(t.store, elapsed, false); results.AbortNow(v, elapsed) {
						t.logf("error", "thresholds %s have been crossed; aborting the test", failedKeys(v))
						t.abortWith("thresholds", ExitThresholdsFailed)
					}
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// progressTotals fills the delivered and error totals from the store.
func (t *testRun) progressTotals(p *Progress, elapsed time.Duration) {
	sum := func(metric string) int64 {
		a, _ := t.store.Aggregate(metric, results.Selector{Metric: metric}, elapsed)
		switch a.Type {
		case results.Rate:
			return a.Fails
		default:
			return int64(a.Sum)
		}
	}
	p.Persisted, p.Bytes, p.HTTPReqs = sum("camera_fragments_persisted"), sum("camera_bytes"), sum("http_reqs")
	p.Errors = sum("camera_ack_errors") + sum("http_req_failed") + sum("checks")
}

func failedKeys(v []results.Verdict) string {
	var keys []string
	for _, x := range v {
		if !x.OK {
			keys = append(keys, fmt.Sprintf("%s '%s'", x.Key, x.Threshold.Source))
		}
	}
	return strings.Join(keys, ", ")
}

// httpClientFor is k6/http's client: the target's TLS trust, no cookies,
// at most 10 redirects.
func httpClientFor(base *http.Client, insecure bool) *http.Client {
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: true}
	if base != nil {
		if bt, ok := base.Transport.(*http.Transport); ok {
			tr = bt.Clone()
		}
	}
	if insecure {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig = tr.TLSClientConfig.Clone()
		tr.TLSClientConfig.InsecureSkipVerify = true
	}
	return &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return fmt.Errorf("stopped after 10 redirects")
		}
		return nil
	}}
}

// newFleet makes the camera fleet of one camera scenario.
func newFleet(t *testRun, cfg Config, scenario string, o CameraOptions) (*cameras.Fleet, error) {
	fc := cameras.Config{
		Target: cfg.Target.Sim, Mix: weights(o.Mix), Profiles: weights(o.Profiles), Plaintext: o.Plaintext,
		StreamPrefix: streamPrefix(cfg, scenario), Seed: cfg.Seed, Devices: cfg.Target.Devices,
		Synthetic: media.SyntheticConfig{BitrateBps: o.BitrateBps, FPS: o.FPS},
	}
	if o.GOP != nil {
		fc.Synthetic.GOP = o.GOP.D()
	}
	fc.Synthetic.Width, fc.Synthetic.Height, _ = o.size()
	if o.RotateKeyAfter != nil {
		fc.Camera.RotateKeyAfter = o.RotateKeyAfter.D()
	}
	if o.BufferDuration != nil {
		fc.Camera.BufferDuration = o.BufferDuration.D()
	}
	f, err := cameras.New(fc, t.registry, t.emit)
	if err != nil {
		return nil, fmt.Errorf("%w: scenario %q: %w", ErrInvalidConfig, scenario, err)
	}
	return f, nil
}

// streamPrefix names a camera scenario's streams. Shards share it when
// they share --start-at, so camera i has one name across all of them.
func streamPrefix(cfg Config, scenario string) string {
	at := cfg.StartAt
	if at.IsZero() {
		at = time.Now()
	}
	return fmt.Sprintf("run-%s-%s", at.UTC().Format("20060102T150405"), scenario)
}

func segmentText(t *segment.Tuple) string {
	if t == nil {
		return ""
	}
	return t.Segment().String()
}

func sequenceText(t *segment.Tuple) string {
	if t == nil {
		return ""
	}
	return t.Sequence().String()
}

func sortedKeys(m map[string]string) []string {
	keys := slices.Collect(maps.Keys(m))
	sort.Strings(keys)
	return keys
}

// newTimelineStore keeps every series over time too (bounded buckets),
// for reports of percentiles and throughput over time.
func newTimelineStore() *results.Store {
	s := results.NewStore()
	s.Timelines = true
	return s
}
