package netem

import (
	"sort"
	"sync"
	"time"
)

// Clock is the time source of a Link: the real clock by default, a ManualClock in
// tests. Deadlines set on a Conn are measured on the Link's clock.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed, unless stopped.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not happened yet and reports whether it did.
	Stop() bool
}

type systemClock struct{}

func (systemClock) Now() time.Time                            { return time.Now() }
func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// SystemClock is the real clock.
var SystemClock Clock = systemClock{}

// ManualClock is a Clock that moves only when told to, so tests of timed faults do
// not depend on wall-clock speed. Callbacks run synchronously inside Advance, in
// time order, each seeing Now equal to its due time.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers map[*manualTimer]struct{}
}

type manualTimer struct {
	clock *ManualClock
	when  time.Time
	seq   uint64
	f     func()
}

var _ Clock = (*ManualClock)(nil)

// NewManualClock returns a clock standing at start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start, timers: map[*manualTimer]struct{}{}}
}

// Now returns the clock's current time.
func (m *ManualClock) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// AfterFunc arranges for f to run when the clock has been advanced by d. Like
// time.AfterFunc, d <= 0 runs f at once in its own goroutine.
func (m *ManualClock) AfterFunc(d time.Duration, f func()) Timer {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &manualTimer{clock: m, when: m.now.Add(d), f: f}
	if d <= 0 {
		go f()
		return t
	}
	m.seq++
	t.seq = m.seq
	m.timers[t] = struct{}{}
	return t
}

// Stop cancels the timer.
func (t *manualTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	_, pending := t.clock.timers[t]
	delete(t.clock.timers, t)
	return pending
}

// Timers reports how many callbacks are waiting; tests use it to know that a
// goroutine has gone to sleep before they advance the clock.
func (m *ManualClock) Timers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.timers)
}

// Advance moves the clock forward by d, running every callback that falls due.
func (m *ManualClock) Advance(d time.Duration) {
	m.mu.Lock()
	target := m.now.Add(d)
	m.mu.Unlock()
	for {
		m.mu.Lock()
		var due []*manualTimer
		for t := range m.timers {
			if !t.when.After(target) {
				due = append(due, t)
			}
		}
		if len(due) == 0 {
			m.now = target
			m.mu.Unlock()
			return
		}
		sort.Slice(due, func(i, j int) bool {
			if due[i].when.Equal(due[j].when) {
				return due[i].seq < due[j].seq
			}
			return due[i].when.Before(due[j].when)
		})
		next := due[0]
		delete(m.timers, next)
		if next.when.After(m.now) {
			m.now = next.when
		}
		m.mu.Unlock()
		next.f() // outside the lock: callbacks may arm new timers
	}
}
