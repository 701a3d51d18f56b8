package netem

import "time"

// KindFreeze is a scheduled Freeze; the event's Duration is its length.
const KindFreeze Kind = "freeze"

// Freeze stops all data on the camera's connections until Until without losing any,
// and holds dials until then: a cellular handover or a Wi-Fi roam, which TCP rides
// out by retransmitting once the path is back.
type Freeze struct {
	Until time.Time
}

var _ Fault = Freeze{}

// Attach freezes c.
func (f Freeze) Attach(c *Conn) { c.Freeze(f.Until) }

func init() {
	registerKind(KindFreeze, kindRules{lasts: true}, func(ev Event, start time.Time) Fault {
		return Freeze{Until: start.Add(ev.Duration)}
	})
}
