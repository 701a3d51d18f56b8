package main

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/camstorm/camstorm/internal/device"
	"github.com/camstorm/camstorm/internal/kvsclient"
)

func newDeviceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "device",
		Short: "Enroll cameras with the reference stack's identity service, and revoke them",
	}
	cmd.AddCommand(newDeviceEnrollCommand(), newDeviceRevokeCommand())
	return cmd
}

func newDeviceRevokeCommand() *cobra.Command {
	var certID, identityURL, caFile, certFile string
	cmd := &cobra.Command{
		Use:   "revoke",
		Short: "Revoke a device certificate (AWS IoT UpdateCertificate) so the camera gets no more credentials",
		Long: `Revoke a camera's certificate: the stack's credential provider refuses it from
the next request on, even on open connections. Credentials already issued stay
valid until they expire (as in AWS).

The call is AWS IoT's UpdateCertificate (PUT /certificates/ID?newStatus=REVOKED)
on the stack's identity listener (sts_url in stack up's output), signed with
SigV4 for service iot by the standard AWS credential chain: export the admin
keys stack up printed (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), or any
credentials allowed iot:UpdateCertificate. Name the certificate by its id
(enroll prints it: the hex SHA-256 of its DER) or by its file with --cert.`,
		Example: `  export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
  camstorm device revoke --cert ./devices/cam-0001.crt --url https://127.0.0.1:8446 --ca stackdata/pki/ca.pem`,
		Args: usageArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if certFile != "" {
				pemBytes, err := os.ReadFile(certFile)
				if err != nil {
					return fmt.Errorf("%w: --cert: %w", errUsage, err)
				}
				block, _ := pem.Decode(pemBytes)
				if block == nil || block.Type != "CERTIFICATE" {
					return fmt.Errorf("%w: --cert %s holds no PEM certificate", errUsage, certFile)
				}
				sum := sha256.Sum256(block.Bytes)
				certID = hex.EncodeToString(sum[:])
			}
			if certID == "" || identityURL == "" {
				return fmt.Errorf("%w: --cert-id (or --cert) and --url are required (see %s --help)", errUsage, cmd.CommandPath())
			}
			hc, err := httpsClient(caFile)
			if err != nil {
				return err
			}
			awsCfg, err := config.LoadDefaultConfig(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := awsCfg.Credentials.Retrieve(cmd.Context()); err != nil {
				return fmt.Errorf("%w: no AWS credentials (export the admin keys stack up printed): %w", errUsage, err)
			}
			hc.Transport = &kvsclient.SigningTransport{Base: hc.Transport, Credentials: awsCfg.Credentials,
				Region: cmp.Or(awsCfg.Region, "us-east-1"), Service: "iot"}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPut,
				strings.TrimRight(identityURL, "/")+"/certificates/"+url.PathEscape(certID)+"?newStatus=REVOKED", nil)
			if err != nil {
				return fmt.Errorf("%w: --url: %w", errUsage, err)
			}
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("revoking certificate %s: %s %s: %s", certID, resp.Status, resp.Header.Get("x-amzn-ErrorType"), bytes.TrimSpace(body))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "certificate %s revoked: the credential provider refuses it from now on\n", certID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&certID, "cert-id", "", "the certificate's id (hex SHA-256 of its DER; enroll prints it)")
	f.StringVar(&certFile, "cert", "", "the certificate's PEM file, instead of --cert-id")
	f.StringVar(&identityURL, "url", "", "the stack's identity URL (sts_url in stack up's output) (required)")
	f.StringVar(&caFile, "ca", "", "CA certificate to trust (the stack's ca.pem); default: the system roots")
	return cmd
}

// httpsClient trusts caFile's certificates, or the system roots.
func httpsClient(caFile string) (*http.Client, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pemBytes, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --ca: %w", errUsage, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("%w: --ca %s holds no PEM certificate", errUsage, caFile)
		}
		tlsCfg.RootCAs = pool
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 30 * time.Second}, nil
}

