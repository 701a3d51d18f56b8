package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/media"
)

// runDeviceCheck runs `camstorm device-check` in-process, streams the
// simulator into it with the credentials chosen by creds, and returns the
// command's output, the verdicts of its JSON report and its error.
func runDeviceCheck(t *testing.T, faults string, creds func(deviceCheckInfo) (string, string, string)) (string, map[string]string, error) {
	t.Helper()
	dir := t.TempDir()
	jsonFile, junitFile := filepath.Join(dir, "report.json"), filepath.Join(dir, "report.xml")
	pr, pw := io.Pipe()
	cmd := newRootCommand()
	cmd.SetArgs([]string{"device-check", "--listen", "127.0.0.1:0", "--stream", "cli-cam", "--faults", faults,
		"--quiet", "1s", "--duration", "40s", "--json", jsonFile, "--junit", junitFile})
	cmd.SetOut(pw)
	done := make(chan error, 1)
	go func() {
		err := cmd.ExecuteContext(context.Background())
		pw.Close()
		done <- err
	}()
	lines := bufio.NewReader(pr)
	first, err := lines.ReadString('\n')
	require.NoError(t, err, "the JSON line")
	rest := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(lines)
		rest <- string(b)
	}()
	var info deviceCheckInfo
	require.NoError(t, json.Unmarshal([]byte(first), &info), first)
	require.Equal(t, "cli-cam", info.Stream)
	require.Equal(t, faults, info.Faults)
	require.True(t, strings.HasPrefix(info.Credentials.AccessKeyID, "ASIA"), "temporary credentials are printed")

	pem, err := os.ReadFile(info.CACertFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	src, err := media.NewSynthetic(media.SyntheticConfig{BitrateBps: 200_000, FPS: 10, GOP: time.Second, Seed: 1, Width: 160, Height: 120})
	require.NoError(t, err)
	key, err := e2ee.GenerateKey(e2ee.KEMX25519, nil)
	require.NoError(t, err)
	id, secret, token := creds(info)
	cam, err := simulator.NewCamera(simulator.CameraConfig{StreamName: "cli-cam", Source: src, Offline: true,
		Recipients: []e2ee.PublicKey{key.Public()}, BackoffBase: 10 * time.Millisecond, BackoffCap: 100 * time.Millisecond},
		simulator.Target{ControlPlaneURL: info.ControlPlaneURL, HTTP: hc, Region: info.Region,
			Credentials: credentials.NewStaticCredentialsProvider(id, secret, token)})
	require.NoError(t, err)
	cam.Run(context.Background(), time.Now().Add(5*time.Second))

	var runErr error
	select {
	case runErr = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("device-check did not judge within 30 s of the device stopping")
	}
	output := <-rest

	raw, err := os.ReadFile(jsonFile)
	require.NoError(t, err)
	var doc struct {
		Schema  string               `json:"schema"`
		Results []conformance.Result `json:"results"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.Equal(t, conformance.ReportSchema, doc.Schema)
	verdicts := map[string]string{}
	for _, r := range doc.Results {
		verdicts[r.ID] = string(r.Verdict)
	}
	x, err := os.ReadFile(junitFile)
	require.NoError(t, err)
	var junit struct {
		Tests int `xml:"tests,attr"`
	}
	require.NoError(t, xml.Unmarshal(x, &junit))
	require.Equal(t, len(doc.Results), junit.Tests)
	return output, verdicts, runErr
}

// TestDeviceCheckCommand: the simulator, pointed at what device-check
// printed, passes under a cut and a retriable ERROR (exit 0); signed with
// the admin's long-term keys it fails DEV-CRED-001, a MUST (exit 3).
func TestDeviceCheckCommand(t *testing.T) {
	out, v, err := runDeviceCheck(t, "close@fragment=2,error=5000@fragment=4", func(i deviceCheckInfo) (string, string, string) {
		return i.Credentials.AccessKeyID, i.Credentials.SecretAccessKey, i.Credentials.SessionToken
	})
	require.NoError(t, err, out)
	require.Equal(t, "pass", v["DEV-RES-001"], out)
	require.Equal(t, "pass", v["DEV-ERR-001"], out)
	require.Contains(t, out, "2 faults injected of 2 planned")

	out, v, err = runDeviceCheck(t, "", func(i deviceCheckInfo) (string, string, string) {
		return i.AdminAccessKeyID, i.AdminSecretAccessKey, ""
	})
	require.Equal(t, exitVerifyFail, exitCode(err), "%v\n%s", err, out)
	require.Equal(t, "fail", v["DEV-CRED-001"], out)
	require.Contains(t, out, "FAIL DEV-CRED-001")
}
