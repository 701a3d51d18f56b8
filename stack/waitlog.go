package stack

import (
	"sync"
	"time"
)

// logWhileWaiting logs "<what>… Ns" every interval until stop is called,
// so a slow step (building the containers image can take minutes) shows
// it is alive. stop returns once nothing more will be logged.
func logWhileWaiting(logf func(string, ...any), what string, every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	began := time.Now()
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				logf("%s… %s", what, time.Since(began).Round(time.Second))
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}
