package cameras_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/simulator/netem"
)

// TestSwitchOutage checks the fleet-wide switch Outage relies on, on
// loopback: an open connection goes silent both ways, dials fail while the
// network is down, and work again after.
func TestSwitchOutage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	received := make(chan []byte, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						received <- append([]byte(nil), buf[:n]...)
						_, _ = c.Write(buf[:n]) // echo
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	sw := netem.NewSwitch(nil, nil)
	ctx := context.Background()
	c, err := sw.DialContext(ctx, "tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	echo := func(msg string) {
		t.Helper()
		_, err := c.Write([]byte(msg))
		require.NoError(t, err)
		require.Equal(t, msg, string(<-received))
		buf := make([]byte, len(msg))
		_, err = io.ReadFull(c, buf)
		require.NoError(t, err)
		require.Equal(t, msg, string(buf))
	}
	echo("before")
	require.Equal(t, 1, sw.Open())

	sw.Outage(700 * time.Millisecond)
	require.Positive(t, sw.Offline())
	n, err := c.Write([]byte("lost"))
	require.NoError(t, err, "a black hole accepts writes")
	require.Equal(t, 4, n)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	_, err = c.Read(make([]byte, 8))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "a black-holed read waits for its deadline")
	select {
	case got := <-received:
		t.Fatalf("the server received %q during the outage, want nothing", got)
	default:
	}
	_, err = sw.DialContext(ctx, "tcp", ln.Addr().String())
	require.ErrorIs(t, err, netem.ErrOffline, "a dial during the outage")

	time.Sleep(sw.Offline())
	c2, err := sw.DialContext(ctx, "tcp", ln.Addr().String())
	require.NoError(t, err, "a dial after the outage")
	defer c2.Close()
	_, err = c2.Write([]byte("after"))
	require.NoError(t, err)
	require.Equal(t, "after", string(<-received))
	require.NoError(t, c.Close())
	_, err = c.Read(make([]byte, 8))
	require.True(t, errors.Is(err, net.ErrClosed), "read after Close = %v", err)
	require.Equal(t, 1, sw.Open(), "the closed connection is forgotten")
}
