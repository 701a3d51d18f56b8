package scenarios

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/camstorm/camstorm/internal/wait"
	"github.com/camstorm/camstorm/results"
	"github.com/grafana/sobek"
)

// k6Module is `k6`: check, group, sleep, fail, randomSeed.
func (v *VU) k6Module() *sobek.Object {
	m := v.rt.NewObject()
	_ = m.Set("check", v.check)
	_ = m.Set("group", v.groupFn)
	_ = m.Set("sleep", func(seconds float64) {
		switch {
		case math.IsNaN(seconds) || seconds <= 0:
		case seconds >= math.MaxInt64/float64(time.Second):
			<-v.ctx.Done() // longer than a Duration holds: until the iteration ends
		default:
			wait.For(v.ctx, time.Duration(seconds*float64(time.Second)))
		}
	})
	_ = m.Set("fail", func(msg string) {
		panic(v.rt.NewGoError(fmt.Errorf("%s", msg)))
	})
	_ = m.Set("randomSeed", func(seed int64) {
		r := rand.New(rand.NewPCG(uint64(seed), 0))
		v.rt.SetRandSource(r.Float64)
	})
	return m
}

// check runs each named condition on val (a function is called with val,
// anything else is taken for its truth), records a checks sample per
// condition and returns whether all held. An exception in a condition
// propagates, as in k6.
func (v *VU) check(call sobek.FunctionCall) sobek.Value {
	val := call.Argument(0)
	sets := call.Argument(1)
	if sobek.IsUndefined(sets) || sobek.IsNull(sets) {
		return v.rt.ToValue(true)
	}
	obj := sets.ToObject(v.rt)
	var extra map[string]string
	if t := call.Argument(2); !sobek.IsUndefined(t) && !sobek.IsNull(t) {
		extra = stringMap(t.ToObject(v.rt))
	}
	all := true
	now := time.Now()
	for _, name := range obj.Keys() {
		cond := obj.Get(name)
		ok := cond.ToBoolean()
		if fn, isFn := sobek.AssertFunction(cond); isFn {
			res, err := fn(sobek.Undefined(), val)
			if err != nil {
				panic(err)
			}
			ok = res.ToBoolean()
		}
		all = all && ok
		tags := cloneTags(v.withTags(extra))
		tags["check"] = name
		value := 0.0
		if ok {
			value = 1
		}
		v.test.checks.Record(v.group, name, ok)
		v.test.emit(results.Sample{Metric: v.test.builtin.checks, Time: now, Value: value, Tags: tags, Metadata: v.metadata()})
	}
	return v.rt.ToValue(all)
}

// groupFn runs fn inside a named group: samples are tagged with the
// group's path and its duration is recorded as group_duration.
func (v *VU) groupFn(name string, fn sobek.Callable) sobek.Value {
	if strings.Contains(name, "::") {
		panic(v.rt.NewTypeError("group name %q must not contain '::'", name))
	}
	if fn == nil {
		panic(v.rt.NewTypeError("group(%q, fn) needs a function", name))
	}
	outer, outerTags := v.group, v.tags
	v.group = outer + "::" + name
	v.tags = cloneTags(outerTags)
	v.tags["group"] = v.group
	start := time.Now()
	defer func() {
		end := time.Now()
		tags := v.tags
		v.group, v.tags = outer, outerTags
		v.test.emit(results.Sample{Metric: v.test.builtin.groupDuration, Time: end, Value: msOf(end.Sub(start)), Tags: tags, Metadata: v.metadata()})
	}()
	res, err := fn(sobek.Undefined())
	if err != nil {
		panic(err)
	}
	return res
}

// metricsModule is `k6/metrics`: the four custom metric constructors.
func (v *VU) metricsModule() *sobek.Object {
	m := v.rt.NewObject()
	for name, typ := range map[string]results.MetricType{"Counter": results.Counter, "Gauge": results.Gauge, "Rate": results.Rate, "Trend": results.Trend} {
		_ = m.Set(name, v.metricConstructor(name, typ))
	}
	return m
}

