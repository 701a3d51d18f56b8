package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/iam"
	"github.com/camstorm/camstorm/stack/pki"
)

// enrollServer serves a real identity service's POST /enroll over TLS on
// loopback and returns the service, the enrollment URL and the CA file.
func enrollServer(t *testing.T) (*iam.Service, string, string) {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreate(filepath.Join(dir, "pki"))
	require.NoError(t, err)
	svc, err := iam.Open(iam.Config{DataDir: filepath.Join(dir, "iam"), CA: ca, CredentialProviderURL: "https://127.0.0.1:9443"})
	require.NoError(t, err)
	cert, err := ca.ServerCertificate([]string{"127.0.0.1"})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/enroll", svc.EnrollHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(tls.NewListener(ln, pki.ServerTLS(cert))) }()
	t.Cleanup(func() { _ = srv.Close(); _ = svc.Close() })
	return svc, "https://" + ln.Addr().String() + "/enroll", ca.CACertPath()
}

func TestDeviceEnroll(t *testing.T) {
	svc, url, caFile := enrollServer(t)
	out := filepath.Join(t.TempDir(), "devices")

	stdout, stderr, code := runCamstorm(t, "device", "enroll", "--thing", "cam-0001", "--url", url,
		"--token", svc.EnrollmentToken(), "--ca", caFile, "--out", out)
	require.Equal(t, exitOK, code, "stderr: %s", stderr)

	keyInfo, err := os.Stat(filepath.Join(out, "cam-0001.key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), keyInfo.Mode().Perm(), "the private key must be private")
	pair, err := tls.LoadX509KeyPair(filepath.Join(out, "cam-0001.crt"), filepath.Join(out, "cam-0001.key"))
	require.NoError(t, err, "certificate and key must match")
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	require.NoError(t, err)
	require.Equal(t, "cam-0001", leaf.Subject.CommonName)
	_, err = os.Stat(filepath.Join(out, "cam-0001.csr"))
	require.NoError(t, err)

	id := iam.CertificateID(leaf.Raw)
	got, ok := svc.Certificate(id)
	require.True(t, ok, "the service registered the certificate")
	require.Equal(t, iam.CertificateActive, got.Status)
	for _, want := range []string{id, "role-aliases/camstorm-camera-alias/credentials", "x-amzn-iot-thingname: cam-0001",
		"https://127.0.0.1:9443", "endpoint=127.0.0.1:9443", "iot-thing-name=cam-0001", caFile} {
		require.Contains(t, stdout, want)
	}

	// A second enrollment into the same directory would replace the key.
	_, stderr, code = runCamstorm(t, "device", "enroll", "--thing", "cam-0001", "--url", url,
		"--token", svc.EnrollmentToken(), "--ca", caFile, "--out", out)
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "--force")
	_, stderr, code = runCamstorm(t, "device", "enroll", "--thing", "cam-0001", "--url", url,
		"--token", svc.EnrollmentToken(), "--ca", caFile, "--out", out, "--force")
	require.Equal(t, exitOK, code, "stderr: %s", stderr)
	require.Len(t, svc.ThingCertificates("cam-0001"), 2)
}

func TestDeviceEnrollErrors(t *testing.T) {
	svc, url, caFile := enrollServer(t)
	t.Setenv("CAMSTORM_ENROLL_TOKEN", "")
	out := t.TempDir()
	cases := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"nothing", []string{}, exitUsage, "--thing is required"},
		{"http URL", []string{"--thing", "c", "--url", "http://x/enroll", "--token", "t"}, exitUsage, "https://"},
		{"missing token", []string{"--thing", "c", "--url", url}, exitUsage, "--token"},
		{"unreadable CA", []string{"--thing", "c", "--url", url, "--token", "t", "--ca", filepath.Join(out, "none.pem")}, exitUsage, "--ca"},
		{"wrong token", []string{"--thing", "c", "--url", url, "--token", "wrong-token", "--ca", caFile, "--out", out}, exitFailure, "HTTP 401"},
		{"bad thing name", []string{"--thing", "a b", "--url", url, "--token", svc.EnrollmentToken(), "--ca", caFile, "--out", out}, exitUsage, "thing name"},
		{"untrusted server", []string{"--thing", "c", "--url", url, "--token", svc.EnrollmentToken(), "--out", out}, exitFailure, "certificate"},
	}
	for _, tc := range cases {
		_, stderr, code := runCamstorm(t, append([]string{"device", "enroll"}, tc.args...)...)
		require.Equal(t, tc.wantCode, code, "%s: %v: stderr %s", tc.name, tc.args, stderr)
		require.Contains(t, stderr, tc.wantErr, "%s: %v", tc.name, tc.args)
	}
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Empty(t, entries, "a refused enrollment writes no files")
}

// TestDeviceEnrollThenRevoke: against the embedded stack, a camera enrols
// with the CLI, then the operator revokes its certificate with the CLI
// (SigV4 with the admin keys from the standard chain); without
// credentials the revoke fails.
func TestDeviceEnrollThenRevoke(t *testing.T) {
	st, err := stack.StartEmbedded(context.Background(), stack.Options{})
	require.NoError(t, err)
	defer st.Close(context.Background())
	out := t.TempDir()
	_, stderr, code := runCamstorm(t, "device", "enroll", "--thing", "cam-r", "--url", st.EnrollURL,
		"--token", st.EnrollmentToken, "--ca", st.CACertFile, "--out", out)
	require.Equal(t, exitOK, code, "stderr: %s", stderr)
	crt := filepath.Join(out, "cam-r.crt")

	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_PROFILE", "no-such-profile-camstorm")
	_, stderr, code = runCamstorm(t, "device", "revoke", "--cert", crt, "--url", st.STSURL, "--ca", st.CACertFile)
	require.NotEqual(t, exitOK, code, "no credentials: %s", stderr)

	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", st.AdminAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", st.AdminSecretAccessKey)
	t.Setenv("AWS_REGION", st.Region)
	stdout, stderr, code := runCamstorm(t, "device", "revoke", "--cert", crt, "--url", st.STSURL, "--ca", st.CACertFile)
	require.Equal(t, exitOK, code, "stderr: %s", stderr)
	require.Contains(t, stdout, "revoked")
	pemBytes, err := os.ReadFile(crt)
	require.NoError(t, err)
	block, _ := pem.Decode(pemBytes)
	got, ok := st.IAM().Certificate(iam.CertificateID(block.Bytes))
	require.True(t, ok)
	require.Equal(t, iam.CertificateRevoked, got.Status)
}
