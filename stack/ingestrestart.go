package stack

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camstorm/camstorm/stack/ingest"
)

// RestartIngest restarts the ingest gracefully: open PutMedia sessions end
// (after the fragments they got are stored), GetMedia readers end, and a
// new ingest starts on the same data directory behind the same listeners
// and URLs; streams and persisted fragments survive. Requests that arrive
// meanwhile get 503. In containers mode the ingest container is stopped
// (SIGTERM) and started again.
func (s *Stack) RestartIngest(ctx context.Context) error {
	if s.cs != nil {
		if err := s.cs.ingest.Stop(ctx, 10*time.Second); err != nil {
			return fmt.Errorf("stack: restarting the ingest: %w", err)
		}
		return s.cs.ingest.Start(ctx)
	}
	return s.replaceIngest(func(old *ingest.Server) error { return old.Close() })
}

// CrashIngest crashes the ingest: open connections to the control and
// data planes are cut without a goodbye, whatever the ingest held only in
// memory is lost (fragments received but not yet stored, the queue of the
// defect persisted-before-durable), and a new ingest starts on the same
// data directory behind the same listeners and URLs. In containers mode
// the ingest container is killed (SIGKILL) and started again.
func (s *Stack) CrashIngest(ctx context.Context) error {
	if s.cs != nil {
		if err := s.cs.ingest.Kill(ctx); err != nil {
			return fmt.Errorf("stack: crashing the ingest: %w", err)
		}
		return s.cs.ingest.Start(ctx)
	}
	return s.replaceIngest(func(old *ingest.Server) error {
		err := old.Crash()
		s.ingestConns.cut()
		return err
	})
}

// replaceIngest stops the running ingest with stop and puts a new one on
// the same data directory behind the listeners.
func (s *Stack) replaceIngest(stop func(old *ingest.Server) error) error {
	s.ingestMu.Lock()
	defer s.ingestMu.Unlock()
	if s.ingest == nil || s.controlH == nil {
		return errors.New("stack: this stack runs no ingest to restart")
	}
	if s.ingestClosed {
		return errors.New("stack: the stack is closed")
	}
	for _, h := range []*swapHandler{s.controlH, s.dataH, s.metricsH} {
		h.set(unavailable)
	}
	if err := stop(s.ingest); err != nil {
		s.logf("stack: stopping the ingest: %v", err)
	}
	cfg := s.ingestCfg
	// The old ingest's metrics stay in its own registry; the new one gets a
	// fresh one (a registry refuses the same metrics twice).
	cfg.Registerer, cfg.Gatherer = nil, nil
	in, err := ingest.New(cfg)
	if err != nil {
		return fmt.Errorf("stack: starting the ingest again: %w", err)
	}
	s.ingest = in
	s.controlH.set(in.ControlHandler())
	s.dataH.set(in.DataHandler())
	s.metricsH.set(in.MetricsHandler())
	return nil
}

// unavailable answers while the ingest is being replaced.
var unavailable http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", "ServiceUnavailableException")
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"Message":"the ingest is restarting; retry"}`))
})

// swapHandler serves through the handler set last.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func newSwapHandler(h http.Handler) *swapHandler {
	s := &swapHandler{}
	s.set(h)
	return s
}

func (s *swapHandler) set(h http.Handler) { s.h.Store(&h) }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}

// connSet tracks a server's open connections (http.Server.ConnState).
type connSet struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (c *connSet) track(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch state {
	case http.StateNew:
		c.conns[conn] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(c.conns, conn)
	}
}

// cut closes every tracked connection's socket without a TLS close_notify.
func (c *connSet) cut() {
	c.mu.Lock()
	conns := make([]net.Conn, 0, len(c.conns))
	for conn := range c.conns {
		conns = append(conns, conn)
	}
	c.mu.Unlock()
	for _, conn := range conns {
		if tc, ok := conn.(*tls.Conn); ok {
			_ = tc.NetConn().Close()
			continue
		}
		_ = conn.Close()
	}
}

// sniffListener serves TLS, and plaintext HTTP to connections whose first
// byte is not a TLS handshake record (the deliberate defect plain-http).
type sniffListener struct {
	net.Listener
	cfg   *tls.Config
	conns chan net.Conn
	errs  chan error
	done  chan struct{}
	once  sync.Once
}

// tlsHandshakeRecord is the first byte of every TLS connection.
const tlsHandshakeRecord = 0x16

// sniffTimeout bounds the wait for a new connection's first byte.
const sniffTimeout = 10 * time.Second

func newSniffListener(ln net.Listener, cfg *tls.Config) net.Listener {
	l := &sniffListener{Listener: ln, cfg: cfg, conns: make(chan net.Conn), errs: make(chan error, 1), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *sniffListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.errs <- err:
			case <-l.done:
			}
			return
		}
		go l.sniff(c)
	}
}

// sniff reads the first byte without consuming it and hands the
// connection on as TLS or as plain.
func (l *sniffListener) sniff(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	br := bufio.NewReaderSize(c, 1024)
	first, err := br.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return
	}
	pc := &peekedConn{Conn: c, r: br}
	var out net.Conn = pc
	if first[0] == tlsHandshakeRecord {
		out = tls.Server(pc, l.cfg)
	}
	select {
	case l.conns <- out:
	case <-l.done:
		c.Close()
	}
}

func (l *sniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *sniffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// peekedConn reads through the reader that peeked at its first bytes.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(b []byte) (int, error) { return c.r.Read(b) }
