package main

import (
	"cmp"

	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/aws/aws-sdk-go-v2/config"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/simulator/netem"
	"github.com/camstorm/camstorm/stack"
)

func newFleetCommand() *cobra.Command {
	var (
		cfg                        fleet.Config
		mix, profiles, jsonFile    string
		plaintext, mlkem           bool
		resolution                 string
		targetURL, caFile, dataDir string
		stackMode                  string
		metricsAddr                string
	)
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Stream N end-to-end encrypted cameras over chosen networks, then verify every frame came back",
		Long: `Run a fleet of simulated cameras against the embedded reference stack (or
--target) over simulated networks, then read every stream back, decrypt it
and account for every frame.

Each camera behaves like the KVS producer SDK: DescribeStream, CreateStream
when the stream (PREFIX-0000, PREFIX-0001, ...) does not exist,
GetDataEndpoint (cached 40 min), then PutMedia with one Matroska cluster per
GOP, absolute timecodes, paced in real time. It keeps a 120 s buffer that
PERSISTED ACKs trim; when a connection fails it reconnects with exponential
backoff and full jitter and resends from the fragment after the last
RECEIVED ACK (or replays 60 s when the host looked dead); a fragment left
without a BUFFERING ACK for 5 s resets the connection; connections rotate
before the 45-minute limit. Every frame is sealed with AES-256-GCM under an epoch key
wrapped (HPKE) for the run's consumer, whose private key never leaves this
process (--plaintext turns that off). Camera kinds (--mix):
  clip       loops a real 640x360 15 fps H.264 clip (about 130 kbit/s)
  synthetic  decodable H.264 at --bitrate, --fps and --gop

Network profiles (--profile NAME[,NAME...] or NAME=WEIGHT,...) apply
latency, bandwidth caps, bursty stalls, resets, black holes, cuts and
outages in user space, from a schedule derived from --seed: the same seed
replays the same faults. Run 'camstorm fleet --list-profiles' to see them.

Verified per stream (ListFragments + GetMediaForFragmentList, then decrypt):
  lost          frames acknowledged PERSISTED that did not come back (must be 0)
  integrity     fragments that fail authentication: modified, reordered,
                truncated, spliced or under the wrong key (must be 0)
  duplicates    frames delivered twice after de-duplication by producer
                timestamp (must be 0)
  gaps          missing frames nobody accounts for (must be 0)
  cam-dropped   frames the cameras dropped themselves (overflow, rejected)
A few streams are also tailed live with GetMedia while the cameras run, for
end-to-end latency. ACK latency runs from a fragment's first byte to each
ACK.

Progress goes to stderr once a second; the summary table goes to stdout, and
with --json FILE the whole report (every camera) to FILE ("-" for stdout,
replacing the table).

Exit status: 0 when nothing acknowledged was lost and every check passed;
3 when the target failed a check (a sentence on stderr says which); 1 when
the harness itself failed; 2 for bad flags; 130 when interrupted (the
partial summary is still printed).`,
		Example: `  camstorm fleet                                        # 100 mixed cameras for a minute
  camstorm fleet --cameras 200 --duration 60s --profile lte-good,3g,flaky-reset --seed 7
  camstorm fleet --mix synthetic=1 --bitrate 128000 --resolution 320x240 --gop 1s --json report.json
  camstorm fleet --target https://127.0.0.1:8443 --ca ./stackdata/pki/ca.pem`,
		Args: usageArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if listProfiles, _ := cmd.Flags().GetBool("list-profiles"); listProfiles {
				printProfiles(cmd.OutOrStdout())
				return nil
			}
			var errs []error
			m, err := fleet.ParseWeights(mix, "camera kind", []string{fleet.KindClip, fleet.KindSynthetic})
			errs = append(errs, err)
			p, err := fleet.ParseWeights(profiles, "profile", netem.ProfileNames())
			errs = append(errs, err)
			if err := errors.Join(errs...); err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			cfg.Mix, cfg.Profiles, cfg.Plaintext = m, p, plaintext
			if _, err := fmt.Sscanf(resolution, "%dx%d", &cfg.Synthetic.Width, &cfg.Synthetic.Height); err != nil {
				return fmt.Errorf("%w: --resolution %q: want WIDTHxHEIGHT, e.g. 640x360", errUsage, resolution)
			}
			if mlkem {
				cfg.KEM = e2ee.KEMMLKEM768X25519
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			switch {
			case stackMode != "embedded" && stackMode != "containers":
				return fmt.Errorf("%w: --stack %q: want embedded or containers", errUsage, stackMode)
			case stackMode == "containers" && (targetURL != "" || dataDir != ""):
				return fmt.Errorf("%w: --stack containers starts its own stack: drop --target and --data", errUsage)
			}
			if caFile != "" && targetURL == "" {
				return fmt.Errorf("%w: --ca only applies with --target", errUsage)
			}
			var jsonOut io.Writer
			switch jsonFile {
			case "":
			case "-":
				jsonOut = cmd.OutOrStdout()
			default:
				f, err := os.Create(jsonFile)
				if err != nil {
					return fmt.Errorf("%w: --json: %w", errUsage, err)
				}
				defer f.Close()
				jsonOut = f
			}
			ctx := cmd.Context()
			target, devices, where, closeTarget, err := fleetTarget(ctx, targetURL, caFile, dataDir, stackMode == "containers")
			if err != nil {
				return err
			}
			defer closeTarget()
			cfg.Devices = devices

			stderr := cmd.ErrOrStderr()
			var lm *liveMetrics
			if metricsAddr != "" {
				if lm, err = startLiveMetrics(metricsAddr, "fleet", stderr); err != nil {
					return err
				}
				defer lm.close()
			}
			fmt.Fprintf(stderr, "camstorm fleet: %d cameras (mix %s, profiles %s) for %s into %s\n",
				cfg.Cameras, cfg.Mix, cfg.Profiles, cfg.Duration, where)
			rep, runErr := fleet.Run(ctx, cfg, target, func(p fleet.Progress) {
				lm.fleetProgress(p)
				if p.Phase == fleet.PhaseVerifying {
					fmt.Fprintf(stderr, "  %5.0fs  verifying  %d/%d streams read back\n", p.Elapsed.Seconds(), p.Verified, cfg.Cameras)
					return
				}
				fmt.Fprintf(stderr, "  %5.0fs  streaming %d, finished %d  persisted %d  reconnects %d  errors %d\n",
					p.Elapsed.Seconds(), p.Streaming, p.Finished, p.Persisted, p.Reconnects, p.Errors)
			})
			if runErr != nil && !errors.Is(runErr, context.Canceled) && !errors.Is(runErr, context.DeadlineExceeded) {
				return runErr
			}
			if jsonOut != nil {
				enc := json.NewEncoder(jsonOut)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return fmt.Errorf("writing the JSON report: %w", err)
				}
			}
			if jsonFile != "-" {
				printFleetSummary(cmd.OutOrStdout(), &rep, where)
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
	f.DurationVar(&cfg.Duration, "duration", fleet.DefaultDuration, "how long the cameras stream once all have started")
	f.StringVar(&mix, "mix", fleet.DefaultMix.String(), "share of camera kinds, as weights: clip=N,synthetic=M")
	f.StringVar(&profiles, "profile", "perfect", "network profiles: NAME[,NAME...] (equal shares) or NAME=WEIGHT,...")
	f.Bool("list-profiles", false, "list the network profiles and their sources, then exit")
	f.IntVar(&cfg.Synthetic.BitrateBps, "bitrate", fleet.DefaultBitrateBps, "synthetic cameras' average bitrate, bit/s")
	f.IntVar(&cfg.Synthetic.FPS, "fps", fleet.DefaultFPS, "synthetic cameras' frame rate")
	f.DurationVar(&cfg.Synthetic.GOP, "gop", fleet.DefaultGOP, "synthetic cameras' key-frame interval (one fragment per GOP, at most 10s)")
	f.StringVar(&resolution, "resolution", fmt.Sprintf("%dx%d", fleet.DefaultWidth, fleet.DefaultHeight), "synthetic cameras' picture size; low bitrates need small pictures")
	f.DurationVar(&cfg.Ramp, "ramp", 0, "spread camera starts over this long (default min(duration/10, 5s))")
	f.DurationVar(&cfg.RampDown, "ramp-down", 0, "spread camera stops over this long after --duration")
	f.Int64Var(&cfg.Seed, "seed", 1, "seed for the camera mix, synthetic media and fault schedules: same seed, same run")
	f.StringVar(&cfg.StreamPrefix, "prefix", "", `stream name prefix (default "fleet-" and the start time)`)
	f.BoolVar(&plaintext, "plaintext", false, "turn end-to-end encryption off")
	f.BoolVar(&mlkem, "mlkem", false, "wrap epoch keys with the ML-KEM-768+X25519 hybrid KEM instead of X25519")
	f.IntVar(&cfg.LiveConsumers, "live-consumers", 0, "streams tailed live with GetMedia for end-to-end latency (default min(cameras, 4); -1 for none)")
	f.StringVar(&jsonFile, "json", "", `write the whole report as JSON to this file ("-": stdout instead of the table)`)
	f.StringVar(&targetURL, "target", "", "control-plane URL of a running KVS-compatible service instead of the embedded stack")
	f.StringVar(&caFile, "ca", "", "PEM CA certificate to trust for --target (default: the system roots)")
	f.StringVar(&stackMode, "stack", "embedded", "the stack to start when there is no --target: embedded (in this process) or containers (Docker containers of camstorm's own image)")
	f.StringVar(&metricsAddr, "metrics-addr", "", "serve the fleet's progress for Prometheus at http://ADDR/metrics while it runs (e.g. :9464)")
	f.StringVar(&dataDir, "data", "", "data directory for the embedded stack (default a temporary directory removed on exit)")
	return cmd
}

// printProfiles lists the network profiles.
func printProfiles(w io.Writer) {
	for _, name := range netem.ProfileNames() {
		p, _ := netem.ProfileByName(name)
		fmt.Fprintf(w, "%-14s %s\n", name, p.Source)
	}
}

// fleetTarget starts the embedded stack, or describes --target, and returns
// how to reach it, where its cameras enrol (nil: they sign with the
// target's credentials), a name for it and how to release it.
//
// On the embedded stack every camera is an enrolled device with temporary
// credentials from the IoT credential provider, allowed to write only its
// own stream, and the consumers assume the consumer role, as a real
// deployment runs. Against --target the standard AWS credential chain
// (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, ...)
// signs for cameras and consumers alike.
func fleetTarget(ctx context.Context, targetURL, caFile, dataDir string, inContainers bool) (simulator.Target, *fleet.Devices, string, func(), error) {
	if targetURL != "" {
		tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return simulator.Target{}, nil, "", nil, fmt.Errorf("%w: --ca: %w", errUsage, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return simulator.Target{}, nil, "", nil, fmt.Errorf("%w: --ca %s holds no PEM certificate", errUsage, caFile)
			}
			tlsCfg.RootCAs = pool
		}
		awsCfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return simulator.Target{}, nil, "", nil, fmt.Errorf("loading AWS credentials and region: %w", err)
		}
		if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
			return simulator.Target{}, nil, "", nil, fmt.Errorf("%w: --target needs AWS credentials from the standard chain "+
				"(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE); for `camstorm stack up` use the admin keys it printed: %w", errUsage, err)
		}
		region := cmp.Or(awsCfg.Region, "us-east-1")
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, MaxIdleConnsPerHost: 64}}
		return simulator.Target{ControlPlaneURL: strings.TrimRight(targetURL, "/"), HTTP: hc, Credentials: awsCfg.Credentials, Region: region},
			nil, targetURL, hc.CloseIdleConnections, nil
	}
	st, hc, where, release, err := startLocalStack(ctx, inContainers, dataDir)
	if err != nil {
		return simulator.Target{}, nil, "", nil, err
	}
	consumer := st.AssumeRole(st.ConsumerRoleARN, "camstorm-fleet-consumer")
	return simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Credentials: consumer, Region: st.Region},
		devicesOf(st), where, release, nil
}

