package main

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStackUpPrintsOneLineAndStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts camstorm as a separate process")
	}
	p := startStackProcess(t, t.TempDir())
	var fields map[string]any
	raw, _ := json.Marshal(p.ep)
	require.NoError(t, json.Unmarshal(raw, &fields))
	for _, k := range []string{"control_plane_url", "data_plane_url", "ca_cert_file", "metrics_url"} {
		require.NotEmpty(t, fields[k], k)
	}
	require.True(t, strings.HasPrefix(p.ep.ControlPlaneURL, "https://"))
	_, err := os.Stat(p.ep.CACertFile)
	require.NoError(t, err, "the printed CA file exists")

	resp, err := http.Get(p.ep.MetricsURL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "clean exit on SIGTERM; stderr: %s", p.stderr)
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGTERM; stderr: %s", p.stderr)
	}
	require.Contains(t, p.stderr.String(), "stopped cleanly")
}
