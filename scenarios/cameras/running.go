package cameras

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/fleet"
)

// forever is how far ahead a camera's filming end lies: it films until
// Stop or its context ends.
const forever = 100 * 365 * 24 * time.Hour

// Running is one started camera.
type Running struct {
	id     Identity
	f      *Fleet
	obs    *observer
	cancel context.CancelFunc
	done   chan struct{}
	res    simulator.CameraResult // written before done is closed

	filmingOnce sync.Once
}

// Identity is what the camera is: index, stream, kind, profile, seed.
func (r *Running) Identity() Identity { return r.id }

// Stop makes the camera stop filming now. Its producer then delivers what
// it still buffers, for at most the camera's FinalAckTimeout (the same
// drain a camera gets when its context ends: the simulator gives no
// harder cancel), and Done closes. Stop does not wait; calling it again
// does nothing.
func (r *Running) Stop() {
	r.endFilming()
	r.cancel()
}

// Done is closed when the camera's Run has returned and its last samples
// were emitted.
func (r *Running) Done() <-chan struct{} { return r.done }

// Result is the camera's result once Done is closed; before that, a
// result holding only the stream name.
func (r *Running) Result() simulator.CameraResult {
	select {
	case <-r.done:
		return r.res
	default:
		return simulator.CameraResult{StreamName: r.id.Stream}
	}
}

// endFilming takes the camera out of the Active count, once.
func (r *Running) endFilming() {
	r.filmingOnce.Do(func() {
		r.f.mu.Lock()
		r.f.active--
		r.f.mu.Unlock()
	})
}

// run films until ctx ends, then releases the camera's network and emits
// what only the result knows.
func (r *Running) run(ctx context.Context, mem *fleet.Member, src *countingSource) {
	defer r.cancel()
	res := mem.Camera.Run(ctx, r.f.cfg.Clock().Add(forever))
	r.endFilming()
	if mem.Link != nil {
		mem.Link.Close()
	}
	if tr, ok := mem.HTTP.Transport.(*http.Transport); ok && mem.HTTP != r.f.cfg.Target.HTTP {
		tr.CloseIdleConnections()
	}
	r.obs.finish(&res, &src.keys)
	r.res = res
	close(r.done)
}
