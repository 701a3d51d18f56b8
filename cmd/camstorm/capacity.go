package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/camstorm/camstorm/results/report"
	"github.com/camstorm/camstorm/scenarios/cameras"
	"github.com/camstorm/camstorm/scenarios/capacity"
	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/simulator/netem"
)

// defaultSLO is the SLO a capacity search judges when --slo is not given.
const defaultSLO = "persisted_p99<2s,error_rate<0.1%"

type capacityFlags struct {
	slo                          string
	start, step, maxCameras      int
	hold, warmup, drain          time.Duration
	htmlFile, jsonFile           string
	targetURL, caFile, stackMode string
	bitrate, fps                 int
	gop                          time.Duration
	resolution, profiles         string
	plaintext                    bool
	seed                         int64
}

func newCapacityCommand() *cobra.Command {
	var f capacityFlags
	cmd := &cobra.Command{
		Use:   "capacity",
		Short: "Find how many cameras the ingest sustains at an SLO: step the fleet up, fit the USL, find the knee",
		Long: `Step a fleet of cameras up until the SLO breaks, and report the largest fleet
that met it, the knee (where throughput stops growing with the cameras) and a
Universal Scalability Law fit X(N) = λN / (1 + σ(N−1) + κN(N−1)) with its
predicted peak and error.

Each step starts --step more cameras, spread over the first half of --warmup
so their fragments do not arrive in one burst a second (the running ones keep
filming), lets them settle for the rest of it, then measures --hold: PERSISTED fragments per second,
ACK latency percentiles and the ERROR ACK rate, over the hold alone. The search
stops after the first step that breaks the SLO, or after --max cameras, so it
takes at most steps × (warmup + hold) plus the drain.

SLO terms (comma-separated, each NAME<LIMIT or NAME<=LIMIT):
  persisted_p99, persisted_p999   PERSISTED ACK latency percentile (a duration: 2s, 800ms)
  buffering_p99                   BUFFERING ACK latency percentile (a duration)
  error_rate                      ERROR ACKs over all ACKs (0.1% or 0.001)
  lost                            acknowledged fragments missing on read-back (a count);
                                  every stream is read back after the search, and a
                                  loss fails every step (it cannot be pinned on one)

Cameras are synthetic, end-to-end encrypted, on a perfect network unless
--profiles says otherwise, and low-bitrate by default (64 kbit/s 320x240
5 fps, 1 s GOP: one fragment per camera per second), so the search measures the
ingest rather than this machine's encoder.

Output: progress per step on stderr, a summary table on stdout, and with
--json / --html a report (kind "capacity") that 'camstorm report' renders.

Exit status: 0 when the search completed, whatever the capacity found; 2 for
usage errors; 1 when the harness failed; 130 when interrupted.`,
		Example: `  camstorm capacity
  camstorm capacity --slo 'persisted_p99<2s,error_rate<0.1%' --start 50 --step 50 --max 600 --hold 20s --json cap.json
  camstorm capacity --target https://ingest.example.com --ca ca.pem --slo 'persisted_p999<5s,lost<=0'`,
		Args: usageArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return runCapacity(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.slo, "slo", defaultSLO, "the SLO every step must meet (terms above)")
	fl.IntVar(&f.start, "start", capacity.DefaultStart, "cameras in the first step")
	fl.IntVar(&f.step, "step", capacity.DefaultStep, "cameras added per step")
	fl.IntVar(&f.maxCameras, "max", capacity.DefaultMax, "largest fleet to try")
	fl.DurationVar(&f.hold, "hold", capacity.DefaultHold, "how long each step is measured")
	fl.DurationVar(&f.warmup, "warmup", capacity.DefaultWarmup, "how long each step runs before it is measured")
	fl.DurationVar(&f.drain, "drain", capacity.DefaultDrain, "how long stopped cameras may deliver what they buffer")
	fl.StringVar(&f.htmlFile, "html", "", "write a self-contained HTML report to this file")
	fl.StringVar(&f.jsonFile, "json", "", "write the report as JSON (camstorm.report/v1, kind capacity) to this file")
	fl.StringVar(&f.stackMode, "stack", "embedded", "which reference stack to start: embedded (in this process) or containers (Docker)")
	fl.StringVar(&f.targetURL, "target", "", "search this KVS-compatible control plane instead of a reference stack (AWS credentials from the standard chain)")
	fl.StringVar(&f.caFile, "ca", "", "with --target: CA certificate to trust (default: the system roots)")
	fl.IntVar(&f.bitrate, "bitrate", capacity.DefaultBitrateBps, "each camera's video bitrate, bits per second")
	fl.IntVar(&f.fps, "fps", capacity.DefaultFPS, "each camera's frames per second")
	fl.DurationVar(&f.gop, "gop", capacity.DefaultGOP, "each camera's GOP (one fragment)")
	fl.StringVar(&f.resolution, "resolution", fmt.Sprintf("%dx%d", capacity.DefaultWidth, capacity.DefaultHeight), "each camera's picture size, WIDTHxHEIGHT")
	fl.StringVar(&f.profiles, "profiles", capacity.DefaultProfile+"=1", "network profiles and their weights, e.g. perfect=90,lte-good=10")
	fl.BoolVar(&f.plaintext, "plaintext", false, "turn end-to-end encryption off")
	fl.Int64Var(&f.seed, "seed", 1, "decides every camera's media, profile and faults")
	return cmd
}

// capacityConfig checks the flags, reporting every problem at once.
func capacityConfig(f *capacityFlags) (capacity.Config, error) {
	var errs []error
	slo, err := capacity.ParseSLO(f.slo)
	if err != nil {
		errs = append(errs, fmt.Errorf("--slo: %w", err))
	}
	if f.stackMode != "embedded" && f.stackMode != "containers" {
		errs = append(errs, fmt.Errorf("--stack %q: want embedded or containers", f.stackMode))
	}
	var w, h int
	if _, err := fmt.Sscanf(f.resolution, "%dx%d", &w, &h); err != nil || w <= 0 || h <= 0 || fmt.Sprintf("%dx%d", w, h) != f.resolution {
		errs = append(errs, fmt.Errorf("--resolution %q: want WIDTHxHEIGHT, e.g. 320x240", f.resolution))
	}
	profiles, err := fleet.ParseWeights(f.profiles, "profile", netem.ProfileNames())
	if err != nil {
		errs = append(errs, fmt.Errorf("--profiles: %w", err))
	}
	for _, c := range []struct {
		name string
		v    int
	}{{"--start", f.start}, {"--step", f.step}, {"--max", f.maxCameras}, {"--bitrate", f.bitrate}, {"--fps", f.fps}} {
		if c.v < 1 {
			errs = append(errs, fmt.Errorf("%s is %d, want at least 1", c.name, c.v))
		}
	}
	if f.maxCameras < f.start {
		errs = append(errs, fmt.Errorf("--max %d is below --start %d", f.maxCameras, f.start))
	}
	if f.hold < time.Second || f.warmup < 0 || f.drain < 0 || f.gop <= 0 {
		errs = append(errs, fmt.Errorf("--hold %v must be at least 1s, --warmup %v and --drain %v at least 0, --gop %v above 0", f.hold, f.warmup, f.drain, f.gop))
	}
	warmup := f.warmup
	if warmup == 0 {
		warmup = capacity.NoWarmup
	}
	if err := errors.Join(errs...); err != nil {
		return capacity.Config{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	return capacity.Config{
		Cameras: cameras.Config{
			Profiles: profiles, Plaintext: f.plaintext, Seed: f.seed,
			Synthetic: media.SyntheticConfig{BitrateBps: f.bitrate, FPS: f.fps, GOP: f.gop, Width: w, Height: h},
		},
		SLO: slo, Start: f.start, Step: f.step, Max: f.maxCameras,
		Hold: f.hold, Warmup: warmup, Drain: f.drain,
	}, nil
}

func runCapacity(cmd *cobra.Command, f *capacityFlags) error {
	cfg, err := capacityConfig(f)
	if err != nil {
		return err
	}
	if f.targetURL != "" && cmd.Flags().Changed("stack") {
		return fmt.Errorf("%w: --target searches your endpoint; drop --stack", errUsage)
	}
	if f.caFile != "" && f.targetURL == "" {
		return fmt.Errorf("%w: --ca is for --target", errUsage)
	}
	ctx := cmd.Context()
	tg, where, release, err := runTarget(ctx, &runFlags{targetURL: f.targetURL, caFile: f.caFile, stackMode: f.stackMode})
	if err != nil {
		return err
	}
	defer release()
	cfg.Cameras.Target, cfg.Cameras.Devices = tg.Sim, tg.Devices
	cfg.Cameras.StreamPrefix = "capacity-" + time.Now().UTC().Format("20060102T150405")

	stderr, stdout := cmd.ErrOrStderr(), cmd.OutOrStdout()
	began := time.Now()
	fmt.Fprintf(stderr, "camstorm capacity: SLO %s against %s; %s\n", cfg.SLO, where, planText(cfg))
	live := newCapacityProgress(stderr, cfg, began)
	defer live.stop()
	capRes, searchErr := capacity.Search(ctx, cfg, live.step)
	live.stop()
	if capRes == nil {
		return searchErr
	}
	run := capacityRun(f, cfg, capRes, where, began)
	printCapacitySummary(stdout, run)
	if err := writeCapacityReports(run, f.jsonFile, f.htmlFile); err != nil {
		return err
	}
	return searchErr
}

// planText says what the search will do and how long it may take.
func planText(cfg capacity.Config) string {
	steps := 0
	for n := cfg.Start; ; n += cfg.Step {
		steps++
		if n >= cfg.Max {
			break
		}
	}
	warmup := max(cfg.Warmup, 0)
	bound := time.Duration(steps)*(warmup+cfg.Hold) + cfg.Drain
	return fmt.Sprintf("%d to %d cameras in steps of %d, each warmed up %v and held %v: at most %d steps, %v",
		cfg.Start, cfg.Max, cfg.Step, warmup, cfg.Hold, steps, bound)
}

// capacityProgress prints each step as a line, and on a terminal a live
// status line between steps.
type capacityProgress struct {
	w     io.Writer
	tty   bool
	began time.Time
	cfg   capacity.Config
	done  chan struct{}
	ended chan struct{}
	state chan int // cameras of the step under way
}

func newCapacityProgress(w io.Writer, cfg capacity.Config, began time.Time) *capacityProgress {
	p := &capacityProgress{w: w, tty: isTerminal(w), began: began, cfg: cfg,
		done: make(chan struct{}), ended: make(chan struct{}), state: make(chan int, 1)}
	if !p.tty {
		close(p.ended)
		return p
	}
	go p.ticker()
	return p
}

func (p *capacityProgress) ticker() {
	defer close(p.ended)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	cams := p.cfg.Start
	for {
		select {
		case <-p.done:
			fmt.Fprint(p.w, "\r\033[K")
			return
		case cams = <-p.state:
		case <-t.C:
			fmt.Fprintf(p.w, "\r\033[K%7s  step of %d cameras under way", time.Since(p.began).Round(time.Second), cams)
		}
	}
}

// step prints one measured step.
func (p *capacityProgress) step(s capacity.Step) {
	verdict := "ok"
	if !s.OK {
		verdict = "SLO broken: " + strings.Join(s.Failed, ", ")
	}
	prefix := ""
	if p.tty {
		prefix = "\r\033[K"
	}
	fmt.Fprintf(p.w, "%s%7s  %5d cameras  %8.1f fragments/s  persisted p99 %s  errors %.0f of %.0f ACKs (%s)  %s\n",
		prefix, s.Elapsed.Round(time.Second), s.Cameras, s.Throughput, msText(s.PersistedP99), s.ErrorACKs, s.ACKs, pctText(s.ErrorRate), verdict)
	if p.tty {
		select {
		case <-p.state:
		default:
		}
		p.state <- min(s.Cameras+p.cfg.Step, p.cfg.Max)
	}
}

func (p *capacityProgress) stop() {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	<-p.ended
}

func msText(ms float64) string {
	if ms == 0 {
		return "n/a"
	}
	return time.Duration(ms * float64(time.Millisecond)).Round(time.Millisecond).String()
}

func pctText(f float64) string { return fmt.Sprintf("%.3f%%", 100*f) }

// capacityRun is the search as a report.
func capacityRun(f *capacityFlags, cfg capacity.Config, c *report.Capacity, where string, began time.Time) *report.Run {
	run := &report.Run{
		Schema: report.SchemaVersion, Kind: report.KindCapacity,
		Meta: report.Meta{
			Title:    fmt.Sprintf("Capacity at %s", c.SLO),
			Version:  buildVersion(),
			Scenario: "camstorm capacity " + capacityArgs(f, cfg),
			Target:   where,
			Seed:     f.seed,
			Machine:  fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version()),
			Start:    began.UTC(),
			End:      time.Now().UTC(),
		},
		Capacity: c,
	}
	n := make([]float64, len(c.Steps))
	x := make([]float64, len(c.Steps))
	for i, s := range c.Steps {
		n[i], x[i] = float64(s.Cameras), s.Throughput
	}
	if c.USL == nil {
		if _, err := report.FitUSL(n, x); err != nil {
			run.Notes = append(run.Notes, fmt.Sprintf("No USL fit: %v.", err))
		}
	}
	run.Notes = append(run.Notes,
		fmt.Sprintf("Each step was measured over its %v hold only, after a %v warm-up; throughput is PERSISTED fragments per second.", cfg.Hold, max(cfg.Warmup, 0)),
		"The knee is the fleet after which a step's added throughput per added camera fell below half the first step's throughput per camera.")
	return run
}

// capacityArgs is the command line that reproduces the search.
func capacityArgs(f *capacityFlags, cfg capacity.Config) string {
	args := fmt.Sprintf("--slo '%s' --start %d --step %d --max %d --warmup %v --hold %v --bitrate %d --fps %d --gop %v --resolution %s --profiles %s --seed %d",
		cfg.SLO, cfg.Start, cfg.Step, cfg.Max, max(cfg.Warmup, 0), cfg.Hold, f.bitrate, f.fps, f.gop, f.resolution, f.profiles, f.seed)
	if f.plaintext {
		args += " --plaintext"
	}
	if f.targetURL != "" {
		args += " --target " + f.targetURL
	} else if f.stackMode != "embedded" {
		args += " --stack " + f.stackMode
	}
	return args
}

func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v = strings.TrimSpace(v + " " + s.Value[:12])
		}
	}
	return v
}

