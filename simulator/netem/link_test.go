package netem

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eventsOnly is a profile with no continuous faults; tests give it a schedule.
var eventsOnly = Profile{Name: "events-only"}

func TestPerfectLinkDialsTheRawConnection(t *testing.T) {
	srv := listen(t)
	l := newTestLink(t, Profile{Name: "perfect"}, 1)
	c := dial(t, l, srv.addr())
	_, isTCP := c.(*net.TCPConn)
	require.True(t, isTCP, "perfect link must not wrap: got %T", c)
	require.Equal(t, int64(1), l.Stats().Dials)
}

func TestDataCrossesAFaultyLinkIntact(t *testing.T) {
	srv := listen(t)
	p, err := ProfileByName("wifi-lossy")
	require.NoError(t, err)
	l := newTestLink(t, p, 5)
	c := dial(t, l, srv.addr())
	go echo(srv.accept(t))

	want := make([]byte, 300<<10)
	for i := range want {
		want[i] = byte(i * 7)
	}
	go func() { _, _ = c.Write(want) }()
	got := make([]byte, len(want))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "echoed bytes differ")
	st := l.Stats()
	require.Equal(t, int64(len(want)), st.BytesUp)
	require.Equal(t, int64(len(want)), st.BytesDown)
}

func TestLatencyAddsAtLeastTheDelayEachWay(t *testing.T) {
	srv := listen(t)
	const delay, jitter = 40 * time.Millisecond, 10 * time.Millisecond
	l := newTestLink(t, Profile{Faults: []Fault{Latency{Delay: delay, Jitter: jitter}}}, 1)
	c := dial(t, l, srv.addr())
	go echo(srv.accept(t))
	buf := make([]byte, 1)
	for range 5 {
		start := time.Now()
		_, err := c.Write([]byte{'x'})
		require.NoError(t, err)
		_, err = io.ReadFull(c, buf)
		require.NoError(t, err)
		require.GreaterOrEqual(t, time.Since(start), 2*(delay-jitter), "round trip through two one-way delays")
	}
}

// With a manual clock nothing moves until time does: data written in many chunks
// at one instant must all arrive after a single delay, not one delay per chunk.
func TestLatencyIsPipelined(t *testing.T) {
	srv := listen(t)
	mc := NewManualClock(epoch)
	l := newTestLink(t, Profile{Faults: []Fault{Latency{Delay: time.Second}}}, 1, WithClock(mc), WithQueueBytes(1<<20))
	c := dial(t, l, srv.addr())
	peer := srv.accept(t)

	payload := bytes.Repeat([]byte("pipelined"), 20000) // 180 kB: a dozen chunks
	n, err := c.Write(payload)
	require.NoError(t, err)
	require.Equal(t, len(payload), n)
	require.Zero(t, l.Stats().BytesUp, "nothing may leave before the delay")

	waitTimers(t, mc, 1)
	mc.Advance(time.Second)
	got := make([]byte, len(payload))
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.ReadFull(peer, got)
	require.NoError(t, err, "everything written at t0 is due at t0+delay")
	require.Equal(t, payload, got)
}

func TestFullQueueBlocksTheWriter(t *testing.T) {
	srv := listen(t)
	mc := NewManualClock(epoch)
	l := newTestLink(t, Profile{Faults: []Fault{Latency{Delay: time.Second}}}, 1, WithClock(mc), WithQueueBytes(8<<10))
	c := dial(t, l, srv.addr())
	peer := srv.accept(t)

	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, 64<<10))
		wrote <- err
	}()
	waitTimers(t, mc, 1) // the pump sleeps until the first chunk is due
	select {
	case err := <-wrote:
		t.Fatalf("Write returned (%v) with 64 KiB in an 8 KiB queue and the clock stopped", err)
	case <-time.After(100 * time.Millisecond):
	}
	go func() { _, _ = io.Copy(io.Discard, peer) }()
	for i := 0; ; i++ { // each second of clock lets the queued chunks out
		require.Less(t, i, 10_000, "Write never finished")
		mc.Advance(time.Second)
		select {
		case err := <-wrote:
			require.NoError(t, err)
			return
		case <-time.After(time.Millisecond):
		}
	}
}

