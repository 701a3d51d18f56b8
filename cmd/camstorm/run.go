package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/scenarios"
	"github.com/camstorm/camstorm/scenarios/segment"
	"github.com/camstorm/camstorm/simulator"
)

// runFlags are camstorm run's flags.
type runFlags struct {
	targetURL, kmsURL, caFile, stackMode string
	outs, envs, tags, stages             []string
	summaryExport, summaryMode           string
	metricsAddr                          string
	seed                                 int64
	vus, iterations                      int64
	duration                             string
	segment, sequence, shard, startAt    string
	noThresholds, quiet, noSystemEnv     bool
	// k6's option flags.
	trendStats, timeUnit, userAgent string
	noSetup, noTeardown, insecure   bool
}

func newRunCommand() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run SCRIPT.js",
		Short: "Run a k6-style JavaScript scenario: VUs and camera executors, checks, thresholds",
		Long: `Run a k6-style load script against the embedded reference stack (default),
the containers stack (--stack containers) or a KVS-compatible --target.

Scripts are k6 scripts: ES modules with 'export const options' (scenarios,
executors, thresholds, tags), an exported default function (or one per
scenario's exec), and optional setup(), teardown() and handleSummary(). They
run on grafana/sobek, one JS runtime per VU; k6 itself is not used.

Modules: k6 (check, group, sleep, fail), k6/metrics (Counter, Gauge, Rate,
Trend), k6/execution, k6/http (request/get/post/... with params), k6/data
(SharedArray), open() for files, __ENV, __VU, __ITER; and camstorm:
  camstorm.target                 {controlPlane, region, kms}
  camstorm.sign(method, url, body) SigV4 headers for k6/http control-plane calls
  camstorm.outage(seconds[, scenario])  every camera loses the network at once
  camstorm.rotateKeys([scenario]) rotate the streams' KMS keys on demand
  camstorm.tail(stream, seconds)  a viewer tails a stream with GetMedia
  camstorm.streams([scenario]), camstorm.cameras([scenario])

Executors: shared-iterations, per-vu-iterations, constant-vus, ramping-vus,
constant-arrival-rate, ramping-arrival-rate (k6's fields and defaults), and
the camera executors, which run cameras as goroutines, not JS VUs:
  constant-cameras  {cameras, duration, profiles, mix, bitrate, fps, gop,
                     rotateKeyAfter, bufferDuration, plaintext, verify}
  ramping-cameras   {startCameras, stages, gracefulRampDown, ...the same}
Camera metrics: camera_ack_latency{ack:buffering|received|persisted|error},
camera_fragments, camera_fragments_persisted, camera_bytes,
camera_reconnects, camera_ack_errors{error_id}, camera_drops, camera_lost,
camera_integrity_failures, viewer_* and the cameras gauge.

Options layer as in k6: script < environment (K6_VUS, K6_DURATION,
K6_ITERATIONS, K6_STAGES) < flags; --vus/--duration/--iterations/--stage
replace the script's scenarios. Trend percentiles come from HDR histograms
(relative error at most 0.1 %), so memory stays flat however long the run.

Outputs: --out json=FILE (k6's NDJSON), --out csv=FILE, --out
camstorm=FILE (the mergeable results file 'camstorm results merge' reads);
a FILE ending in .gz is gzipped. --summary-export FILE writes k6's legacy
summary JSON.

Sharding: --shard i/n (or --execution-segment with
--execution-segment-sequence, as k6) runs this instance's share of every
scenario: N instances with the same script, seed and sequence together run
exactly the load of one. --start-at starts the scenarios at a common
wall-clock time. Merge the --out camstorm files with 'camstorm results merge'.

Exit status (k6's table): 0 success; 99 thresholds failed; 100 setup()
timed out; 101 teardown() timed out; 104 invalid options; 105 interrupted;
107 script error (init, setup, teardown); 108 test.abort(); 110
exec.test.fail(); 1 the harness failed (stack could not start, I/O).`,
		Example: `  camstorm run scenarios/smoke.js
  camstorm run scenarios/ramp.js --out json=ramp.ndjson --summary-export summary.json
  camstorm run script.js --vus 10 --duration 30s -e STREAM=cam-1
  camstorm run scenarios/soak.js --shard 0/4 --seed 7 --start-at +30s --out camstorm=shard-0.json`,
		Args: usageArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runScript(cmd, args[0], &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.targetURL, "target", "", "KVS-compatible control-plane URL (credentials from the standard AWS chain); default: start the embedded stack")
	fl.StringVar(&f.kmsURL, "kms-url", "", "the target's KMS endpoint, for camstorm.rotateKeys (with --target)")
	fl.StringVar(&f.caFile, "ca", "", "PEM CA bundle that signs --target's certificate")
	fl.StringVar(&f.stackMode, "stack", "embedded", "reference stack to start without --target: embedded or containers")
	fl.StringArrayVarP(&f.outs, "out", "o", nil, "output: json=FILE, csv=FILE or camstorm=FILE (repeatable)")
	fl.StringArrayVarP(&f.envs, "env", "e", nil, "KEY=VALUE for __ENV (repeatable)")
	fl.StringArrayVar(&f.tags, "tag", nil, "NAME=VALUE added to every sample (repeatable)")
	fl.StringArrayVarP(&f.stages, "stage", "s", nil, "DURATION:TARGET ramping stage, replaces the script's scenarios (repeatable)")
	fl.StringVar(&f.summaryExport, "summary-export", "", "write k6's legacy end-of-test summary JSON to FILE")
	fl.StringVar(&f.summaryMode, "summary-mode", "compact", "end-of-test summary: compact or disabled")
	fl.Int64Var(&f.seed, "seed", 1, "seed for every camera's kind, profile, media and network faults")
	fl.Int64VarP(&f.vus, "vus", "u", 0, "VUs (replaces the script's scenarios when used alone, as in k6 v2)")
	fl.Int64VarP(&f.iterations, "iterations", "i", 0, "total iterations (shared-iterations), replaces the script's scenarios")
	fl.StringVarP(&f.duration, "duration", "d", "", "test duration (constant-vus), replaces the script's scenarios")
	fl.StringVar(&f.segment, "execution-segment", "", "this instance's segment of the test, e.g. 1/4:2/4 (k6 syntax)")
	fl.StringVar(&f.sequence, "execution-segment-sequence", "", "every instance's segments, e.g. 0,1/4,2/4,3/4,1 (give all instances the same)")
	fl.StringVar(&f.shard, "shard", "", "this instance as shard i of n (0-based), e.g. 2/8: shorthand for an even segment sequence")
	fl.StringVar(&f.startAt, "start-at", "", "start the scenarios at this time (RFC 3339, or +DURATION from now) so shards start together")
	fl.BoolVar(&f.noThresholds, "no-thresholds", false, "do not evaluate thresholds")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress lines")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "", "serve the run's metrics for Prometheus at http://ADDR/metrics while it runs (e.g. :9464; docs/grafana has a dashboard)")
	fl.BoolVar(&f.noSystemEnv, "no-system-env-vars", false, "do not pass the system environment into __ENV")
	fl.StringVar(&f.trendStats, "summary-trend-stats", "", "Trend columns of the summary, e.g. avg,p(90),p(99),p(99.9),max")
	fl.StringVar(&f.timeUnit, "summary-time-unit", "", "show time values of the summary in s, ms or us")
	fl.BoolVar(&f.noSetup, "no-setup", false, "do not run setup()")
	fl.BoolVar(&f.noTeardown, "no-teardown", false, "do not run teardown()")
	fl.BoolVar(&f.insecure, "insecure-skip-tls-verify", false, "k6/http: do not verify TLS certificates")
	fl.StringVar(&f.userAgent, "user-agent", "", "k6/http's User-Agent header")
	return cmd
}

