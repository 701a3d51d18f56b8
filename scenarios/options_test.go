package scenarios

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// Pure tables over options: parsing, layering (script < env < flags), the
// execution-shape wipe, the shortcuts and scenario validation
// (/work/helpers/k6-exact.md §7, k6-semantics.md §1).

func mustOptions(t *testing.T, js string) Options {
	t.Helper()
	o, _, err := ParseOptions([]byte(js))
	if err != nil {
		t.Fatalf("ParseOptions(%s): %v", js, err)
	}
	return o
}

func i64(n int64) *int64 { return &n }

func dur(s string) *Duration {
	d, err := ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return &d
}

// planShape describes a consolidated plan as "name:executor" plus the
// executor's config as JSON, for comparisons that show what was built.
func planShape(t *testing.T, p Plan) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, sc := range p.Scenarios {
		b, err := json.Marshal(sc)
		if err != nil {
			t.Fatalf("marshal %T: %v", sc, err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		out[sc.Base().Name] = m
	}
	return out
}

func TestConsolidateShortcuts(t *testing.T) {
	for _, c := range []struct {
		name, options string
		executor      string
		want          map[string]any // fields of the default scenario
		warning       string         // a substring of one warning, if any
	}{
		{"nothing: 1 VU × 1 iteration", `{}`, "per-vu-iterations", map[string]any{"vus": 1.0, "iterations": 1.0}, ""},
		{"iterations", `{"iterations": 7}`, "shared-iterations", map[string]any{"vus": 1.0, "iterations": 7.0}, ""},
		{"iterations and vus", `{"vus": 3, "iterations": 9}`, "shared-iterations", map[string]any{"vus": 3.0, "iterations": 9.0}, ""},
		{"iterations with duration is maxDuration", `{"iterations": 5, "duration": "20s"}`, "shared-iterations",
			map[string]any{"iterations": 5.0, "maxDuration": "20s"}, ""},
		{"duration", `{"duration": "30s"}`, "constant-vus", map[string]any{"vus": 1.0, "duration": "30s"}, ""},
		{"duration and vus", `{"vus": 4, "duration": "1m"}`, "constant-vus", map[string]any{"vus": 4.0, "duration": "1m0s"}, ""},
		{"stages", `{"stages": [{"duration": "10s", "target": 5}]}`, "ramping-vus",
			map[string]any{"startVUs": 1.0}, ""},
		{"stages start at vus", `{"vus": 3, "stages": [{"duration": "10s", "target": 5}]}`, "ramping-vus",
			map[string]any{"startVUs": 3.0}, ""},
		{"vus alone (v2.1): one iteration per VU", `{"vus": 4}`, "shared-iterations", map[string]any{"vus": 4.0, "iterations": 4.0}, ""},
		{"vus replaces scenarios, with a warning", `{"vus": 2, "scenarios": {"s": {"executor": "constant-vus", "duration": "5s"}}}`,
			"shared-iterations", map[string]any{"vus": 2.0, "iterations": 2.0}, "overrides the scenarios"},
	} {
		t.Run(c.name, func(t *testing.T) {
			plan, warnings, err := Consolidate(mustOptions(t, c.options))
			if err != nil {
				t.Fatalf("Consolidate(%s): %v", c.options, err)
			}
			shape := planShape(t, plan)
			def, ok := shape["default"]
			if len(shape) != 1 || !ok {
				t.Fatalf("Consolidate(%s) = %v, want one scenario \"default\"", c.options, shape)
			}
			if def["executor"] != c.executor {
				t.Errorf("Consolidate(%s) executor %v, want %s", c.options, def["executor"], c.executor)
			}
			for k, v := range c.want {
				if def[k] != v {
					t.Errorf("Consolidate(%s) %s = %v, want %v (scenario %v)", c.options, k, def[k], v, def)
				}
			}
			joined := strings.Join(warnings, "\n")
			if c.warning == "" && len(warnings) > 0 {
				t.Errorf("Consolidate(%s) warnings %q, want none", c.options, warnings)
			}
			if c.warning != "" && !strings.Contains(joined, c.warning) {
				t.Errorf("Consolidate(%s) warnings %q, want one containing %q", c.options, warnings, c.warning)
			}
		})
	}
	t.Run("scenarios used as is", func(t *testing.T) {
		o := mustOptions(t, `{"scenarios": {"a": {"executor": "constant-vus", "vus": 2, "duration": "5s"},
			"b": {"executor": "per-vu-iterations", "vus": 1, "iterations": 2, "startTime": "3s"}}}`)
		plan, _, err := Consolidate(o)
		if err != nil {
			t.Fatal(err)
		}
		shape := planShape(t, plan)
		if len(shape) != 2 || shape["a"]["executor"] != "constant-vus" || shape["b"]["startTime"] != "3s" {
			t.Errorf("Consolidate(scenarios a, b) = %v, want both as given", shape)
		}
		// b ends last: 3s startTime + 10m default maxDuration + 30s gracefulStop.
		if got, want := plan.Total(), 3*time.Second+DefaultMaxDuration+DefaultGracefulStop; got != want {
			t.Errorf("Total() = %v, want %v", got, want)
		}
	})
}

func TestConsolidateConflicts(t *testing.T) {
	sc := `"scenarios": {"s": {"executor": "constant-vus", "duration": "5s"}}`
	for _, c := range []struct {
		options string
		want    []string // substrings of the error
	}{
		{`{"iterations": 5, "stages": [{"duration": "5s", "target": 1}]}`, []string{"iterations", "stages"}},
		{`{"iterations": 5, ` + sc + `}`, []string{"iterations", "scenarios"}},
		{`{"duration": "5s", "stages": [{"duration": "5s", "target": 1}]}`, []string{"duration", "stages"}},
		{`{"duration": "5s", ` + sc + `}`, []string{"duration", "scenarios"}},
		{`{"stages": [{"duration": "5s", "target": 1}], ` + sc + `}`, []string{"stages", "scenarios"}},
		{`{"duration": "0s"}`, []string{"duration must be more than 0"}},
	} {
		_, _, err := Consolidate(mustOptions(t, c.options))
		if err == nil {
			t.Errorf("Consolidate(%s) = nil error, want one naming %q", c.options, c.want)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Consolidate(%s) = %q, want it to name %q", c.options, err, w)
			}
		}
		if code := ExitCodeOf(err); code != ExitInvalidConfig {
			t.Errorf("ExitCodeOf(Consolidate(%s)) = %d, want 104", c.options, code)
		}
	}
}

