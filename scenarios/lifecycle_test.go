package scenarios

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The lifecycle around the scenarios: setup data, setup failures and
// timeouts, test.abort() and test.fail(), iteration exceptions, compile
// errors and handleSummary (k6-semantics.md §1, §2.5 exit codes).

func TestSetupDataRoundTrip(t *testing.T) {
	pr := mustRun(t, "life_setup_data.js", nil)
	root := pr.res.SummaryInput.Root
	if root == nil {
		t.Fatalf("no checks recorded\n%s", pr.summary())
	}
	a, ok := aggregate(t, pr.res, "checks", nil)
	if !ok || a.Passes != 16 || a.Fails != 0 {
		t.Errorf("checks passes %d fails %d, want 16 and 0 (4 checks × 4 iterations)\nlog:\n%s", a.Passes, a.Fails, pr.log)
	}
	want := `teardown data {"n":42,"s":"text","list":[1,"two",{"three":3}],"nested":{"ok":true,"none":null}}`
	if !strings.Contains(pr.log, want) {
		t.Errorf("log lacks %q (teardown gets setup's data, untouched by VUs)\nlog:\n%s", want, pr.log)
	}
	if sd, ok := pr.res.Summary["setup_data"].(map[string]any); !ok || sd["n"] != 42.0 {
		t.Errorf("Summary setup_data = %v, want setup's object", pr.res.Summary["setup_data"])
	}
}

func TestLifecycleExitCodes(t *testing.T) {
	for _, c := range []struct {
		script   string
		wantErr  string // substring of Run's error; "" for none
		wantCode int    // ExitCodeOf(err) or Result.ExitCode
		wantLog  string
	}{
		{"life_setup_throw.js", "setup exploded", ExitScriptException, ""},
		{"life_setup_timeout.js", "setup() timed out", ExitSetupTimeout, ""},
		{"life_abort.js", "", ExitScriptAborted, "teardown ran"},
		{"life_fail.js", "", ExitMarkedFailed, "one bad iteration"},
	} {
		t.Run(c.script, func(t *testing.T) {
			pr := runPlan(t, c.script, nil)
			if c.wantErr != "" {
				if pr.err == nil || !strings.Contains(pr.err.Error(), c.wantErr) {
					t.Fatalf("Run(%s) error %v, want one containing %q", c.script, pr.err, c.wantErr)
				}
				if got := ExitCodeOf(pr.err); got != c.wantCode {
					t.Errorf("ExitCodeOf(Run(%s)) = %d, want %d", c.script, got, c.wantCode)
				}
				return
			}
			if pr.err != nil {
				t.Fatalf("Run(%s): %v\nlog:\n%s", c.script, pr.err, pr.log)
			}
			if pr.res.ExitCode != c.wantCode {
				t.Errorf("Run(%s) exit %d abort %q, want %d\nlog:\n%s\n%s", c.script, pr.res.ExitCode, pr.res.Abort, c.wantCode, pr.log, pr.summary())
			}
			if !strings.Contains(pr.log, c.wantLog) {
				t.Errorf("Run(%s) log lacks %q:\n%s", c.script, c.wantLog, pr.log)
			}
		})
	}
}

func TestAbortStopsEarly(t *testing.T) {
	pr := mustRun(t, "life_abort.js", nil)
	if !strings.Contains(pr.res.Abort, "enough") {
		t.Errorf("Abort = %q, want the reason given to test.abort()", pr.res.Abort)
	}
	// Iterations 0 and 1 complete (0.5s each); the third aborts at 1s.
	if completed, _ := pr.completedIn("main"); completed != 2 {
		t.Errorf("%d completed, want 2\n%s", completed, pr.summary())
	}
	if pr.res.Duration > 1100*time.Millisecond {
		t.Errorf("run took %v, want about 1s (the duration is 10s)", pr.res.Duration)
	}
}

