package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
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
		kmsListen                                  string
		idle, maxConn                              time.Duration
		verbose                                    bool
		cpuProfile                                 string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the embedded reference stack and keep it running",
		Long: `Start the reference stack in this process and run until SIGINT or SIGTERM.

On startup exactly one JSON line goes to stdout, describing the endpoints:
  {"control_plane_url":"https://127.0.0.1:PORT","data_plane_url":"https://127.0.0.1:PORT",
   "kms_url":"https://127.0.0.1:PORT","metrics_url":"http://127.0.0.1:PORT/metrics",
   "ca_cert_file":"DIR/pki/ca.pem",...}
Logs go to stderr. Point any KVS client at control_plane_url (the AWS SDK: set
BaseEndpoint; the KVS producer SDK samples: CONTROL_PLANE_URI) and trust
ca_cert_file (AWS_KVS_CACERT_PATH for the producer SDK). kms_url is the reference
KMS: the AWS CLI reaches it with
  aws kms list-aliases --endpoint-url KMS_URL --ca-bundle CA_CERT_FILE --region us-east-1
and an AWS SDK with its KMS client's BaseEndpoint set to it (any credentials).

With --data, streams and PERSISTED fragments survive restarts (and kill -9);
the CA is generated on first start and reused.`,
		Example: `  camstorm stack up --data ./stackdata
  camstorm stack up --listen 127.0.0.1:8443 --data-listen 127.0.0.1:8444 --metrics-listen 127.0.0.1:9090`,
		Args: usageArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := stderrLogger(verbose)
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
			st, err := stack.StartEmbedded(cmd.Context(), stack.Options{
				DataDir: dataDir, ControlAddr: listen, DataAddr: dataListen, KMSAddr: kmsListen, MetricsAddr: metricsListen,
				Ingest: ingest.Config{
					IdleTimeout:           idle,
					MaxConnectionDuration: maxConn,
					Logf:                  func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) },
				},
			})
			if err != nil {
				return err
			}
			line, _ := json.Marshal(st.Endpoints)
			fmt.Fprintln(cmd.OutOrStdout(), string(line))
			log.Info("stack up; stop with Ctrl-C", "control_plane", st.ControlPlaneURL, "data_plane", st.DataPlaneURL, "kms", st.KMSURL,
				"metrics", st.MetricsURL, "ca_cert_file", st.CACertFile, "data_dir", st.DataDir)
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
	f.StringVar(&metricsListen, "metrics-listen", "127.0.0.1:0", "Prometheus /metrics listen address (plain HTTP)")
	f.DurationVar(&idle, "idle-timeout", 0, "close a PutMedia connection after this long without data (default 30s, as KVS)")
	f.DurationVar(&maxConn, "max-connection-duration", 0, "end PutMedia connections older than this with ERROR 4003 (default 45m, as KVS)")
	f.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the stack to this file when it stops")
	return cmd
}
