package netem

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Errors a camera sees on a faulty connection. They wrap the errno a real socket
// would report, so errors.Is(err, syscall.ECONNRESET) holds for both.
var (
	ErrConnReset = fmt.Errorf("netem: connection reset: %w", syscall.ECONNRESET)
	ErrCut       = fmt.Errorf("netem: connection cut after its byte budget: %w", syscall.ECONNRESET)
	ErrOffline   = fmt.Errorf("netem: link offline: %w", syscall.ENETUNREACH)
)

const (
	// maxChunkBytes is the largest piece of data that moves as one unit; faults see
	// the stream as a sequence of such chunks.
	maxChunkBytes = 16 << 10
	// minChunkBytes bounds LimitChunk from below.
	minChunkBytes = 512
	// maxBatchBytes bounds how much the upstream pump takes off the queue per write.
	maxBatchBytes = 64 << 10
)

// Conn is a connection dialled through a faulty Link. It is both the net.Conn the
// camera uses and the handle faults act on: Attach receives it and uses the
// primitives below (Shape, Reset, BlackHole, CutAfter, Freeze, RefuseDial).
//
// Each direction is a byte-bounded queue of chunks with a due time; one goroutine
// per direction moves chunks between the queue and the real connection when they
// fall due, so latency is pipelined and a full queue blocks the writer like a full
// socket buffer. Close drops what is still queued.
type Conn struct {
	link    *Link
	index   uint64
	network string

	mu          sync.Mutex
	raw         net.Conn
	established bool
	closed      bool
	dead        error // reset or cut: every later call returns it
	blackHole   bool
	refusal     error
	refuseAt    time.Time
	dialHold    time.Time
	done        chan struct{} // closed once the conn is closed or dead
	finished    bool
	streams     [2]stream

	readMu, writeMu sync.Mutex
	readDL, writeDL deadline
	pumps           sync.WaitGroup
}

var _ net.Conn = (*Conn)(nil)

// stream is one direction's queue. Up: Write produces, the up pump consumes.
// Down: the down pump produces, Read consumes.
type stream struct {
	q         []chunk
	queued    int // bytes in q
	limit     int
	maxChunk  int
	shapers   []ShapeFunc
	lastDue   time.Time
	holdUntil time.Time
	cutLeft   int64 // bytes until the connection is cut; -1 when no cut is armed
	cutQueued bool  // the chunk that ends at the cut point is queued

	toConsumer chan struct{}
	toProducer chan struct{}
}

type chunk struct {
	buf  *[]byte
	data []byte
	due  time.Time
	end  error // down only: the real connection ended with this error after the data
	cut  bool  // up only: the connection dies once this chunk is on the wire
}

func newConn(l *Link, index uint64, network string) *Conn {
	c := &Conn{link: l, index: index, network: network, done: make(chan struct{})}
	for i := range c.streams {
		c.streams[i] = stream{
			limit:      l.cfg.queueBytes,
			maxChunk:   maxChunkBytes,
			cutLeft:    -1,
			toConsumer: make(chan struct{}, 1),
			toProducer: make(chan struct{}, 1),
		}
	}
	return c
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// --- primitives for faults ---

// Index is the connection's number on its link, counting from 0.
func (c *Conn) Index() uint64 { return c.index }

// Clock is the link's clock.
func (c *Conn) Clock() Clock { return c.link.clock }

// Rand returns a generator seeded from the link's seed, this connection's index and
// name, so a fault's draws replay and do not depend on other faults' draws.
func (c *Conn) Rand(name string) *rand.Rand {
	return newRand(c.link.seed, nameHash("conn"), c.index, nameHash(name))
}

// Shape adds f to the shape functions of direction d.
func (c *Conn) Shape(d Direction, f ShapeFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.streams[d]
	s.shapers = append(s.shapers, f)
}

// LimitChunk makes direction d move data in chunks of at most n bytes (at least
// 512), so slow links pace smoothly instead of in large bursts.
func (c *Conn) LimitChunk(d Direction, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n = max(n, minChunkBytes)
	s := &c.streams[d]
	s.maxChunk = min(s.maxChunk, n)
}

// Established reports whether the real connection exists yet (false while dialling).
func (c *Conn) Established() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.established
}

// RecordStall adds d to the link's stalled time.
func (c *Conn) RecordStall(d time.Duration) {
	if d > 0 {
		c.link.stats.stalled.Add(int64(d))
	}
}

// Reset kills the connection abruptly: the peer sees a TCP RST, the camera's next
// Read or Write fails with ErrConnReset, queued data is lost.
func (c *Conn) Reset() { c.die(ErrConnReset, &c.link.stats.resets) }

