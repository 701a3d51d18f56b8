package scenarios

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/grafana/sobek"
)

// ErrScript marks a script that cannot be read, parsed, linked or
// initialised, or that throws in init, setup or teardown (k6's exit code 107).
var ErrScript = errors.New("script error")

// modulesGlobal is where each runtime keeps its native modules; the
// built-in module shims read them from there.
const modulesGlobal = "__camstorm_modules"

// builtinExports lists the named exports of every built-in module. A shim
// module re-exports them from the runtime's native module object, so the
// shims are parsed and linked once and shared by every VU.
var builtinExports = map[string][]string{
	"k6":           {"check", "group", "sleep", "fail", "randomSeed"},
	"k6/metrics":   {"Counter", "Gauge", "Rate", "Trend"},
	"k6/execution": {},
	"k6/http":      {"request", "get", "post", "put", "patch", "del", "head", "options", "expectedStatuses", "setResponseCallback"},
	"k6/data":      {"SharedArray"},
	"camstorm":     {"target", "sign", "outage", "rotateKeys", "tail", "streams", "cameras"},
}

// moduleAliases maps other spellings to a built-in module.
var moduleAliases = map[string]string{"k6/x/camstorm": "camstorm"}

// Program is a script parsed and linked once; every VU evaluates it in a
// runtime of its own.
type Program struct {
	// Path is the script's path as given; Dir resolves relative imports
	// and open().
	Path string
	Dir  string
	main *sobek.SourceTextModuleRecord

	mu      sync.Mutex
	modules map[string]sobek.ModuleRecord // by resolved specifier
	paths   map[sobek.ModuleRecord]string // file modules' paths
	files   map[string][]byte             // open() cache, shared read-only
}

// Compile reads, parses and links the script at path with the modules it
// imports. Errors name file:line:column.
func Compile(path string) (*Program, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScript, err)
	}
	return CompileSource(path, src)
}

// CompileSource is Compile for a script already in memory; path names it in
// errors and anchors relative imports and open().
func CompileSource(path string, src []byte) (*Program, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScript, err)
	}
	p := &Program{Path: path, Dir: filepath.Dir(abs), modules: map[string]sobek.ModuleRecord{},
		paths: map[sobek.ModuleRecord]string{}, files: map[string][]byte{}}
	m, err := sobek.ParseModule(path, string(src), p.resolve)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrScript, syntaxError(err))
	}
	p.paths[m] = abs
	p.modules[abs] = m
	if err := m.Link(); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrScript, syntaxError(err))
	}
	p.main = m
	return p, nil
}

// resolve is sobek's module resolver: built-in modules are shims over the
// runtime's native objects; other specifiers are files relative to the
// importing module.
func (p *Program) resolve(referrer any, specifier string) (sobek.ModuleRecord, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	name := specifier
	if a, ok := moduleAliases[name]; ok {
		name = a
	}
	if exports, ok := builtinExports[name]; ok {
		if m := p.modules[name]; m != nil {
			return m, nil
		}
		m, err := sobek.ParseModule(name, shimSource(name, exports), p.resolve)
		if err != nil {
			return nil, err
		}
		p.modules[name] = m
		return m, nil
	}
	switch {
	case strings.HasPrefix(name, "k6/"):
		return nil, fmt.Errorf("module %q is not available in camstorm (built-in modules: %s)", specifier, builtinList())
	case strings.HasPrefix(name, "http://"), strings.HasPrefix(name, "https://"):
		return nil, fmt.Errorf("module %q: camstorm does not fetch remote modules; save the file next to the script and import it by relative path", specifier)
	case !strings.HasPrefix(name, "./") && !strings.HasPrefix(name, "../") && !filepath.IsAbs(name):
		return nil, fmt.Errorf("module %q: import files by a relative path (./%s) or use a built-in module (%s)", specifier, name, builtinList())
	}
	dir := p.Dir
	if rm, ok := referrer.(sobek.ModuleRecord); ok {
		if from, ok := p.paths[rm]; ok {
			dir = filepath.Dir(from)
		}
	}
	path := filepath.Clean(filepath.Join(dir, name))
	if filepath.IsAbs(name) {
		path = filepath.Clean(name)
	}
	if m := p.modules[path]; m != nil {
		return m, nil
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("module %q: %v", specifier, err)
	}
	// Unlock while parsing: the parser resolves this module's imports.
	p.mu.Unlock()
	m, err := sobek.ParseModule(p.relative(path), string(src), p.resolve)
	p.mu.Lock()
	if err != nil {
		return nil, err
	}
	if prev := p.modules[path]; prev != nil {
		return prev, nil
	}
	p.modules[path] = m
	p.paths[m] = path
	return m, nil
}

