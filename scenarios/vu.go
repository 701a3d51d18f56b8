package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"

	"github.com/grafana/sobek"
)

// VU is one JS virtual user: a sobek runtime of its own that evaluated
// the script once and then runs iterations of whichever scenario holds it.
// Setup, teardown and handleSummary run in VUs with id 0.
type VU struct {
	id, idInTest int64
	test         *testRun
	rt           *sobek.Runtime
	exports      *sobek.Object
	env          *sobek.Object

	// Set while the VU is in a scenario or an iteration.
	scenario       *scenarioRun
	ctx            context.Context
	tags           map[string]string // the current tag set, replaced (never changed) on change
	group          string            // "::"-joined group path
	iter           int64             // iterations this VU started, in every scenario
	iterInScenario int64
	local, global  int64
	initPhase      bool
	setupValue     sobek.Value
	setupParsed    bool
}

// errInterrupted interrupts a runtime whose iteration's context ended.
var errInterrupted = errors.New("iteration interrupted")

// abortError is test.abort(): it ends the whole run (exit 108).
type abortError struct{ reason string }

func (e *abortError) Error() string { return "test aborted: " + e.reason }

// newVU makes a VU: a runtime with the native modules, the script
// evaluated in it (init code runs here).
func (t *testRun) newVU(id int64) (*VU, error) {
	v := &VU{id: id, idInTest: id, test: t, rt: sobek.New(), ctx: t.ctx, tags: t.tags, initPhase: true}
	if id > 0 && t.tuple != nil && !t.tuple.IsWhole() {
		v.idInTest = t.tuple.GlobalIndex(id-1) + 1
	}
	v.rt.SetFieldNameMapper(sobek.TagFieldNameMapper("json", true))
	if err := v.installGlobals(); err != nil {
		return nil, err
	}
	exports, err := t.program.instantiate(v.rt, v.modules())
	if err != nil {
		return nil, fmt.Errorf("initialising VU %d: %w", id, err)
	}
	v.exports = exports
	v.initPhase = false
	return v, nil
}

// installGlobals sets __ENV, __VU, __ITER, open() and console.
func (v *VU) installGlobals() error {
	v.env = v.rt.NewObject()
	for k, val := range v.test.env {
		_ = v.env.Set(k, val)
	}
	set := func(name string, val any) error { return v.rt.Set(name, val) }
	if err := set("__ENV", v.env); err != nil {
		return err
	}
	if err := set("__VU", v.idInTest); err != nil {
		return err
	}
	if err := set("__ITER", 0); err != nil {
		return err
	}
	if err := set("open", v.open); err != nil {
		return err
	}
	console := v.rt.NewObject()
	for _, level := range []string{"log", "info", "debug", "warn", "error"} {
		lvl := level
		_ = console.Set(level, func(call sobek.FunctionCall) sobek.Value {
			parts := make([]string, len(call.Arguments))
			for i, a := range call.Arguments {
				parts[i] = consoleText(a)
			}
			v.test.logf(logLevel(lvl), "%s", strings.Join(parts, " ")+v.logSuffix())
			return sobek.Undefined()
		})
	}
	return set("console", console)
}

func logLevel(console string) string {
	switch console {
	case "log", "info":
		return "info"
	}
	return console
}

// consoleText prints a value as console.log does: objects as JSON.
func consoleText(v sobek.Value) string {
	if obj, ok := v.(*sobek.Object); ok && obj.ClassName() != "Function" && obj.ClassName() != "Error" {
		if b, err := json.Marshal(obj.Export()); err == nil {
			return string(b)
		}
	}
	return v.String()
}

func (v *VU) logSuffix() string {
	s := " source=console"
	if v.id > 0 {
		s += " vu=" + strconv.FormatInt(v.idInTest, 10)
	}
	return s
}

// open reads a file (in init code only, as in k6); mode "b" returns an
// ArrayBuffer, otherwise a string.
func (v *VU) open(name string, mode ...string) sobek.Value {
	if !v.initPhase {
		panic(v.rt.NewTypeError("open() works only in the init context (top-level code), as in k6"))
	}
	b, err := v.test.program.readFile(name)
	if err != nil {
		panic(v.rt.NewGoError(fmt.Errorf("open(%q): %w", name, err)))
	}
	if len(mode) > 0 && mode[0] == "b" {
		return v.rt.ToValue(v.rt.NewArrayBuffer(append([]byte(nil), b...)))
	}
	return v.rt.ToValue(string(b))
}

// modules are the native objects behind the built-in module shims.
func (v *VU) modules() map[string]*sobek.Object {
	return map[string]*sobek.Object{
		"k6":           v.k6Module(),
		"k6/metrics":   v.metricsModule(),
		"k6/execution": v.executionModule(),
		"k6/http":      v.httpModule(),
		"k6/data":      v.dataModule(),
		"camstorm":     v.camstormModule(),
	}
}