// BlackHole makes the connection half-open: from now on writes are accepted and
// discarded, reads block without error (until a deadline or Close), and nothing more
// is sent or read on the real connection, so the peer sees silence.
func (c *Conn) BlackHole() {
	c.mu.Lock()
	if c.closed || c.dead != nil || c.blackHole {
		c.mu.Unlock()
		return
	}
	c.blackHole = true
	c.dropQueues()
	c.mu.Unlock()
	c.wakeAll()
	c.link.stats.blackHoles.Add(1)
}

// CutAfter arms a cut: the connection dies (RST to the peer, ErrCut to the camera)
// once n more bytes written by the camera have gone out. An earlier armed cut wins
// if it comes sooner.
func (c *Conn) CutAfter(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.streams[Up]
	if c.closed || c.dead != nil || c.blackHole || s.cutQueued || n < 0 {
		return
	}
	if s.cutLeft < 0 || n < s.cutLeft {
		s.cutLeft = n
	}
}

// Freeze stops data in both directions until until, without losing any (a handover
// or a Wi-Fi roam: TCP retransmits once the path is back). A dial in progress waits.
func (c *Conn) Freeze(until time.Time) {
	c.mu.Lock()
	if c.closed || c.dead != nil || c.blackHole {
		c.mu.Unlock()
		return
	}
	if !c.established {
		c.dialHold = later(c.dialHold, until)
	}
	for i := range c.streams {
		c.streams[i].holdUntil = later(c.streams[i].holdUntil, until)
	}
	c.mu.Unlock()
	c.wakeAll()
	c.RecordStall(until.Sub(c.link.clock.Now()))
}

// RefuseDial makes a connection that is still being dialled fail with err at time
// at (a connect attempt into a dead network). It does nothing once established.
func (c *Conn) RefuseDial(at time.Time, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.established || c.refusal != nil {
		return
	}
	c.refusal, c.refuseAt = err, at
}

// --- lifecycle ---

// establish adopts the real connection, applies events that were waiting for one
// and starts the pumps. It fails if a fault refused or killed the dial meanwhile.
func (c *Conn) establish(raw net.Conn) error {
	l := c.link
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		raw.Close()
		return ErrLinkClosed
	}
	c.mu.Lock()
	if c.refusal != nil {
		c.mu.Unlock()
		raw.Close()
		return c.refusal
	}
	if c.dead != nil {
		c.mu.Unlock()
		abort(raw)
		return c.dead
	}
	c.raw, c.established = raw, true
	c.mu.Unlock()
	l.applyPending(c)
	c.pumps.Add(2)
	l.wg.Add(2)
	go c.pumpUp()
	go c.pumpDown()
	return nil
}

func (c *Conn) pumpDone() {
	c.pumps.Done()
	c.link.wg.Done()
}

// abort closes raw so that the peer sees RST rather than FIN.
func abort(raw net.Conn) {
	if tc, ok := raw.(interface{ SetLinger(int) error }); ok {
		_ = tc.SetLinger(0)
	}
	raw.Close()
}

// die kills the connection with err if it is alive, counting it in counter (if
// set) before the peer can notice.
func (c *Conn) die(err error, counter *atomic.Int64) {
	c.mu.Lock()
	if c.closed || c.dead != nil {
		c.mu.Unlock()
		return
	}
	c.dead = err
	c.finish()
	raw := c.raw
	c.mu.Unlock()
	if counter != nil {
		counter.Add(1)
	}
	if raw != nil {
		abort(raw)
	}
}

// finish wakes everyone and frees queued data; c.mu is held.
func (c *Conn) finish() {
	if !c.finished {
		c.finished = true
		close(c.done)
	}
	c.dropQueues()
}

func (c *Conn) dropQueues() {
	for i := range c.streams {
		s := &c.streams[i]
		for j := range s.q {
			putBuf(s.q[j].buf)
			s.q[j] = chunk{}
		}
		s.q, s.queued = s.q[:0], 0
	}
}

func (c *Conn) wakeAll() {
	for i := range c.streams {
		signal(c.streams[i].toConsumer)
		signal(c.streams[i].toProducer)
	}
}

// stopped reports whether the pumps have nothing more to do; c.mu is held.
func (c *Conn) stopped() bool { return c.closed || c.dead != nil || c.blackHole }

// failure is the error every call returns from now on, if any; c.mu is held.
func (c *Conn) failure() error {
	if c.closed {
		return net.ErrClosed
	}
	return c.dead
}