func newDeviceEnrollCommand() *cobra.Command {
	var thing, enrollURL, token, caFile, outDir string
	var force bool
	cmd := &cobra.Command{
		Use:   "enroll",
		Short: "Get a device certificate for a camera from the stack's enrollment endpoint",
		Long: `Make an ECDSA P-256 key and a certificate signing request for a camera (the
subject CN is the thing name), send it to the stack's enrollment endpoint with
the enrollment token, and write the key, the request and the signed certificate
to the output directory:

  DIR/NAME.key   private key (mode 0600; it never leaves this machine)
  DIR/NAME.csr   certificate signing request
  DIR/NAME.crt   client certificate signed by the stack CA

The camera then fetches temporary AWS credentials from the stack's credential
provider over mutual TLS with that key and certificate, exactly as from AWS
IoT's credential provider, and signs its KVS calls with them. The thing name
is also the camera's stream name: the camera role may only write to the
stream named like its thing.

The token may also come from the CAMSTORM_ENROLL_TOKEN environment variable.`,
		Example: `  camstorm device enroll --thing cam-0001 --url https://127.0.0.1:8443/enroll \
      --token "$TOKEN" --ca stackdata/pki/ca.pem --out ./devices`,
		Args: usageArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token == "" {
				token = os.Getenv("CAMSTORM_ENROLL_TOKEN")
			}
			var problems []error
			if thing == "" {
				problems = append(problems, errors.New("--thing is required"))
			} else if err := device.ValidateThingName(thing); err != nil {
				problems = append(problems, fmt.Errorf("--thing: %w", err))
			}
			if enrollURL == "" {
				problems = append(problems, errors.New("--url is required (the enrollment URL stack up prints)"))
			} else if u, err := url.Parse(enrollURL); err != nil || u.Scheme != "https" || u.Host == "" {
				problems = append(problems, fmt.Errorf("--url %q must be an https:// URL", enrollURL))
			}
			if token == "" {
				problems = append(problems, errors.New("--token (or CAMSTORM_ENROLL_TOKEN) is required"))
			}
			if len(problems) > 0 {
				return fmt.Errorf("%w: %w (see %s --help)", errUsage, errors.Join(problems...), cmd.CommandPath())
			}
			client, err := httpsClient(caFile)
			if err != nil {
				return err
			}
			paths := map[string]string{}
			for _, ext := range []string{"key", "csr", "crt"} {
				paths[ext] = filepath.Join(outDir, thing+"."+ext)
			}
			if _, err := os.Stat(paths["key"]); err == nil && !force {
				return fmt.Errorf("%w: %s exists; enrolling again would replace that key (use --force, or another --out)", errUsage, paths["key"])
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return err
			}

			d, err := device.Enroll(cmd.Context(), client, enrollURL, token, thing, rand.Reader)
			if err != nil {
				return err
			}
			if err := writeNew(paths["key"], d.KeyPEM, 0o600); err != nil {
				return err
			}
			if err := writeNew(paths["csr"], d.CSRPEM, 0o644); err != nil {
				return err
			}
			if err := writeNew(paths["crt"], d.CertificatePEM, 0o644); err != nil {
				return err
			}
			printNextSteps(cmd, d, paths, caFile)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&thing, "thing", "", "thing name, also the camera's stream name: 1-256 of [a-zA-Z0-9_.-] (required)")
	f.StringVar(&enrollURL, "url", "", "enrollment URL, https://HOST:PORT/enroll (required)")
	f.StringVar(&token, "token", "", "enrollment token stack up printed (default $CAMSTORM_ENROLL_TOKEN)")
	f.StringVar(&caFile, "ca", "", "CA certificate to trust for the enrollment endpoint (the stack's ca.pem); default: the system roots")
	f.StringVar(&outDir, "out", ".", "directory for NAME.key, NAME.csr and NAME.crt")
	f.BoolVar(&force, "force", false, "replace an existing key for this thing in --out")
	return cmd
}

// writeNew writes a file through a temporary name so a partial file never
// carries the final name, with the given mode from the start.
func writeNew(path string, data []byte, mode fs.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil { // WriteFile keeps the mode of an existing file
		return err
	}
	return os.Rename(tmp, path)
}

func printNextSteps(cmd *cobra.Command, d device.Identity, paths map[string]string, caFile string) {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "Enrolled thing %s (certificate id %s).\n", d.ThingName, d.CertificateID)
	fmt.Fprintf(out, "  private key   %s\n  certificate   %s\n  request       %s\n\n", paths["key"], paths["crt"], paths["csr"])
	provider := d.CredentialProviderURL
	if provider == "" {
		fmt.Fprintln(out, "The stack did not say where its credential provider listens: take the credential provider URL from `camstorm stack up`'s line.")
		provider = "https://CREDENTIAL_PROVIDER_HOST:PORT"
	}
	host := provider
	if u, err := url.Parse(provider); err == nil && u.Host != "" {
		host = u.Host
	}
	ca := caFile
	if ca == "" {
		ca = "CA_FILE"
	}
	fmt.Fprintf(out, "Next, fetch temporary credentials over mutual TLS (role alias %s):\n", d.RoleAlias)
	fmt.Fprintf(out, "  curl --cert %s --key %s --cacert %s \\\n    -H 'x-amzn-iot-thingname: %s' %s/role-aliases/%s/credentials\n\n",
		paths["crt"], paths["key"], ca, d.ThingName, provider, d.RoleAlias)
	fmt.Fprintln(out, "With the KVS producer SDK's GStreamer sink, stream to the stream named like the thing:")
	fmt.Fprintf(out, "  kvssink stream-name=%s iot-certificate=\"iot-certificate,endpoint=%s,cert-path=%s,key-path=%s,ca-path=%s,role-aliases=%s,iot-thing-name=%s\"\n",
		d.ThingName, host, paths["crt"], paths["key"], ca, d.RoleAlias, d.ThingName)
}