// activate puts the VU in a scenario: its tags and __ENV.
func (v *VU) activate(s *scenarioRun) {
	v.scenario, v.tags, v.group, v.iterInScenario = s, s.tags, "", 0
	for _, k := range v.env.Keys() {
		_ = v.env.Delete(k)
	}
	for k, val := range s.env {
		_ = v.env.Set(k, val)
	}
}

// sampleTags is the VU's tag set for a sample: its current tags and its
// group, as k6 tags every VU sample.
func (v *VU) sampleTags() map[string]string {
	return v.tags
}

// metadata carries the VU and iteration ids, which never make series.
func (v *VU) metadata() map[string]string {
	return map[string]string{"vu": strconv.FormatInt(v.idInTest, 10), "iter": strconv.FormatInt(v.iter-1, 10)}
}

// cloneTags copies a tag set; never nil, so it can be written to.
func cloneTags(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	maps.Copy(out, m)
	return out
}

// withTags returns the VU's tags plus extra.
func (v *VU) withTags(extra map[string]string) map[string]string {
	if len(extra) == 0 {
		return v.tags
	}
	t := cloneTags(v.tags)
	maps.Copy(t, extra)
	return t
}

// exported returns the script's exported function called name.
func (v *VU) exported(name string) (sobek.Callable, bool) {
	val := v.exports.Get(name)
	if val == nil {
		return nil, false
	}
	return sobek.AssertFunction(val)
}

// setupArg is the VU's own copy of setup()'s data, decoded from JSON once.
func (v *VU) setupArg() sobek.Value {
	if !v.setupParsed {
		v.setupParsed = true
		v.setupValue = sobek.Undefined()
		if data := v.test.setupData; len(data) > 0 {
			if val, err := parseJSON(v.rt, data); err == nil {
				v.setupValue = val
			}
		}
	}
	return v.setupValue
}

func parseJSON(rt *sobek.Runtime, data []byte) (sobek.Value, error) {
	parse, ok := sobek.AssertFunction(rt.Get("JSON").ToObject(rt).Get("parse"))
	if !ok {
		return nil, errors.New("JSON.parse missing")
	}
	return parse(sobek.Undefined(), rt.ToValue(string(data)))
}

// call runs fn(args...) with ctx able to interrupt it; it returns the
// result or the error (an *abortError for test.abort()).
func (v *VU) call(ctx context.Context, fn sobek.Callable, args ...sobek.Value) (sobek.Value, error) {
	v.ctx = ctx
	var wg sync.WaitGroup
	wg.Add(1)
	stop := context.AfterFunc(ctx, func() {
		defer wg.Done()
		v.rt.Interrupt(errInterrupted)
	})
	res, err := protect(func() (sobek.Value, error) { return fn(sobek.Undefined(), args...) })
	if stop() {
		wg.Done()
	}
	wg.Wait()
	v.rt.ClearInterrupt()
	if err == nil {
		res, err = v.settle(res)
	}
	var ie *sobek.InterruptedError
	if errors.As(err, &ie) {
		if ae, ok := ie.Value().(*abortError); ok {
			return nil, ae
		}
	}
	return res, err
}

// protect turns a Go panic escaping a native function into an error, so a
// bug in a module fails the iteration instead of the process.
func protect(f func() (sobek.Value, error)) (v sobek.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error in a camstorm module (please report it): %v", r)
		}
	}()
	return f()
}

// settle waits for a promise an async function returned; the runtime runs
// its jobs as calls return, so one that is still pending never settles.
func (v *VU) settle(res sobek.Value) (sobek.Value, error) {
	p, ok := res.Export().(*sobek.Promise)
	if !ok {
		return res, nil
	}
	switch p.State() {
	case sobek.PromiseStateRejected:
		return nil, fmt.Errorf("%s", describeJSError(p.Result()))
	case sobek.PromiseStatePending:
		return nil, errors.New("the iteration returned a promise that never settled (camstorm has no event loop for timers)")
	}
	return p.Result(), nil
}

// runIteration runs the scenario's exec function once and reports whether
// it completed: an exception is logged and still completes (as in k6); an
// iteration whose context ended is interrupted.
func (v *VU) runIteration(ctx context.Context, s *scenarioRun, local, global int64) bool {
	fn, ok := v.exported(s.base.execName())
	if !ok {
		v.test.logf("error", "scenario %s: the script exports no function %q", s.base.Name, s.base.execName())
		return false
	}
	v.local, v.global = local, global
	v.iter++
	v.iterInScenario++
	_ = v.rt.Set("__ITER", v.iter-1)
	_, err := v.call(ctx, fn, v.setupArg())
	var ae *abortError
	switch {
	case errors.As(err, &ae):
		v.test.abort(ae)
		return false
	case ctx.Err() != nil:
		return false
	case err != nil:
		v.test.iterationError(s, v, err)
	}
	return true
}
