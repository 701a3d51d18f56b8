package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
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
	cmd.AddCommand(newBenchIngestCommand())
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
share of the raw disk+cipher ceiling the ingest reaches.`,
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
			fmt.Fprintf(tw, "ingest: PutMedia over TLS to PERSISTED\t%.1f\t%d\t%.1f\t%.2f\t\n",
				res.Ingest.MBps, res.Ingest.Fragments, float64(res.Ingest.Bytes)/1e6, res.Ratio)
			tw.Flush()
			fmt.Fprintf(cmd.OutOrStdout(), "PERSISTED latency from first byte: p50 %s, p99 %s; GOMAXPROCS %d\n",
				res.PersistedP50.Round(time.Millisecond), res.PersistedP99.Round(time.Millisecond), runtime.GOMAXPROCS(0))
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

func dirOrTemp(d string) string {
	if d == "" {
		return os.TempDir()
	}
	return d
}