func TestBandwidthCapsEachDirection(t *testing.T) {
	const rate = 3200 * Kbps // 400 kB/s
	const n = 200 << 10
	bytesPerSec := float64(rate) / 8
	burst := int(bytesPerSec / 100)
	// The bucket lets the burst and the chunk in flight go early; everything else
	// waits its turn at the rate.
	minElapsed := time.Duration(float64(n-burst-maxChunkBytes) / bytesPerSec * float64(time.Second))

	t.Run("up", func(t *testing.T) {
		srv := listen(t)
		l := newTestLink(t, Profile{Faults: []Fault{Bandwidth{Up: rate}}}, 1)
		c := dial(t, l, srv.addr())
		peer := srv.accept(t)
		start := time.Now()
		go func() { _, _ = c.Write(make([]byte, n)) }()
		_, err := io.ReadFull(peer, make([]byte, n))
		require.NoError(t, err)
		require.GreaterOrEqual(t, time.Since(start), minElapsed)
	})
	t.Run("down", func(t *testing.T) {
		srv := listen(t)
		l := newTestLink(t, Profile{Faults: []Fault{Bandwidth{Down: rate}}}, 1)
		c := dial(t, l, srv.addr())
		peer := srv.accept(t)
		start := time.Now()
		go func() { _, _ = peer.Write(make([]byte, n)) }()
		_, err := io.ReadFull(c, make([]byte, n))
		require.NoError(t, err)
		require.GreaterOrEqual(t, time.Since(start), minElapsed)
	})
}

func TestStallsHoldDataAtLeastTheirRecordedTime(t *testing.T) {
	srv := listen(t)
	l := newTestLink(t, Profile{Faults: []Fault{Stalls{P: 0.2, R: 0.5, Slot: 5 * time.Millisecond}}}, 3)
	c := dial(t, l, srv.addr())
	peer := srv.accept(t)
	const n = 150 << 10 // ~100 packets: ~30 bad steps expected
	start := time.Now()
	go func() { _, _ = c.Write(make([]byte, n)) }()
	_, err := io.ReadFull(peer, make([]byte, n))
	require.NoError(t, err)
	elapsed := time.Since(start)
	stalled := l.Stats().Stalled // only upstream moved data
	require.Positive(t, stalled)
	require.GreaterOrEqual(t, elapsed, stalled, "stalls are serial: data waits for each")
}

// fire runs the link's schedule up to at on a manual clock.
func fire(t *testing.T, mc *ManualClock, l *Link, at time.Duration) {
	t.Helper()
	mc.Advance(l.Start().Add(at).Sub(mc.Now()))
}

// tlsPair dials through l and completes a TLS handshake with a server that counts
// the raw bytes it reads. It returns the client, the server's TLS conn and counter,
// and how many raw bytes the server had read when its handshake ended.
func tlsPair(t *testing.T, l *Link, srv *server) (*tls.Conn, *tls.Conn, *countingConn, int64) {
	t.Helper()
	serverCfg, clientCfg := selfSigned(t)
	raw := dial(t, l, srv.addr())
	counted := &countingConn{Conn: srv.accept(t)}
	sconn := tls.Server(counted, serverCfg)
	handshook := make(chan error, 1)
	go func() { handshook <- sconn.Handshake() }()
	cconn := tls.Client(raw, clientCfg)
	require.NoError(t, cconn.Handshake())
	require.NoError(t, <-handshook)
	// One round trip so TLS 1.3 session tickets are out of the way.
	go func() {
		buf := make([]byte, 4)
		if _, err := io.ReadFull(sconn, buf); err == nil {
			_, _ = sconn.Write(buf)
		}
	}()
	_, err := cconn.Write([]byte("ping"))
	require.NoError(t, err)
	_, err = io.ReadFull(cconn, make([]byte, 4))
	require.NoError(t, err)
	return cconn, sconn, counted, counted.read.Load()
}

