package capacity

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/scenarios/cameras"
)

// windows routes camera samples into the open measurement window and
// drops them between windows (warm-up, drain), so each step is measured
// over its hold alone.
type windows struct {
	open atomic.Pointer[results.Store]
}

// emit is the fleet's sample sink.
func (w *windows) emit(samples ...results.Sample) {
	if s := w.open.Load(); s != nil {
		s.Add(samples...)
	}
}

// start opens a new window.
func (w *windows) start() { w.open.Store(results.NewStore()) }

// stop closes the open window and returns what it holds.
func (w *windows) stop() *results.Store { return w.open.Swap(nil) }

// window is what one hold measured.
type window struct {
	acks, errorAcks, persisted                float64
	persistedP99, persistedP999, bufferingP99 float64 // ms; +Inf when none arrived
}

// measure reads a closed window's store.
func measure(s *results.Store, hold time.Duration) window {
	var w window
	if s == nil {
		s = results.NewStore()
	}
	if a, ok := s.Aggregate(cameras.MetricAckLatency, results.Selector{}, hold); ok {
		w.acks = float64(a.Samples)
	}
	if a, ok := s.Aggregate(cameras.MetricAckErrors, results.Selector{}, hold); ok {
		w.errorAcks = a.Sum
	}
	if a, ok := s.Aggregate(cameras.MetricFragmentsPersisted, results.Selector{}, hold); ok {
		w.persisted = a.Sum
	}
	quantile := func(ack string, q float64) float64 {
		a, ok := s.Aggregate(cameras.MetricAckLatency, results.Selector{Tags: map[string]string{cameras.TagAck: ack}}, hold)
		if !ok || a.Samples == 0 || a.Quantile == nil {
			return math.Inf(1)
		}
		return a.Quantile(q)
	}
	w.persistedP99 = quantile(cameras.AckPersisted, 0.99)
	w.persistedP999 = quantile(cameras.AckPersisted, 0.999)
	w.bufferingP99 = quantile(cameras.AckBuffering, 0.99)
	return w
}

// errorRate is ERROR ACKs over ACKs; 1 when no ACK arrived at all (a
// step that acknowledged nothing is as bad as one that only failed).
func (w window) errorRate() float64 {
	if w.acks == 0 {
		return 1
	}
	return w.errorAcks / w.acks
}

// finiteOr0 keeps a value JSON can carry: a latency no ACK measured is
// reported as 0 (the step's Failed list says why).
func finiteOr0(v float64) float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return 0
	}
	return v
}