// parserPosition matches the parser's "file: Line L:C message".
var parserPosition = regexp.MustCompile(`(\S+): Line (\d+):(\d+) `)

// syntaxError words a parse or link error as file:line:column: message.
func syntaxError(err error) string {
	return parserPosition.ReplaceAllString(err.Error(), "$1:$2:$3: ")
}

// relative names a file by its path from the script's directory, as
// errors show it.
func (p *Program) relative(path string) string {
	if r, err := filepath.Rel(p.Dir, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

func builtinList() string {
	return strings.Join(slices.Sorted(maps.Keys(builtinExports)), ", ")
}

// shimSource is the JS of a built-in module: its default export is the
// runtime's native module object and each named export one of its members.
func shimSource(name string, exports []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "const m = globalThis[%q][%q];\nexport default m;\n", modulesGlobal, name)
	for _, e := range exports {
		fmt.Fprintf(&b, "export const %s = m.%s;\n", e, e)
	}
	return b.String()
}

// readFile serves open(): files are read once and shared by every VU.
func (p *Program) readFile(name string) ([]byte, error) {
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(p.Dir, name)
	}
	path = filepath.Clean(path)
	p.mu.Lock()
	defer p.mu.Unlock()
	if b, ok := p.files[path]; ok {
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p.files[path] = b
	return b, nil
}

// instantiate evaluates the program in a fresh runtime whose native
// modules are given, and returns the main module's namespace (its exports).
func (p *Program) instantiate(rt *sobek.Runtime, modules map[string]*sobek.Object) (*sobek.Object, error) {
	holder := rt.NewObject()
	for name, obj := range modules {
		if err := holder.Set(name, obj); err != nil {
			return nil, err
		}
	}
	if err := rt.GlobalObject().DefineDataProperty(modulesGlobal, holder, sobek.FLAG_FALSE, sobek.FLAG_FALSE, sobek.FLAG_FALSE); err != nil {
		return nil, err
	}
	var promise *sobek.Promise
	if _, err := protect(func() (sobek.Value, error) {
		promise = rt.CyclicModuleRecordEvaluate(p.main, p.resolve)
		return nil, nil
	}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScript, err)
	}
	switch promise.State() {
	case sobek.PromiseStateRejected:
		if e, ok := promise.Result().Export().(error); ok {
			var ie *sobek.InterruptedError
			if errors.As(e, &ie) {
				if ae, ok := ie.Value().(*abortError); ok {
					return nil, fmt.Errorf("%w: %s", ErrAborted, ae.reason)
				}
			}
		}
		return nil, fmt.Errorf("%w: %s", ErrScript, describeJSError(promise.Result()))
	case sobek.PromiseStatePending:
		return nil, fmt.Errorf("%w: %s: top-level await that never settles", ErrScript, p.Path)
	}
	return rt.NamespaceObjectFor(p.main), nil
}

// describeJSError turns a thrown value into "message\n\tat file:line:col".
func describeJSError(v sobek.Value) string {
	if v == nil {
		return "undefined"
	}
	var ex *sobek.Exception
	if e, ok := v.Export().(error); ok && errors.As(e, &ex) {
		return strings.TrimSpace(ex.String())
	}
	if obj, ok := v.(*sobek.Object); ok && obj.ClassName() == "Error" {
		if stack := obj.Get("stack"); stack != nil && !sobek.IsUndefined(stack) {
			return stack.String()
		}
	}
	if e, ok := v.Export().(error); ok {
		return e.Error()
	}
	return v.String()
}