func (c *Conn) opErr(op string, err error) error {
	oe := &net.OpError{Op: op, Net: c.network, Err: err}
	if c.raw != nil {
		oe.Source, oe.Addr = c.raw.LocalAddr(), c.raw.RemoteAddr()
	}
	return oe
}

// await sleeps until at (if set), a wake-up on wake, the connection ending, or the
// deadline channel dl; it reports whether the deadline passed.
func (c *Conn) await(at time.Time, wake <-chan struct{}, dl <-chan struct{}) bool {
	var fire chan struct{}
	if !at.IsZero() {
		d := at.Sub(c.link.clock.Now())
		if d <= 0 {
			return false
		}
		fire = make(chan struct{})
		t := c.link.clock.AfterFunc(d, func() { close(fire) })
		defer t.Stop()
	}
	select {
	case <-fire:
	case <-wake:
	case <-c.done:
	case <-dl:
		return true
	}
	return false
}

// push queues p (possibly empty) with its due time; c.mu is held.
func (s *stream) push(p []byte, now time.Time, cut bool, end error) {
	due := now
	for _, f := range s.shapers {
		due = f(len(p), due)
	}
	if due.Before(s.lastDue) { // in order, like TCP
		due = s.lastDue
	}
	s.lastDue = due
	ch := chunk{due: due, cut: cut, end: end}
	if len(p) > 0 {
		ch.buf = getBuf(len(p))
		copy(*ch.buf, p)
		ch.data = *ch.buf
	}
	s.q = append(s.q, ch)
	s.queued += len(p)
}

func (s *stream) pop() {
	s.queued -= len(s.q[0].data)
	s.q[0] = chunk{}
	s.q = s.q[1:]
}

// pumpUp writes due upstream chunks to the real connection.
func (c *Conn) pumpUp() {
	defer c.pumpDone()
	s := &c.streams[Up]
	var batch []chunk
	for {
		c.mu.Lock()
		if c.stopped() {
			c.mu.Unlock()
			return
		}
		if len(s.q) == 0 {
			c.mu.Unlock()
			c.await(time.Time{}, s.toConsumer, nil)
			continue
		}
		now := c.link.clock.Now()
		if at := later(s.q[0].due, s.holdUntil); now.Before(at) {
			c.mu.Unlock()
			c.await(at, s.toConsumer, nil)
			continue
		}
		batch = batch[:0]
		for size := 0; len(s.q) > 0 && size < maxBatchBytes; {
			h := s.q[0]
			if now.Before(later(h.due, s.holdUntil)) {
				break
			}
			batch = append(batch, h)
			size += len(h.data)
			s.pop()
			if h.cut {
				break
			}
		}
		raw := c.raw
		c.mu.Unlock()
		signal(s.toProducer)
		for i, ch := range batch {
			if len(ch.data) > 0 {
				n, err := raw.Write(ch.data)
				c.link.stats.bytesUp.Add(int64(n))
				if err != nil {
					releaseChunks(batch[i:])
					var oe *net.OpError
					if errors.As(err, &oe) {
						err = oe.Err // Read and Write add their own OpError
					}
					c.die(err, nil)
					return
				}
			}
			putBuf(ch.buf)
			if ch.cut {
				releaseChunks(batch[i+1:])
				c.die(ErrCut, &c.link.stats.cuts)
				return
			}
		}
	}
}

func releaseChunks(cs []chunk) {
	for i := range cs {
		putBuf(cs[i].buf)
		cs[i] = chunk{}
	}
}

// pumpDown reads the real connection into the downstream queue while it has room.
func (c *Conn) pumpDown() {
	defer c.pumpDone()
	s := &c.streams[Down]
	scratch := getBuf(maxChunkBytes) // pooled: connections come and go often
	defer putBuf(scratch)
	for {
		c.mu.Lock()
		if c.stopped() {
			c.mu.Unlock()
			return
		}
		if s.queued >= s.limit {
			c.mu.Unlock()
			c.await(time.Time{}, s.toProducer, nil)
			continue
		}
		buf, raw := (*scratch)[:s.maxChunk], c.raw
		c.mu.Unlock()
		n, err := raw.Read(buf)
		c.mu.Lock()
		if c.stopped() {
			c.mu.Unlock()
			return
		}
		now := c.link.clock.Now()
		if n > 0 {
			s.push(buf[:n], now, false, nil)
		}
		if err != nil {
			s.push(nil, now, false, err)
		}
		c.mu.Unlock()
		signal(s.toConsumer)
		if err != nil {
			return
		}
	}
}

// --- net.Conn ---

