package scenarios

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/camstorm/camstorm/results"
)

// ErrInvalidConfig wraps every problem with a script's options, its
// scenarios or the flags that override them (k6's exit code 104).
var ErrInvalidConfig = errors.New("invalid options")

// Stage is one step of a ramping executor: move to Target over Duration.
type Stage struct {
	Duration Duration `json:"duration"`
	Target   int64    `json:"target"`
}

// Options are a run's k6 options as one layer gives them (the script's
// `export const options`, the environment, the flags). A nil field is one
// the layer does not set.
type Options struct {
	VUs        *int64                     `json:"vus,omitempty"`
	Duration   *Duration                  `json:"duration,omitempty"`
	Iterations *int64                     `json:"iterations,omitempty"`
	Stages     []Stage                    `json:"stages,omitempty"`
	Scenarios  map[string]json.RawMessage `json:"scenarios,omitempty"`

	Thresholds map[string][]results.ThresholdSpec `json:"thresholds,omitempty"`
	// Tags are added to every sample of the run.
	Tags map[string]string `json:"tags,omitempty"`

	SetupTimeout         *Duration `json:"setupTimeout,omitempty"`
	TeardownTimeout      *Duration `json:"teardownTimeout,omitempty"`
	NoSetup              *bool     `json:"noSetup,omitempty"`
	NoTeardown           *bool     `json:"noTeardown,omitempty"`
	MinIterationDuration *Duration `json:"minIterationDuration,omitempty"`
	SummaryTrendStats    []string  `json:"summaryTrendStats,omitempty"`
	SummaryTimeUnit      *string   `json:"summaryTimeUnit,omitempty"`

	// HTTP options of k6/http.
	InsecureSkipTLSVerify *bool   `json:"insecureSkipTLSVerify,omitempty"`
	UserAgent             *string `json:"userAgent,omitempty"`
	DiscardResponseBodies *bool   `json:"discardResponseBodies,omitempty"`

	// stagesSet records that the layer set stages (even to an empty list).
	stagesSet bool
}

// knownOptions are the top-level option names Options reads.
var knownOptions = []string{"vus", "duration", "iterations", "stages", "scenarios", "thresholds", "tags",
	"setupTimeout", "teardownTimeout", "noSetup", "noTeardown", "minIterationDuration", "summaryTrendStats",
	"summaryTimeUnit", "insecureSkipTLSVerify", "userAgent", "discardResponseBodies"}

// ignoredOptions are k6 options camstorm accepts and does not act on;
// a script that sets one gets a warning, not an error, so k6 scripts run.
var ignoredOptions = []string{"batch", "batchPerHost", "blacklistIPs", "blockHostnames", "cloud", "compatibilityMode",
	"dns", "ext", "hosts", "httpDebug", "linger", "localIPs", "maxRedirects", "noConnectionReuse", "noCookiesReset",
	"noUsageReport", "noVUConnectionReuse", "paused", "rps", "systemTags", "throw", "tlsAuth", "tlsCipherSuites",
	"tlsVersion"}

// ParseOptions decodes the JSON of a script's options object. Unknown
// top-level names are returned as warnings (k6 tolerates them); a known
// name with a value of the wrong shape is an error naming it.
func ParseOptions(b []byte) (Options, []string, error) {
	var o Options
	if len(bytes.TrimSpace(b)) == 0 || string(bytes.TrimSpace(b)) == "null" {
		return o, nil, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return o, nil, fmt.Errorf("%w: options must be an object: %v", ErrInvalidConfig, err)
	}
	var warnings []string
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		if !slices.Contains(knownOptions, name) {
			if slices.Contains(ignoredOptions, name) {
				warnings = append(warnings, fmt.Sprintf("option %q is accepted for k6 compatibility and has no effect in camstorm", name))
			} else {
				warnings = append(warnings, fmt.Sprintf("unknown option %q ignored (known: %s)", name, strings.Join(knownOptions, ", ")))
			}
			delete(raw, name)
			continue
		}
		one, _ := json.Marshal(map[string]json.RawMessage{name: raw[name]})
		if err := json.Unmarshal(one, &o); err != nil {
			errs = append(errs, fmt.Errorf("%w: option %q: %s", ErrInvalidConfig, name, jsonProblem(err)))
		}
	}
	if _, ok := raw["stages"]; ok {
		o.stagesSet = true
	}
	return o, warnings, errors.Join(errs...)
}

// jsonProblem turns a decoding error into words about the value.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("got a JSON %s, want %s", te.Value, goTypeWords(te.Type.String()))
	}
	return err.Error()
}

func goTypeWords(t string) string {
	switch {
	case strings.Contains(t, "int"):
		return "a whole number"
	case strings.Contains(t, "bool"):
		return "true or false"
	case strings.Contains(t, "string") && strings.HasPrefix(t, "map"):
		return "an object of strings"
	case strings.Contains(t, "string"):
		return "a string"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	}
	return t
}

