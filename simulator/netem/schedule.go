package netem

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"
)

// Kind names a scheduled fault. Each kind is registered by the file that defines its
// fault.
type Kind string

// Event is one timed fault on a link, relative to the link's start. Duration is
// non-zero only for kinds that last (an outage, a freeze); Bytes is used only by
// kinds that count bytes (a cut).
type Event struct {
	At       time.Duration
	Kind     Kind
	Duration time.Duration `json:",omitempty"`
	Bytes    int64         `json:",omitempty"`
}

// Schedule is the list of timed events of one link, ordered by At (a Link sorts a
// schedule it is given).
type Schedule []Event

// Span is a closed range of durations; values are drawn uniformly from it.
type Span struct{ Min, Max time.Duration }

// ByteRange is a closed range of byte counts; values are drawn uniformly from it.
type ByteRange struct{ Min, Max int64 }

// EventSpec describes a recurring scheduled fault: the first event comes Gap after
// the link starts, each next one Gap after the previous one ended.
type EventSpec struct {
	Kind     Kind
	Gap      Span
	Duration Span      // for kinds that last
	Bytes    ByteRange // for kinds that count bytes
}

// kindRules say which Event fields a kind uses.
type kindRules struct {
	lasts  bool // Duration > 0 required; otherwise Duration must be 0
	counts bool // Bytes > 0 required; otherwise Bytes must be 0
}

type eventKind struct {
	rules kindRules
	// fault builds the fault for one event that starts at start on the link's clock.
	fault func(ev Event, start time.Time) Fault
}

var eventKinds = map[Kind]eventKind{}

// registerKind is called from the init function of the file that defines the kind.
func registerKind(k Kind, rules kindRules, fault func(ev Event, start time.Time) Fault) {
	if _, dup := eventKinds[k]; dup {
		panic("netem: kind registered twice: " + string(k))
	}
	eventKinds[k] = eventKind{rules: rules, fault: fault}
}

