package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/reftarget"
	"github.com/camstorm/camstorm/conformance/suites"
	"github.com/camstorm/camstorm/stack"
)

func newConformCommand() *cobra.Command {
	var (
		stackMode, targetURL, kmsURL, caFile string
		junitFile, jsonFile                  string
		runs, defects                        []string
		list, verbose                        bool
		timeout                              time.Duration
		parallel                             int
	)
	cmd := &cobra.Command{
		Use:   "conform [SUITE|CASE-PREFIX ...]",
		Short: "Judge an ingest with the conformance suites (encryption, rotation, resume, access)",
		Long: `Run the conformance suites against an ingest and judge every case: pass, fail,
skip (the target cannot be tested that way, with the reason) or harness error
(camstorm could not carry the case out). Each case has a stable ID tied to a
requirement of the catalogue (R-TLS-1 … R-OPS-1), and a failure shows the
requirement, what was done, what was expected, what happened and the evidence
(ACK lines, fragment numbers, audit records, byte offsets).

Targets:
  (default)            the embedded reference stack, started in this process
  --stack containers   the reference stack as Docker containers (needs Docker)
  --target URL         your own KVS-compatible control plane, or real KVS
                       (https://kinesisvideo.REGION.amazonaws.com); credentials
                       come from the standard AWS chain and must be allowed to
                       create streams. Cases needing what a remote target does
                       not expose (restarts, a KMS cut, its storage or audit
                       log, enrolled cameras) are skipped with the reason.

Select suites or cases by name or ID prefix (arguments, or --run): e.g.
  camstorm conform encryption RES-DROP ACC-SIG-002
--list prints the selected cases without running them.

Exit status: 0 when no MUST case failed and nothing broke; 3 when a MUST case
failed (SHOULD failures are reported but do not fail the run); 1 when a case
ended in a harness error (the verdict cannot be trusted); 2 for usage errors.`,
		Example: `  camstorm conform --junit conform.xml --json conform.json
  camstorm conform --list
  camstorm conform --stack containers resume
  camstorm conform --defect plaintext-at-rest encryption   # watch the suite catch a broken stack`,
		RunE: func(cmd *cobra.Command, args []string) error {
			selection := append(append([]string(nil), runs...), args...)
			chosen, err := conformance.Select(suites.All(), selection)
			if err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			out := cmd.OutOrStdout()
			if list {
				return conformance.WriteList(out, chosen)
			}
			if parallel < 1 || timeout <= 0 {
				return fmt.Errorf("%w: --parallel %d and --timeout %v must be positive", errUsage, parallel, timeout)
			}
			var parsed []stack.Defect
			for _, d := range defects {
				def, err := stack.ParseDefect(d)
				if err != nil {
					return fmt.Errorf("%w: --defect: %w", errUsage, err)
				}
				parsed = append(parsed, def)
			}
			if len(parsed) > 0 && (stackMode != "embedded" || targetURL != "") {
				return fmt.Errorf("%w: --defect breaks the embedded stack on purpose; it cannot be combined with --stack containers or --target", errUsage)
			}
			if stackMode != "embedded" && stackMode != "containers" {
				return fmt.Errorf("%w: --stack %q: want embedded or containers", errUsage, stackMode)
			}
			if targetURL != "" && cmd.Flags().Changed("stack") {
				return fmt.Errorf("%w: --target judges your endpoint; drop --stack", errUsage)
			}
			log := stderrLogger(verbose)
			tg, release, err := conformTarget(cmd.Context(), stackMode, targetURL, kmsURL, caFile, parsed, log.Info)
			if err != nil {
				return err
			}
			defer release()
			fmt.Fprintf(out, "camstorm conform: %d cases against %s\n", countCases(chosen), tg.Name)
			r := &conformance.Runner{Target: tg, Timeout: timeout, Parallel: parallel, Observe: conformance.Progress(out, verbose)}
			rep, err := r.Run(cmd.Context(), chosen...)
			if err != nil {
				return err
			}
			if err := conformance.WriteText(out, rep); err != nil {
				return err
			}
			if err := writeReports(rep, junitFile, jsonFile); err != nil {
				return err
			}
			c := rep.Counts()
			switch {
			case cmd.Context().Err() != nil:
				return cmd.Context().Err()
			case c.MustFail > 0:
				return fmt.Errorf("%w: %d MUST cases failed", errVerificationFailed, c.MustFail)
			case c.Harness > 0:
				return fmt.Errorf("%d cases could not be carried out (harness errors above); the verdict is incomplete", c.Harness)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&stackMode, "stack", "embedded", "which reference stack to start: embedded (in this process) or containers (Docker)")
	f.StringVar(&targetURL, "target", "", "judge this KVS-compatible control plane instead of a reference stack")
	f.StringVar(&kmsURL, "kms-url", "", "with --target: the target's KMS endpoint (AWS KMS JSON 1.1), for the KMS cases")
	f.StringVar(&caFile, "ca", "", "with --target: CA certificate to trust (default: the system roots)")
	f.StringSliceVar(&runs, "run", nil, "suite names or case-ID prefixes to run (repeatable); same as arguments")
	f.BoolVar(&list, "list", false, "list the selected cases (ID, level, requirement, title) without running them")
	f.StringVar(&junitFile, "junit", "", "write a JUnit XML report to this file")
	f.StringVar(&jsonFile, "json", "", "write a JSON report to this file")
	f.DurationVar(&timeout, "timeout", 60*time.Second, "watchdog for each case that sets no bound of its own")
	f.IntVar(&parallel, "parallel", 4, "how many independent cases may run at once")
	f.StringSliceVar(&defects, "defect", nil, "start the embedded stack with this deliberate defect (repeatable; see `camstorm stack up --help`): shows the suites catching it, never for production")
	f.BoolVarP(&verbose, "verbose", "v", false, "describe every case that does not pass as it finishes, and debug logging")
	return cmd
}

func countCases(s []*conformance.Suite) int {
	n := 0
	for _, x := range s {
		n += len(x.Cases)
	}
	return n
}

// conformTarget starts (or describes) the target under test.
func conformTarget(ctx context.Context, mode, targetURL, kmsURL, caFile string, defects []stack.Defect, logf func(string, ...any)) (*conformance.Target, func(), error) {
	if targetURL != "" {
		hc, err := httpsClient(caFile)
		if err != nil {
			return nil, nil, err
		}
		hc.Timeout = 0 // GetMedia reads and PutMedia uploads are bounded by the cases
		roots := hc.Transport.(*http.Transport).TLSClientConfig.RootCAs
		awsCfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("loading AWS credentials and region: %w", err)
		}
		if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
			return nil, nil, fmt.Errorf("%w: --target needs AWS credentials from the standard chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE): %w", errUsage, err)
		}
		tg := &conformance.Target{Name: targetURL, Region: cmp.Or(awsCfg.Region, "us-east-1"), ControlPlaneURL: strings.TrimRight(targetURL, "/"),
			KMSURL: strings.TrimRight(kmsURL, "/"), HTTP: hc, RootCAs: roots, Admin: awsCfg.Credentials}
		return tg, hc.CloseIdleConnections, nil
	}
	var st *stack.Stack
	var err error
	opts := stack.Options{ClockControl: true, Defects: defects}
	name := "the embedded stack"
	if mode == "containers" {
		name = "the containers stack"
		st, err = startContainers(ctx, stderrLogger(false), opts)
	} else {
		if len(defects) > 0 {
			names := make([]string, len(defects))
			for i, d := range defects {
				names[i] = string(d)
			}
			name += " with deliberate defects " + strings.Join(names, ", ")
		}
		st, err = stack.StartEmbedded(ctx, opts)
	}
	if err != nil {
		return nil, nil, err
	}
	release := func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := st.Close(cctx); err != nil {
			logf("stopping the stack: " + err.Error())
		}
	}
	tg, err := reftarget.New(st, name)
	if err != nil {
		release()
		return nil, nil, err
	}
	return tg, release, nil
}

// writeReports writes a conformance report as JUnit XML and JSON to the
// files named (either may be empty).
func writeReports(rep *conformance.Report, junitFile, jsonFile string) error {
	for _, w := range []struct {
		file  string
		write func(io.Writer, *conformance.Report) error
	}{{junitFile, conformance.WriteJUnit}, {jsonFile, conformance.WriteJSON}} {
		if w.file == "" {
			continue
		}
		if err := writeFileAtomically(w.file, func(f io.Writer) error { return w.write(f, rep) }); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomically writes a report through a temporary file, so a
// reader never sees half of one.
func writeFileAtomically(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".camstorm-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
