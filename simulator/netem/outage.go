package netem

import (
	"fmt"
	"time"
)

// KindOutage is a scheduled Outage; the event's Duration is its length.
const KindOutage Kind = "outage"

// OfflineDialDelay is how long a dial during an outage waits before it fails (a
// connect attempt into a network that does not answer), unless the outage ends
// sooner.
const OfflineDialDelay = time.Second

// Outage takes the camera offline from Start to End: connections open at Start
// become black holes (they do not come back), and dials before End fail after
// OfflineDialDelay with an error wrapping ErrOffline. Dials after End work again.
type Outage struct {
	Start, End time.Time
}

var _ Fault = Outage{}

// Attach black-holes an established connection and refuses one being dialled.
func (f Outage) Attach(c *Conn) {
	if c.Established() {
		c.BlackHole()
		return
	}
	now := c.Clock().Now()
	failAt := now.Add(OfflineDialDelay)
	if f.End.Before(failAt) {
		failAt = f.End
	}
	c.RefuseDial(failAt, fmt.Errorf("%w: scheduled outage of %v, %v left",
		ErrOffline, f.End.Sub(f.Start), f.End.Sub(now).Round(time.Millisecond)))
}

func init() {
	registerKind(KindOutage, kindRules{lasts: true}, func(ev Event, start time.Time) Fault {
		return Outage{Start: start, End: start.Add(ev.Duration)}
	})
}
