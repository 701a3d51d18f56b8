package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func writeScript(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "script.js")
	require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	return path
}

// TestRunExitCodes drives `camstorm run` end to end on the embedded stack
// and checks k6's exit codes and the outputs each run leaves.
func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, script string
		args         []string
		want         int
		stderr       string
	}{
		{"passing thresholds", `
import { check } from 'k6';
export const options = { iterations: 3, thresholds: { checks: ['rate==1'], iterations: ['count==3'] } };
export default function () { check(1, { one: (x) => x === 1 }); }`, nil, 0, ""},
		{"failing threshold is 99", `
export const options = { iterations: 2, thresholds: { iterations: ['count>5'] } };
export default function () {}`, nil, 99, "thresholds failed: iterations 'count>5' (got 2)"},
		{"flags override the script's shape", `
export const options = { scenarios: { s: { executor: 'constant-vus', vus: 3, duration: '1h' } }, thresholds: { iterations: ['count==4'] } };
export default function () {}`, []string{"--iterations", "4"}, 0, "overrode the script's scenarios"},
		{"invalid options are 104", `
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 0 } } };
export default function () {}`, nil, 104, `scenario "s" (per-vu-iterations): vus must be more than 0`},
		{"unknown threshold metric is 104", `
export const options = { thresholds: { nope: ['count>0'] } };
export default function () {}`, nil, 104, `"nope"`},
		{"script exception in setup is 107", `
export function setup() { throw new Error('no data'); }
export default function () {}`, nil, 107, "setup() threw: Error: no data"},
		{"test.abort is 108", `
import exec from 'k6/execution';
export const options = { iterations: 5 };
export default function () { exec.test.abort('stop here'); }`, nil, 108, "stop here"},
		{"test.fail is 110", `
import exec from 'k6/execution';
export default function () { exec.test.fail('bad data'); }`, nil, 110, ""},
		{"bad flag value is 104", `export default function () {}`, []string{"--duration", "soon"}, 104, "--duration"},
		{"an unknown output kind is 104", `export default function () {}`, []string{"--out", "influxdb=http://x"}, 104, "kinds: json=FILE"},
		{"an unwritable results file fails before the run", `export default function () { throw new Error('ran'); }`,
			[]string{"--out", "camstorm=/proc/no/such/results.json"}, 1, "--out camstorm=/proc/no/such/results.json"},
		{"a results file with no name", `export default function () {}`, []string{"--out", "camstorm="}, 1, "want camstorm=FILE"},
		{"k6's summary flags", `
import { Trend } from 'k6/metrics';
const t = new Trend('work_ms', true);
export default function () { t.add(20); }`, []string{"--summary-trend-stats", "p(99.9),max", "--summary-mode", "compact", "--no-setup"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", writeScript(t, tc.script), "-q"}, tc.args...)
			_, stderr, code := runCamstorm(t, args...)
			require.Equal(t, tc.want, code, "camstorm %s\nstderr: %s", strings.Join(args, " "), stderr)
			require.Contains(t, stderr, tc.stderr)
		})
	}

	// Outputs: NDJSON in k6's shape, the legacy summary export, the results file.
	script := writeScript(t, `
import { Trend } from 'k6/metrics';
const t = new Trend('work_ms', true);
export const options = { iterations: 4, thresholds: { work_ms: ['p(50)<100'] } };
export default function () { t.add(20); }`)
	ndjson, export, res := filepath.Join(dir, "out.ndjson"), filepath.Join(dir, "summary.json"), filepath.Join(dir, "results.json")
	stdout, stderr, code := runCamstorm(t, "run", script, "-q", "--out", "json="+ndjson, "--summary-export", export, "--out", "camstorm="+res)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "█ THRESHOLDS", "the compact summary on stdout")
	b, err := os.ReadFile(ndjson)
	require.NoError(t, err)
	points := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec struct {
			Type   string `json:"type"`
			Metric string `json:"metric"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		if rec.Type == "Point" && rec.Metric == "work_ms" {
			points++
		}
	}
	require.Equal(t, 4, points, "one NDJSON point per sample")
	var sum map[string]any
	b, err = os.ReadFile(export)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &sum))
	work := sum["metrics"].(map[string]any)["work_ms"].(map[string]any)
	require.Equal(t, 20.0, work["med"], "k6's exact median on a short run")
	require.Equal(t, false, work["thresholds"].(map[string]any)["p(50)<100"], "false = passed in the legacy export")
	_, err = readResultsFile(res)
	require.NoError(t, err)
}
