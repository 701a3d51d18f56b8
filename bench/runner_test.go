package bench

import (
	"context"
	"testing"
	"time"

	"github.com/camstorm/camstorm/scenarios"
	"github.com/stretchr/testify/require"
)

// TestRunnerScriptCompiles: the embedded script parses and links against
// the runner's built-in modules.
func TestRunnerScriptCompiles(t *testing.T) {
	_, err := scenarios.CompileSource("runner-bench.js", []byte(RunnerScript))
	require.NoError(t, err)
}

// TestRunnerMemorySmoke runs both figures small (the stack in this
// process, so the camera figure includes its sessions): each side of
// each ratio measures something and the ratios are what they say.
func TestRunnerMemorySmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for seconds")
	}
	res, err := RunnerMemory(context.Background(), RunnerOptions{VUs: 50, Cameras: 20, Ramp: 500 * time.Millisecond, Duration: 3 * time.Second})
	require.NoError(t, err)
	require.Equal(t, 50, res.VUs)
	require.Equal(t, 20, res.Cameras)
	require.True(t, res.StackInProcess)
	for _, c := range []struct {
		name string
		v    int64
	}{{"PerVU", res.PerVU}, {"PerBareRuntime", res.PerBareRuntime}, {"PerCamera", res.PerCamera}, {"PerTLSConn", res.PerTLSConn}} {
		require.Positive(t, c.v, "%s of %+v", c.name, res)
	}
	require.Greater(t, res.PerVU, res.PerBareRuntime, "a VU holds a runtime and the script's modules: %+v", res)
	require.GreaterOrEqual(t, res.Persisted, int64(20), "every camera got a fragment PERSISTED: %+v", res)
	require.InDelta(t, float64(res.PerVU)/float64(res.PerBareRuntime), res.VURatio, 1e-9)
	require.InDelta(t, float64(res.PerCamera)/float64(res.PerTLSConn), res.CameraRatio, 1e-9)
	require.InDelta(t, float64(res.PerVU)/K6PerVULow, res.K6Ratio, 1e-9)
}

// TestRunnerMemorySkips: a negative count skips that figure.
func TestRunnerMemorySkips(t *testing.T) {
	res, err := RunnerMemory(context.Background(), RunnerOptions{VUs: 10, Cameras: -1})
	require.NoError(t, err)
	require.Zero(t, res.Cameras, "cameras skipped: %+v", res)
	require.Positive(t, res.PerVU, "VUs measured: %+v", res)
}

// BenchmarkVUMemory reports the memory per JS VU of the k6-style script
// (1,000 VUs) and per bare sobek runtime.
func BenchmarkVUMemory(b *testing.B) {
	for b.Loop() {
		res, err := RunnerMemory(context.Background(), RunnerOptions{VUs: 1000, Cameras: -1})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(res.PerVU)/1024, "KiB/VU")
		b.ReportMetric(float64(res.PerBareRuntime)/1024, "KiB/runtime")
		b.ReportMetric(res.VURatio, "ratio")
	}
}

// BenchmarkRunnerCameraMemory reports the memory per streaming camera of
// the scenario runner (200 cameras; the stack in this process, so an
// upper bound) and per raw TLS connection to the same stack.
func BenchmarkRunnerCameraMemory(b *testing.B) {
	for b.Loop() {
		res, err := RunnerMemory(context.Background(), RunnerOptions{VUs: -1, Cameras: 200, Ramp: 2 * time.Second, Duration: 5 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(res.PerCamera)/1024, "KiB/camera")
		b.ReportMetric(float64(res.PerTLSConn)/1024, "KiB/TLSconn")
		b.ReportMetric(res.CameraRatio, "ratio")
	}
}
