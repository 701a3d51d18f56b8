package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/ingest"
	"github.com/spf13/cobra"
)

func newStackCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stack",
		Short: "Run the reference ingest stack",
	}
	cmd.AddCommand(newStackUpCommand())
	return cmd
}

func newStackUpCommand() *cobra.Command {
	var (
		dataDir, listen, dataListen, metricsListen string
		kmsListen, identityListen, iotListen       string
		role, pkiDir, identityDir, kmsURL          string
		publicDataURL, publicIoTURL                string
		hosts                                      []string
		inContainers, clockControl                 bool
		idle, maxConn, dataKeyMaxAge               time.Duration
		verbose                                    bool
		cpuProfile                                 string
		defectNames                                []string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the embedded reference stack and keep it running",
		Long: `Start the reference stack in this process and run until SIGINT or SIGTERM.

On startup exactly one JSON line goes to stdout, describing the endpoints and
the bootstrap credentials:
  {"control_plane_url":"https://127.0.0.1:PORT","data_plane_url":"https://127.0.0.1:PORT",
   "kms_url":"https://127.0.0.1:PORT","sts_url":"https://127.0.0.1:PORT",
   "enroll_url":"https://127.0.0.1:PORT/enroll","enrollment_token":"...",
   "iot_credentials_url":"https://127.0.0.1:PORT","camera_role_alias":"camstorm-camera-alias",
   "consumer_role_arn":"arn:aws:iam::123456789012:role/camstorm-consumer",
   "admin_access_key_id":"AKIA...","admin_secret_access_key":"...",
   "ca_cert_file":"DIR/pki/ca.pem","audit_log":"DIR/audit/audit.log",...}
Logs go to stderr.

Every request must be signed with SigV4 (service kinesisvideo, kms or sts), as
AWS requires. The admin keys are the only long-term keys: use them to assume a
role, e.g. with the AWS CLI (trust ca_cert_file with --ca-bundle):
  export AWS_ACCESS_KEY_ID=ADMIN_KEY AWS_SECRET_ACCESS_KEY=ADMIN_SECRET AWS_REGION=us-east-1
  aws sts assume-role --endpoint-url STS_URL --ca-bundle CA_CERT_FILE \
      --role-arn CONSUMER_ROLE_ARN --role-session-name viewer
  aws kms list-aliases --endpoint-url KMS_URL --ca-bundle CA_CERT_FILE
Cameras enrol and get temporary credentials as AWS IoT devices do:
  camstorm device enroll --thing cam-1 --url ENROLL_URL --token ENROLLMENT_TOKEN --ca CA_CERT_FILE --out ./cam-1
then the KVS producer SDK's IoT credential provider (endpoint IOT_CREDENTIALS_URL,
role alias CAMERA_ROLE_ALIAS, thing name = stream name) and CONTROL_PLANE_URI =
control_plane_url, AWS_KVS_CACERT_PATH = ca_cert_file. A camera may write only
the stream named after its thing. Every request, allowed or denied, is one
record in audit_log: check it with 'camstorm audit verify', search it with
'camstorm audit query'.

With --data, streams, PERSISTED fragments, keys, identities and the audit log
survive restarts (and kill -9); the CA is generated on first start and reused.`,
		Example: `  camstorm stack up --data ./stackdata
  camstorm stack up --listen 127.0.0.1:8443 --data-listen 127.0.0.1:8444 --metrics-listen 127.0.0.1:9090`,
		Args: usageArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := stderrLogger(verbose)
			var defects []stack.Defect
			for _, name := range defectNames {
				d, err := stack.ParseDefect(name)
				if err != nil {
					return fmt.Errorf("%w: --defect: %w", errUsage, err)
				}
				defects = append(defects, d)
			}
			if len(defects) > 0 && inContainers {
				return fmt.Errorf("%w: --defect applies to the embedded stack only; drop --containers", errUsage)
			}
			for _, d := range defects {
				log.Warn("DELIBERATE DEFECT: this stack is broken on purpose, for proving conformance suites; never use it in production", "defect", string(d), "what", d.Describe())
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("%w: --cpuprofile: %w", errUsage, err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			opts := stack.Options{
				DataDir: dataDir, ControlAddr: listen, DataAddr: dataListen, KMSAddr: kmsListen, MetricsAddr: metricsListen,
				IdentityAddr: identityListen, IoTAddr: iotListen,
				Hosts: hosts, Role: role, PKIDir: pkiDir, ClockControl: clockControl, IdentityDir: identityDir, KMSURL: kmsURL, PublicDataURL: publicDataURL, PublicIoTURL: publicIoTURL,
				Defects: defects,
				Ingest: ingest.Config{
					IdleTimeout:           idle,
					MaxConnectionDuration: maxConn,
					DataKeyMaxAge:         dataKeyMaxAge,
					Logf:                  func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) },
				},
			}
			var st *stack.Stack
			var err error
			if inContainers {
				if dataDir != "" || role != stack.RoleAll {
					return fmt.Errorf("%w: --containers keeps its data in Docker volumes and runs every role; drop --data and --role", errUsage)
				}
				st, err = startContainers(cmd.Context(), log, stack.Options{Hosts: hosts, ClockControl: clockControl, Ingest: ingest.Config{DataKeyMaxAge: dataKeyMaxAge}})
			} else {
				st, err = stack.Start(cmd.Context(), opts)
			}
			if err != nil {
				return err
			}
			line, _ := json.Marshal(st.Endpoints)
			fmt.Fprintln(cmd.OutOrStdout(), string(line))
			log.Info("stack up; stop with Ctrl-C", "control_plane", st.ControlPlaneURL, "data_plane", st.DataPlaneURL, "kms", st.KMSURL,
				"sts", st.STSURL, "iot_credentials", st.IoTCredentialsURL, "metrics", st.MetricsURL, "ca_cert_file", st.CACertFile,
				"audit_log", st.AuditLog, "data_dir", st.DataDir)
			var runErr error
			select {
			case <-cmd.Context().Done():
				log.Info("shutting down")
			case runErr = <-st.Err():
				log.Error("listener failed", "err", runErr)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := st.Close(ctx); err != nil {
				return fmt.Errorf("shutting down: %w", err)
			}
			log.Info("stopped cleanly")
			return runErr
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "", "data directory (CA, streams, fragments); default a temporary directory removed on exit")
	f.StringVar(&listen, "listen", "127.0.0.1:0", "control-plane listen address (TLS)")
	f.StringVar(&dataListen, "data-listen", "127.0.0.1:0", "data-plane listen address (TLS): PutMedia, GetMedia, ListFragments")
	f.StringVar(&kmsListen, "kms-listen", "127.0.0.1:0", "reference KMS listen address (TLS, AWS KMS JSON 1.1)")
	f.StringVar(&identityListen, "identity-listen", "127.0.0.1:0", "STS and device-enrollment listen address (TLS)")
	f.StringSliceVar(&hosts, "host", nil, "extra host names or addresses the server certificate covers (repeatable), e.g. a container's network alias")
	f.DurationVar(&dataKeyMaxAge, "data-key-max-age", 0, "how long the ingest reuses a stream's data key before asking the KMS for a new one (default 5m)")
	f.BoolVar(&clockControl, "clock-control", false, "serve POST /test/clock?service=kms|identity&shift=DURATION on the metrics listener, to make a KMS rotation period or a token's lifetime pass (tests and conformance suites only)")
	f.BoolVar(&inContainers, "containers", false, "run the identity service, the KMS and the ingest as Docker containers of camstorm's own FROM-scratch image (needs a Docker engine; everything is removed on exit)")
	f.StringArrayVar(&defectNames, "defect", nil, "start the embedded stack with a named deliberate defect (repeatable), only to prove that conformance suites catch it; never for production. One of: "+defectList())
	f.StringVar(&role, "role", stack.RoleAll, "what this process serves: all, or one of identity, kms, ingest (a stack split across processes or containers)")
	f.StringVar(&pkiDir, "pki-dir", "", "the CA's directory when shared between processes (default DATA/pki)")
	f.StringVar(&identityDir, "identity-dir", "", "the identity state's directory when shared: the identity role writes it, the others read it (default DATA/iam)")
	f.StringVar(&kmsURL, "kms-url", "", "with --role ingest: where the KMS is (e.g. https://kms:7443)")
	f.StringVar(&publicDataURL, "public-data-url", "", "the data plane's URL as clients reach it, when not the listen address (GetDataEndpoint answers it)")
	f.StringVar(&publicIoTURL, "public-iot-url", "", "the credential provider's URL as devices reach it, when not the listen address")
	f.StringVar(&iotListen, "iot-listen", "127.0.0.1:0", "IoT credential provider listen address (mutual TLS)")
	f.StringVar(&metricsListen, "metrics-listen", "127.0.0.1:0", "Prometheus /metrics listen address (plain HTTP)")
	f.DurationVar(&idle, "idle-timeout", 0, "close a PutMedia connection after this long without data (default 30s, as KVS)")
	f.DurationVar(&maxConn, "max-connection-duration", 0, "end PutMedia connections older than this with ERROR 4003 (default 45m, as KVS)")
	f.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the stack to this file when it stops")
	return cmd
}

// defectList names every deliberate defect, for --defect's help.
func defectList() string {
	names := make([]string, 0, len(stack.Defects()))
	for _, d := range stack.Defects() {
		names = append(names, string(d))
	}
	return strings.Join(names, ", ")
}