// Kinds lists the registered scheduled fault kinds, sorted.
func Kinds() []Kind {
	ks := make([]Kind, 0, len(eventKinds))
	for k := range eventKinds {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// ErrUnknownKind is returned for an event whose Kind is not registered.
var ErrUnknownKind = errors.New("netem: unknown event kind")

// ErrScheduleTooLong is returned when a schedule would exceed maxScheduleEvents.
var ErrScheduleTooLong = errors.New("netem: schedule too long")

// minGap bounds how often a recurring event may fire, so generated schedules stay
// finite and cheap.
const minGap = time.Millisecond

// maxScheduleEvents bounds NewSchedule's result.
const maxScheduleEvents = 1 << 20

func kindProblem(k Kind) error {
	return fmt.Errorf("%w %q (known: %v)", ErrUnknownKind, k, Kinds())
}

// validate reports every problem with the spec.
func (s EventSpec) validate() []error {
	var errs []error
	ek, ok := eventKinds[s.Kind]
	if !ok {
		errs = append(errs, kindProblem(s.Kind))
	}
	if s.Gap.Min < minGap {
		errs = append(errs, fmt.Errorf("gap min %v is below %v", s.Gap.Min, minGap))
	}
	if s.Gap.Max < s.Gap.Min {
		errs = append(errs, fmt.Errorf("gap max %v is below min %v", s.Gap.Max, s.Gap.Min))
	}
	if s.Duration.Max < s.Duration.Min {
		errs = append(errs, fmt.Errorf("duration max %v is below min %v", s.Duration.Max, s.Duration.Min))
	}
	if s.Bytes.Max < s.Bytes.Min {
		errs = append(errs, fmt.Errorf("bytes max %d is below min %d", s.Bytes.Max, s.Bytes.Min))
	}
	if !ok {
		return errs
	}
	switch {
	case ek.rules.lasts && s.Duration.Min <= 0:
		errs = append(errs, fmt.Errorf("%s lasts: duration min must be > 0, got %v", s.Kind, s.Duration.Min))
	case !ek.rules.lasts && (s.Duration.Min != 0 || s.Duration.Max != 0):
		errs = append(errs, fmt.Errorf("%s is instantaneous: duration must be 0, got %v–%v", s.Kind, s.Duration.Min, s.Duration.Max))
	}
	switch {
	case ek.rules.counts && s.Bytes.Min <= 0:
		errs = append(errs, fmt.Errorf("%s counts bytes: bytes min must be > 0, got %d", s.Kind, s.Bytes.Min))
	case !ek.rules.counts && (s.Bytes.Min != 0 || s.Bytes.Max != 0):
		errs = append(errs, fmt.Errorf("%s does not use bytes, got %d–%d", s.Kind, s.Bytes.Min, s.Bytes.Max))
	}
	return errs
}

// Validate reports every problem with the schedule at once.
func (s Schedule) Validate() error {
	var errs []error
	for i, ev := range s {
		prefix := fmt.Sprintf("schedule[%d] (%s at %v)", i, ev.Kind, ev.At)
		if ev.At < 0 {
			errs = append(errs, fmt.Errorf("%s: negative time", prefix))
		}
		ek, ok := eventKinds[ev.Kind]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %w", prefix, kindProblem(ev.Kind)))
			continue
		}
		if ek.rules.lasts != (ev.Duration > 0) {
			errs = append(errs, fmt.Errorf("%s: duration %v does not suit the kind (lasts=%t)", prefix, ev.Duration, ek.rules.lasts))
		}
		if ek.rules.counts != (ev.Bytes > 0) {
			errs = append(errs, fmt.Errorf("%s: bytes %d does not suit the kind (counts bytes=%t)", prefix, ev.Bytes, ek.rules.counts))
		}
	}
	return errors.Join(errs...)
}

// NewSchedule lists the events that profile p generates for seed within horizon of
// the link's start. It is a pure function: the same arguments give the same
// schedule. A Link generates the same events lazily, without a horizon.
func NewSchedule(p Profile, seed uint64, horizon time.Duration) (Schedule, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	g := newGenerator(p.Events, seed)
	var s Schedule
	for {
		ev, ok := g.peek()
		if !ok || ev.At > horizon {
			return s, nil
		}
		if len(s) == maxScheduleEvents {
			return nil, fmt.Errorf("%w: more than %d events within %v", ErrScheduleTooLong, maxScheduleEvents, horizon)
		}
		s = append(s, ev)
		g.pop()
	}
}

// eventSource yields a link's events in order.
type eventSource interface {
	peek() (Event, bool)
	pop()
}

type fixedSource struct{ events Schedule }

func (f *fixedSource) peek() (Event, bool) {
	if len(f.events) == 0 {
		return Event{}, false
	}
	return f.events[0], true
}

func (f *fixedSource) pop() { f.events = f.events[1:] }

// generator merges one renewal process per EventSpec. Each spec draws from its own
// generator, so adding a spec does not move the others' events.
type generator struct{ specs []*specGen }

type specGen struct {
	spec  EventSpec
	rng   *rand.Rand
	next  Event
	ended time.Duration // when the previous event ended
}

func newGenerator(specs []EventSpec, seed uint64) *generator {
	g := &generator{}
	for i, sp := range specs {
		sg := &specGen{spec: sp, rng: newRand(seed, nameHash("schedule"), uint64(i), nameHash(string(sp.Kind)))}
		sg.draw()
		g.specs = append(g.specs, sg)
	}
	return g
}

func (sg *specGen) draw() {
	at := sg.ended + drawSpan(sg.rng, sg.spec.Gap)
	ev := Event{At: at, Kind: sg.spec.Kind}
	if eventKinds[sg.spec.Kind].rules.lasts {
		ev.Duration = drawSpan(sg.rng, sg.spec.Duration)
	}
	if eventKinds[sg.spec.Kind].rules.counts {
		ev.Bytes = drawBytes(sg.rng, sg.spec.Bytes)
	}
	sg.next = ev
	sg.ended = at + ev.Duration
}

func (g *generator) earliest() *specGen {
	var best *specGen
	for _, sg := range g.specs { // ties go to the earlier spec: deterministic
		if best == nil || sg.next.At < best.next.At {
			best = sg
		}
	}
	return best
}

func (g *generator) peek() (Event, bool) {
	if sg := g.earliest(); sg != nil {
		return sg.next, true
	}
	return Event{}, false
}

func (g *generator) pop() {
	if sg := g.earliest(); sg != nil {
		sg.draw()
	}
}

func drawSpan(r *rand.Rand, s Span) time.Duration {
	if s.Max <= s.Min {
		return s.Min
	}
	return s.Min + time.Duration(r.Int64N(int64(s.Max-s.Min)+1))
}

func drawBytes(r *rand.Rand, b ByteRange) int64 {
	if b.Max <= b.Min {
		return b.Min
	}
	return b.Min + r.Int64N(b.Max-b.Min+1)
}

// sortedCopy returns s ordered by At (stable), for schedules given by users.
func (s Schedule) sortedCopy() Schedule {
	c := slices.Clone(s)
	sort.SliceStable(c, func(i, j int) bool { return c[i].At < c[j].At })
	return c
}