// codedError carries a k6 exit code out of camstorm run.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// runOptionFlags is the flag layer of options.
func runOptionFlags(cmd *cobra.Command, f *runFlags) (scenarios.Options, error) {
	var o scenarios.Options
	fl := cmd.Flags()
	if fl.Changed("summary-trend-stats") {
		o.SummaryTrendStats = strings.Split(f.trendStats, ",")
	}
	if fl.Changed("summary-time-unit") {
		o.SummaryTimeUnit = &f.timeUnit
	}
	if fl.Changed("no-setup") {
		o.NoSetup = &f.noSetup
	}
	if fl.Changed("no-teardown") {
		o.NoTeardown = &f.noTeardown
	}
	if fl.Changed("insecure-skip-tls-verify") {
		o.InsecureSkipTLSVerify = &f.insecure
	}
	if fl.Changed("user-agent") {
		o.UserAgent = &f.userAgent
	}
	if fl.Changed("vus") {
		o.VUs = &f.vus
	}
	if fl.Changed("iterations") {
		o.Iterations = &f.iterations
	}
	if fl.Changed("duration") {
		d, err := scenarios.ParseDuration(f.duration)
		if err != nil {
			return o, fmt.Errorf("--duration: %w", err)
		}
		o.Duration = &d
	}
	if len(f.stages) > 0 {
		st, err := scenarios.ParseStages(strings.Join(f.stages, ","))
		if err != nil {
			return o, fmt.Errorf("--stage: %w", err)
		}
		o.SetStages(st)
	}
	return o, nil
}