func TestResetOverTLS(t *testing.T) {
	srv := listen(t)
	mc := NewManualClock(epoch)
	l := newTestLink(t, eventsOnly, 1, WithClock(mc), WithSchedule(Schedule{{At: 10 * time.Second, Kind: KindReset}}))
	client, server, _, _ := tlsPair(t, l, srv)

	serverErr := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, server)
		serverErr <- err
	}()
	fire(t, mc, l, 10*time.Second)

	require.ErrorIs(t, <-serverErr, syscall.ECONNRESET, "the peer sees an RST")
	_, err := client.Write([]byte("after"))
	require.ErrorIs(t, err, ErrConnReset)
	require.ErrorIs(t, err, syscall.ECONNRESET)
	require.Equal(t, int64(1), l.Stats().Resets)
	fired, total := l.Fired()
	require.Equal(t, 1, total)
	require.Equal(t, FiredEvent{Event: Event{At: 10 * time.Second, Kind: KindReset}, Applied: 10 * time.Second, Conns: 1}, fired[0])
}

func TestCutAfterNBytesOverTLS(t *testing.T) {
	srv := listen(t)
	mc := NewManualClock(epoch)
	const budget = 40_000 // mid-record: TLS records are ~16 KiB
	l := newTestLink(t, eventsOnly, 1, WithClock(mc),
		WithSchedule(Schedule{{At: 10 * time.Second, Kind: KindCut, Bytes: budget}}))
	client, server, counted, before := tlsPair(t, l, srv)
	fire(t, mc, l, 10*time.Second)

	serverErr := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, server)
		serverErr <- err
	}()
	// Writes past the budget are accepted (they sit in the socket buffer of a
	// connection that is about to die) or fail if it died meanwhile ...
	_, _ = client.Write(make([]byte, 3*budget))
	require.ErrorIs(t, <-serverErr, syscall.ECONNRESET, "the peer sees an RST mid-record")
	require.Equal(t, int64(budget), counted.read.Load()-before, "exactly the budget reached the peer")
	// ... and once the connection has died the camera learns it.
	_, err := client.Write([]byte("more"))
	require.ErrorIs(t, err, ErrCut)
	require.ErrorIs(t, err, syscall.ECONNRESET)
	st := l.Stats()
	require.Equal(t, int64(1), st.Cuts)
	require.Equal(t, int64(1), st.Events[KindCut])
}

func TestBlackHoleOverTLS(t *testing.T) {
	srv := listen(t)
	mc := NewManualClock(epoch)
	l := newTestLink(t, eventsOnly, 1, WithClock(mc), WithSchedule(Schedule{{At: 10 * time.Second, Kind: KindBlackHole}}))
	client, server, counted, before := tlsPair(t, l, srv)
	fire(t, mc, l, 10*time.Second)

	// Writes are accepted without error and never arrive.
	for range 10 {
		_, err := client.Write(make([]byte, 4<<10))
		require.NoError(t, err)
	}
	_, err := server.Write([]byte("unheard"))
	require.NoError(t, err)

	// Reads block until the camera's own deadline.
	require.NoError(t, client.SetReadDeadline(mc.Now().Add(30*time.Second)))
	readErr := make(chan error, 1)
	go func() {
		_, err := client.Read(make([]byte, 16))
		readErr <- err
	}()
	waitTimers(t, mc, 1)
	select {
	case err := <-readErr:
		t.Fatalf("read returned %v before the deadline", err)
	default:
	}
	mc.Advance(30 * time.Second)
	err = <-readErr
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout(), "a deadline, not a connection error: %v", err)
	require.Equal(t, before, counted.read.Load(), "nothing reached the peer")
	require.Equal(t, int64(1), l.Stats().BlackHoles)

	// A read without deadline ends only when the camera closes.
	require.NoError(t, client.SetReadDeadline(time.Time{}))
	go func() {
		_, err := client.Read(make([]byte, 16))
		readErr <- err
	}()
	require.NoError(t, client.NetConn().Close())
	require.ErrorIs(t, <-readErr, net.ErrClosed)
}

