// Package wait pauses a goroutine for a duration or until its context ends.
package wait

import (
	"context"
	"time"
)

// For waits d or until ctx ends and reports whether the full wait passed.
// A d of zero or less does not wait: it reports whether ctx is still live.
func For(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Until waits until t or until ctx ends and reports whether t was reached;
// it is For with the time left until t.
func Until(ctx context.Context, t time.Time) bool { return For(ctx, time.Until(t)) }
