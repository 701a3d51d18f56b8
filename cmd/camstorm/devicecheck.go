package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/device"
	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/devicecheck"
	"github.com/camstorm/camstorm/stack/ingest"
)

// deviceCheckInfo is the JSON line device-check prints on start: what a
// device needs to stream into the check.
type deviceCheckInfo struct {
	stack.Endpoints
	Stream      string                `json:"stream"`
	Faults      string                `json:"faults"`
	Credentials deviceCheckCredential `json:"credentials"`
}

type deviceCheckCredential struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token"`
	Expiration      time.Time `json:"expiration"`
}

func newDeviceCheckCommand() *cobra.Command {
	var (
		listen, dataListen, streamName, faults, dataDir string
		jsonFile, junitFile, recordFile                 string
		hosts, runs                                     []string
		duration, quiet, idle, credLife                 time.Duration
		list, verbose                                   bool
	)
	cmd := &cobra.Command{
		Use:   "device-check --listen ADDR --stream NAME [--faults SCHEDULE]",
		Short: "Run the reference ingest with a fault schedule for a real device, then judge the device",
		Long: `Start the reference stack for one device (a camera, the KVS producer SDK sample,
or camstorm's simulator), inject server-side faults into the named stream's
PutMedia sessions, record what the device sends, and when the device stops
(no PutMedia open for --quiet), --duration ends or you press Ctrl-C, judge it:
one verdict per case (DEV-MKV-*, DEV-FRAG-*, DEV-RES-*, DEV-ERR-*, DEV-CRED-*,
DEV-E2EE-*), each tied to a requirement.

On start one JSON line goes to stdout: the endpoints (control_plane_url is what
the device's SDK takes as its endpoint, e.g. CONTROL_PLANE_URI), the CA file to
trust (ca_cert_file, e.g. AWS_KVS_CACERT_PATH), the stream, and temporary
credentials (access_key_id, secret_access_key, session_token; --credential-lifetime).
A device with its own identity can instead enrol (enroll_url, enrollment_token)
and use the IoT credential provider (iot_credentials_url, camera_role_alias) as
'camstorm stack up --help' explains. The stream is created for you.

The fault schedule (docs/DEVICE-CHECK.md):
` + devicecheck.Grammar + `

Example: close@fragment=3,error=4000@fragment=5,error=4002@fragment=8,withhold=persisted:10s@fragment=10,throttle=32KiB/s:5s@t=40s

Exit status: 0 when no MUST case failed; 3 when one did (SHOULD failures are
reported but do not fail the check); 1 when no device streamed or the harness
failed; 2 for usage errors.`,
		Example: `  camstorm device-check --listen 0.0.0.0:8443 --host camstorm.lan --stream cam-1 \
      --faults close@fragment=3,error=5000@fragment=6 --junit device.xml
  camstorm device-check --list`,
		Args: usageArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if list {
				chosen, err := conformance.Select([]*conformance.Suite{device.Suite(&device.Observations{})}, runs)
				if err != nil {
					return fmt.Errorf("%w: %w", errUsage, err)
				}
				return conformance.WriteList(out, chosen)
			}
			sched, err := devicecheck.Parse(faults)
			if err != nil {
				return fmt.Errorf("%w: --faults: %w", errUsage, err)
			}
			if credLife != 0 && (credLife < 15*time.Minute || credLife > time.Hour) {
				return fmt.Errorf("%w: --credential-lifetime %v: STS issues 15m to 1h", errUsage, credLife)
			}
			if streamName == "" {
				return fmt.Errorf("%w: --stream is required: the stream the device writes", errUsage)
			}
			if _, err := conformance.Select([]*conformance.Suite{device.Suite(&device.Observations{})}, runs); err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			host, _, err := net.SplitHostPort(listen)
			if err != nil {
				return fmt.Errorf("%w: --listen %q: want HOST:PORT, e.g. 0.0.0.0:8443: %v", errUsage, listen, err)
			}
			on := func(addr string) string {
				if addr != "" {
					return addr
				}
				return net.JoinHostPort(host, "0")
			}
			log := stderrLogger(verbose)
			b, err := devicecheck.Start(cmd.Context(), devicecheck.Options{Stream: streamName, Schedule: sched, CredentialLifetime: credLife,
				Stack: stack.Options{DataDir: dataDir, ControlAddr: listen, DataAddr: on(dataListen), KMSAddr: on(""),
					IdentityAddr: on(""), IoTAddr: on(""), MetricsAddr: on(""), Hosts: hosts,
					Ingest: ingest.Config{IdleTimeout: idle, Logf: func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) }}}})
			if err != nil {
				return err
			}
			finished := false
			defer func() {
				if !finished {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					_ = b.Close(ctx)
				}
			}()
			line, _ := json.Marshal(deviceCheckInfo{Endpoints: b.Endpoints, Stream: streamName, Faults: sched.String(),
				Credentials: deviceCheckCredential{AccessKeyID: b.Credentials.AccessKeyID, SecretAccessKey: b.Credentials.SecretAccessKey,
					SessionToken: b.Credentials.SessionToken, Expiration: b.Credentials.Expires}})
			fmt.Fprintln(out, string(line))
			log.Info("device check ready: point the device at control_plane_url, trusting ca_cert_file; stop it (or press Ctrl-C) to get the verdict",
				"stream", streamName, "control_plane", b.ControlPlaneURL, "data_plane", b.DataPlaneURL, "ca_cert_file", b.CACertFile,
				"faults", len(sched), "quiet", quiet, "duration", duration)

			waitErr := b.Wait(cmd.Context(), quiet, duration)
			switch {
			case errors.Is(waitErr, devicecheck.ErrNoDevice):
				return fmt.Errorf("%w within --duration %v; check the device's endpoint (%s) and CA file (%s)", waitErr, duration, b.ControlPlaneURL, b.CACertFile)
			case waitErr == nil:
				log.Info("the device stopped; judging")
			case cmd.Context().Err() != nil:
				log.Info("interrupted; judging what the device did so far")
			default:
				log.Info("--duration reached; judging")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			obs, err := b.Finish(ctx)
			finished = true
			if err != nil {
				log.Warn("closing the stack", "err", err)
			}
			if len(obs.Sessions) == 0 {
				return fmt.Errorf("%w: the device opened no PutMedia on stream %s; nothing to judge", devicecheck.ErrNoDevice, streamName)
			}
			if recordFile != "" {
				if err := writeFileAtomically(recordFile, func(w io.Writer) error {
					enc := json.NewEncoder(w)
					enc.SetIndent("", "  ")
					return enc.Encode(obs)
				}); err != nil {
					return err
				}
			}
			fmt.Fprintf(out, "camstorm device-check: %d sessions, %d fragment arrivals, %d faults injected of %d planned\n",
				len(obs.Sessions), len(obs.Fragments), len(obs.Faults), len(obs.Planned))
			r := &conformance.Runner{Target: device.Target(obs), Select: runs, Observe: conformance.Progress(out, verbose)}
			rep, err := r.Run(ctx, device.Suite(obs))
			if err != nil {
				return err
			}
			if err := conformance.WriteText(out, rep); err != nil {
				return err
			}
			if err := writeReports(rep, junitFile, jsonFile); err != nil {
				return err
			}
			if c := rep.Counts(); c.MustFail > 0 {
				return fmt.Errorf("%w: the device failed %d MUST cases", errVerificationFailed, c.MustFail)
			} else if c.Harness > 0 {
				return fmt.Errorf("%d cases could not be judged (harness errors above)", c.Harness)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:0", "control-plane listen address HOST:PORT; the other listeners take free ports on the same host")
	f.StringVar(&dataListen, "data-listen", "", "data-plane listen address (default HOST:0 of --listen)")
	f.StringSliceVar(&hosts, "host", nil, "extra host names or addresses the server certificate covers (repeatable): the name the device dials")
	f.StringVar(&streamName, "stream", "", "the stream the device writes (created if missing); other streams get no faults")
	f.StringVar(&faults, "faults", "", "fault schedule, e.g. close@fragment=3,error=4000@fragment=5 (see above)")
	f.DurationVar(&duration, "duration", 0, "judge after this long even if the device still streams (0: until it stops or Ctrl-C)")
	f.DurationVar(&quiet, "quiet", 15*time.Second, "the device counts as stopped once no PutMedia has been open for this long")
	f.DurationVar(&credLife, "credential-lifetime", 0, "lifetime of the printed temporary credentials, 15m..1h (default 1h): run longer than it to check that the device refreshes them (DEV-CRED-002)")
	f.DurationVar(&idle, "idle-timeout", 0, "close a PutMedia after this long without data (default 30s, as KVS)")
	f.StringVar(&dataDir, "data", "", "data directory (CA, fragments); default a temporary directory removed on exit")
	f.StringSliceVar(&runs, "run", nil, "case-ID prefixes to judge (repeatable); default all")
	f.BoolVar(&list, "list", false, "list the device cases (ID, level, requirement, title) and exit")
	f.StringVar(&junitFile, "junit", "", "write a JUnit XML report to this file")
	f.StringVar(&jsonFile, "json", "", "write a JSON report to this file")
	f.StringVar(&recordFile, "record", "", "write the raw observation record (sessions, fragments, ACKs, faults) as JSON to this file")
	f.BoolVarP(&verbose, "verbose", "v", false, "describe every case that does not pass as it finishes, and debug logging")
	return cmd
}