func TestOutageRefusesDialsThenLetsThemThrough(t *testing.T) {
	srv := listen(t)
	mc := NewManualClock(epoch)
	l := newTestLink(t, eventsOnly, 1, WithClock(mc),
		WithSchedule(Schedule{{At: 10 * time.Second, Kind: KindOutage, Duration: 30 * time.Second}}))
	before := dial(t, l, srv.addr())
	go echo(srv.accept(t))
	fire(t, mc, l, 15*time.Second)

	// The open connection became a black hole.
	_, err := before.Write([]byte("lost"))
	require.NoError(t, err)
	require.Equal(t, int64(1), l.Stats().BlackHoles)

	// A dial inside the window fails after the connect delay, with a clear error.
	dialErr := make(chan error, 1)
	go func() {
		_, err := l.DialContext(context.Background(), "tcp", srv.addr())
		dialErr <- err
	}()
	waitTimers(t, mc, 1) // the dial sleeps out its connect delay
	select {
	case err := <-dialErr:
		t.Fatalf("dial returned %v before the connect delay", err)
	default:
	}
	mc.Advance(OfflineDialDelay)
	err = <-dialErr
	require.ErrorIs(t, err, ErrOffline)
	require.ErrorIs(t, err, syscall.ENETUNREACH)
	require.Contains(t, err.Error(), "scheduled outage of 30s")
	require.Contains(t, err.Error(), srv.addr())

	// After the window, dials work and the link carries data again.
	fire(t, mc, l, 40*time.Second)
	after := dial(t, l, srv.addr())
	go echo(srv.accept(t))
	_, err = after.Write([]byte("back"))
	require.NoError(t, err)
	got := make([]byte, 4)
	_, err = io.ReadFull(after, got)
	require.NoError(t, err)
	require.Equal(t, "back", string(got))

	st := l.Stats()
	require.Equal(t, int64(1), st.Outages)
	require.Equal(t, int64(1), st.DialsRefused)
	require.Equal(t, int64(3), st.Dials)
}

func TestFreezeHoldsDataWithoutLosingIt(t *testing.T) {
	srv := listen(t)
	mc := NewManualClock(epoch)
	l := newTestLink(t, eventsOnly, 1, WithClock(mc),
		WithSchedule(Schedule{{At: time.Second, Kind: KindFreeze, Duration: 5 * time.Second}}))
	c := dial(t, l, srv.addr())
	peer := srv.accept(t)
	fire(t, mc, l, time.Second)

	_, err := c.Write([]byte("held"))
	require.NoError(t, err)
	waitTimers(t, mc, 1)
	require.Zero(t, l.Stats().BytesUp, "frozen")
	mc.Advance(5 * time.Second)
	got := make([]byte, 4)
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.ReadFull(peer, got)
	require.NoError(t, err)
	require.Equal(t, "held", string(got))
	require.Equal(t, 5*time.Second, l.Stats().Stalled)
}

func TestInstantEventWithoutConnectionWaitsForTheNext(t *testing.T) {
	srv := listen(t)
	mc := NewManualClock(epoch)
	l := newTestLink(t, eventsOnly, 1, WithClock(mc), WithSchedule(Schedule{{At: time.Second, Kind: KindReset}}))
	fire(t, mc, l, 5*time.Second)
	_, total := l.Fired()
	require.Zero(t, total, "nothing to act on yet")

	c := dial(t, l, srv.addr())
	_, err := c.Read(make([]byte, 1))
	require.ErrorIs(t, err, ErrConnReset)
	fired, _ := l.Fired()
	require.Equal(t, []FiredEvent{{Event: Event{At: time.Second, Kind: KindReset}, Applied: 5 * time.Second, Conns: 1}}, fired)
}

