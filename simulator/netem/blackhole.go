package netem

import "time"

// KindBlackHole is a scheduled BlackHole.
const KindBlackHole Kind = "blackhole"

// BlackHole turns the connection half-open: writes are accepted and discarded,
// reads block without error, and the peer hears nothing more — until the camera
// gives up (a deadline) and closes. New connections are unaffected. This is
// toxiproxy's `timeout` toxic with timeout 0.
type BlackHole struct{}

var _ Fault = BlackHole{}

// Attach black-holes c.
func (BlackHole) Attach(c *Conn) { c.BlackHole() }

func init() {
	registerKind(KindBlackHole, kindRules{}, func(Event, time.Time) Fault { return BlackHole{} })
}