func TestApplyLayering(t *testing.T) {
	script := mustOptions(t, `{"vus": 5, "scenarios": {"s": {"executor": "constant-vus", "duration": "5s"}},
		"setupTimeout": "10s", "tags": {"env": "script"}}`)
	env, err := EnvOptions(lookupOf(map[string]string{"K6_VUS": "10", "K6_DURATION": "20s"}))
	if err != nil {
		t.Fatal(err)
	}
	flags := Options{VUs: i64(20)}

	got, warning := script.Apply(env)
	if warning == "" || !strings.Contains(warning, "scenarios") {
		t.Errorf("script.Apply(env with K6_DURATION) warning %q, want one about overriding scenarios", warning)
	}
	if got.Scenarios != nil || got.Duration == nil || *got.Duration != Duration(20*time.Second) {
		t.Errorf("after env: scenarios %v duration %v, want scenarios wiped and duration 20s", got.Scenarios, got.Duration)
	}
	got, warning = got.Apply(flags)
	if warning != "" {
		t.Errorf("Apply(--vus 20) warning %q, want none (vus is not an execution shape)", warning)
	}
	if *got.VUs != 20 || *got.Duration != Duration(20*time.Second) || got.SetupTimeout == nil || *got.SetupTimeout != Duration(10*time.Second) {
		t.Errorf("script<env<flags = vus %v duration %v setupTimeout %v, want 20, 20s, 10s (kept from the script)", *got.VUs, got.Duration, got.SetupTimeout)
	}
	plan, _, err := Consolidate(got)
	if err != nil {
		t.Fatal(err)
	}
	if s := planShape(t, plan)["default"]; s["executor"] != "constant-vus" || s["vus"] != 20.0 {
		t.Errorf("consolidated %v, want constant-vus with 20 VUs", s)
	}

	for _, c := range []struct {
		name          string
		lower, higher Options
		check         func(Options) string
	}{
		{"iterations wipes duration", Options{Duration: dur("10s")}, Options{Iterations: i64(3)}, func(o Options) string {
			if o.Duration != nil || o.Iterations == nil {
				return "want duration wiped and iterations 3"
			}
			return ""
		}},
		{"stages wipe iterations", Options{Iterations: i64(3)}, func() Options {
			var o Options
			o.SetStages([]Stage{{Duration: Duration(time.Second), Target: 2}})
			return o
		}(), func(o Options) string {
			if o.Iterations != nil || len(o.Stages) != 1 {
				return "want iterations wiped and one stage"
			}
			return ""
		}},
		{"empty stages still wipe", Options{Duration: dur("10s")}, func() Options {
			var o Options
			o.SetStages(nil)
			return o
		}(), func(o Options) string {
			if o.Duration != nil {
				return "want duration wiped by an explicitly empty stage list"
			}
			return ""
		}},
		{"vus alone keeps the shape", Options{Duration: dur("10s")}, Options{VUs: i64(2)}, func(o Options) string {
			if o.Duration == nil || *o.VUs != 2 {
				return "want duration kept and vus 2"
			}
			return ""
		}},
		{"unset higher keeps lower", Options{VUs: i64(7), Iterations: i64(9)}, Options{}, func(o Options) string {
			if *o.VUs != 7 || *o.Iterations != 9 {
				return "want both kept"
			}
			return ""
		}},
	} {
		got, _ := c.lower.Apply(c.higher)
		if msg := c.check(got); msg != "" {
			b, _ := json.Marshal(got)
			t.Errorf("%s: Apply = %s: %s", c.name, b, msg)
		}
	}
}

func lookupOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestEnvOptions(t *testing.T) {
	o, err := EnvOptions(lookupOf(map[string]string{"K6_VUS": "3", "K6_ITERATIONS": "12", "K6_STAGES": "10s:10,20s:10,10s:0"}))
	if err != nil {
		t.Fatal(err)
	}
	if *o.VUs != 3 || *o.Iterations != 12 || len(o.Stages) != 3 || o.Stages[1] != (Stage{Duration: Duration(20 * time.Second), Target: 10}) {
		t.Errorf("EnvOptions = vus %v iterations %v stages %v, want 3, 12, [10s:10 20s:10 10s:0]", *o.VUs, *o.Iterations, o.Stages)
	}
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"K6_VUS": "many"}, "K6_VUS"},
		{map[string]string{"K6_ITERATIONS": "1.5"}, "K6_ITERATIONS"},
		{map[string]string{"K6_DURATION": "10x"}, "K6_DURATION"},
		{map[string]string{"K6_STAGES": "10s"}, "K6_STAGES"},
		{map[string]string{"K6_STAGES": "10s:ten"}, "K6_STAGES"},
	} {
		_, err := EnvOptions(lookupOf(c.env))
		if err == nil || !strings.Contains(err.Error(), c.want) || ExitCodeOf(err) != ExitInvalidConfig {
			t.Errorf("EnvOptions(%v) = %v, want an invalid-config error naming %s", c.env, err, c.want)
		}
	}
}