func TestConnRandIsSeededPerConnectionAndName(t *testing.T) {
	draw := func(seed, index uint64, name string) [4]uint64 {
		l := &Link{seed: seed}
		c := &Conn{link: l, index: index}
		r := c.Rand(name)
		return [4]uint64{r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64()}
	}
	require.Equal(t, draw(1, 0, "latency/up"), draw(1, 0, "latency/up"))
	require.NotEqual(t, draw(1, 0, "latency/up"), draw(2, 0, "latency/up"))
	require.NotEqual(t, draw(1, 0, "latency/up"), draw(1, 1, "latency/up"))
	require.NotEqual(t, draw(1, 0, "latency/up"), draw(1, 0, "latency/down"))
}

func TestGoroutinesEndWhenConnectionsClose(t *testing.T) {
	srv := listen(t)
	baseline := runtime.NumGoroutine()
	p, err := ProfileByName("chaos")
	require.NoError(t, err)
	l, err := NewLink(p, 11)
	require.NoError(t, err)
	var conns []*Conn
	for range 20 {
		c, err := l.DialContext(context.Background(), "tcp", srv.addr())
		require.NoError(t, err)
		conns = append(conns, c.(*Conn))
		go echo(srv.accept(t))
		_, err = c.Write([]byte("hello"))
		require.NoError(t, err)
	}
	require.GreaterOrEqual(t, runtime.NumGoroutine(), baseline+40, "two pumps per connection")
	for _, c := range conns[:10] {
		require.NoError(t, c.Close())
		c.pumps.Wait() // each closed connection's goroutines end
	}
	require.NoError(t, l.Close()) // closes the rest and waits
	for _, c := range conns {
		require.ErrorIs(t, c.Close(), net.ErrClosed)
	}
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= baseline+20 }, 10*time.Second, 10*time.Millisecond,
		"only the 20 server-side echo goroutines may remain until the test ends; have %d, baseline %d", runtime.NumGoroutine(), baseline)
	_, err = l.DialContext(context.Background(), "tcp", srv.addr())
	require.ErrorIs(t, err, ErrLinkClosed)
}

// The way the camera will use a Link: as an http.Transport's dialer, under TLS.
func TestLinkUnderHTTPTransport(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(ts.Close)
	clientOver := func(l *Link) *http.Client {
		tr := ts.Client().Transport.(*http.Transport).Clone()
		tr.DialContext = l.DialContext
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	post := func(c *http.Client) (string, error) {
		resp, err := c.Post(ts.URL, "application/octet-stream", bytes.NewReader(make([]byte, 100<<10)))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}

	t.Run("lte-good", func(t *testing.T) {
		p, err := ProfileByName("lte-good")
		require.NoError(t, err)
		l := newTestLink(t, p, 1)
		body, err := post(clientOver(l))
		require.NoError(t, err)
		require.Equal(t, "ok", body)
		require.Greater(t, l.Stats().BytesUp, int64(100<<10))
	})

	t.Run("reset of a keep-alive connection", func(t *testing.T) {
		mc := NewManualClock(epoch)
		l := newTestLink(t, eventsOnly, 1, WithClock(mc), WithSchedule(Schedule{{At: time.Minute, Kind: KindReset}}))
		client := clientOver(l)
		body, err := post(client)
		require.NoError(t, err)
		require.Equal(t, "ok", body)

		fire(t, mc, l, time.Minute) // resets the idle keep-alive connection
		for range 3 {               // the transport notices and dials anew
			if body, err = post(client); err == nil {
				break
			}
			// Which error depends on whether the transport's read loop noticed the
			// reset before the request took the connection.
			assert.True(t, errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed),
				"unexpected error %v", err)
		}
		require.NoError(t, err)
		require.Equal(t, "ok", body)
		require.Equal(t, int64(1), l.Stats().Resets)
		require.Equal(t, int64(2), l.Stats().Dials)
	})
}
