package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/stack"
)

func newFleetCommand() *cobra.Command {
	var (
		cfg                        fleet.Config
		mix                        string
		asJSON                     bool
		targetURL, caFile, dataDir string
	)
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Stream N simulated cameras into the stack, then verify everything came back",
		Long: `Run a fleet of simulated cameras against the embedded reference stack (or
--target), then read every stream back and check that nothing acknowledged
was lost.

What runs: each camera is a KVS producer. It calls DescribeStream, creates
its stream (PREFIX-0000, PREFIX-0001, ...) when it does not exist yet, asks
GetDataEndpoint for PUT_MEDIA and opens one PutMedia session. It sends a
Matroska cluster (one fragment) per GOP, paced in real time, with absolute
epoch-millisecond timecodes, and reads the BUFFERING / RECEIVED / PERSISTED
ACKs. After --duration it closes the open fragment with END_OF_FRAGMENT and
waits up to 15 s for its last PERSISTED. Starts are spread over the first
tenth of the run (at most 5 s). Cameras are of two kinds (--mix):
  clip       loops a real 640x360 15 fps H.264 clip (about 130 kbit/s)
  synthetic  decodable H.264 at --bitrate, --fps and --gop; every frame
             carries a sequence number, so continuity can be checked

What is verified, per stream: ListFragments over the run's timecodes, then
GetMediaForFragmentList of everything listed.
  lost        fragments the camera saw PERSISTED that are not stored, or
              cannot be served (must be 0)
  corrupted   served clusters whose SHA-256 differs from the bytes the
              camera wrote (must be 0)
  duplicates  producer timestamps stored more than once
  seq. gaps   holes or overlaps in the synthetic frame sequence across all
              stored fragments
ACK latency is measured from the first byte of a fragment to each ACK:
BUFFERING means the service saw the fragment start, RECEIVED that all of it
arrived (at the next cluster, so about one GOP later), PERSISTED that it is
durably stored.

Progress goes to stderr once a second; the summary table (or, with --json,
one JSON object) goes to stdout.

Exit status: 0 when nothing was lost or corrupted, nothing stored twice, no
sequence gap and no camera failed; 3 when the target failed any of that (a
sentence on stderr says what); 1 when the harness itself failed; 2 for bad
flags; 130 when interrupted (the partial summary is still printed).`,
		Example: `  camstorm fleet                                   # 100 mixed cameras for a minute
  camstorm fleet --cameras 20 --duration 30s --json
  camstorm fleet --mix synthetic=1 --bitrate 4000000 --gop 1s
  camstorm fleet --target https://127.0.0.1:8443 --ca ./stackdata/pki/ca.pem`,
		Args: usageArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := fleet.ParseMix(mix)
			if err != nil {
				return fmt.Errorf("%w: --mix: %w", errUsage, err)
			}
			cfg.Mix = m
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			if caFile != "" && targetURL == "" {
				return fmt.Errorf("%w: --ca only applies with --target", errUsage)
			}
			ctx := cmd.Context()
			target, where, closeTarget, err := fleetTarget(ctx, targetURL, caFile, dataDir)
			if err != nil {
				return err
			}
			defer closeTarget()

			stderr := cmd.ErrOrStderr()
			fmt.Fprintf(stderr, "camstorm fleet: %d cameras (mix %s) for %s into %s\n", cfg.Cameras, cfg.Mix, cfg.Duration, where)
			rep, runErr := fleet.Run(ctx, cfg, target, func(p fleet.Progress) {
				if p.Phase == fleet.PhaseVerifying {
					fmt.Fprintf(stderr, "  %5.0fs  verifying  %d/%d streams read back\n", p.Elapsed.Seconds(), p.Verified, cfg.Cameras)
					return
				}
				fmt.Fprintf(stderr, "  %5.0fs  streaming %d, finished %d  persisted %d  errors %d\n",
					p.Elapsed.Seconds(), p.Streaming, p.Finished, p.Persisted, p.Errors)
			})
			if runErr != nil && !errors.Is(runErr, context.Canceled) && !errors.Is(runErr, context.DeadlineExceeded) {
				return runErr
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printFleetSummary(out, &rep, where)
			}
			if runErr != nil {
				fmt.Fprintln(stderr, "camstorm fleet: interrupted; streams were not verified")
				return runErr
			}
			if problems := rep.Problems(); len(problems) > 0 {
				return fmt.Errorf("%w: %s", errVerificationFailed, strings.Join(problems, "; "))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Cameras, "cameras", fleet.DefaultCameras, "number of simulated cameras")
	f.DurationVar(&cfg.Duration, "duration", fleet.DefaultDuration, "how long each camera streams")
	f.StringVar(&mix, "mix", fleet.DefaultMix.String(), "share of camera kinds, as weights: clip=N,synthetic=M")
	f.IntVar(&cfg.Synthetic.BitrateBps, "bitrate", fleet.DefaultBitrateBps, "synthetic cameras' average bitrate, bit/s")
	f.IntVar(&cfg.Synthetic.FPS, "fps", fleet.DefaultFPS, "synthetic cameras' frame rate")
	f.DurationVar(&cfg.Synthetic.GOP, "gop", fleet.DefaultGOP, "synthetic cameras' key-frame interval (one fragment per GOP, at most 10s)")
	f.DurationVar(&cfg.Ramp, "ramp", 0, "spread camera starts over this long (default min(duration/10, 5s))")
	f.Int64Var(&cfg.Seed, "seed", 1, "seed for the camera mix and synthetic media: same seed, same bytes")
	f.StringVar(&cfg.StreamPrefix, "prefix", "", `stream name prefix (default "fleet-" and the start time)`)
	f.BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	f.StringVar(&targetURL, "target", "", "control-plane URL of a running KVS-compatible service instead of the embedded stack")
	f.StringVar(&caFile, "ca", "", "PEM CA certificate to trust for --target (default: the system roots)")
	f.StringVar(&dataDir, "data", "", "data directory for the embedded stack (default a temporary directory removed on exit)")
	return cmd
}