// runSegment reads --shard or --execution-segment(-sequence).
func runSegment(f *runFlags) (*segment.Tuple, error) {
	if f.shard != "" {
		if f.segment != "" || f.sequence != "" {
			return nil, errors.New("--shard replaces --execution-segment and --execution-segment-sequence; use one or the other")
		}
		return segment.ParseShard(f.shard)
	}
	if f.segment == "" && f.sequence == "" {
		return nil, nil
	}
	seg, err := segment.ParseSegment(f.segment)
	if err != nil {
		return nil, err
	}
	seq, err := segment.ParseSequence(f.sequence)
	if err != nil {
		return nil, err
	}
	return segment.NewTuple(seg, seq)
}

func parseStartAt(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if rest, ok := strings.CutPrefix(s, "+"); ok {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return time.Time{}, fmt.Errorf("--start-at %q: want RFC 3339 or +DURATION, e.g. +30s", s)
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--start-at %q: want RFC 3339 (2026-11-27T10:00:00Z) or +DURATION", s)
	}
	return t, nil
}

func keyValues(flag string, list []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: want KEY=VALUE", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

func runScript(cmd *cobra.Command, path string, f *runFlags) error {
	usage := func(err error) error {
		return &codedError{scenarios.ExitInvalidConfig, fmt.Errorf("%w: %w", errUsage, err)}
	}
	stderr := cmd.ErrOrStderr()
	flagOpts, err := runOptionFlags(cmd, f)
	if err != nil {
		return usage(err)
	}
	envOpts, err := scenarios.EnvOptions(os.LookupEnv)
	if err != nil {
		return usage(err)
	}
	tuple, err := runSegment(f)
	if err != nil {
		return usage(err)
	}
	startAt, err := parseStartAt(f.startAt, time.Now())
	if err != nil {
		return usage(err)
	}
	env := map[string]string{}
	if !f.noSystemEnv {
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	}
	given, err := keyValues("env", f.envs)
	if err != nil {
		return usage(err)
	}
	for k, v := range given {
		env[k] = v
	}
	tags, err := keyValues("tag", f.tags)
	if err != nil {
		return usage(err)
	}
	if f.summaryMode != "compact" && f.summaryMode != "disabled" {
		return usage(fmt.Errorf("--summary-mode %q: want compact or disabled", f.summaryMode))
	}
	if f.stackMode != "embedded" && f.stackMode != "containers" {
		return usage(fmt.Errorf("--stack %q: want embedded or containers", f.stackMode))
	}
	var outputs []results.Output
	var resultsFile string
	closeOutputs := func() {
		for _, o := range outputs {
			_ = o.Close()
		}
	}
	for _, spec := range f.outs {
		if file, ok := strings.CutPrefix(spec, "camstorm="); ok || spec == "camstorm" {
			// Written at the end: make sure now that it can be, not after an hour.
			if err := checkWritable(file); err != nil {
				closeOutputs()
				return &codedError{exitFailure, fmt.Errorf("--out %s: %w", spec, err)}
			}
			resultsFile = file
			continue
		}
		if _, _, err := results.ParseOutput(spec); err != nil {
			closeOutputs()
			return usage(fmt.Errorf("--out %s: %w (kinds: json=FILE, csv=FILE, camstorm=FILE)", spec, err))
		}
		o, err := results.OpenOutput(spec, cmd.OutOrStdout(), results.OutputOptions{})
		if err != nil {
			closeOutputs()
			return &codedError{exitFailure, fmt.Errorf("--out %s: %w", spec, err)}
		}
		outputs = append(outputs, o)
	}
	if f.metricsAddr != "" {
		lm, err := startLiveMetrics(f.metricsAddr, "run", stderr)
		if err != nil {
			closeOutputs()
			return &codedError{exitFailure, err}
		}
		defer lm.close()
		outputs = append(outputs, lm.exp)
	}

	program, err := scenarios.Compile(path)
	if err != nil {
		closeOutputs()
		return &codedError{scenarios.ExitScriptException, err}
	}
	ctx := cmd.Context()
	target, where, release, err := runTarget(ctx, f)
	if err != nil {
		closeOutputs()
		return err
	}
	defer release()
	if tuple != nil {
		fmt.Fprintf(stderr, "camstorm run: %s against %s, segment %s\n", path, where, tuple)
	} else {
		fmt.Fprintf(stderr, "camstorm run: %s against %s\n", path, where)
	}
	cfg := scenarios.Config{
		Program: program, Env: env, EnvOptions: envOpts, FlagOptions: flagOpts, Target: target, Outputs: outputs,
		Segment: tuple, Seed: f.seed, StartAt: startAt, NoThresholds: f.noThresholds, Tags: tags, Log: stderr, Stdout: cmd.OutOrStdout(),
	}
	endProgress := func() {}
	if !f.quiet {
		cfg.Progress, endProgress = runProgress(stderr)
	}
	res, err := scenarios.Run(ctx, cfg)
	endProgress()
	if err != nil {
		code := scenarios.ExitCodeOf(err)
		if code == 255 {
			code = exitFailure
		}
		if res == nil {
			return &codedError{code, err}
		}
		fmt.Fprintln(stderr, "camstorm run:", err)
		err = &codedError{code, errSilent}
	}
	if werr := writeRunOutputs(ctx, cmd, program, env, res, f, resultsFile); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		switch res.ExitCode {
		case scenarios.ExitThresholdsFailed:
			fmt.Fprintf(stderr, "camstorm run: thresholds failed: %s\n", failedThresholds(res.Verdicts))
		default:
			fmt.Fprintf(stderr, "camstorm run: %s (exit %d)\n", cmp.Or(res.Abort, "test failed"), res.ExitCode)
		}
		return &codedError{res.ExitCode, errSilent}
	}
	return nil
}

