package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/camstorm/camstorm/bench"
	"github.com/spf13/cobra"
)

func newBenchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure camstorm's components as ratios against raw baselines from the same run",
	}
	cmd.AddCommand(newBenchIngestCommand(), newBenchFleetCommand(), newBenchKMSCommand(), newBenchRunnerCommand())
	return cmd
}

func newBenchFleetCommand() *cobra.Command {
	var (
		only, steps, profileDir string
		mo                      bench.MemoryOptions
		gopt                    bench.GoodputOptions
		co                      bench.CapacityOptions
		inProcess, asJSON       bool
	)
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Camera memory, fleet goodput vs raw TLS, and the largest fleet this machine sustains",
		Long: `Measure the simulated fleet, each figure against a baseline or goal from the
same run:

  memory    --memory-cameras real-time E2EE cameras at 128 kbit/s, 15 fps, 1 s
            GOP: Go heap and stacks per camera in steady state, minus the media
            each still buffers unacknowledged. Goal: at most 64 KiB.
  goodput   --goodput-cameras offline E2EE cameras sending as fast as the
            embedded stack acknowledges: media bytes PERSISTED per second,
            over raw TLS 1.3 loopback throughput of as many connections to a
            server that discards, measured in the same process. Goal: 0.70.
  capacity  fleets of real-time 128 kbit/s E2EE cameras of growing size
            (--steps), each for --step-duration against a fresh stack: the
            largest whose PERSISTED ACK p99 stays under 2 s with nothing lost.
            Goal: 10000.

For memory and capacity the stack runs as a child process ('camstorm stack
up'), so its memory, CPU and file descriptors are not counted as the
cameras' (--in-process keeps it in this process). With --profile-dir, each
capacity step leaves cameras-N.pprof and stack-N.pprof CPU profiles.
Capacity takes minutes per step.`,
		Example: `  camstorm bench fleet --only memory,goodput
  camstorm bench fleet --only capacity --steps 1000,2000,4000 --profile-dir ./prof`,
		Args: usageArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			want := map[string]bool{}
			for _, w := range strings.Split(only, ",") {
				w = strings.TrimSpace(w)
				if w != "memory" && w != "goodput" && w != "capacity" {
					return fmt.Errorf("%w: --only %q: want a list of memory, goodput, capacity", errUsage, w)
				}
				want[w] = true
			}
			for _, st := range strings.Split(steps, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(st))
				if err != nil || n < 1 {
					return fmt.Errorf("%w: --steps %q: want whole numbers of cameras, e.g. 1000,2000", errUsage, steps)
				}
				co.Steps = append(co.Steps, n)
			}
			logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "  "+format+"\n", args...) }
			mo.Progress, gopt.Progress, co.Progress = logf, logf, logf
			if !inProcess {
				provider := childStack(gopt.Dir, profileDir)
				mo.Stack, co.Stack = provider, provider
			}
			co.ProfileDir, mo.ProfileDir, gopt.ProfileDir = profileDir, profileDir, profileDir
			ctx := cmd.Context()
			var out struct {
				Memory   *bench.MemoryResult   `json:"memory,omitempty"`
				Goodput  *bench.GoodputResult  `json:"goodput,omitempty"`
				Capacity *bench.CapacityResult `json:"capacity,omitempty"`
			}
			if want["memory"] {
				fmt.Fprintf(os.Stderr, "bench fleet: memory of %d cameras\n", mo.Cameras)
				r, err := bench.CameraMemory(ctx, mo)
				if err != nil {
					return err
				}
				out.Memory = &r
			}
			if want["goodput"] {
				fmt.Fprintf(os.Stderr, "bench fleet: goodput of %d cameras vs raw TLS\n", gopt.Cameras)
				r, err := bench.FleetGoodput(ctx, gopt)
				if err != nil {
					return err
				}
				out.Goodput = &r
			}
			if want["capacity"] {
				fmt.Fprintf(os.Stderr, "bench fleet: capacity, steps %v\n", co.Steps)
				r, err := bench.FleetCapacity(ctx, co)
				if err != nil {
					return err
				}
				out.Capacity = &r
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "figure\tvalue\tbaseline or goal\tratio\t\n")
			if r := out.Memory; r != nil {
				where := "stack in a child process"
				if r.StackInProcess {
					where = "stack in this process: includes its sessions"
				}
				fmt.Fprintf(tw, "memory per camera, %d cameras (%s)\t%.1f KiB\tgoal %d KiB\t%.2f\t\n",
					r.Cameras, where, float64(r.PerCamera)/1024, bench.MemoryGoal>>10, r.GoalRatio)
			}
			if r := out.Goodput; r != nil {
				fmt.Fprintf(tw, "fleet goodput, %d cameras (PERSISTED media)\t%.1f MB/s\traw TLS %.1f MB/s\t%.2f\t\n",
					r.Cameras, r.Fleet.MBps, r.Baseline.MBps, r.Ratio)
				fmt.Fprintf(tw, "fleet goodput vs the disk's ceiling (%s)\t%.1f MB/s\tGCM+fdatasync %.1f MB/s\t%.2f\t\n",
					dirOrTemp(gopt.Dir), r.Fleet.MBps, r.Disk.MBps, r.DiskRatio)
			}
			if r := out.Capacity; r != nil {
				fmt.Fprintf(tw, "largest fleet at 128 kbit/s, PERSISTED p99 < 2 s, nothing lost\t%d\tgoal 10000\t%.2f\t\n",
					r.Largest, float64(r.Largest)/10000)
			}
			tw.Flush()
			if r := out.Memory; r != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "memory: %.1f goroutines and %.1f KiB resident per camera; %.1f KiB of media buffered per camera (excluded)\n",
					r.GoroutinesPerCamera, float64(r.RSSPerCamera)/1024, float64(r.Buffered)/1024)
			}
			if r := out.Capacity; r != nil {
				tw = tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintf(tw, "cameras\tPERSISTED p50 ms\tp99 ms\tlost frames\tcamera cores\tpass\t\n")
				for _, st := range r.Steps {
					fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%d\t%.2f\t%v\t\n", st.Cameras, st.PersistedP50, st.PersistedP99, st.LostFrames, st.CPU, st.Pass)
				}
				tw.Flush()
				for _, st := range r.Steps {
					if len(st.Problems) > 0 {
						fmt.Fprintf(cmd.OutOrStdout(), "%d cameras: %s\n", st.Cameras, strings.Join(st.Problems, "; "))
					}
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&only, "only", "memory,goodput,capacity", "which figures to measure")
	f.IntVar(&mo.Cameras, "memory-cameras", 1000, "cameras for the memory figure")
	f.IntVar(&gopt.Cameras, "goodput-cameras", 16, "cameras (and raw TLS connections) for the goodput figure")
	f.DurationVar(&gopt.Duration, "goodput-duration", 10*time.Second, "measured window of the goodput figure")
	f.StringVar(&gopt.Dir, "dir", "", "parent directory of the stacks' data and the disk baseline (default the system temp dir; tmpfs takes the disk out)")
	f.StringVar(&steps, "steps", "500,1000,2000,4000,6000,8000,10000", "fleet sizes the capacity search tries, smallest first")
	f.DurationVar(&co.Duration, "step-duration", 30*time.Second, "how long each capacity step streams once all cameras run")
	f.DurationVar(&co.Ramp, "ramp", 20*time.Second, "camera starts spread over this long in each capacity step")
	f.StringVar(&profileDir, "profile-dir", "", "write profiles here: heap of the memory figure, CPU of the goodput windows and of each capacity step")
	f.BoolVar(&inProcess, "in-process", false, "run the stack in this process instead of a child process")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}

