package netem

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// Switch is the network many cameras share: every connection dialled
// through it can be taken offline at once, as when a site's uplink fails.
// Use its DialContext as a Link's dialer (WithDialer) or as a transport's
// DialContext. It is safe for concurrent use.
type Switch struct {
	dial  DialFunc
	clock Clock

	mu       sync.Mutex
	conns    map[*switchConn]struct{}
	offUntil time.Time
}

// NewSwitch returns a switch that dials with dial (nil: a net.Dialer) and
// reads time from clock (nil: the real clock).
func NewSwitch(dial DialFunc, clock Clock) *Switch {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	if clock == nil {
		clock = SystemClock
	}
	return &Switch{dial: dial, clock: clock, conns: map[*switchConn]struct{}{}}
}

// Outage takes the whole network down for d from now: every open
// connection becomes a black hole (writes vanish, reads hear nothing until
// a deadline or Close), and dials fail with an error wrapping ErrOffline
// until the outage ends (each after at most OfflineDialDelay). An outage
// already running is extended if this one ends later. It does not block.
func (s *Switch) Outage(d time.Duration) {
	if d <= 0 {
		return
	}
	s.mu.Lock()
	if end := s.clock.Now().Add(d); end.After(s.offUntil) {
		s.offUntil = end
	}
	conns := make([]*switchConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.blackHole()
	}
}

// Offline reports how much longer the current outage lasts (0: online).
func (s *Switch) Offline() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.offUntil.Sub(s.clock.Now()), 0)
}

// Open is the number of connections open through the switch.
func (s *Switch) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// DialContext dials addr unless the network is down.
func (s *Switch) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := s.refuse(ctx, network, addr); err != nil {
		return nil, err
	}
	raw, err := s.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := &switchConn{Conn: raw, sw: s, closed: make(chan struct{}), changed: make(chan struct{}, 1)}
	s.mu.Lock()
	down := s.offUntil.After(s.clock.Now())
	if !down {
		s.conns[c] = struct{}{}
	}
	s.mu.Unlock()
	if down { // the outage began while dialling
		raw.Close()
		return nil, s.refusal(network, addr)
	}
	return c, nil
}

// refuse fails a dial during an outage after OfflineDialDelay (or when the
// outage ends, if sooner), as a connect into a dead network does.
func (s *Switch) refuse(ctx context.Context, network, addr string) error {
	left := s.Offline()
	if left <= 0 {
		return nil
	}
	wait := make(chan struct{})
	t := s.clock.AfterFunc(min(left, OfflineDialDelay), func() { close(wait) })
	defer t.Stop()
	select {
	case <-wait:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.refusal(network, addr)
}

func (s *Switch) refusal(network, addr string) error {
	return &net.OpError{Op: "dial", Net: network, Addr: dialAddr{network, addr},
		Err: fmt.Errorf("%w: network-wide outage, %v left", ErrOffline, s.Offline().Round(time.Millisecond))}
}

// switchConn is a connection through a Switch that an outage can turn
// into a black hole.
type switchConn struct {
	net.Conn
	sw *Switch

	mu        sync.Mutex
	hole      bool
	readDL    time.Time
	closeOnce sync.Once
	closed    chan struct{}
	changed   chan struct{} // the read deadline moved
}

func (c *switchConn) blackHole() {
	c.mu.Lock()
	c.hole = true
	c.mu.Unlock()
}

func (c *switchConn) isHole() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hole
}

// Read passes data through until the connection is black-holed; then what
// arrives is dropped and Read waits for the read deadline or Close.
func (c *switchConn) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b)
		if !c.isHole() {
			return n, err
		}
		select {
		case <-c.closed:
			return 0, net.ErrClosed
		default:
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, err
		}
		if err != nil {
			return 0, c.waitHole()
		}
	}
}

// waitHole blocks a black-holed reader whose real connection has ended
// until its deadline passes or the connection is closed.
func (c *switchConn) waitHole() error {
	for {
		c.mu.Lock()
		dl := c.readDL
		c.mu.Unlock()
		var (
			timeout <-chan time.Time
			t       *time.Timer
		)
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return os.ErrDeadlineExceeded
			}
			t = time.NewTimer(d)
			timeout = t.C
		}
		var err error
		select {
		case <-c.closed:
			err = net.ErrClosed
		case <-timeout:
			err = os.ErrDeadlineExceeded
		case <-c.changed:
		}
		if t != nil {
			t.Stop()
		}
		if err != nil {
			return err
		}
	}
}

// Write discards what a black-holed connection is given, as a network
// that swallows packets does until the sender times out.
func (c *switchConn) Write(b []byte) (int, error) {
	if c.isHole() {
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// SetDeadline sets both deadlines.
func (c *switchConn) SetDeadline(t time.Time) error {
	c.noteReadDeadline(t)
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline sets the read deadline, which also bounds a black-holed read.
func (c *switchConn) SetReadDeadline(t time.Time) error {
	c.noteReadDeadline(t)
	return c.Conn.SetReadDeadline(t)
}

func (c *switchConn) noteReadDeadline(t time.Time) {
	c.mu.Lock()
	c.readDL = t
	c.mu.Unlock()
	signal(c.changed)
}

// Close closes the real connection and forgets it.
func (c *switchConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.sw.mu.Lock()
		delete(c.sw.conns, c)
		c.sw.mu.Unlock()
	})
	return c.Conn.Close()
}
