package netem

import (
	"sync/atomic"
	"time"
)

// Stats counts what a link did. Reading them is a handful of atomic loads.
type Stats struct {
	Dials        int64 // dial attempts
	DialsRefused int64 // dials failed by a fault (a scheduled outage)
	Resets       int64 // connections reset
	Cuts         int64 // connections cut after their byte budget
	BlackHoles   int64 // connections that became black holes
	Outages      int64 // outages that began
	BytesUp      int64 // bytes delivered to the peer (not counted on perfect links)
	BytesDown    int64 // bytes delivered to the camera (not counted on perfect links)
	// Stalled is the time data was held by stalls and freezes, summed over
	// connections and directions.
	Stalled time.Duration
	// Events counts scheduled events that acted, by kind.
	Events map[Kind]int64
}

type linkStats struct {
	dials, dialsRefused, resets, cuts, blackHoles atomic.Int64
	bytesUp, bytesDown, stalled                   atomic.Int64
	byKind                                        map[Kind]*atomic.Int64 // fixed at creation
}

func (s *linkStats) init() {
	s.byKind = map[Kind]*atomic.Int64{}
	for k := range eventKinds {
		s.byKind[k] = new(atomic.Int64)
	}
}

// Stats returns a snapshot of the link's counters.
func (l *Link) Stats() Stats {
	s := Stats{
		Dials:        l.stats.dials.Load(),
		DialsRefused: l.stats.dialsRefused.Load(),
		Resets:       l.stats.resets.Load(),
		Cuts:         l.stats.cuts.Load(),
		BlackHoles:   l.stats.blackHoles.Load(),
		BytesUp:      l.stats.bytesUp.Load(),
		BytesDown:    l.stats.bytesDown.Load(),
		Stalled:      time.Duration(l.stats.stalled.Load()),
		Events:       map[Kind]int64{},
	}
	for k, n := range l.stats.byKind {
		if v := n.Load(); v > 0 {
			s.Events[k] = v
		}
	}
	s.Outages = s.Events[KindOutage]
	return s
}

// FiredEvent is a scheduled event that acted: when (since the link's start; later
// than Event.At if it waited for a connection) and on how many connections.
type FiredEvent struct {
	Event   Event
	Applied time.Duration
	Conns   int
}

// firedLogSize bounds the list of fired events a link keeps (the most recent).
const firedLogSize = 256

type firedLog struct {
	ring  [firedLogSize]FiredEvent
	total int
}

// record notes an event that acted; l.mu is held.
func (l *Link) record(ev Event, now time.Time, conns int) {
	l.fired.ring[l.fired.total%firedLogSize] = FiredEvent{Event: ev, Applied: now.Sub(l.start), Conns: conns}
	l.fired.total++
	l.stats.byKind[ev.Kind].Add(1)
}

// Fired returns the most recent events that acted (at most 256), oldest first, and
// how many acted in all.
func (l *Link) Fired() ([]FiredEvent, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(l.fired.total, firedLogSize)
	out := make([]FiredEvent, 0, n)
	for i := l.fired.total - n; i < l.fired.total; i++ {
		out = append(out, l.fired.ring[i%firedLogSize])
	}
	return out, l.fired.total
}
