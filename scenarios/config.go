package scenarios

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/camstorm/camstorm/scenarios/segment"
)

// BaseConfig holds the fields every scenario has (k6's common scenario
// options).
type BaseConfig struct {
	Name         string            `json:"-"`
	Executor     string            `json:"executor"`
	StartTime    Duration          `json:"startTime"`
	GracefulStop *Duration         `json:"gracefulStop,omitempty"`
	Exec         string            `json:"exec,omitempty"`
	Env          map[string]string `json:"env,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
	Options      json.RawMessage   `json:"options,omitempty"`
}

// DefaultGracefulStop is k6's default for every executor.
const DefaultGracefulStop = 30 * time.Second

// gracefulStop is the configured or default graceful stop.
func (b *BaseConfig) gracefulStop() time.Duration {
	if b.GracefulStop == nil {
		return DefaultGracefulStop
	}
	return b.GracefulStop.D()
}

// execName is the exported function each iteration calls.
func (b *BaseConfig) execName() string {
	if b.Exec == "" {
		return "default"
	}
	return b.Exec
}

// ExecutorConfig is one scenario's configuration: the common fields and
// its executor's own. Each executor is one type in one file.
type ExecutorConfig interface {
	Base() *BaseConfig
	// validate lists every problem, each as words about a field.
	validate() []string
	// usesJS is false for executors that run cameras, not VUs.
	usesJS() bool
	// initialVUs is how many VUs to initialise before setup() on this
	// instance; maxVUs how many it may ever use.
	initialVUs(t *segment.Tuple) int64
	maxVUs(t *segment.Tuple) int64
	// regular is the scenario's duration before any graceful stop; total
	// adds the longest it may run on after that.
	regular() time.Duration
	total() time.Duration
	// run executes the scenario; it returns when every VU or camera of it
	// has stopped. Errors are for the harness (a VU that cannot be
	// initialised), not for iterations that failed.
	run(s *scenarioRun) error
}

// executorKinds maps executor names to a constructor of their zero config.
var executorKinds = map[string]func() ExecutorConfig{
	"shared-iterations":     func() ExecutorConfig { return &SharedIterations{} },
	"per-vu-iterations":     func() ExecutorConfig { return &PerVUIterations{} },
	"constant-vus":          func() ExecutorConfig { return &ConstantVUs{} },
	"ramping-vus":           func() ExecutorConfig { return &RampingVUs{} },
	"constant-arrival-rate": func() ExecutorConfig { return &ConstantArrivalRate{} },
	"ramping-arrival-rate":  func() ExecutorConfig { return &RampingArrivalRate{} },
	"constant-cameras":      func() ExecutorConfig { return &ConstantCameras{} },
	"ramping-cameras":       func() ExecutorConfig { return &RampingCameras{} },
}

// ExecutorNames lists the executors camstorm runs.
func ExecutorNames() []string { return slices.Sorted(maps.Keys(executorKinds)) }

var scenarioName = regexp.MustCompile(`^[0-9a-zA-Z_-]+$`)

// ParseScenario decodes one scenario strictly: an unknown field, a wrong
// type or a value out of range is an error naming the scenario and field.
func ParseScenario(name string, raw json.RawMessage) (ExecutorConfig, error) {
	where := fmt.Sprintf("scenario %q", name)
	if !scenarioName.MatchString(name) {
		return nil, fmt.Errorf("%w: %s: a name may only hold letters, digits, _ and -", ErrInvalidConfig, where)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("%w: %s: must be an object such as {executor: 'constant-vus', vus: 10, duration: '30s'}", ErrInvalidConfig, where)
	}
	var head struct{ Executor string }
	if e, ok := fields["executor"]; ok {
		if err := json.Unmarshal(e, &head.Executor); err != nil {
			return nil, fmt.Errorf("%w: %s: executor must be a string (one of %s)", ErrInvalidConfig, where, strings.Join(ExecutorNames(), ", "))
		}
	}
	if head.Executor == "externally-controlled" {
		return nil, fmt.Errorf("%w: %s: executor externally-controlled was removed in k6 v2 and camstorm does not have it; use ramping-vus", ErrInvalidConfig, where)
	}
	mk, ok := executorKinds[head.Executor]
	if !ok {
		if head.Executor == "" {
			return nil, fmt.Errorf("%w: %s: executor is required (one of %s)", ErrInvalidConfig, where, strings.Join(ExecutorNames(), ", "))
		}
		return nil, fmt.Errorf("%w: %s: unknown executor %q (one of %s)", ErrInvalidConfig, where, head.Executor, strings.Join(ExecutorNames(), ", "))
	}
	cfg := mk()
	// Field by field, so every problem is reported, not just the first.
	var problems []string
	known := jsonFields(reflect.TypeOf(cfg).Elem())
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		if !slices.Contains(known, key) {
			problems = append(problems, fmt.Sprintf("unknown field %q (this executor has %s)", key, strings.Join(known, ", ")))
			continue
		}
		one, _ := json.Marshal(map[string]json.RawMessage{key: fields[key]})
		dec := json.NewDecoder(bytes.NewReader(one))
		dec.DisallowUnknownFields()
		if err := dec.Decode(cfg); err != nil {
			problems = append(problems, fieldProblem(key, err))
		}
	}
	b := cfg.Base()
	b.Name = name
	if len(problems) > 0 {
		// Values that did not decode would be judged as their defaults.
		errs := make([]error, len(problems))
		for i, p := range problems {
			errs[i] = fmt.Errorf("%w: %s (%s): %s", ErrInvalidConfig, where, head.Executor, p)
		}
		return nil, errors.Join(errs...)
	}
	if b.StartTime < 0 {
		problems = append(problems, "startTime must be 0 or more")
	}
	if b.GracefulStop != nil && *b.GracefulStop < 0 {
		problems = append(problems, "gracefulStop must be 0 or more")
	}
	problems = append(problems, cfg.validate()...)
	if len(problems) > 0 {
		errs := make([]error, len(problems))
		for i, p := range problems {
			errs[i] = fmt.Errorf("%w: %s (%s): %s", ErrInvalidConfig, where, head.Executor, p)
		}
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// fieldProblem words a field's decoding error.
func fieldProblem(field string, err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q: got a JSON %s, want %s", field, te.Value, goTypeWords(te.Type.String()))
	}
	return fmt.Sprintf("field %q: %v", field, err)
}

// jsonFields lists a struct's JSON field names, embedded structs' included.
func jsonFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case f.Anonymous && f.Type.Kind() == reflect.Struct:
			out = append(out, jsonFields(f.Type)...)
		case name != "" && name != "-":
			out = append(out, name)
		}
	}
	return out
}

// Plan is a run's consolidated execution: its scenarios, by name.
type Plan struct {
	Scenarios []ExecutorConfig
}

// Consolidate turns layered options into scenarios: k6's shortcuts
// (iterations, duration, stages, vus) become one scenario named
// "default", conflicting shapes are errors, and every scenario is parsed
// strictly. Every problem is reported at once. Warnings are returned for
// the caller to print.
func Consolidate(o Options) (Plan, []string, error) {
	var warnings []string
	vus := int64(1)
	if o.VUs != nil {
		vus = *o.VUs
	}
	stages := make([]Stage, 0, len(o.Stages))
	for _, s := range o.Stages {
		if s.Duration >= 0 {
			stages = append(stages, s)
		}
	}
	conflict := func(a, b string) error {
		return fmt.Errorf("%w: %s and %s cannot be used together; use one, or define scenarios", ErrInvalidConfig, a, b)
	}
	var raw map[string]json.RawMessage
	var errs []error
	switch {
	case o.Iterations != nil:
		if len(o.Stages) > 0 {
			errs = append(errs, conflict("iterations", "stages"))
		}
		if o.Scenarios != nil {
			errs = append(errs, conflict("iterations", "scenarios"))
		}
		sc := map[string]any{"executor": "shared-iterations", "vus": vus, "iterations": *o.Iterations}
		if o.Duration != nil {
			sc["maxDuration"] = o.Duration.String()
		}
		raw = rawScenarios(sc)
	case o.Duration != nil:
		if len(o.Stages) > 0 {
			errs = append(errs, conflict("duration", "stages"))
		}
		if o.Scenarios != nil {
			errs = append(errs, conflict("duration", "scenarios"))
		}
		if *o.Duration <= 0 {
			errs = append(errs, fmt.Errorf("%w: duration must be more than 0 (got %s)", ErrInvalidConfig, o.Duration))
		}
		raw = rawScenarios(map[string]any{"executor": "constant-vus", "vus": vus, "duration": o.Duration.String()})
	case len(o.Stages) > 0:
		if o.Scenarios != nil {
			errs = append(errs, conflict("stages", "scenarios"))
		}
		st := make([]map[string]any, len(stages))
		for i, s := range stages {
			st[i] = map[string]any{"duration": s.Duration.String(), "target": s.Target}
		}
		raw = rawScenarios(map[string]any{"executor": "ramping-vus", "startVUs": vus, "stages": st})
	case o.VUs != nil:
		// k6 v2.1+: vus alone is shared-iterations with one iteration per VU,
		// replacing any scenarios (k6 v1 ignored vus here).
		if o.Scenarios != nil {
			warnings = append(warnings, fmt.Sprintf("vus=%d overrides the scenarios configuration", vus))
		}
		raw = rawScenarios(map[string]any{"executor": "shared-iterations", "vus": vus, "iterations": vus})
	case len(o.Scenarios) > 0:
		raw = o.Scenarios
	default:
		if o.Scenarios != nil || o.stagesSet {
			warnings = append(warnings, "scenarios and stages are empty: running 1 VU for 1 iteration")
		}
		raw = rawScenarios(map[string]any{"executor": "per-vu-iterations", "vus": 1, "iterations": 1})
	}
	var plan Plan
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		cfg, err := ParseScenario(name, raw[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		plan.Scenarios = append(plan.Scenarios, cfg)
	}
	return plan, warnings, errors.Join(errs...)
}

func rawScenarios(def map[string]any) map[string]json.RawMessage {
	b, _ := json.Marshal(def)
	return map[string]json.RawMessage{"default": b}
}

// Total is how long the plan may run at most: the latest scenario end
// including graceful stops.
func (p Plan) Total() time.Duration {
	var end time.Duration
	for _, s := range p.Scenarios {
		end = max(end, s.Base().StartTime.D()+s.total())
	}
	return end
}
