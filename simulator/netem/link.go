package netem

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrLinkClosed is returned by dials on a closed Link.
var ErrLinkClosed = errors.New("netem: link closed")

// ErrInvalidOption wraps problems with a Link's options.
var ErrInvalidOption = errors.New("netem: invalid option")

// DialFunc dials a real connection; net.Dialer.DialContext is the default.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Option configures a Link.
type Option func(*linkConfig)

type linkConfig struct {
	clock       Clock
	dial        DialFunc
	schedule    Schedule
	hasSchedule bool
	queueBytes  int
}

// DefaultQueueBytes bounds each direction's queue of a faulty connection: a full
// queue blocks the writer like a full socket buffer. With latency L, one connection
// moves at most QueueBytes/L per direction (as TCP moves at most a window per RTT).
const DefaultQueueBytes = 64 << 10

// WithClock sets the clock (default: the real clock).
func WithClock(c Clock) Option { return func(cfg *linkConfig) { cfg.clock = c } }

// WithDialer sets how real connections are dialled (default: a net.Dialer).
func WithDialer(d DialFunc) Option { return func(cfg *linkConfig) { cfg.dial = d } }

// WithSchedule replaces the events the profile would generate with s, for tests and
// for replaying a recorded run.
func WithSchedule(s Schedule) Option {
	return func(cfg *linkConfig) { cfg.schedule, cfg.hasSchedule = s.sortedCopy(), true }
}

// WithQueueBytes sets the per-direction queue bound (at least 4 KiB).
func WithQueueBytes(n int) Option { return func(cfg *linkConfig) { cfg.queueBytes = n } }

// Link is one camera's network: it dials connections through the profile's faults
// and fires the schedule's events at them. Plug DialContext into
// http.Transport.DialContext; TLS then runs over the faulty connections.
//
// A scheduled event acts on every connection open when it fires. An instantaneous
// event (reset, cut, black hole) that finds none waits for the next connection; a
// lasting one (outage, freeze) also acts on connections dialled while it lasts.
type Link struct {
	profile Profile
	seed    uint64
	cfg     linkConfig
	clock   Clock
	start   time.Time
	perfect bool

	nextIndex atomic.Uint64
	stats     linkStats

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	conns   map[*Conn]struct{}
	source  eventSource
	timer   Timer
	windows []Event // lasting events that have begun and not yet ended
	pending map[Kind]Event
	fired   firedLog
	wg      sync.WaitGroup
}

// NewLink returns a link for one camera with profile p; every random choice derives
// from seed. The schedule's clock starts now.
func NewLink(p Profile, seed uint64, opts ...Option) (*Link, error) {
	cfg := linkConfig{clock: SystemClock, queueBytes: DefaultQueueBytes}
	for _, o := range opts {
		o(&cfg)
	}
	var errs []error
	if err := p.Validate(); err != nil {
		errs = append(errs, err)
	}
	if cfg.clock == nil {
		errs = append(errs, fmt.Errorf("%w: nil clock", ErrInvalidOption))
	}
	if cfg.queueBytes < 4<<10 {
		errs = append(errs, fmt.Errorf("%w: queue bytes %d is below 4096", ErrInvalidOption, cfg.queueBytes))
	}
	if cfg.hasSchedule {
		if err := cfg.schedule.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidOption, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.dial == nil {
		cfg.dial = (&net.Dialer{}).DialContext
	}
	l := &Link{
		profile: p,
		seed:    seed,
		cfg:     cfg,
		clock:   cfg.clock,
		start:   cfg.clock.Now(),
		closing: make(chan struct{}),
		conns:   map[*Conn]struct{}{},
		pending: map[Kind]Event{},
	}
	l.stats.init()
	if cfg.hasSchedule {
		l.source = &fixedSource{events: cfg.schedule}
	} else {
		l.source = newGenerator(p.Events, seed)
	}
	l.perfect = len(p.Faults) == 0 && (cfg.hasSchedule && len(cfg.schedule) == 0 || !cfg.hasSchedule && len(p.Events) == 0)
	l.mu.Lock()
	l.fireDue(l.start)
	l.mu.Unlock()
	return l, nil
}

// Profile is the link's profile.
func (l *Link) Profile() Profile { return l.profile }

// Seed is the link's seed.
func (l *Link) Seed() uint64 { return l.seed }

// Start is when the link's schedule began, on its clock.
func (l *Link) Start() time.Time { return l.start }

// DialContext dials addr through the link's faults. On a perfect link it returns
// the real connection unwrapped.
func (l *Link) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	l.stats.dials.Add(1)
	if l.perfect {
		if l.isClosed() {
			return nil, ErrLinkClosed
		}
		return l.cfg.dial(ctx, network, addr)
	}
	c, err := l.register(network)
	if err != nil {
		return nil, err
	}
	for {
		c.mu.Lock()
		refusal, refuseAt, hold := c.refusal, c.refuseAt, c.dialHold
		c.mu.Unlock()
		if refusal != nil {
			err := l.sleepUntil(ctx, refuseAt)
			l.forget(c)
			if err != nil {
				return nil, err
			}
			l.stats.dialsRefused.Add(1)
			return nil, &net.OpError{Op: "dial", Net: network, Addr: dialAddr{network, addr}, Err: refusal}
		}
		if !hold.After(l.clock.Now()) {
			break
		}
		if err := l.sleepUntil(ctx, hold); err != nil {
			l.forget(c)
			return nil, err
		}
	}
	raw, err := l.cfg.dial(ctx, network, addr)
	if err != nil {
		l.forget(c)
		return nil, err
	}
	if err := c.establish(raw); err != nil {
		l.forget(c)
		if errors.Is(err, ErrOffline) {
			l.stats.dialsRefused.Add(1)
		}
		return nil, &net.OpError{Op: "dial", Net: network, Addr: dialAddr{network, addr}, Err: err}
	}
	return c, nil
}

