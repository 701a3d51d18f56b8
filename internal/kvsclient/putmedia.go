package kvsclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
)

// Buffer sizes of one PutMedia connection: small, because a simulated
// fleet holds thousands of them. ACK lines are about 200 bytes; the PIC
// reads them in blocks of at most 1 KiB.
const (
	ackReadBuffer = 1 << 10
	// connectTimeout is the PIC's connect timeout (kvs-protocol.md §1.1).
	connectTimeout = 5 * time.Second
)

// responseHeadTimeout bounds sending the request head and getting the
// service's status line: the service answers before reading the body. A
// variable for the tests.
var responseHeadTimeout = 15 * time.Second

// PutMedia is one open PutMedia connection: write MKV to it, read ACKs from
// it. It speaks HTTP/1.1 on its own connection instead of going through
// net/http, whose streaming request bodies cost two goroutines and a 32 KiB
// copy buffer per connection. Write, CloseWrite and Close may be called
// from one goroutine while another calls NextAck.
type PutMedia struct {
	conn net.Conn
	resp *http.Response
	acks *bufio.Reader

	mu     sync.Mutex // serialises writes, and guards closed against Close from another goroutine
	closed bool
	werr   error
}

// StartPutMedia opens a PutMedia request against dataEndpoint and returns
// once the service has answered with its status line (it answers before
// reading the body). A non-200 answer is returned as *kvsapi.Exception.
// The connection is dialled with hc's transport settings (TLS trust and
// DialContext) when hc has an *http.Transport, and the request is signed
// when hc's transport is a SigningTransport.
func StartPutMedia(ctx context.Context, hc *http.Client, dataEndpoint string, o PutMediaOptions) (*PutMedia, error) {
	u, err := url.Parse(dataEndpoint + kvsapi.PathPutMedia)
	if err != nil {
		return nil, fmt.Errorf("putMedia: data endpoint %q: %w", dataEndpoint, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("putMedia: data endpoint %q: scheme must be https or http", dataEndpoint)
	}
	conn, err := dial(ctx, hc, u)
	if err != nil {
		return nil, err
	}
	pm := &PutMedia{conn: conn}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	// A connection that goes silent before the service answers (a half-open
	// network) must not hold the producer forever: the head gets a bound.
	_ = conn.SetDeadline(time.Now().Add(responseHeadTimeout))
	if err := pm.writeHead(ctx, hc, u, o); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(conn, ackReadBuffer)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodPost})
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("putMedia: reading the response head: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		conn.Close()
		return nil, exception(resp, data)
	}
	if !stop() {
		conn.Close()
		return nil, ctx.Err()
	}
	pm.resp, pm.acks = resp, bufio.NewReaderSize(resp.Body, ackReadBuffer)
	return pm, nil
}

func dial(ctx context.Context, hc *http.Client, u *url.URL) (net.Conn, error) {
	var (
		dialContext = (&net.Dialer{Timeout: connectTimeout}).DialContext
		tlsConf     *tls.Config
	)
	if tr, _ := transportOf(hc); tr != nil {
		if tr.DialContext != nil {
			dialContext = tr.DialContext
		}
		tlsConf = tr.TLSClientConfig
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), map[string]string{"https": "443", "http": "80"}[u.Scheme])
	}
	dctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := dialContext(dctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("putMedia: connecting to %s: %w", host, err)
	}
	if u.Scheme == "http" {
		return conn, nil
	}
	cfg := &tls.Config{}
	if tlsConf != nil {
		cfg = tlsConf.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	cfg.NextProtos = []string{"http/1.1"}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(dctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("putMedia: TLS handshake with %s: %w", host, err)
	}
	return tc, nil
}

func (p *PutMedia) writeHead(ctx context.Context, hc *http.Client, u *url.URL, o PutMediaOptions) error {
	if o.TimecodeType == "" {
		o.TimecodeType = kvsapi.TimecodeTypeAbsolute
	}
	if o.ProducerTime.IsZero() {
		o.ProducerTime = time.Now()
	}
	h := http.Header{}
	h.Set(kvsapi.HeaderStreamName, o.StreamName)
	h.Set(kvsapi.HeaderFragmentTimecodeType, o.TimecodeType)
	h.Set(kvsapi.HeaderProducerStartTime, strconv.FormatFloat(float64(o.ProducerTime.UnixMilli())/1000, 'f', 3, 64))
	h.Set(kvsapi.HeaderAckRequired, "1")
	h.Set("User-Agent", "camstorm")
	for k, v := range o.Header {
		h[k] = v
	}
	if _, st := transportOf(hc); st != nil {
		req := &http.Request{Method: http.MethodPost, URL: u, Host: u.Host, Header: h}
		if err := st.sign(ctx, req, EmptyPayloadHash); err != nil {
			return fmt.Errorf("putMedia: %w", err)
		}
	}
	var head bytes.Buffer
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n", u.RequestURI(), u.Host)
	if err := h.Write(&head); err != nil {
		return err
	}
	head.WriteString("\r\n")
	if _, err := p.conn.Write(head.Bytes()); err != nil {
		return fmt.Errorf("putMedia: sending the request head: %w", err)
	}
	return nil
}

// chunkPool holds the scratch buffers chunks are framed in, so a
// connection keeps no write buffer of its own between writes.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// errClosed is returned by writes after Close.
var errClosed = errors.New("putMedia: connection closed")

// Write sends b as one HTTP chunk and flushes it: a camera sends each frame
// as it is captured.
func (p *PutMedia) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.usable(); err != nil {
		return 0, err
	}
	// One write per chunk: one TLS record for a frame that fits one.
	buf := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(buf)
	c := strconv.AppendUint((*buf)[:0], uint64(len(b)), 16)
	c = append(c, '\r', '\n')
	c = append(c, b...)
	c = append(c, '\r', '\n')
	*buf = c
	if _, err := p.conn.Write(c); err != nil {
		p.werr = err
		return 0, err
	}
	return len(b), nil
}

func (p *PutMedia) usable() error {
	switch {
	case p.closed:
		return errClosed
	case p.werr != nil:
		return p.werr
	}
	return nil
}

// SetWriteDeadline bounds the writes that follow (zero: no bound).
func (p *PutMedia) SetWriteDeadline(t time.Time) error { return p.conn.SetWriteDeadline(t) }

// CloseWrite ends the request body; ACKs keep arriving until the service
// closes the response.
func (p *PutMedia) CloseWrite() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.usable(); err != nil {
		return err
	}
	if _, err := p.conn.Write([]byte("0\r\n\r\n")); err != nil {
		p.werr = err
		return err
	}
	p.werr = errors.New("putMedia: body already closed")
	return nil
}

// Close aborts the connection; a blocked Write or NextAck returns.
func (p *PutMedia) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return p.conn.Close()
}

// NextAck blocks for the next ACK line. It returns io.EOF once the service
// has ended the response.
func (p *PutMedia) NextAck() (kvsapi.Ack, error) {
	for {
		line, err := p.acks.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return kvsapi.Ack{}, fmt.Errorf("putMedia: ACK line longer than %d bytes", p.acks.Size())
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			return kvsapi.ParseAck(line)
		}
		if err != nil {
			return kvsapi.Ack{}, err
		}
	}
}