func (v *VU) metricConstructor(kind string, typ results.MetricType) func(call sobek.ConstructorCall) *sobek.Object {
	return func(call sobek.ConstructorCall) *sobek.Object {
		if !v.initPhase {
			panic(v.rt.NewTypeError("new %s(...) works only in the init context (top-level code), as in k6", kind))
		}
		if a := call.Argument(0); sobek.IsUndefined(a) || sobek.IsNull(a) {
			panic(v.rt.NewTypeError("new %s(name[, isTime]): the metric needs a name", kind))
		}
		name := call.Argument(0).String()
		contains := results.Default
		if call.Argument(1).ToBoolean() {
			contains = results.Time
			if typ != results.Trend && typ != results.Gauge {
				contains = results.Default
			}
		}
		metric, err := v.test.registry.Define(name, typ, contains)
		if err != nil {
			panic(v.rt.NewTypeError(err.Error()))
		}
		obj := call.This
		_ = obj.Set("name", name)
		_ = obj.Set("add", func(c sobek.FunctionCall) sobek.Value {
			if v.initPhase {
				panic(v.rt.NewTypeError("%s.add() cannot be called in the init context; call it in a VU function", name))
			}
			arg := c.Argument(0)
			value := arg.ToFloat()
			switch x := arg.Export().(type) {
			case bool:
				value = 0
				if x {
					value = 1
				}
			case int64, float64:
				if math.IsNaN(value) || math.IsInf(value, 0) {
					panic(v.rt.NewTypeError("%s.add(%v): not a finite number", name, arg))
				}
			default:
				if typ != results.Rate {
					panic(v.rt.NewTypeError("%s.add(%s): a number or a boolean is expected", name, arg))
				}
			}
			if typ == results.Rate {
				value = 0
				if arg.ToBoolean() {
					value = 1
				}
			}
			var extra map[string]string
			if t := c.Argument(1); !sobek.IsUndefined(t) && !sobek.IsNull(t) {
				extra = stringMap(t.ToObject(v.rt))
			}
			v.test.emit(results.Sample{Metric: metric, Time: time.Now(), Value: value, Tags: v.withTags(extra), Metadata: v.metadata()})
			return v.rt.ToValue(true)
		})
		return nil
	}
}

// executionModule is `k6/execution`: what the VU, its scenario, this
// instance and the test are doing now.
func (v *VU) executionModule() *sobek.Object {
	m := v.rt.NewObject()
	getters := func(fields map[string]func() any) *sobek.Object {
		o := v.rt.NewObject()
		for name, get := range fields {
			_ = o.DefineAccessorProperty(name, v.rt.ToValue(func() any { return get() }), nil, sobek.FLAG_FALSE, sobek.FLAG_TRUE)
		}
		return o
	}
	_ = m.Set("vu", getters(map[string]func() any{
		"idInInstance":        func() any { return v.id },
		"idInTest":            func() any { return v.idInTest },
		"iterationInInstance": func() any { return max(v.iter-1, 0) },
		"iterationInScenario": func() any { return max(v.iterInScenario-1, 0) },
		"tags":                func() any { return v.tagsObject() },
	}))
	_ = m.Set("scenario", getters(map[string]func() any{
		"name":                func() any { return v.scenarioField(func(s *scenarioRun) any { return s.base.Name }) },
		"executor":            func() any { return v.scenarioField(func(s *scenarioRun) any { return s.base.Executor }) },
		"startTime":           func() any { return v.scenarioField(func(s *scenarioRun) any { return s.start.UnixMilli() }) },
		"progress":            func() any { return v.scenarioField(func(s *scenarioRun) any { return s.progress() }) },
		"iterationInInstance": func() any { return v.local },
		"iterationInTest":     func() any { return v.global },
	}))
	_ = m.Set("instance", getters(map[string]func() any{
		"vusActive":             func() any { return v.test.activeVUs() },
		"vusInitialized":        func() any { return v.test.pool.initialised() },
		"iterationsCompleted":   func() any { return v.test.completed.Load() },
		"iterationsInterrupted": func() any { return v.test.interrupted.Load() },
		"currentTestRunDuration": func() any {
			return msOf(time.Since(v.test.start))
		},
	}))
	test := v.rt.NewObject()
	_ = test.Set("abort", func(reason ...string) {
		msg := "test.abort() called"
		if len(reason) > 0 && reason[0] != "" {
			msg = reason[0]
		}
		v.rt.Interrupt(&abortError{reason: msg})
	})
	_ = test.Set("fail", func(reason ...string) {
		v.test.markFailed(strings.Join(reason, " "))
	})
	_ = test.DefineAccessorProperty("options", v.rt.ToValue(func() any { return v.test.optionsValue() }), nil, sobek.FLAG_FALSE, sobek.FLAG_TRUE)
	_ = m.Set("test", test)
	return m
}

