package stack

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// Clock control: tests and conformance suites that need time to pass — a
// KMS key's rotation period, a session token's expiry — shift the KMS's
// or the identity service's clock. With Options.ClockControl the stack
// serves PathClock on its plain-HTTP metrics listener (in containers mode,
// each container's); a production stack never turns it on.

// PathClock shifts a service's clock: POST PathClock?service=kms|identity&shift=DURATION.
const PathClock = "/test/clock"

// Services whose clock can be shifted.
const (
	ClockKMS      = "kms"
	ClockIdentity = "identity"
)

// shiftClock is real time plus an offset.
type shiftClock struct{ offset atomic.Int64 }

func (c *shiftClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// clocks are a stack process's shiftable clocks.
type clocks map[string]*shiftClock

func (cs clocks) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := cs[r.URL.Query().Get("service")]
		d, err := time.ParseDuration(r.URL.Query().Get("shift"))
		switch {
		case r.Method != http.MethodPost:
			http.Error(w, "POST "+PathClock+"?service=kms|identity&shift=DURATION", http.StatusMethodNotAllowed)
		case c == nil:
			http.Error(w, "service must be one this process runs: kms or identity", http.StatusNotFound)
		case err != nil:
			http.Error(w, "shift must be a Go duration such as 2160h or -3h", http.StatusBadRequest)
		default:
			fmt.Fprintf(w, "%s\n", time.Duration(c.offset.Add(int64(d))))
		}
	})
}

// ShiftClock moves the KMS's (ClockKMS) or the identity service's
// (ClockIdentity) clock by d, in either mode. The stack must have been
// started with Options.ClockControl.
func (s *Stack) ShiftClock(ctx context.Context, service string, d time.Duration) error {
	if s.cs == nil {
		c := s.clocks[service]
		if c == nil {
			return fmt.Errorf("stack: no shiftable %s clock: start the stack with Options.ClockControl", service)
		}
		c.offset.Add(int64(d))
		return nil
	}
	role := map[string]string{ClockKMS: RoleKMS, ClockIdentity: RoleIdentity}[service]
	if role == "" {
		return fmt.Errorf("stack: no %s clock", service)
	}
	u := s.Container(role).URL(portMetrics) + PathClock + "?service=" + service + "&shift=" + d.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("stack: shifting the %s clock: %w", service, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("stack: shifting the %s clock: %s (was the stack started with ClockControl?)", service, resp.Status)
	}
	return nil
}
