package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/containers"
)

// ours lists what Docker holds of one owner: containers, networks and
// volumes.
func ours(t *testing.T, owner string) []string {
	t.Helper()
	left, err := containers.Owned(context.Background(), owner)
	require.NoError(t, err)
	return left
}

// TestStackUpContainersCleansUpOnInterrupt: `camstorm stack up
// --containers` as its own process prints the endpoints once its three
// containers are healthy, and Ctrl-C (SIGINT) leaves no container,
// network or volume of its behind.
func TestStackUpContainersCleansUpOnInterrupt(t *testing.T) {
	require.NoError(t, containers.DisableReaper())
	containers.SkipIfNoDocker(t)
	bin, err := buildBinary()
	require.NoError(t, err, "building camstorm")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "stack", "up", "--containers")
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	owner := containers.Owner(cmd.Process.Pid)

	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	require.NoError(t, err, "no endpoints line; stderr: %s", stderr.String())
	var ep stack.Endpoints
	require.NoError(t, json.Unmarshal(line, &ep), "%s", line)
	require.NotEmpty(t, ep.ControlPlaneURL)
	require.NotEmpty(t, ep.AdminAccessKeyID)
	running := ours(t, owner)
	require.Len(t, running, 3+1+5, "three containers, a network, five volumes: %v", running)

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait(), "stderr: %s", stderr.String())
	require.Empty(t, ours(t, owner), "left behind after Ctrl-C")
}