func newBenchIngestCommand() *cobra.Command {
	var (
		o      bench.IngestOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Persisted MB/s of the embedded ingest vs AES-GCM + fsync of the same bytes",
		Long: `Start the embedded stack, stream synthetic H.264 from --streams producers over
PutMedia (TLS, loopback) as fast as the ingest acknowledges for --duration, and
count the bytes of fragments that came back PERSISTED. Then, on the same disk,
seal the same fragment sizes with AES-256-GCM and append them to a file with
ideal group commit (one fsync per batch). The ratio is ingest / baseline: the
share of the raw disk+cipher ceiling the ingest reaches. The ingest runs twice,
with encryption at rest on (as the stack runs) and off, and the reference KMS's
envelopes per second through the AWS SDK are printed beside them.`,
		Example: `  camstorm bench ingest
  camstorm bench ingest --streams 64 --duration 30s --dir /var/tmp --json`,
		Args: usageArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Streams < 1 || o.Duration <= 0 {
				return fmt.Errorf("%w: --streams must be at least 1 and --duration positive", errUsage)
			}
			o.Progress = func(el time.Duration, b int64) {
				fmt.Fprintf(os.Stderr, "\r  %4.0fs  %8.1f MB persisted", el.Seconds(), float64(b)/1e6)
			}
			fmt.Fprintf(os.Stderr, "bench ingest: %d streams for %s, synthetic H.264 %.1f Mbit/s, data in %s\n",
				o.Streams, o.Duration, float64(o.BitrateBps)/1e6, dirOrTemp(o.Dir))
			res, err := bench.Ingest(cmd.Context(), o)
			fmt.Fprintln(os.Stderr)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "figure\tMB/s\tfragments\tMB\tratio\t\n")
			fmt.Fprintf(tw, "raw baseline: AES-256-GCM + write + fsync (group commit)\t%.1f\t%d\t%.1f\t1.00\t\n",
				res.Baseline.MBps, res.Baseline.Fragments, float64(res.Baseline.Bytes)/1e6)
			fmt.Fprintf(tw, "ingest: PutMedia over TLS to PERSISTED, encrypted at rest\t%.1f\t%d\t%.1f\t%.2f\t\n",
				res.Ingest.MBps, res.Ingest.Fragments, float64(res.Ingest.Bytes)/1e6, res.Ratio)
			fmt.Fprintf(tw, "ingest, encryption at rest off\t%.1f\t%d\t%.1f\t%.2f\t\n",
				res.IngestPlaintext.MBps, res.IngestPlaintext.Fragments, float64(res.IngestPlaintext.Bytes)/1e6,
				res.IngestPlaintext.MBps/res.Baseline.MBps)
			tw.Flush()
			fmt.Fprintf(cmd.OutOrStdout(), "PERSISTED latency from first byte: p50 %s, p99 %s; GOMAXPROCS %d\n",
				res.PersistedP50.Round(time.Millisecond), res.PersistedP99.Round(time.Millisecond), runtime.GOMAXPROCS(0))
			fmt.Fprintf(cmd.OutOrStdout(), "encryption at rest keeps %.2f of the plaintext ingest's MB/s\n", res.AtRestRatio)
			if k, err := bench.KMS(cmd.Context(), bench.KMSOptions{Duration: 3 * time.Second}); err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "reference KMS through the SDK: %.0f GenerateDataKey+Decrypt envelopes/s (%d workers)\n", k.SDKPerSec, k.Workers)
			} else {
				fmt.Fprintln(os.Stderr, "KMS figure:", err)
			}
			for _, e := range res.Errors {
				fmt.Fprintln(os.Stderr, "producer error:", e)
			}
			if len(res.Errors) > 0 {
				return fmt.Errorf("%d of %d producers reported errors; figures cover what was persisted", len(res.Errors), o.Streams)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Streams, "streams", 16, "concurrent PutMedia streams")
	f.DurationVar(&o.Duration, "duration", 10*time.Second, "how long producers send")
	f.IntVar(&o.BitrateBps, "bitrate", 8_000_000, "synthetic media bitrate per stream, bit/s (producers send faster than real time)")
	f.StringVar(&o.Dir, "dir", "", "directory for the stack's data and the baseline file (same disk); default the system temp dir")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func newBenchKMSCommand() *cobra.Command {
	var (
		o      bench.KMSOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "kms",
		Short: "Data-key envelopes per second through the AWS SDK against the reference KMS, vs in-process AES-GCM",
		Long: `Start the embedded stack and, from --workers goroutines for --duration, call
GenerateDataKey (AES_256, the stream-ARN encryption context, the managed key
alias/aws/kinesisvideo) and then Decrypt of the returned blob through the AWS
SDK for Go v2 KMS client over TLS loopback. Then do the same wrap and unwrap in
process with AES-256-GCM. The ratio is what HTTP, TLS, JSON, the SDK and the
server keep of the bare cryptography.`,
		Example: `  camstorm bench kms
  camstorm bench kms --workers 32 --duration 10s --json`,
		Args: usageArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Workers < 1 || o.Duration <= 0 {
				return fmt.Errorf("%w: --workers must be at least 1 and --duration positive", errUsage)
			}
			res, err := bench.KMS(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "figure\tenvelopes/s\tratio\t\n")
			fmt.Fprintf(tw, "raw: AES-256-GCM wrap + unwrap in process\t%.0f\t1.00\t\n", res.RawPerSec)
			fmt.Fprintf(tw, "GenerateDataKey + Decrypt through the SDK over TLS\t%.0f\t%.4f\t\n", res.SDKPerSec, res.Ratio)
			tw.Flush()
			fmt.Fprintf(cmd.OutOrStdout(), "%d workers; mean SDK latency: GenerateDataKey %s, Decrypt %s\n", res.Workers,
				res.SDKLatency.GenerateDataKey.Round(time.Microsecond), res.SDKLatency.Decrypt.Round(time.Microsecond))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Workers, "workers", 8, "concurrent callers")
	f.DurationVar(&o.Duration, "duration", 5*time.Second, "measured time of each half")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func newBenchRunnerCommand() *cobra.Command {
	var (
		o         bench.RunnerOptions
		inProcess bool
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "runner",
		Short: "Memory of the scenario runner per JS VU and per camera, vs a bare JS runtime, a raw TLS connection and k6's 1-5 MB/VU",
		Long: `Measure what the scenario runner ('camstorm run') holds, each figure against a
raw baseline from the same run. Memory is live Go heap after two collections
plus goroutine stacks, grown from before to after, divided by the count.

  per JS VU   --vus VUs made by the runner's own code path from a k6-style
              script (k6, k6/http, k6/metrics Trend and Counter, k6/execution,
              a group and a check around one HTTP request), each after one
              iteration. Baseline: as many bare sobek runtimes that ran a
              trivial program. Reference: k6 documents roughly 1-5 MB per VU
              for simple tests.
  per camera  --cameras cameras of the runner's camera executors (64 kbit/s,
              5 fps, 1 s GOP, E2EE on), sampled after --duration of streaming
              once all started (media they still buffer included). Baseline:
              as many TLS connections to the same stack, each with a goroutine
              reading.

The stack runs as a child process ('camstorm stack up'), so its memory is not
the cameras' (--in-process keeps it in this process). Takes about
--duration plus 20 s.`,
		Example: `  camstorm bench runner
  camstorm bench runner --vus 2000 --cameras 1000 --duration 20s --json`,
		Args: usageArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.VUs < 1 || o.Cameras < 1 || o.Duration <= 0 {
				return fmt.Errorf("%w: --vus and --cameras must be at least 1 and --duration positive", errUsage)
			}
			o.Progress = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "  "+format+"\n", args...) }
			if !inProcess {
				o.Stack = childStack("", "")
			}
			fmt.Fprintf(os.Stderr, "bench runner: memory of %d JS VUs and %d cameras\n", o.VUs, o.Cameras)
			r, err := bench.RunnerMemory(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(r)
			}
			where := "stack in a child process"
			if r.StackInProcess {
				where = "stack in this process: includes its sessions"
			}
			kib := func(b int64) float64 { return float64(b) / 1024 }
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "figure\tvalue\tbaseline\tratio\t\n")
			fmt.Fprintf(tw, "memory per JS VU, %d VUs (k6-style script, one iteration each)\t%.1f KiB\tbare sobek runtime %.1f KiB\t%.2f\t\n",
				r.VUs, kib(r.PerVU), kib(r.PerBareRuntime), r.VURatio)
			fmt.Fprintf(tw, "memory per JS VU vs k6's documented 1-5 MB per VU\t%.1f KiB\tk6 %d-%d KiB\t%.3f\t\n",
				kib(r.PerVU), bench.K6PerVULow>>10, bench.K6PerVUHigh>>10, r.K6Ratio)
			fmt.Fprintf(tw, "memory per camera, %d cameras at 64 kbit/s (%s)\t%.1f KiB\traw TLS conn + reader %.1f KiB\t%.2f\t\n",
				r.Cameras, where, kib(r.PerCamera), kib(r.PerTLSConn), r.CameraRatio)
			tw.Flush()
			fmt.Fprintf(cmd.OutOrStdout(), "%d fragments PERSISTED before sampling; GOMAXPROCS %d\n", r.Persisted, runtime.GOMAXPROCS(0))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.VUs, "vus", 1000, "JS VUs (and bare runtimes) for the per-VU figure")
	f.IntVar(&o.Cameras, "cameras", 500, "cameras (and raw TLS connections) for the per-camera figure")
	f.DurationVar(&o.Duration, "duration", 10*time.Second, "how long the cameras stream once all have started, before sampling")
	f.DurationVar(&o.Ramp, "ramp", 5*time.Second, "camera starts spread over this long")
	f.BoolVar(&inProcess, "in-process", false, "run the stack in this process instead of a child process")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func dirOrTemp(d string) string {
	if d == "" {
		return os.TempDir()
	}
	return d
}
