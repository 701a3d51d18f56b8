package netem

import (
	"fmt"
	"time"
)

// KindCut is a scheduled Cut; the event's Bytes is the budget.
const KindCut Kind = "cut"

// Cut lets Bytes more upstream bytes through and then kills the connection (RST to
// the peer, ErrCut to the camera) — a connection dying in the middle of a fragment.
// Like toxiproxy's `limit_data`, counted from when the fault acts.
type Cut struct {
	Bytes int64
}

var _ Fault = Cut{}

// Validate reports every problem.
func (f Cut) Validate() error {
	if f.Bytes < 0 {
		return fmt.Errorf("bytes %d is negative", f.Bytes)
	}
	return nil
}

// Attach arms the cut on c.
func (f Cut) Attach(c *Conn) { c.CutAfter(f.Bytes) }

func init() {
	registerKind(KindCut, kindRules{counts: true}, func(ev Event, _ time.Time) Fault { return Cut{Bytes: ev.Bytes} })
}
