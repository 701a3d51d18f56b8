package netem

import "time"

// A Fault is one kind of network misbehaviour. Attach is called for every
// connection the fault applies to: continuous faults (a Profile's Faults) when the
// connection is dialled, scheduled faults when their event fires. Attach installs
// the behaviour through c's primitives and must not block.
type Fault interface {
	Attach(c *Conn)
}

// ShapeFunc decides when a chunk of n bytes that is ready to move at ready may move
// on. A stream calls its shape functions in order for every chunk, one chunk at a
// time, so a ShapeFunc may keep state without locking. n is 0 for the end-of-stream
// marker.
type ShapeFunc func(n int, ready time.Time) time.Time

// Direction names one half of a connection, seen from the camera.
type Direction int

const (
	// Up is camera → server (PutMedia bodies).
	Up Direction = iota
	// Down is server → camera (ACKs, responses).
	Down
)

// Directions lists both directions, for faults that act on each.
var Directions = [2]Direction{Up, Down}

func (d Direction) String() string {
	if d == Up {
		return "up"
	}
	return "down"
}