// fleetTarget starts the embedded stack, or describes --target, and returns
// how to reach it, a name for it and how to release it.
func fleetTarget(ctx context.Context, targetURL, caFile, dataDir string) (simulator.Target, string, func(), error) {
	if targetURL != "" {
		tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return simulator.Target{}, "", nil, fmt.Errorf("%w: --ca: %w", errUsage, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return simulator.Target{}, "", nil, fmt.Errorf("%w: --ca %s holds no PEM certificate", errUsage, caFile)
			}
			tlsCfg.RootCAs = pool
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, MaxIdleConnsPerHost: 64}}
		return simulator.Target{ControlPlaneURL: strings.TrimRight(targetURL, "/"), HTTP: hc}, targetURL, hc.CloseIdleConnections, nil
	}
	st, err := stack.StartEmbedded(ctx, stack.Options{DataDir: dataDir})
	if err != nil {
		return simulator.Target{}, "", nil, err
	}
	hc := st.HTTPClient()
	release := func() {
		hc.CloseIdleConnections()
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = st.Close(cctx)
	}
	return simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc}, "the embedded stack (" + st.ControlPlaneURL + ")", release, nil
}

func printFleetSummary(w io.Writer, r *fleet.Report, where string) {
	kinds := make([]string, 0, len(r.Cameras))
	for k, n := range r.Cameras {
		kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(kinds)
	s := r.Config.Synthetic
	fmt.Fprintf(w, "fleet: %d cameras (%s) for %s into %s\n", r.Config.Cameras, strings.Join(kinds, ", "), r.Config.Duration, where)
	fmt.Fprintf(w, "synthetic media: %.2f Mbit/s, %d fps, GOP %s, %dx%d; streams %s-NNNN; seed %d\n\n",
		float64(s.BitrateBps)/1e6, s.FPS, s.GOP, s.Width, s.Height, r.Config.StreamPrefix, r.Config.Seed)

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "fragments sent\t%d\t\n", r.Fragments)
	fmt.Fprintf(tw, "fragments PERSISTED\t%d\t\n", r.Persisted)
	fmt.Fprintf(tw, "frames sent\t%d\t\n", r.Frames)
	fmt.Fprintf(tw, "MB sent\t%.1f\t\n", float64(r.Bytes)/1e6)
	fmt.Fprintf(tw, "cameras failed\t%d\t\n", r.CamerasFailed)
	if r.CamerasNotStarted > 0 {
		fmt.Fprintf(tw, "cameras not started\t%d\t\n", r.CamerasNotStarted)
	}
	tw.Flush()

	fmt.Fprintln(w, "\nACK latency from the fragment's first byte (ms):")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "ACK\tcount\tp50\tp95\tp99\tmax\t\n")
	for _, typ := range []string{"BUFFERING", "RECEIVED", "PERSISTED"} {
		l := r.AckLatency[typ]
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", typ, l.Count, l.P50, l.P95, l.P99, l.Max)
	}
	tw.Flush()

	v := r.Verification
	fmt.Fprintf(w, "\nread back (%d streams):\n", v.Streams)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "PERSISTED\tstored\tdelivered\tlost\tcorrupted\tduplicates\tseq. gaps\tnot verified\t\n")
	fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", v.Persisted, v.Stored, v.Delivered, v.Lost, v.Corrupted, v.Duplicates, v.SequenceGaps, v.NotVerified)
	tw.Flush()
	if v.SequenceGaps > 0 {
		fmt.Fprintf(w, "frame sequence: %d frames missing, %d duplicated (%d synthetic streams checked)\n", v.MissingFrames, v.DuplicateFrames, v.SequenceChecked)
	}

	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "\nerrors by kind:")
		kinds := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			fmt.Fprintf(w, "  %6d  %s\n", r.Errors[k], k)
		}
	}
	shown := 0
	for _, c := range r.PerCamera {
		if shown == 10 {
			fmt.Fprintln(w, "  ... (see --json for every camera)")
			break
		}
		if c.Failure != nil && c.Failure.Phase != simulator.PhaseCanceled {
			fmt.Fprintf(w, "  %s: %s\n", c.Stream, c.Failure)
			shown++
		}
		if c.Verification != nil && !c.Verification.OK() {
			fmt.Fprintf(w, "  %s: lost %d, corrupted %d, duplicates %d, gaps %d %s\n", c.Stream, c.Verification.Lost,
				c.Verification.Corrupted, c.Verification.Duplicates, c.Verification.SequenceGaps, c.Verification.Err)
			shown++
		}
	}
	switch {
	case r.Interrupted:
		fmt.Fprintf(w, "\nINTERRUPTED after %s: %d PERSISTED fragments were not verified.\n", r.End.Sub(r.Start).Round(time.Second), r.Persisted)
	case r.Passed():
		fmt.Fprintf(w, "\nPASS: all %d PERSISTED fragments came back byte-identical; nothing lost.\n", v.Persisted)
	default:
		fmt.Fprintf(w, "\nFAIL: %s.\n", strings.Join(r.Problems(), "; "))
	}
}
