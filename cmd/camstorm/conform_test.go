package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/suites"
	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/containers"
)

// junitSummary parses a JUnit file with junitparser (Debian
// python3-junitparser), a JUnit consumer camstorm does not share code
// with, and returns "tests failures errors skipped" and the suite names.
func junitSummary(t *testing.T, path string) string {
	t.Helper()
	const python = "/usr/bin/python3" // Debian's, where python3-junitparser installs
	script := `import sys, junitparser
x = junitparser.JUnitXml.fromfile(sys.argv[1])
print(x.tests, x.failures, x.errors, x.skipped, ",".join(s.name for s in x))`
	out, err := exec.Command(python, "-c", script, path).CombinedOutput()
	if err != nil && strings.Contains(string(out), "No module named") || os.IsNotExist(err) || err != nil && strings.Contains(err.Error(), "no such file") {
		msg := "junitparser is not installed for /usr/bin/python3; apt-get install python3-junitparser"
		if os.Getenv("CAMSTORM_REQUIRE_TOOLS") == "1" {
			t.Fatal(msg + " — required because CAMSTORM_REQUIRE_TOOLS=1")
		}
		t.Skip(msg)
	}
	require.NoError(t, err, "junitparser: %s", out)
	return strings.TrimSpace(string(out))
}

// TestConformEmbeddedPassesAndWritesReports is the acceptance run: every
// case against the embedded stack passes, and the JUnit and JSON reports
// parse in tools that did not write them.
func TestConformEmbeddedPassesAndWritesReports(t *testing.T) {
	dir := t.TempDir()
	junit, js := filepath.Join(dir, "conform.xml"), filepath.Join(dir, "conform.json")
	stdout, stderr, code := runCamstorm(t, "conform", "--junit", junit, "--json", js)
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Contains(t, stdout, "0 failed (0 MUST), 0 skipped, 0 harness errors")

	var rep struct {
		Schema  string               `json:"schema"`
		Results []conformance.Result `json:"results"`
		Summary struct{ Pass, Fail int }
	}
	b, err := os.ReadFile(js)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rep))
	require.Equal(t, conformance.ReportSchema, rep.Schema)
	require.GreaterOrEqual(t, len(rep.Results), 48, "four suites of at least 12 cases")
	require.Equal(t, len(rep.Results), rep.Summary.Pass)
	perSuite := map[string]int{}
	for _, r := range rep.Results {
		perSuite[r.Suite]++
		require.NotEmpty(t, r.Requirement.Text, r.ID)
	}
	for _, s := range []string{"encryption", "rotation", "resume", "access"} {
		require.GreaterOrEqual(t, perSuite[s], 12, "suite %s", s)
	}

	fields := strings.Fields(junitSummary(t, junit))
	require.Len(t, fields, 5)
	require.Equal(t, []string{"0", "0", "0"}, fields[1:4], "failures, errors, skipped in the JUnit file")
	require.Equal(t, "encryption,rotation,resume,access", fields[4])
}

// TestConformCatchesADefect runs a suite against a deliberately broken
// stack: exit 3, and the failure in every report.
func TestConformCatchesADefect(t *testing.T) {
	dir := t.TempDir()
	junit := filepath.Join(dir, "conform.xml")
	stdout, stderr, code := runCamstorm(t, "conform", "--defect", "plaintext-at-rest", "--junit", junit, "ENC-REST")
	require.Equal(t, exitVerifyFail, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Contains(t, stdout, "FAIL ENC-REST-001")
	require.Contains(t, stdout, "Requirement R-REST-1 (MUST)")
	chosen, err := conformance.Select(suites.All(), []string{"ENC-REST"})
	require.NoError(t, err)
	fields := strings.Fields(junitSummary(t, junit))
	require.Equal(t, fmt.Sprint(len(chosen[0].Cases)), fields[0], "tests")
	require.NotEqual(t, "0", fields[1], "failures")
}

func TestConformListAndUsage(t *testing.T) {
	stdout, _, code := runCamstorm(t, "conform", "--list", "rotation", "ACC-SIG-00")
	require.Equal(t, exitOK, code)
	require.Contains(t, stdout, "ROT-KMS-001")
	require.Contains(t, stdout, "ACC-SIG-001")
	require.NotContains(t, stdout, "ENC-TLS-001")

	_, stderr, code := runCamstorm(t, "conform", "--list", "nosuch")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, `"nosuch"`)

	_, stderr, code = runCamstorm(t, "conform", "--parallel", "0")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "--parallel 0")

	_, stderr, code = runCamstorm(t, "conform", "--defect", "bogus")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "plaintext-at-rest", "the error lists the valid defects")
}

// TestConformContainersPasses: the same command judges the stack as
// containers, every case passes, and nothing of the run is left in Docker.
func TestConformContainersPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the image and runs every suite against three containers")
	}
	require.NoError(t, containers.DisableReaper())
	containers.SkipIfNoDocker(t)
	bin, err := buildBinary()
	require.NoError(t, err, "building camstorm")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	junit := filepath.Join(t.TempDir(), "conform.xml")
	cmd := exec.CommandContext(ctx, bin, "conform", "--stack", "containers", "--junit", junit)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "against the containers stack")
	require.Contains(t, string(out), "0 failed (0 MUST), 0 skipped, 0 harness errors")
	fields := strings.Fields(junitSummary(t, junit))
	require.Equal(t, []string{"0", "0", "0"}, fields[1:4], "failures, errors, skipped in the JUnit file")
	require.Empty(t, ours(t, containers.Owner(cmd.Process.Pid)), "left behind by the run")
}

// TestConformRemoteTarget judges an endpoint through --target alone, as a
// team's own ingest is judged: the cases that need only endpoints and
// credentials run, the others are skipped with the capability they lack.
func TestConformRemoteTarget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := stack.StartEmbedded(ctx, stack.Options{})
	require.NoError(t, err)
	defer st.Close(context.Background())
	t.Setenv("AWS_ACCESS_KEY_ID", st.AdminAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", st.AdminSecretAccessKey)
	t.Setenv("AWS_REGION", st.Region)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	stdout, stderr, code := runCamstorm(t, "conform", "--target", st.ControlPlaneURL, "--kms-url", st.KMSURL, "--ca", st.CACertFile,
		"ENC-TLS", "ENC-REST-001", "RES-DROP", "ACC-BOLA-001")
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Contains(t, stdout, "10 cases against "+st.ControlPlaneURL)
	require.Contains(t, stdout, "8 passed, 0 failed (0 MUST), 2 skipped")
	require.Contains(t, stdout, `ENC-REST-001: the target does not offer "storage"`)
	require.Contains(t, stdout, `ACC-BOLA-001: the target does not offer "principals"`)
}