// Read returns downstream data once it is due.
func (c *Conn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	s := &c.streams[Down]
	for {
		dl := c.readDL.wait()
		c.mu.Lock()
		if err := c.failure(); err != nil {
			c.mu.Unlock()
			return 0, c.opErr("read", err)
		}
		if passed(dl) {
			c.mu.Unlock()
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		}
		if len(p) == 0 {
			c.mu.Unlock()
			return 0, nil
		}
		var at time.Time
		if !c.blackHole && len(s.q) > 0 {
			now := c.link.clock.Now()
			at = later(s.q[0].due, s.holdUntil)
			if !now.Before(at) {
				n, end := s.take(p, now)
				c.mu.Unlock()
				if n > 0 {
					signal(s.toProducer)
					c.link.stats.bytesDown.Add(int64(n))
					return n, nil
				}
				if errors.Is(end, io.EOF) {
					return 0, io.EOF
				}
				return 0, end
			}
		}
		c.mu.Unlock()
		if c.await(at, s.toConsumer, dl) {
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		}
	}
}

// take copies due data into p, stopping at an end marker, which it leaves queued so
// later reads see it too; c.mu is held.
func (s *stream) take(p []byte, now time.Time) (int, error) {
	n := 0
	for len(s.q) > 0 && n < len(p) {
		h := &s.q[0]
		if now.Before(later(h.due, s.holdUntil)) {
			break
		}
		if h.end != nil { // data and end markers are separate chunks
			if n == 0 {
				return 0, h.end
			}
			break
		}
		k := copy(p[n:], h.data)
		n += k
		h.data = h.data[k:]
		s.queued -= k
		if len(h.data) == 0 {
			putBuf(h.buf)
			s.pop()
		}
	}
	return n, nil
}

// Write queues p for the network. It returns once p is queued; it blocks while the
// upstream queue is full.
func (c *Conn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	s := &c.streams[Up]
	written := 0
	for written < len(p) {
		dl := c.writeDL.wait()
		c.mu.Lock()
		if err := c.failure(); err != nil {
			c.mu.Unlock()
			return written, c.opErr("write", err)
		}
		if passed(dl) {
			c.mu.Unlock()
			return written, c.opErr("write", os.ErrDeadlineExceeded)
		}
		if c.blackHole || s.cutQueued { // accepted, never sent
			c.mu.Unlock()
			return len(p), nil
		}
		if s.queued >= s.limit {
			c.mu.Unlock()
			if c.await(time.Time{}, s.toProducer, dl) {
				return written, c.opErr("write", os.ErrDeadlineExceeded)
			}
			continue
		}
		n := min(len(p)-written, s.maxChunk)
		cut := false
		if s.cutLeft >= 0 {
			if int64(n) >= s.cutLeft {
				n, cut, s.cutQueued = int(s.cutLeft), true, true
			}
			s.cutLeft -= int64(n)
		}
		s.push(p[written:written+n], c.link.clock.Now(), cut, nil)
		written += n
		c.mu.Unlock()
		signal(s.toConsumer)
		if cut {
			return len(p), nil
		}
	}
	return written, nil
}

// Close closes the connection; queued data is dropped.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opErr("close", net.ErrClosed)
	}
	c.closed = true
	wasDead := c.dead != nil
	c.finish()
	raw := c.raw
	c.mu.Unlock()
	c.readDL.stop()
	c.writeDL.stop()
	var err error
	if raw != nil && !wasDead {
		err = raw.Close()
	}
	c.link.forget(c)
	return err
}

// LocalAddr is the real connection's local address.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr is the real connection's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline sets both deadlines, measured on the link's clock.
func (c *Conn) SetDeadline(t time.Time) error {
	c.readDL.set(c.link.clock, t)
	c.writeDL.set(c.link.clock, t)
	return nil
}

// SetReadDeadline sets the read deadline, measured on the link's clock.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.readDL.set(c.link.clock, t)
	return nil
}

// SetWriteDeadline sets the write deadline, measured on the link's clock.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.writeDL.set(c.link.clock, t)
	return nil
}

// deadline is a channel that is closed when a settable time passes.
type deadline struct {
	mu     sync.Mutex
	gen    uint64
	timer  Timer
	ch     chan struct{}
	passed bool
}

func (d *deadline) set(clock Clock, t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.ch == nil || d.passed {
		d.ch, d.passed = make(chan struct{}), false
	}
	if t.IsZero() {
		return
	}
	dur := t.Sub(clock.Now())
	if dur <= 0 {
		close(d.ch)
		d.passed = true
		return
	}
	gen := d.gen
	d.timer = clock.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen && !d.passed {
			close(d.ch)
			d.passed = true
		}
	})
}

func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}

func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

func passed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
