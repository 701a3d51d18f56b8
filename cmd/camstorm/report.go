package main

import (
	"encoding/json"
	"fmt"
	"github.com/camstorm/camstorm/conformance/conformreport"
	"github.com/camstorm/camstorm/simulator/fleet/fleetreport"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/camstorm/camstorm/results/report"
)

// reportFormats are the documents camstorm report reads besides results
// files and k6 NDJSON/CSV: they belong to the packages that write them.
var reportFormats = []report.Format{fleetreport.Format, conformreport.Format}

func newReportCommand() *cobra.Command {
	var htmlOut, jsonOut string
	var baseline []string
	cmd := &cobra.Command{
		Use:   "report RESULTS... [--html FILE] [--json FILE] [--compare BASELINE...]",
		Short: "Turn results into one self-contained HTML page (charts, verdicts, cases) and/or JSON",
		Long: `Read what camstorm runs wrote and render it as a report: one HTML file that
works offline (inline CSS, charts drawn as SVG, nothing fetched), and/or JSON.

Inputs are recognised by their content, not their name (gzipped files too):
  results files      camstorm run --out camstorm=FILE; several are the shards
                     of one run and are merged
  k6 NDJSON and CSV  camstorm run --out json=FILE / --out csv=FILE; several
                     are replayed into one run
  fleet reports      camstorm fleet --json FILE; each is a run of its own
  conform reports    camstorm conform --json FILE; each is a run of its own

The page shows, where the input has them: run metadata (version, seed,
scenario, target, machine, start, end), SLO verdicts and thresholds, latency
percentiles over time per ACK type, throughput and active cameras over time,
reconnects, drops and errors over time, a per-profile breakdown, the worst
cameras, the metrics table, conformance cases with their evidence, a
capacity search's steps and USL fit, and notes about the data.

--compare BASELINE... sets the run in RESULTS (the candidate) against the
run in the BASELINE files, side by side, with the figures that changed and
the regressions flagged (latency up or throughput down by more than 10 %,
any loss or error count rising from 0, a threshold that now fails). Each
side must come to exactly one run.

--json writes {"runs": [...], "comparison": {...}}; FILE "-" is stdout.

Exit status: 0; 1 when an input cannot be read or recognised (the file is
named); 2 for wrong flags or arguments.`,
		Example: `  camstorm run ramp.js --out camstorm=run.json && camstorm report run.json --html report.html
  camstorm report shard-*.json --html report.html --json report.json
  camstorm fleet --json fleet.json && camstorm report fleet.json --html fleet.html
  camstorm report candidate.json --compare baseline.json --html compare.html`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("%w: name at least one results file (see %s --help)", errUsage, cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if htmlOut == "" && jsonOut == "" {
				return fmt.Errorf("%w: nothing to write: give --html FILE and/or --json FILE (see %s --help)", errUsage, cmd.CommandPath())
			}
			if htmlOut == "-" && jsonOut == "-" {
				return fmt.Errorf("%w: --html and --json cannot both write to stdout", errUsage)
			}
			runs, err := loadReportInputs(args)
			if err != nil {
				return err
			}
			var cmp *report.Comparison
			if len(baseline) > 0 {
				base, err := loadReportInputs(baseline)
				if err != nil {
					return err
				}
				if len(base) != 1 || len(runs) != 1 {
					return fmt.Errorf("%w: --compare needs one run on each side; the baseline files make %d runs and RESULTS %d (give a fleet or conform report alone, or the shards of one run)",
						errUsage, len(base), len(runs))
				}
				c := report.Compare(base[0], runs[0])
				cmp = &c
				runs = []*report.Run{base[0], runs[0]}
			}
			stdout := cmd.OutOrStdout()
			if htmlOut != "" {
				if err := writeReportOutput(htmlOut, stdout, func(w io.Writer) error { return report.WriteHTML(w, runs, cmp) }); err != nil {
					return fmt.Errorf("--html: %w", err)
				}
			}
			if jsonOut != "" {
				doc := reportDocument{Runs: runs, Comparison: cmp}
				if err := writeReportOutput(jsonOut, stdout, func(w io.Writer) error {
					enc := json.NewEncoder(w)
					enc.SetIndent("", "  ")
					return enc.Encode(doc)
				}); err != nil {
					return fmt.Errorf("--json: %w", err)
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "camstorm report: %s%s\n", describeRuns(runs, cmp), describeOutputs(htmlOut, jsonOut))
			return nil
		},
	}
	cmd.Flags().StringVar(&htmlOut, "html", "", "write the HTML report to FILE (- for stdout)")
	cmd.Flags().StringVar(&jsonOut, "json", "", "write the runs (and comparison) as JSON to FILE (- for stdout)")
	cmd.Flags().StringSliceVar(&baseline, "compare", nil, "compare against the run in these baseline files (repeat the flag or separate with commas)")
	return cmd
}

// reportDocument is what --json writes.
type reportDocument struct {
	Runs       []*report.Run      `json:"runs"`
	Comparison *report.Comparison `json:"comparison,omitempty"`
}

// loadReportInputs loads files, naming the one that cannot be read.
func loadReportInputs(paths []string) ([]*report.Run, error) {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", report.ErrInput, err)
		}
		_ = f.Close()
	}
	runs, err := report.LoadWith(reportFormats, paths...)
	if err != nil {
		named := false
		for _, p := range paths {
			named = named || strings.Contains(err.Error(), p)
		}
		if !named {
			return nil, fmt.Errorf("reading %s: %w", strings.Join(paths, ", "), err)
		}
		return nil, err
	}
	return runs, nil
}

func writeReportOutput(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "-" {
		return write(stdout)
	}
	return writeFileAtomically(path, write)
}

func describeRuns(runs []*report.Run, cmp *report.Comparison) string {
	if cmp != nil {
		return fmt.Sprintf("baseline %q against candidate %q, %d regressions", runs[0].Meta.Title, runs[1].Meta.Title, cmp.Regressions)
	}
	titles := make([]string, len(runs))
	for i, r := range runs {
		titles[i] = fmt.Sprintf("%q (%s)", r.Meta.Title, r.Kind)
	}
	return fmt.Sprintf("%d run(s): %s", len(runs), strings.Join(titles, ", "))
}

func describeOutputs(htmlOut, jsonOut string) string {
	var parts []string
	for _, o := range []struct{ kind, path string }{{"HTML", htmlOut}, {"JSON", jsonOut}} {
		switch o.path {
		case "":
		case "-":
			parts = append(parts, o.kind+" to stdout")
		default:
			parts = append(parts, o.kind+" in "+o.path)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, ", ")
}