// checkWritable makes sure a file can be created at path, leaving nothing.
func checkWritable(path string) error {
	if strings.TrimSpace(path) == "" {
		return errors.New("no file named: want camstorm=FILE")
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	probe, err := os.CreateTemp(dir, ".camstorm-probe-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", dir, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

func failedThresholds(v []results.Verdict) string {
	var out []string
	for _, x := range v {
		if !x.OK {
			out = append(out, fmt.Sprintf("%s '%s' (got %s)", x.Key, x.Threshold.Source, strconv.FormatFloat(x.Got, 'g', 6, 64)))
		}
	}
	return strings.Join(out, "; ")
}

// writeRunOutputs prints the summary (or runs handleSummary) and writes
// --summary-export and --out camstorm=FILE.
func writeRunOutputs(ctx context.Context, cmd *cobra.Command, p *scenarios.Program, env map[string]string, res *scenarios.Result, f *runFlags, resultsFile string) error {
	var errs []error
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	out, handled, err := scenarios.HandleSummary(ctx, p, env, res.Summary)
	if err != nil {
		fmt.Fprintln(stderr, "camstorm run: handleSummary:", err)
	}
	switch {
	case handled && err == nil:
		for dest, b := range out {
			switch dest {
			case "stdout":
				_, _ = stdout.Write(b)
			case "stderr":
				_, _ = stderr.Write(b)
			default:
				if werr := writeFileAtomically(dest, func(w io.Writer) error { _, e := w.Write(b); return e }); werr != nil {
					errs = append(errs, fmt.Errorf("handleSummary output %s: %w", dest, werr))
				}
			}
		}
	case f.summaryMode != "disabled":
		if err := results.WriteTextSummary(stdout, res.SummaryInput, false); err != nil {
			errs = append(errs, err)
		}
	}
	if f.summaryExport != "" {
		b, err := results.ExportSummary(res.Summary)
		if err == nil {
			err = writeFileAtomically(f.summaryExport, func(w io.Writer) error { _, e := w.Write(b); return e })
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--summary-export: %w", err))
		}
	}
	if resultsFile != "" {
		if dir := filepath.Dir(resultsFile); dir != "" {
			_ = os.MkdirAll(dir, 0o755)
		}
		err := writeFileAtomically(resultsFile, func(w io.Writer) error { return results.WriteFile(w, res.File) })
		if err != nil {
			errs = append(errs, fmt.Errorf("--out camstorm=%s: %w", resultsFile, err))
		}
	}
	return errors.Join(errs...)
}

// runProgress prints the run's state every 10 s (on a terminal, a status
// line rewritten in place once a second).
// runProgress reports a run's progress; end clears the status line.
func runProgress(w io.Writer) (report func(scenarios.Progress), end func()) {
	pp := newProgressPrinter(w, 10*time.Second)
	var last scenarios.Progress
	return func(p scenarios.Progress) {
		secs := (p.Elapsed - last.Elapsed).Seconds()
		rate := func(now, before int64) float64 {
			if secs <= 0 {
				return 0
			}
			return float64(now-before) / secs
		}
		parts := []string{}
		if p.VUsMax > 0 {
			parts = append(parts, fmt.Sprintf("%d/%d VUs, %d iterations (%.0f/s, %d interrupted)", p.VUs, p.VUsMax, p.Iterations,
				rate(p.Iterations, last.Iterations), p.Interrupted))
		}
		if p.Cameras > 0 || p.Persisted > 0 {
			parts = append(parts, fmt.Sprintf("%d cameras streaming, %.0f fragments/s, %.2f Mbit/s", p.Cameras,
				rate(p.Persisted, last.Persisted), rate(p.Bytes, last.Bytes)*8/1e6))
		}
		if p.HTTPReqs > 0 {
			parts = append(parts, fmt.Sprintf("%.0f requests/s", rate(p.HTTPReqs, last.HTTPReqs)))
		}
		parts = append(parts, fmt.Sprintf("%d errors", p.Errors))
		last = p
		pp.Status(fmt.Sprintf("running %s: %s", p.Elapsed.Round(time.Second), strings.Join(parts, ", ")))
	}, pp.End
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// runTarget starts the reference stack (or reaches --target) for a run.
func runTarget(ctx context.Context, f *runFlags) (scenarios.Target, string, func(), error) {
	if f.targetURL != "" {
		if f.stackMode == "containers" {
			return scenarios.Target{}, "", nil, fmt.Errorf("%w: --stack containers starts its own stack: drop --target", errUsage)
		}
		hc, err := httpsClient(f.caFile)
		if err != nil {
			return scenarios.Target{}, "", nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		awsCfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return scenarios.Target{}, "", nil, fmt.Errorf("loading AWS credentials and region: %w", err)
		}
		region := cmp.Or(awsCfg.Region, "us-east-1")
		sim := simulator.Target{ControlPlaneURL: strings.TrimRight(f.targetURL, "/"), HTTP: hc, Credentials: awsCfg.Credentials, Region: region}
		return scenarios.Target{Sim: sim, KMSURL: f.kmsURL}, f.targetURL, hc.CloseIdleConnections, nil
	}
	st, hc, where, release, err := startLocalStack(ctx, f.stackMode == "containers", "")
	if err != nil {
		return scenarios.Target{}, "", nil, err
	}
	sim := simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Credentials: st.AdminCredentials(), Region: st.Region}
	return scenarios.Target{Sim: sim, KMSURL: st.KMSURL, Devices: devicesOf(st)}, where, release, nil
}