// executionShape reports whether the layer sets any of duration,
// iterations, stages or scenarios.
func (o Options) executionShape() bool {
	return o.Duration != nil || o.Iterations != nil || o.stagesSet || o.Scenarios != nil
}

// Apply layers higher over o, k6's way: a field higher sets wins, and if
// higher sets any of duration, iterations, stages or scenarios, all four
// are first wiped from o (so `--duration 30s` replaces a script's
// scenarios). It returns a warning when that wipes scenarios.
func (o Options) Apply(higher Options) (Options, string) {
	var warning string
	if higher.executionShape() {
		if o.Scenarios != nil && higher.Scenarios == nil {
			warning = "a higher-priority duration, iterations or stages overrode the script's scenarios entirely"
		}
		o.Duration, o.Iterations, o.Stages, o.stagesSet, o.Scenarios = nil, nil, nil, false, nil
	}
	if higher.VUs != nil {
		o.VUs = higher.VUs
	}
	if higher.Duration != nil {
		o.Duration = higher.Duration
	}
	if higher.Iterations != nil {
		o.Iterations = higher.Iterations
	}
	if higher.stagesSet {
		o.Stages, o.stagesSet = higher.Stages, true
	}
	if higher.Scenarios != nil {
		o.Scenarios = higher.Scenarios
	}
	if higher.Thresholds != nil {
		o.Thresholds = higher.Thresholds
	}
	if higher.Tags != nil {
		o.Tags = higher.Tags
	}
	o.SetupTimeout = pick(o.SetupTimeout, higher.SetupTimeout)
	o.TeardownTimeout = pick(o.TeardownTimeout, higher.TeardownTimeout)
	o.NoSetup = pick(o.NoSetup, higher.NoSetup)
	o.NoTeardown = pick(o.NoTeardown, higher.NoTeardown)
	o.MinIterationDuration = pick(o.MinIterationDuration, higher.MinIterationDuration)
	if higher.SummaryTrendStats != nil {
		o.SummaryTrendStats = higher.SummaryTrendStats
	}
	o.SummaryTimeUnit = pick(o.SummaryTimeUnit, higher.SummaryTimeUnit)
	o.InsecureSkipTLSVerify = pick(o.InsecureSkipTLSVerify, higher.InsecureSkipTLSVerify)
	o.UserAgent = pick(o.UserAgent, higher.UserAgent)
	o.DiscardResponseBodies = pick(o.DiscardResponseBodies, higher.DiscardResponseBodies)
	return o, warning
}

func pick[T any](lower, higher *T) *T {
	if higher != nil {
		return higher
	}
	return lower
}

// EnvOptions reads the K6_* environment variables k6 users set:
// K6_VUS, K6_DURATION, K6_ITERATIONS and K6_STAGES ("30s:10,1m:0").
func EnvOptions(lookup func(string) (string, bool)) (Options, error) {
	var o Options
	var errs []error
	if v, ok := lookup("K6_VUS"); ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: K6_VUS=%q: want a whole number", ErrInvalidConfig, v))
		}
		o.VUs = &n
	}
	if v, ok := lookup("K6_ITERATIONS"); ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: K6_ITERATIONS=%q: want a whole number", ErrInvalidConfig, v))
		}
		o.Iterations = &n
	}
	if v, ok := lookup("K6_DURATION"); ok {
		d, err := ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: K6_DURATION: %v", ErrInvalidConfig, err))
		}
		o.Duration = &d
	}
	if v, ok := lookup("K6_STAGES"); ok {
		st, err := ParseStages(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: K6_STAGES: %v", ErrInvalidConfig, err))
		}
		o.Stages, o.stagesSet = st, true
	}
	return o, errors.Join(errs...)
}

// ParseStages reads the flag form of stages, "30s:10,1m:0" (duration:target).
// As in k6, an empty target means 0 and a stage with an empty duration is
// dropped.
func ParseStages(s string) ([]Stage, error) {
	var out []Stage
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		ds, ts, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("stage %q: want duration:target, e.g. 30s:10", part)
		}
		var t int64
		if ts = strings.TrimSpace(ts); ts != "" {
			var err error
			if t, err = strconv.ParseInt(ts, 10, 64); err != nil {
				return nil, fmt.Errorf("stage %q: target %q is not a whole number", part, ts)
			}
		}
		if strings.TrimSpace(ds) == "" {
			continue
		}
		d, err := ParseDuration(ds)
		if err != nil {
			return nil, fmt.Errorf("stage %q: want duration:target, e.g. 30s:10", part)
		}
		out = append(out, Stage{Duration: d, Target: t})
	}
	return out, nil
}

// SetStages sets stages on a layer (for flags), even to an empty list.
func (o *Options) SetStages(st []Stage) { o.Stages, o.stagesSet = st, true }
