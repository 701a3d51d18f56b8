package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/stack"
)

// runCamstorm runs the root command in-process and returns stdout, stderr
// and the exit code main would use.
func runCamstorm(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	err := root.ExecuteContext(context.Background())
	if err != nil {
		fmt.Fprintln(&stderr, "camstorm:", err)
	}
	return stdout.String(), stderr.String(), exitCode(err)
}

func TestFleetJSONOnEmbeddedStack(t *testing.T) {
	stdout, stderr, code := runCamstorm(t, "fleet", "--cameras", "5", "--duration", "3s", "--json", "-", "--bitrate", "500000")
	require.Equal(t, exitOK, code, "stderr: %s", stderr)
	var rep fleet.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), "stdout is one JSON object: %s", stdout)
	require.Equal(t, 5, rep.Config.Cameras)
	require.True(t, rep.Config.Encrypted, "E2EE is on by default")
	v := rep.Verification
	require.Equal(t, 5, v.Streams)
	require.Equal(t, 5, v.Encrypted)
	require.Positive(t, v.AckedFrames)
	require.Equal(t, v.AckedFrames, v.Delivered)
	require.Zero(t, v.LostFrames)
	require.Contains(t, stderr, "streaming", "progress lines on stderr")
}

func TestFleetTableAgainstTarget(t *testing.T) {
	st, err := stack.StartEmbedded(context.Background(), stack.Options{})
	require.NoError(t, err)
	defer st.Close(context.Background())
	// Against a target, the standard AWS credential chain signs.
	t.Setenv("AWS_ACCESS_KEY_ID", st.AdminAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", st.AdminSecretAccessKey)
	t.Setenv("AWS_REGION", st.Region)
	stdout, stderr, code := runCamstorm(t, "fleet", "--cameras", "2", "--duration", "2s", "--mix", "synthetic=1",
		"--gop", "1s", "--target", st.ControlPlaneURL, "--ca", st.CACertFile, "--prefix", "cli")
	require.Equal(t, exitOK, code, "stderr: %s", stderr)
	for _, want := range []string{"fragments PERSISTED", "PERSISTED ACK", "p99", "lost", "integrity", "PASS:", "cli-NNNN", "E2EE on"} {
		require.Contains(t, stdout, want)
	}
}

func TestFleetUsageErrors(t *testing.T) {
	_, stderr, code := runCamstorm(t, "fleet", "--mix", "clip=x,webcam=1", "--profile", "dialup", "--cameras", "0")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "webcam")
	require.Contains(t, stderr, `profile "dialup" unknown (known: perfect`, "lists the valid profiles")
	_, stderr, code = runCamstorm(t, "fleet", "--cameras", "-1", "--gop", "30s", "--duration", "-1s")
	require.Equal(t, exitUsage, code)
	for _, want := range []string{"Cameras is -1", "GOP is 30s", "Duration is -1s"} {
		require.Contains(t, stderr, want, "every problem at once")
	}
	_, _, code = runCamstorm(t, "fleet", "--ca", "x.pem")
	require.Equal(t, exitUsage, code)
}

func TestFleetListsProfiles(t *testing.T) {
	stdout, _, code := runCamstorm(t, "fleet", "--list-profiles")
	require.Equal(t, exitOK, code)
	for _, want := range []string{"perfect", "lte-good", "lte-p75", "3g", "wifi-lossy", "rural"} {
		require.Contains(t, stdout, want)
	}
}

func TestVerificationFailureHasItsOwnExitCode(t *testing.T) {
	err := fmt.Errorf("%w: 3 fragments acknowledged PERSISTED were lost", errVerificationFailed)
	require.Equal(t, exitVerifyFail, exitCode(err))
}
