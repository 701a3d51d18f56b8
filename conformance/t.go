package conformance

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Evidence is one observation that backs a verdict: an ACK line, a
// fragment number, an audit record, a byte offset, an HTTP status.
type Evidence struct {
	// Kind names what was observed: "ack", "fragment", "audit", "bytes",
	// "http", "kms", "tls", "note" …
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// T is a running case's handle on the runner: the target, a name space for
// the resources the case creates, and the verdict being built. Fail
// records a failure and goes on; Fatal, Skip and Harness record and end the
// case. Its methods are safe for concurrent use, but Fatal, Skip and
// Harness end the case only when called from the case's own goroutine.
type T struct {
	Target *Target
	c      *Case
	prefix string

	mu       sync.Mutex
	failures []string
	evidence []Evidence
	log      []string
	skip     string
	harness  string
	cleanups []func(context.Context)
	names    int
}

// Limits of what one result keeps, so a case gone wrong cannot fill the
// report: the first items are the ones that explain.
const (
	maxEvidence = 64
	maxFailures = 32
	maxLog      = 256
	maxDetail   = 2048
)

func clip(s string) string {
	if len(s) <= maxDetail {
		return s
	}
	return s[:maxDetail] + fmt.Sprintf("… (%d bytes more)", len(s)-maxDetail)
}

// Name returns a resource name unique to this run and case, e.g. a stream
// name: the run's prefix, the case ID and suffix, in the characters stream
// names allow.
func (t *T) Name(suffix string) string {
	t.mu.Lock()
	t.names++
	n := t.names
	t.mu.Unlock()
	id := strings.ToLower(t.c.ID)
	if suffix == "" {
		return fmt.Sprintf("%s-%s-%d", t.prefix, id, n)
	}
	return fmt.Sprintf("%s-%s-%s", t.prefix, id, suffix)
}

// Evidence records an observation that backs the verdict.
func (t *T) Evidence(kind, format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.evidence) < maxEvidence {
		t.evidence = append(t.evidence, Evidence{Kind: kind, Detail: clip(fmt.Sprintf(format, args...))})
	}
}

// Logf records a line of the case's log (in the JSON report and on -v).
func (t *T) Logf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.log) < maxLog {
		t.log = append(t.log, clip(fmt.Sprintf(format, args...)))
	}
}

// Fail records that the target did not behave as expected; the message is
// the actual outcome. The case goes on.
func (t *T) Fail(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.failures) < maxFailures {
		t.failures = append(t.failures, clip(fmt.Sprintf(format, args...)))
	}
}

// Check calls Fail when ok is false and reports ok.
func (t *T) Check(ok bool, format string, args ...any) bool {
	if !ok {
		t.Fail(format, args...)
	}
	return ok
}

// Fatal records a failure and ends the case.
func (t *T) Fatal(format string, args ...any) {
	t.Fail(format, args...)
	runtime.Goexit()
}

// Skip ends the case as skipped, e.g. because the target cannot be made to
// misbehave the way the case needs. reason says why.
func (t *T) Skip(format string, args ...any) {
	t.mu.Lock()
	t.skip = fmt.Sprintf(format, args...)
	t.mu.Unlock()
	runtime.Goexit()
}

// Harness ends the case with a harness error: camstorm itself could not
// carry out the case (it could not set up, the network to the target
// failed before the stimulus), so nothing is known about the target.
func (t *T) Harness(err error) {
	if err == nil {
		err = errors.New("harness error")
	}
	t.mu.Lock()
	t.harness = err.Error()
	t.mu.Unlock()
	runtime.Goexit()
}

// Harnessf is Harness with a formatted error.
func (t *T) Harnessf(format string, args ...any) { t.Harness(fmt.Errorf(format, args...)) }

// Must ends the case with a harness error when err is not nil. For set-up
// steps whose failure says nothing about the requirement under test.
func (t *T) Must(err error, doing string) {
	if err != nil {
		t.Harness(fmt.Errorf("%s: %w", doing, err))
	}
}

// Cleanup registers f to run after the case, last registered first, with a
// context of its own (the case's may be done).
func (t *T) Cleanup(f func(ctx context.Context)) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}

// Failed reports whether a failure has been recorded.
func (t *T) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.failures) > 0
}

const cleanupTimeout = 30 * time.Second

func (t *T) runCleanups() {
	t.mu.Lock()
	cs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	for i := len(cs) - 1; i >= 0; i-- {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Logf("cleanup panicked: %v", p)
				}
			}()
			cs[i](ctx)
		}()
	}
}
