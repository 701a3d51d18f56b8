package scenarios

import (
	"errors"
	"sync"
	"time"

	"github.com/camstorm/camstorm/results"
)

// flushEvery is how often samples reach the outputs (k6's JSON output
// flushes every 200 ms).
const flushEvery = 200 * time.Millisecond

// maxPending bounds the samples waiting for the outputs: past it, the
// emitter flushes itself rather than grow the buffer.
const maxPending = 1 << 16

// collector takes every sample of a run: the store aggregates it at once
// (thresholds see it), the outputs get it in batches.
type collector struct {
	store   *results.Store
	outputs []results.Output

	mu      sync.Mutex
	pending []results.Sample

	outMu   sync.Mutex // one batch at a time reaches the outputs
	errs    []error
	stop    chan struct{}
	stopped sync.WaitGroup
}

func newCollector(store *results.Store, outputs []results.Output) *collector {
	c := &collector{store: store, outputs: outputs, stop: make(chan struct{})}
	if len(outputs) > 0 {
		c.stopped.Go(c.loop)
	}
	return c
}

// emit records samples; it is safe from any goroutine.
func (c *collector) emit(samples ...results.Sample) {
	c.store.Add(samples...)
	if len(c.outputs) == 0 {
		return
	}
	c.mu.Lock()
	c.pending = append(c.pending, samples...)
	full := len(c.pending) >= maxPending
	c.mu.Unlock()
	if full {
		c.flush()
	}
}

func (c *collector) loop() {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.flush()
		case <-c.stop:
			return
		}
	}
}

// flush hands what is pending to every output.
func (c *collector) flush() {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	c.mu.Lock()
	batch := c.pending
	c.pending = nil
	c.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	for _, o := range c.outputs {
		if err := o.AddSamples(batch); err != nil {
			c.errs = append(c.errs, err)
		}
	}
}

// close flushes the rest and closes the outputs; it returns the first
// problems the outputs had.
func (c *collector) close() error {
	if len(c.outputs) > 0 {
		close(c.stop)
		c.stopped.Wait()
	}
	c.flush()
	c.outMu.Lock()
	defer c.outMu.Unlock()
	for _, o := range c.outputs {
		if err := o.Close(); err != nil {
			c.errs = append(c.errs, err)
		}
	}
	if len(c.errs) > 5 {
		c.errs = c.errs[:5]
	}
	return errors.Join(c.errs...)
}
