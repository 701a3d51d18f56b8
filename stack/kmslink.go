package stack

import (
	"context"
	"fmt"
	"net"
	"sync"
	"syscall"
)

// kmsLink is the network path from the ingest to its KMS. Cutting it
// partitions the two, as a KMS outage looks from KVS: open connections
// break and new ones are refused, while clients outside the stack still
// reach the KMS.
type kmsLink struct {
	dialer net.Dialer

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

func newKMSLink() *kmsLink { return &kmsLink{conns: map[net.Conn]struct{}{}} }

// DialContext is the ingest KMS client's dialer.
func (l *kmsLink) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if l.isCut() {
		return nil, fmt.Errorf("dial %s: %w (the stack's KMS is partitioned from the ingest)", addr, syscall.ECONNREFUSED)
	}
	c, err := l.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut { // cut while dialling
		c.Close()
		return nil, fmt.Errorf("dial %s: %w (the stack's KMS is partitioned from the ingest)", addr, syscall.ECONNREFUSED)
	}
	tc := &trackedConn{Conn: c, link: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *kmsLink) isCut() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut
}

// setCut cuts (true) or heals (false) the link; cutting closes every open
// connection.
func (l *kmsLink) setCut(cut bool) {
	l.mu.Lock()
	l.cut = cut
	var open []net.Conn
	if cut {
		for c := range l.conns {
			open = append(open, c)
		}
	}
	l.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	link *kmsLink
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.link.mu.Lock()
		delete(c.link.conns, c)
		c.link.mu.Unlock()
	})
	return c.Conn.Close()
}
