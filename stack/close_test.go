package stack_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/stack"
	"github.com/stretchr/testify/require"
)

// TestCloseWithOpenStreams: Ctrl-C on `stack up` must not wait for clients that
// keep a PutMedia or a tailing GetMedia open (a hang check, not a timing one).
func TestCloseWithOpenStreams(t *testing.T) {
	ctx := context.Background()
	st, err := stack.StartEmbedded(ctx, stack.Options{DataDir: t.TempDir()})
	require.NoError(t, err)
	hc := st.AdminClient()
	require.NoError(t, kvsclient.Call(ctx, hc, st.ControlPlaneURL, kvsapi.PathCreateStream, kvsapi.CreateStreamInput{StreamName: "s", DataRetentionInHours: 1}, nil))
	pm, err := kvsclient.StartPutMedia(ctx, hc, st.DataPlaneURL, kvsclient.PutMediaOptions{StreamName: "s"})
	require.NoError(t, err)
	defer pm.Close()
	resp, err := hc.Post(st.DataPlaneURL+"/getMedia", "application/json", bytes.NewReader([]byte(`{"StreamName":"s","StartSelector":{"StartSelectorType":"NOW"}}`)))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, st.Close(cctx))
	t.Logf("closed in %v", time.Since(start))
	require.Less(t, time.Since(start), 5*time.Second)
}