// startLocalStack starts the reference stack in this process (dataDir ""
// for a temporary one) or as containers, and returns it with an HTTP
// client that trusts it, a phrase naming it and a release that stops it.
func startLocalStack(ctx context.Context, inContainers bool, dataDir string) (*stack.Stack, *http.Client, string, func(), error) {
	var st *stack.Stack
	var err error
	where := "the embedded stack"
	if inContainers {
		st, err = startContainers(ctx, stderrLogger(false), stack.Options{})
		where = "the containers stack"
	} else {
		st, err = stack.StartEmbedded(ctx, stack.Options{DataDir: dataDir})
	}
	if err != nil {
		return nil, nil, "", nil, err
	}
	hc := st.HTTPClient()
	release := func() {
		hc.CloseIdleConnections()
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = st.Close(cctx)
	}
	return st, hc, where + " (" + st.ControlPlaneURL + ")", release, nil
}

// devicesOf is where the stack's cameras enrol as devices.
func devicesOf(st *stack.Stack) *fleet.Devices {
	return &fleet.Devices{EnrollURL: st.EnrollURL, EnrollToken: st.EnrollmentToken,
		CredentialsURL: st.IoTCredentialsURL, RoleAlias: st.CameraRoleAlias}
}

func printFleetSummary(w io.Writer, r *fleet.Report, where string) {
	kinds := make([]string, 0, len(r.Cameras))
	for k, n := range r.Cameras {
		kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(kinds)
	profs := make([]string, 0, len(r.Profiles))
	for k, n := range r.Profiles {
		profs = append(profs, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(profs)
	s := r.Config.Synthetic
	e2e := "E2EE off"
	switch {
	case r.Config.Encrypted && r.Config.KEM == fmt.Sprintf("%#04x", uint16(e2ee.KEMMLKEM768X25519)):
		e2e = "E2EE on (ML-KEM-768+X25519)"
	case r.Config.Encrypted:
		e2e = "E2EE on (X25519)"
	}
	fmt.Fprintf(w, "fleet: %d cameras (%s) for %s into %s\n", r.Config.Cameras, strings.Join(kinds, ", "), r.Config.Duration, where)
	fmt.Fprintf(w, "networks: %s\n", strings.Join(profs, ", "))
	fmt.Fprintf(w, "synthetic media: %.2f Mbit/s, %d fps, GOP %s, %dx%d; %s; streams %s-NNNN; seed %d\n\n",
		float64(s.BitrateBps)/1e6, s.FPS, s.GOP, s.Width, s.Height, e2e, r.Config.StreamPrefix, r.Config.Seed)

	p, n, v := r.Producer, r.Network, r.Verification
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "fragments produced\t%d\t\tsessions\t%d\t\n", p.Fragments, p.Sessions)
	fmt.Fprintf(tw, "fragments PERSISTED\t%d\t\treconnects\t%d\t\n", v.AckedFragments, p.Reconnects)
	fmt.Fprintf(tw, "frames produced\t%d\t\tstale resets\t%d\t\n", v.Produced, p.StaleResets)
	fmt.Fprintf(tw, "MB sent (with resends)\t%.1f\t\tfragments resent\t%d\t\n", float64(p.Bytes)/1e6, p.Resent)
	fmt.Fprintf(tw, "cameras undelivered\t%d\t\trotations\t%d\t\n", r.CamerasUndelivered, p.Rotations)
	if n.Faults() > 0 || n.Dials > 0 {
		fmt.Fprintf(tw, "faults: resets\t%d\t\tcuts\t%d\t\n", n.Resets, n.Cuts)
		fmt.Fprintf(tw, "black holes\t%d\t\toutages\t%d\t\n", n.BlackHoles, n.Outages)
		fmt.Fprintf(tw, "freezes\t%d\t\ttime stalled\t%s\t\n", n.Freezes, n.Stalled.Round(time.Millisecond))
	}
	tw.Flush()

	fmt.Fprintln(w, "\nlatency (ms):")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\tcount\tp50\tp95\tp99\tmax\t\n")
	row := func(name string, l fleet.Latency) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", name, l.Count, l.P50, l.P95, l.P99, l.Max)
	}
	for _, typ := range []string{"BUFFERING", "RECEIVED", "PERSISTED"} {
		row(typ+" ACK", r.AckLatency[typ])
	}
	if r.EndToEnd != nil {
		row("capture to live consumer", *r.EndToEnd)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nread back (%d streams, %d decrypted):\n", v.Streams, v.Encrypted)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "acked frames\tdelivered\tlost\tintegrity\tduplicates\tgaps\tout of order\tcam-dropped\tnot verified\t\n")
	fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", v.AckedFrames, v.Delivered, v.LostFrames, v.IntegrityFailures,
		v.DuplicatesDeduped, v.Gaps, v.OutOfOrder, v.CameraDroppedFrames, v.NotVerified)
	tw.Flush()

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
		if c.Verification != nil && len(c.Verification.Problems()) > 0 {
			fmt.Fprintf(w, "  %s (%s): %s\n", c.Stream, c.Profile, strings.Join(c.Verification.Problems(), "; "))
			shown++
		} else if c.Failure != nil && c.Failure.Phase != simulator.PhaseCanceled {
			fmt.Fprintf(w, "  %s (%s): %s\n", c.Stream, c.Profile, c.Failure)
			shown++
		}
	}
	for _, warn := range r.Warnings() {
		fmt.Fprintf(w, "note: %s\n", warn)
	}
	switch {
	case r.Interrupted:
		fmt.Fprintf(w, "\nINTERRUPTED after %s: %d PERSISTED fragments were not verified.\n", r.End.Sub(r.Start).Round(time.Second), v.AckedFragments)
	case r.Passed():
		fmt.Fprintf(w, "\nPASS: all %d acknowledged frames came back authentic, in order, once; nothing lost.\n", v.AckedFrames)
	default:
		fmt.Fprintf(w, "\nFAIL: %s.\n", strings.Join(r.Problems(), "; "))
	}
}