func TestIterationExceptionIsLoggedAndCounted(t *testing.T) {
	pr := mustRun(t, "life_iter_exception.js", nil)
	if completed, interrupted := pr.completedIn("default"); completed != 2 || interrupted != 0 {
		t.Errorf("completed %d interrupted %d, want 2 and 0 (exceptions still complete)\n%s", completed, interrupted, pr.summary())
	}
	if n := counterSum(t, pr.res, "iterations"); n != 2 {
		t.Errorf("iterations = %v, want 2", n)
	}
	if !regexp.MustCompile(`life_iter_exception\.js:6:\d+`).MatchString(pr.log) {
		t.Errorf("log does not name life_iter_exception.js:6:COL:\n%s", pr.log)
	}
	if pr.res.ExitCode != 0 {
		t.Errorf("exit %d, want 0 (iteration errors do not change it)", pr.res.ExitCode)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct {
		script string
		want   *regexp.Regexp
	}{
		{"life_syntax_error.js", regexp.MustCompile(`(?i)life_syntax_error\.js.*(:4:\d+|line 4)`)},
		{"life_ws.js", regexp.MustCompile(`k6/ws.*not available`)},
	} {
		path := filepath.Join("testdata", "plans", c.script)
		p, err := Compile(path)
		if err == nil {
			// A module error may surface only when the script is run.
			_, err = Run(context.Background(), Config{Program: p})
		}
		if err == nil || !c.want.MatchString(err.Error()) {
			t.Errorf("Compile/Run(%s) = %v, want an error matching %s", c.script, err, c.want)
			continue
		}
		if code := ExitCodeOf(err); code != ExitScriptException {
			t.Errorf("ExitCodeOf(%s error) = %d, want 107", c.script, code)
		}
	}
}

func TestHandleSummary(t *testing.T) {
	pr := mustRun(t, "life_summary.js", nil)
	p, err := Compile(filepath.Join("testdata", "plans", "life_summary.js"))
	if err != nil {
		t.Fatal(err)
	}
	out, ok, err := HandleSummary(context.Background(), p, nil, pr.res.Summary)
	if err != nil || !ok {
		t.Fatalf("HandleSummary = ok %v err %v, want the script's handleSummary to run", ok, err)
	}
	if got := string(out["stdout"]); got != "iterations: 1\n" {
		t.Errorf("stdout = %q, want %q", got, "iterations: 1\n")
	}
	var file struct{ Seen []string }
	if err := json.Unmarshal(out["out/summary.json"], &file); err != nil {
		t.Fatalf("out/summary.json = %q: %v", out["out/summary.json"], err)
	}
	for _, k := range []string{"metrics", "options", "root_group", "state"} {
		if !strings.Contains(strings.Join(file.Seen, ","), k) {
			t.Errorf("handleSummary saw keys %v, want %q among them", file.Seen, k)
		}
	}
	if len(out) != 2 {
		t.Errorf("outputs %v, want stdout and out/summary.json", keysOf(out))
	}

	noHook, err := Compile(filepath.Join("testdata", "plans", "si.js"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := HandleSummary(context.Background(), noHook, nil, pr.res.Summary); ok || err != nil {
		t.Errorf("HandleSummary(script without it) = ok %v err %v, want false, nil", ok, err)
	}
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestBadMetricNameErrorSaysWhy(t *testing.T) {
	pr := runPlan(t, "life_metric_name.js", nil)
	if pr.err == nil || !strings.Contains(pr.err.Error(), `"c"`) {
		t.Errorf("Run(life_metric_name.js) = %v, want an error naming the metric \"c\"", pr.err)
	}
}

func TestTrendMedianIsExact(t *testing.T) {
	pr := mustRun(t, "life_trend_med.js", nil)
	for _, v := range pr.res.Verdicts {
		if !v.OK {
			t.Errorf("threshold %s %q failed with %v, want pass (k6's median is exact)", v.Key, v.Threshold.Source, v.Got)
		}
	}
}

func TestTeardownTimeout(t *testing.T) {
	pr := runPlan(t, "life_teardown_timeout.js", nil)
	if pr.err == nil || ExitCodeOf(pr.err) != ExitTeardownTimeout {
		t.Errorf("Run(life_teardown_timeout.js) = %v (exit %d), want teardown timeout (101)", pr.err, ExitCodeOf(pr.err))
	}
}