// register creates the connection record and attaches the continuous faults and
// the lasting events in force.
func (l *Link) register(network string) (*Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrLinkClosed
	}
	now := l.clock.Now()
	l.fireDue(now)
	c := newConn(l, l.nextIndex.Add(1)-1, network)
	for _, f := range l.profile.Faults {
		f.Attach(c)
	}
	for _, ev := range l.windows {
		eventKinds[ev.Kind].fault(ev, l.start.Add(ev.At)).Attach(c)
	}
	l.conns[c] = struct{}{}
	return c, nil
}

// applyPending gives a newly established connection the instantaneous events that
// found no connection when they fired; l.mu is held.
func (l *Link) applyPending(c *Conn) {
	if len(l.pending) == 0 {
		return
	}
	now := l.clock.Now()
	for _, k := range Kinds() { // a fixed order, for replay
		ev, ok := l.pending[k]
		if !ok {
			continue
		}
		delete(l.pending, k)
		eventKinds[k].fault(ev, l.start.Add(ev.At)).Attach(c)
		l.record(ev, now, 1)
	}
}

func (l *Link) forget(c *Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

func (l *Link) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// fireDue applies every event due by now and arms the timer for the next; l.mu is
// held.
func (l *Link) fireDue(now time.Time) {
	if l.closed {
		return
	}
	live := l.windows[:0]
	for _, w := range l.windows {
		if l.start.Add(w.At + w.Duration).After(now) {
			live = append(live, w)
		}
	}
	l.windows = live
	for {
		ev, ok := l.source.peek()
		if !ok || l.start.Add(ev.At).After(now) {
			break
		}
		l.source.pop()
		l.apply(ev, now)
	}
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	if ev, ok := l.source.peek(); ok {
		l.timer = l.clock.AfterFunc(l.start.Add(ev.At).Sub(now), l.onTimer)
	}
}

func (l *Link) onTimer() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fireDue(l.clock.Now())
}

func (l *Link) apply(ev Event, now time.Time) {
	ek := eventKinds[ev.Kind]
	f := ek.fault(ev, l.start.Add(ev.At))
	n := 0
	for c := range l.conns {
		if c.alive() {
			f.Attach(c)
			n++
		}
	}
	if ek.rules.lasts {
		if l.start.Add(ev.At + ev.Duration).After(now) {
			l.windows = append(l.windows, ev)
		}
	} else if n == 0 {
		l.pending[ev.Kind] = ev
		return
	}
	l.record(ev, now, n)
}

func (c *Conn) alive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed && c.dead == nil
}

// sleepUntil waits on the link's clock, unless ctx ends or the link closes.
func (l *Link) sleepUntil(ctx context.Context, t time.Time) error {
	d := t.Sub(l.clock.Now())
	if d <= 0 {
		return nil
	}
	fire := make(chan struct{})
	tm := l.clock.AfterFunc(d, func() { close(fire) })
	defer tm.Stop()
	select {
	case <-fire:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.closing:
		return ErrLinkClosed
	}
}

// Close stops the schedule, closes every open connection and waits until their
// goroutines have ended. Connections of a perfect link are not tracked.
func (l *Link) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.closing)
	if l.timer != nil {
		l.timer.Stop()
	}
	conns := make([]*Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	l.wg.Wait()
	return nil
}

type dialAddr struct{ network, addr string }

func (a dialAddr) Network() string { return a.network }
func (a dialAddr) String() string  { return a.addr }
