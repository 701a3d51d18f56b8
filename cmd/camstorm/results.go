package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/scenarios"
)

func newResultsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "results",
		Short: "Work with results files (--out camstorm=FILE): merge shards",
	}
	cmd.AddCommand(newResultsMergeCommand())
	return cmd
}

func newResultsMergeCommand() *cobra.Command {
	var out, summaryExport string
	var noThresholds bool
	cmd := &cobra.Command{
		Use:   "merge FILE...",
		Short: "Merge shards' results files, judge the thresholds once over all of them",
		Long: `Merge the results files that 'camstorm run --out camstorm=FILE' wrote on
each shard into one run: counters add up, gauges keep the latest value,
rates add their passes and fails, and Trend histograms merge exactly, so
percentiles of the merged run are what one instance running the whole load
would have reported (within the histograms' 0.1 % relative error).

The thresholds (the same in every file, or it is an error) are evaluated
once over the merged data; counter rates are taken over the merged run's
wall-clock span. Two files for the same execution segment are refused, as
they would count the same load twice.

Prints the compact end-of-test summary; --out writes the merged results
file, --summary-export k6's legacy summary JSON.

Exit status: 0; 99 when a threshold fails; 104 when a threshold cannot be
evaluated; 1 for unreadable or inconsistent files.`,
		Example: `  camstorm results merge shard-0.json shard-1.json shard-2.json shard-3.json --out merged.json
  camstorm results merge results/*.json --summary-export summary.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files := make([]*results.File, 0, len(args))
			for _, path := range args {
				f, err := readResultsFile(path)
				if err != nil {
					return err
				}
				files = append(files, f)
			}
			merged, err := results.MergeFiles(files...)
			if err != nil {
				return fmt.Errorf("merging %d files: %w", len(files), err)
			}
			reg, store, th, checks, err := merged.Load()
			if err != nil {
				return &codedError{scenarios.ExitInvalidConfig, fmt.Errorf("loading the merged results: %w", err)}
			}
			elapsed := merged.Run.End.Sub(merged.Run.Start)
			var verdicts []results.Verdict
			if th != nil && !noThresholds {
				verdicts = th.Evaluate(store, elapsed, true)
			}
			in := results.SummaryInput{Metrics: reg.All(), Verdicts: verdicts, Root: checks.Root(), Duration: elapsed,
				Aggregate: func(metric string, sel results.Selector) (results.Aggregate, bool) {
					return store.Aggregate(metric, sel, elapsed)
				}}
			fmt.Fprintf(cmd.ErrOrStderr(), "camstorm results merge: %d files, %s of test time\n", len(files), elapsed.Round(1e6))
			if err := results.WriteTextSummary(cmd.OutOrStdout(), in, false); err != nil {
				return err
			}
			if out != "" {
				if err := writeFileAtomically(out, func(w io.Writer) error { return results.WriteFile(w, merged) }); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
			}
			if summaryExport != "" {
				b, err := results.ExportSummary(results.SummaryData(in))
				if err == nil {
					err = writeFileAtomically(summaryExport, func(w io.Writer) error { _, e := w.Write(b); return e })
				}
				if err != nil {
					return fmt.Errorf("--summary-export: %w", err)
				}
			}
			if results.Failed(verdicts) {
				fmt.Fprintf(cmd.ErrOrStderr(), "camstorm results merge: thresholds failed: %s\n", failedThresholds(verdicts))
				return &codedError{scenarios.ExitThresholdsFailed, errSilent}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "write the merged results file to FILE")
	cmd.Flags().StringVar(&summaryExport, "summary-export", "", "write k6's legacy summary JSON of the merged run to FILE")
	cmd.Flags().BoolVar(&noThresholds, "no-thresholds", false, "do not evaluate thresholds")
	return cmd
}

func readResultsFile(path string) (*results.File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	f, err := results.ReadFile(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
