package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/results"
)

// TestShardsAddUpToOneRun runs testdata/sharded.js as one process and as
// three shard processes (--shard i/3, one --start-at) against the same
// stack process, merges the shards' results files with `camstorm results
// merge`, and requires the merged totals to equal the single run's: every
// scenario's iterations, the arrival-rate iterations, the sum of the
// global iteration ids (each id exactly once), cameras started, checks.
// This is the mechanics the Kubernetes Indexed Job relies on.
func TestShardsAddUpToOneRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs camstorm as separate processes")
	}
	bin, err := buildBinary()
	require.NoError(t, err, "building camstorm")
	p := startStackProcess(t, t.TempDir())
	dir := t.TempDir()
	env := append(os.Environ(), "AWS_ACCESS_KEY_ID="+p.ep.AdminAccessKeyID, "AWS_SECRET_ACCESS_KEY="+p.ep.AdminSecretAccessKey,
		"AWS_SESSION_TOKEN=", "AWS_REGION="+p.ep.Region, "AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	run := func(out string, extra ...string) (string, error) {
		args := append([]string{"run", "testdata/sharded.js", "--target", p.ep.ControlPlaneURL, "--ca", p.ep.CACertFile,
			"--kms-url", p.ep.KMSURL, "--seed", "11", "-q", "--summary-mode", "disabled", "--out", "camstorm=" + out}, extra...)
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		return string(b), err
	}

	single := filepath.Join(dir, "single.json")
	out, err := run(single)
	require.NoError(t, err, "single run:\n%s", out)

	const shards = 3
	startAt := time.Now().Add(8 * time.Second).UTC().Format(time.RFC3339Nano)
	files := make([]string, shards)
	outs := make([]string, shards)
	errs := make([]error, shards)
	var wg sync.WaitGroup
	for i := range shards {
		files[i] = filepath.Join(dir, fmt.Sprintf("shard-%d.json", i))
		wg.Go(func() {
			outs[i], errs[i] = run(files[i], "--shard", fmt.Sprintf("%d/%d", i, shards), "--start-at", startAt, "--no-thresholds",
				"--tag", fmt.Sprintf("instance_id=%d", i))
		})
	}
	wg.Wait()
	for i := range shards {
		require.NoError(t, errs[i], "shard %d:\n%s", i, outs[i])
	}
	merged := filepath.Join(dir, "merged.json")
	cmd := exec.Command(bin, append([]string{"results", "merge", "--out", merged}, files...)...)
	mergeOut, err := cmd.CombinedOutput()
	require.NoError(t, err, "results merge (exit 99 means a global threshold failed):\n%s", mergeOut)

	want, got := totals(t, single), totals(t, merged)
	require.Equal(t, want, got, "merged shard totals differ from the single run")
	require.Equal(t, 37.0, got["iterations{scenario:shared}"], "shared-iterations")
	require.Equal(t, 5.0, got["camera_starts"], "cameras started")
	// units sums (global iteration id + 1): equal sums mean the shards ran
	// disjoint global ids that together are the single run's.
	require.Equal(t, want["units{scenario:arrivals}"], got["units{scenario:arrivals}"])
	require.NotContains(t, string(mergeOut), "✗", "a threshold failed on the merged run")
}

// totals reads a results file's deterministic totals.
func totals(t *testing.T, path string) map[string]float64 {
	t.Helper()
	f, err := readResultsFile(path)
	require.NoError(t, err)
	_, store, _, _, err := f.Load()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, key := range []string{"iterations", "dropped_iterations", "camera_starts", "checks", "units"} {
		for _, sc := range []string{"", "shared", "pervu", "arrivals", "ramp", "cams"} {
			sel := results.Selector{Metric: key}
			name := key
			if sc != "" {
				sel.Tags = map[string]string{"scenario": sc}
				name = key + "{scenario:" + sc + "}"
			}
			a, ok := store.Aggregate(key, sel, time.Second)
			if !ok {
				continue
			}
			switch {
			case a.Type == results.Rate:
				out[name+".passes"], out[name+".fails"] = float64(a.Passes), float64(a.Fails)
			default:
				out[name] = a.Sum
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no totals", path)
	}
	var keys []string
	for k := range out {
		keys = append(keys, k)
	}
	t.Logf("%s: %s", filepath.Base(path), strings.Join(keys, ","))
	return out
}