func TestParseOptions(t *testing.T) {
	o, warnings, err := ParseOptions([]byte(`{"vus": 2, "duration": 1500, "rps": 10, "bogus": 1,
		"thresholds": {"http_req_duration": ["p(95)<500", {"threshold": "max<900", "abortOnFail": true, "delayAbortEval": "10s"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if *o.Duration != Duration(1500*time.Millisecond) {
		t.Errorf("duration 1500 = %v, want 1.5s (numbers are milliseconds)", *o.Duration)
	}
	if specs := o.Thresholds["http_req_duration"]; len(specs) != 2 {
		t.Errorf("thresholds = %v, want the string and the object forms", o.Thresholds)
	}
	joined := strings.Join(warnings, "\n")
	if !strings.Contains(joined, `"rps"`) || !strings.Contains(joined, `"bogus"`) {
		t.Errorf("warnings %q, want rps (accepted, no effect) and bogus (unknown)", warnings)
	}
	for _, c := range []struct{ js, want string }{
		{`{"vus": "two"}`, `"vus"`},
		{`{"duration": "forever"}`, `"duration"`},
		{`{"stages": {"duration": "1s"}}`, `"stages"`},
		{`{"tags": {"a": 1}}`, `"tags"`},
		{`[1]`, "options must be an object"},
	} {
		_, _, err := ParseOptions([]byte(c.js))
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("ParseOptions(%s) = %v, want an invalid-config error naming %s", c.js, err, c.want)
		}
	}
}

func TestParseScenarioErrors(t *testing.T) {
	for _, c := range []struct {
		name, raw string
		want      []string // substrings of the error: the scenario and the field
	}{
		{"bad", `{"executor": "constant-vus", "vus": 1, "duration": "5s", "gracefullStop": "1s"}`, []string{`"bad"`, "gracefullStop"}},
		{"nope", `{"executor": "fastest-possible"}`, []string{`"nope"`, "fastest-possible", "ramping-vus"}},
		{"missing", `{"vus": 1}`, []string{`"missing"`, "executor is required"}},
		{"ext", `{"executor": "externally-controlled", "vus": 1}`, []string{`"ext"`, "externally-controlled"}},
		{"baddur", `{"executor": "constant-vus", "vus": 1, "duration": "5 seconds"}`, []string{`"baddur"`, "5 seconds"}},
		{"shortdur", `{"executor": "constant-vus", "vus": 1, "duration": "500ms"}`, []string{`"shortdur"`, "duration must be at least 1s"}},
		{"nodur", `{"executor": "constant-vus", "vus": 1}`, []string{`"nodur"`, "duration is required"}},
		{"typed", `{"executor": "per-vu-iterations", "vus": "3"}`, []string{`"typed"`, `"vus"`, "whole number"}},
		{"negstart", `{"executor": "shared-iterations", "startTime": "-1s"}`, []string{`"negstart"`, "startTime"}},
		{"fewiters", `{"executor": "shared-iterations", "vus": 5, "iterations": 2}`, []string{`"fewiters"`, "iterations (2) must be at least vus (5)"}},
		{"rate", `{"executor": "constant-arrival-rate", "duration": "5s", "preAllocatedVUs": 1}`, []string{`"rate"`, "rate is required"}},
		{"prealloc", `{"executor": "ramping-arrival-rate", "stages": [{"duration": "1s", "target": 1}]}`, []string{`"prealloc"`, "preAllocatedVUs is required"}},
		{"maxvus", `{"executor": "constant-arrival-rate", "rate": 1, "duration": "5s", "preAllocatedVUs": 3, "maxVUs": 1}`, []string{`"maxvus"`, "maxVUs (1)"}},
		{"nostages", `{"executor": "ramping-vus", "startVUs": 1, "stages": []}`, []string{`"nostages"`, "stages is required"}},
		{"allzero", `{"executor": "ramping-vus", "startVUs": 0, "stages": [{"duration": "1s", "target": 0}]}`, []string{`"allzero"`, "more than 0"}},
		{"negtarget", `{"executor": "ramping-vus", "stages": [{"duration": "1s", "target": -1}]}`, []string{`"negtarget"`, "stages[0].target"}},
		{"bad name!", `{"executor": "constant-vus", "duration": "5s"}`, []string{`"bad name!"`, "letters, digits"}},
	} {
		_, err := ParseScenario(c.name, json.RawMessage(c.raw))
		if err == nil {
			t.Errorf("ParseScenario(%q, %s) = nil error, want one naming %q", c.name, c.raw, c.want)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseScenario(%q, %s) = %q, want it to contain %q", c.name, c.raw, err, w)
			}
		}
		if ExitCodeOf(err) != ExitInvalidConfig {
			t.Errorf("ExitCodeOf(ParseScenario(%q)) = %d, want 104", c.name, ExitCodeOf(err))
		}
	}
}

func TestParseScenarioBadDurationNamesField(t *testing.T) {
	_, err := ParseScenario("slow", json.RawMessage(`{"executor": "constant-vus", "vus": 1, "duration": "5 seconds"}`))
	if err == nil || !strings.Contains(err.Error(), "duration") || !strings.Contains(err.Error(), `"slow"`) {
		t.Errorf("ParseScenario(slow, duration \"5 seconds\") = %v, want the scenario and the field \"duration\" named", err)
	}
}

func TestConsolidateReportsEveryProblem(t *testing.T) {
	o := mustOptions(t, `{"scenarios": {
		"a": {"executor": "constant-vus", "vus": 1, "duration": "5s", "gracefullStop": "1s"},
		"b": {"executor": "warp-speed"},
		"c": {"executor": "constant-vus", "vus": 0, "duration": "5s"}}}`)
	_, _, err := Consolidate(o)
	if err == nil {
		t.Fatal("Consolidate(three bad scenarios) = nil error")
	}
	for _, w := range []string{`"a"`, "gracefullStop", `"b"`, "warp-speed", `"c"`, "vus must be more than 0"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Consolidate(three bad scenarios) = %q, want it to contain %q", err, w)
		}
	}
}

func TestConsolidateWarnsOnExplicitlyEmptyShape(t *testing.T) {
	for _, js := range []string{`{"scenarios": {}}`, `{"stages": []}`} {
		_, warnings, err := Consolidate(mustOptions(t, js))
		if err != nil || len(warnings) == 0 {
			t.Errorf("Consolidate(%s) = warnings %q err %v, want a warning that the default 1 VU × 1 iteration is used", js, warnings, err)
		}
	}
}

func TestEnvStagesEmptySides(t *testing.T) {
	o, err := EnvOptions(lookupOf(map[string]string{"K6_STAGES": "10s:5,10s:,:3"}))
	if err != nil {
		t.Fatalf("EnvOptions(K6_STAGES=10s:5,10s:,:3): %v", err)
	}
	plan, _, err := Consolidate(o)
	if err != nil {
		t.Fatal(err)
	}
	rv, ok := plan.Scenarios[0].(*RampingVUs)
	if !ok || len(rv.Stages) != 2 || rv.Stages[1].Target != 0 {
		t.Errorf("K6_STAGES=10s:5,10s:,:3 gave %+v, want stages [10s:5 10s:0] (the duration-less one dropped)", plan.Scenarios)
	}
}