func (v *VU) scenarioField(f func(*scenarioRun) any) any {
	if v.scenario == nil {
		return nil
	}
	return f(v.scenario)
}

// tagsObject is exec.vu.tags: reading gives the current tags; setting a
// property adds a tag to the VU's later samples.
func (v *VU) tagsObject() *sobek.Object {
	return v.rt.NewDynamicObject(&vuTags{v: v})
}

type vuTags struct{ v *VU }

func (t *vuTags) Get(key string) sobek.Value {
	if val, ok := t.v.tags[key]; ok {
		return t.v.rt.ToValue(val)
	}
	return nil
}
func (t *vuTags) Set(key string, val sobek.Value) bool {
	if _, isObj := val.(*sobek.Object); isObj {
		panic(t.v.rt.NewTypeError("exec.vu.tags.%s: a tag value must be a string, number or boolean", key))
	}
	tags := cloneTags(t.v.tags)
	tags[key] = val.String()
	t.v.tags = tags
	return true
}
func (t *vuTags) Has(key string) bool { _, ok := t.v.tags[key]; return ok }
func (t *vuTags) Delete(key string) bool {
	tags := cloneTags(t.v.tags)
	delete(tags, key)
	t.v.tags = tags
	return true
}
func (t *vuTags) Keys() []string { return sortedKeys(t.v.tags) }

// dataModule is `k6/data`: SharedArray, whose data is built once and
// shared (here: each VU gets its own copy of the JSON, built once per run).
func (v *VU) dataModule() *sobek.Object {
	m := v.rt.NewObject()
	_ = m.Set("SharedArray", func(call sobek.ConstructorCall) *sobek.Object {
		if !v.initPhase {
			panic(v.rt.NewTypeError("new SharedArray() works only in the init context"))
		}
		name := call.Argument(0).String()
		fn, ok := sobek.AssertFunction(call.Argument(1))
		if !ok {
			panic(v.rt.NewTypeError("SharedArray(%q, fn): fn must be a function returning an array", name))
		}
		data, err := v.test.shared(name, func() ([]byte, error) {
			res, err := fn(sobek.Undefined())
			if err != nil {
				return nil, err
			}
			return jsonOf(v.rt, res)
		})
		if err != nil {
			panic(v.rt.NewGoError(err))
		}
		val, err := parseJSON(v.rt, data)
		if err != nil {
			panic(v.rt.NewGoError(err))
		}
		if obj, ok := val.(*sobek.Object); !ok || obj.ClassName() != "Array" {
			panic(v.rt.NewTypeError("SharedArray(%q, fn): fn must return an array", name))
		}
		return val.ToObject(v.rt)
	})
	return m
}

// jsonOf is JSON.stringify(val) as bytes.
func jsonOf(rt *sobek.Runtime, val sobek.Value) ([]byte, error) {
	stringify, ok := sobek.AssertFunction(rt.Get("JSON").ToObject(rt).Get("stringify"))
	if !ok {
		return nil, fmt.Errorf("JSON.stringify missing")
	}
	s, err := stringify(sobek.Undefined(), val)
	if err != nil {
		return nil, err
	}
	if sobek.IsUndefined(s) {
		return nil, nil
	}
	return []byte(s.String()), nil
}

// stringMap reads a JS object of tags.
func stringMap(o *sobek.Object) map[string]string {
	out := map[string]string{}
	for _, k := range o.Keys() {
		out[k] = o.Get(k).String()
	}
	return out
}
