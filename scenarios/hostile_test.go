package scenarios

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runSource runs a script given as text, without a target, bounded by ctx.
func runSource(t *testing.T, src string) (*Result, string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "script.js")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Compile(path)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var log bytes.Buffer
	res, err := Run(ctx, Config{Program: p, Log: &log})
	return res, log.String(), err
}

// TestHostileScriptsFailCleanly: what a careless or odd script does with
// the modules ends in a JS exception, a logged error or a clear options
// error — never a Go panic, a hang or unbounded memory.
func TestHostileScriptsFailCleanly(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		exit      int    // want this exit code (from the result or the error)
		text      string // in the error or the log
	}{
		{"tags in init", `import exec from 'k6/execution'; import {group, check} from 'k6';
exec.vu.tags.foo = 'x'; group('a', () => {}); check(1, {a: true}, {x: 'y'});
export default function () {}`, 0, ""},
		{"expectedStatuses without max", `import http from 'k6/http';
export default function () { http.expectedStatuses({min: 200}); }`, 0, "max is missing"},
		{"metric without a name", `import {Trend} from 'k6/metrics'; const t = new Trend();
export default function () {}`, ExitScriptException, "the metric needs a name"},
		{"metric value not a number", `import {Trend} from 'k6/metrics'; const t = new Trend('tt');
export default function () { t.add('abc'); }`, 0, "a number or a boolean is expected"},
		{"metric value NaN", `import {Counter} from 'k6/metrics'; const c = new Counter('cc');
export default function () { c.add(NaN); }`, 0, "not a finite number"},
		{"SharedArray of a number", `import {SharedArray} from 'k6/data'; const a = new SharedArray('x', () => 5);
export default function () {}`, ExitScriptException, "must return an array"},
		{"object as a tag value", `import exec from 'k6/execution';
export default function () { exec.vu.tags.x = {}; }`, 0, "a tag value must be a string"},
		{"sleep forever is cut by the graceful stop", `import {sleep} from 'k6';
export const options = {scenarios: {s: {executor: 'per-vu-iterations', maxDuration: '1s', gracefulStop: '0s'}}};
export default function () { sleep(Infinity); }`, 0, ""},
		{"abort in init is 108", `import exec from 'k6/execution'; if (__VU === 0) exec.test.abort('no');
export default function () {}`, ExitScriptAborted, "no"},
		{"default export not a function", `export default 5;`, ExitInvalidConfig, "not a function"},
		{"maxVUs beyond one instance", `export const options = {scenarios: {s: {executor: 'constant-arrival-rate', rate: 1, duration: '1s', preAllocatedVUs: 1, maxVUs: 1e9}}};
export default function () {}`, ExitInvalidConfig, "shards with --shard"},
		{"ten million VUs", `export const options = {scenarios: {s: {executor: 'per-vu-iterations', vus: 1e7}}};
export default function () {}`, ExitInvalidConfig, "shards with --shard"},
		{"a nanosecond period", `export const options = {scenarios: {s: {executor: 'constant-arrival-rate', rate: 1e9, timeUnit: '1ns', duration: '2s', preAllocatedVUs: 1}}};
export default function () {}`, ExitInvalidConfig, "at most one per 1µs"},
		{"a ramp too large to plan", `export const options = {scenarios: {s: {executor: 'ramping-vus', startVUs: 1e15, stages: [{duration: '1s', target: 0}]}}};
export default function () {}`, ExitInvalidConfig, "at most 100000000"},
		{"a ramp with too many steps", `export const options = {scenarios: {s: {executor: 'ramping-cameras', stages: Array.from({length: 40}, (_, i) => ({duration: '1s', target: i % 2 ? 0 : 1e8}))}}};
export default function () {}`, ExitInvalidConfig, "steps fit one plan"},
		{"durations that are not", `export const options = {scenarios: {s: {executor: 'constant-vus', duration: 'NaN'}, t: {executor: 'constant-vus', duration: 1e300}}};
export default function () {}`, ExitInvalidConfig, "not a number"},
		{"every field problem at once", `export const options = {scenarios: {s: {executor: 'constant-vus', vus: 1.5, duration: '1x', gracefulStop: -1, startTime: 'abc', tags: {a: 1}, env: 5, nope: 1}}};
export default function () {}`, ExitInvalidConfig, `unknown field "nope"`},
		{"a scenario that is not an object", `export const options = {scenarios: {a: 5}};
export default function () {}`, ExitInvalidConfig, "must be an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, log, err := runSource(t, tc.src)
			code := ExitCodeOf(err)
			if err == nil {
				code = res.ExitCode
			}
			text := log
			if err != nil {
				text += err.Error()
			}
			if code != tc.exit || !strings.Contains(text, tc.text) {
				t.Fatalf("exit %d, want %d; want %q in:\n%s", code, tc.exit, tc.text, text)
			}
			if tc.name == "every field problem at once" {
				for _, field := range []string{`"vus"`, `"duration"`, `"startTime"`, `"tags"`, `"env"`} {
					if !strings.Contains(text, field) {
						t.Errorf("the problem with %s is not reported:\n%s", field, text)
					}
				}
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatal("the run hung")
			}
		})
	}
}
