package bench

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCameraMemoryAccounts checks the memory benchmark's bookkeeping on a
// small fleet: it measures something, excludes buffered media and counts
// the goroutines each camera runs.
func TestCameraMemoryAccounts(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for seconds")
	}
	res, err := CameraMemory(context.Background(), MemoryOptions{Cameras: 20, Ramp: 500 * time.Millisecond, Settle: 2 * time.Second, Samples: 2})
	require.NoError(t, err)
	require.Equal(t, 20, res.Cameras)
	require.True(t, res.StackInProcess)
	require.Positive(t, res.PerCamera)
	require.Positive(t, res.Buffered, "a real-time camera holds its open fragment")
	require.Greater(t, res.GoroutinesPerCamera, 1.0, "capture, upload and ACK reading")
	require.InDelta(t, float64(res.PerCamera)/MemoryGoal, res.GoalRatio, 1e-9)
}

// TestFleetGoodputMeasuresBoth: both sides of the ratio move bytes.
func TestFleetGoodputMeasuresBoth(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for seconds")
	}
	res, err := FleetGoodput(context.Background(), GoodputOptions{Cameras: 2, BitrateBps: 2_000_000, Warmup: 500 * time.Millisecond, Duration: time.Second})
	require.NoError(t, err)
	require.Positive(t, res.Baseline.MBps)
	require.Positive(t, res.Fleet.MBps)
	require.Positive(t, res.Fleet.Fragments)
	require.InDelta(t, res.Fleet.MBps/res.Baseline.MBps, res.Ratio, 1e-9)
}

// TestFleetCapacityStopsAtTheFirstMiss: a step that cannot meet an
// impossible SLO ends the search.
func TestFleetCapacityStopsAtTheFirstMiss(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for seconds")
	}
	res, err := FleetCapacity(context.Background(), CapacityOptions{Steps: []int{3, 6}, Duration: 2 * time.Second, Ramp: 200 * time.Millisecond, SLO: time.Microsecond})
	require.NoError(t, err)
	require.Len(t, res.Steps, 1, "the first step misses a 1 µs SLO")
	require.False(t, res.Steps[0].Pass)
	require.Zero(t, res.Largest)
	require.Positive(t, res.Steps[0].PersistedP99)
	require.Positive(t, res.Steps[0].CPU)

	res, err = FleetCapacity(context.Background(), CapacityOptions{Steps: []int{3}, Duration: 2 * time.Second, Ramp: 200 * time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, 3, res.Largest, "steps: %+v", res.Steps)
}

// BenchmarkFleetGoodput reports PERSISTED media MB/s of 16 offline E2EE
// cameras, raw TLS loopback MB/s over 16 connections, and their ratio.
func BenchmarkFleetGoodput(b *testing.B) {
	for b.Loop() {
		res, err := FleetGoodput(context.Background(), GoodputOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.Fleet.MBps, "fleet-MB/s")
		b.ReportMetric(res.Baseline.MBps, "rawTLS-MB/s")
		b.ReportMetric(res.Ratio, "ratio")
	}
}

// BenchmarkCameraMemory reports steady-state bytes per camera (stack in
// this process, so an upper bound) for 500 cameras.
func BenchmarkCameraMemory(b *testing.B) {
	for b.Loop() {
		res, err := CameraMemory(context.Background(), MemoryOptions{Cameras: 500, Ramp: 5 * time.Second, Settle: 5 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(res.PerCamera), "B/camera")
		b.ReportMetric(res.GoalRatio, "goal-ratio")
	}
}

// TestKMSMeasuresBoth: both sides of the KMS ratio count envelopes.
func TestKMSMeasuresBoth(t *testing.T) {
	res, err := KMS(context.Background(), KMSOptions{Workers: 2, Duration: 300 * time.Millisecond})
	require.NoError(t, err)
	require.Positive(t, res.SDKPerSec)
	require.Positive(t, res.RawPerSec)
	require.Positive(t, res.SDKLatency.GenerateDataKey)
	require.InDelta(t, res.SDKPerSec/res.RawPerSec, res.Ratio, 1e-9)
}
