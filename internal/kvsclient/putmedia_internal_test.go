package kvsclient

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStartPutMediaGivesUpOnASilentService: a service (or a half-open
// network) that takes the request and never answers does not hold the
// producer: StartPutMedia fails after responseHeadTimeout.
func TestStartPutMediaGivesUpOnASilentService(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }() // reads, never answers
		}
	}()
	old := responseHeadTimeout
	responseHeadTimeout = 300 * time.Millisecond
	defer func() { responseHeadTimeout = old }()
	start := time.Now()
	_, err = StartPutMedia(context.Background(), nil, "http://"+ln.Addr().String(), PutMediaOptions{StreamName: "s"})
	require.ErrorContains(t, err, "reading the response head")
	require.Less(t, time.Since(start), 5*time.Second)
}
