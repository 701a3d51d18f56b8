package netem

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// DefaultPacketBytes is the packet size Stalls steps its chain per: a TCP segment
// on a 1500-byte MTU path with timestamps.
const DefaultPacketBytes = 1448

// Stalls models bursty loss the way a TCP connection experiences it: as stalls. A
// two-state Gilbert–Elliott chain steps once per packet of data moved (P =
// P(good→bad), R = P(bad→good)). A packet that finds the chain bad is lost, and
// the stream stands still — data does not move, in that direction — for one Slot
// per step while the chain stays bad (it keeps stepping once per Slot). So a loss
// burst lasts a geometric number of slots, mean 1/R, and in the long run a fraction
// P/(P+R) of all steps are bad.
//
// Mapping from netem: `loss gemodel p r 1-h 1-k` with h = 0, k = 1 (everything
// lost in bad, nothing in good) loses a fraction p/(p+r) of packets in bursts of mean
// 1/r packets. TCP hides each loss as a wait for its retransmission; Slot is that
// wait per lost packet — about one RTT when fast retransmit recovers it (the
// profiles use their RTT), 200 ms or more when it takes a retransmission timeout.
// Partial loss in either state (h > 0, k < 1) is not modelled.
type Stalls struct {
	P, R        float64
	Slot        time.Duration
	PacketBytes int // default DefaultPacketBytes
}

var _ Fault = Stalls{}

// LossFraction is the stationary share of bad steps, P/(P+R).
func (f Stalls) LossFraction() float64 { return f.P / (f.P + f.R) }

// Validate reports every problem.
func (f Stalls) Validate() error {
	var errs []error
	if f.P < 0 || f.P > 1 {
		errs = append(errs, fmt.Errorf("p %v is outside [0, 1]", f.P))
	}
	// R bounds the expected length of a stall (1/R slots) and so the work per chunk.
	if f.R < 0.001 || f.R > 1 {
		errs = append(errs, fmt.Errorf("r %v is outside [0.001, 1]", f.R))
	}
	if f.Slot <= 0 {
		errs = append(errs, fmt.Errorf("slot %v must be > 0", f.Slot))
	}
	if f.PacketBytes < 0 {
		errs = append(errs, fmt.Errorf("packet bytes %d is negative", f.PacketBytes))
	}
	return errors.Join(errs...)
}

// Attach gives each direction its own chain.
func (f Stalls) Attach(c *Conn) {
	pkt := f.PacketBytes
	if pkt == 0 {
		pkt = DefaultPacketBytes
	}
	for _, d := range Directions {
		s := &stallShaper{chain: geChain{p: f.P, r: f.R, rng: c.Rand("stalls/" + d.String())}, slot: f.Slot, packet: pkt, record: c.RecordStall}
		c.Shape(d, s.shape)
	}
}

// geChain is a two-state Gilbert–Elliott Markov chain.
type geChain struct {
	p, r     float64
	bad      bool
	rng      *rand.Rand
	steps    int64 // for tests: steps taken and steps that ended bad
	badSteps int64
	entered  int64 // transitions good → bad
}

// step advances the chain one slot and reports whether it is now bad.
func (g *geChain) step() bool {
	u := g.rng.Float64()
	if g.bad {
		g.bad = u >= g.r
	} else if u < g.p {
		g.bad = true
		g.entered++
	}
	g.steps++
	if g.bad {
		g.badSteps++
	}
	return g.bad
}

type stallShaper struct {
	chain  geChain
	slot   time.Duration
	packet int
	free   time.Time // when the previous chunk got through
	record func(time.Duration)
}

// shape holds a chunk for one slot per bad step met while moving its packets.
// Stalls are serial: a stalled chunk holds back everything behind it.
func (s *stallShaper) shape(n int, ready time.Time) time.Time {
	var stall time.Duration
	for packets := (n + s.packet - 1) / s.packet; packets > 0; packets-- {
		for s.chain.step() {
			stall += s.slot
		}
	}
	out := later(ready, s.free).Add(stall)
	s.free = out
	s.record(stall)
	return out
}
