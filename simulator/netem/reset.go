package netem

import "time"

// KindReset is a scheduled Reset.
const KindReset Kind = "reset"

// Reset closes the connection abruptly: the peer sees a TCP RST, the camera's next
// read or write fails with ErrConnReset (a NAT dropping state, a middlebox killing
// the flow).
type Reset struct{}

var _ Fault = Reset{}

// Attach resets c.
func (Reset) Attach(c *Conn) { c.Reset() }

func init() {
	registerKind(KindReset, kindRules{}, func(Event, time.Time) Fault { return Reset{} })
}