func printCapacitySummary(w io.Writer, run *report.Run) {
	c := run.Capacity
	fmt.Fprintf(w, "camstorm capacity: SLO %s against %s\n\n", c.SLO, run.Meta.Target)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "cameras\tfragments/s\tpersisted p99\terror rate\t  SLO")
	for _, s := range c.Steps {
		verdict := "ok"
		if !s.OK {
			verdict = "broken: " + strings.Join(s.Failed, ", ")
		}
		fmt.Fprintf(tw, "%d\t%.1f\t%s\t%s\t  %s\n", s.Cameras, s.Throughput, msText(s.PersistedP99), pctText(s.ErrorRate), verdict)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	switch {
	case c.Sustainable > 0 && c.Stop == capacity.StopMaxReached:
		fmt.Fprintf(w, "sustainable: at least %d cameras (every step met the SLO; raise --max to find the limit)\n", c.Sustainable)
	case c.Sustainable > 0:
		fmt.Fprintf(w, "sustainable: %d cameras (the largest step that met the SLO)\n", c.Sustainable)
	default:
		fmt.Fprintln(w, "sustainable: none (no step met the SLO)")
	}
	if c.Knee > 0 {
		fmt.Fprintf(w, "knee:        %d cameras (past it, each added camera added under half the first step's throughput per camera)\n", c.Knee)
	} else {
		fmt.Fprintln(w, "knee:        not reached (throughput grew in proportion to the cameras at every step)")
	}
	if u := c.USL; u != nil {
		fmt.Fprintf(w, "USL fit:     λ %.4g fragments/s per camera, σ %.4g (contention), κ %.3g (coherency); R² %.4f, RMSE %.2f fragments/s\n",
			u.Lambda, u.Sigma, u.Kappa, u.R2, u.RMSE)
		largest := 0
		for _, s := range c.Steps {
			largest = max(largest, s.Cameras)
		}
		switch {
		case u.PeakN > 2*float64(largest):
			fmt.Fprintf(w, "             predicted peak %.0f fragments/s at %.0f cameras: an extrapolation far past the largest step (%d), so no peak in sight\n", u.PeakX, u.PeakN, largest)
		case u.PeakN > 0:
			fmt.Fprintf(w, "             predicted peak %.0f fragments/s at %.0f cameras\n", u.PeakX, u.PeakN)
		default:
			fmt.Fprintln(w, "             no predicted peak (κ = 0: throughput flattens but does not fall)")
		}
	} else {
		fmt.Fprintln(w, "USL fit:     none (needs at least 3 steps with throughput)")
	}
	fmt.Fprintf(w, "stopped:     %s after %s\n", c.Stop, run.Meta.End.Sub(run.Meta.Start).Round(time.Second))
}

// writeCapacityReports writes the JSON and HTML reports asked for.
func writeCapacityReports(run *report.Run, jsonFile, htmlFile string) error {
	if jsonFile != "" {
		err := writeFileAtomically(jsonFile, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(run)
		})
		if err != nil {
			return err
		}
	}
	if htmlFile != "" {
		return writeFileAtomically(htmlFile, func(w io.Writer) error { return report.WriteHTML(w, []*report.Run{run}, nil) })
	}
	return nil
}
