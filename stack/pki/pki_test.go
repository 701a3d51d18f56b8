package pki

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCAPersistsAndServesTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreate(dir)
	require.NoError(t, err)
	st, err := os.Stat(filepath.Join(dir, caKeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "CA key must be private")

	again, err := LoadOrCreate(dir)
	require.NoError(t, err)
	require.True(t, ca.Cert.Equal(again.Cert), "second start must reuse the CA")

	cert, err := again.ServerCertificate([]string{"127.0.0.1", "localhost"})
	require.NoError(t, err)
	reused, err := again.ServerCertificate([]string{"127.0.0.1"})
	require.NoError(t, err)
	require.Equal(t, cert.Certificate[0], reused.Certificate[0], "a covering certificate is reused")

	ln, err := tls.Listen("tcp", "127.0.0.1:0", ServerTLS(cert))
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_, _ = c.Write([]byte("hi")) // completes the handshake or fails it
				_ = c.Close()
			}()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), ca.ClientTLS())
	require.NoError(t, err)
	b, _ := io.ReadAll(c)
	require.Equal(t, "hi", string(b))

	// A client trusting a different CA must refuse the server.
	other, err := LoadOrCreate(t.TempDir())
	require.NoError(t, err)
	_, err = tls.Dial("tcp", ln.Addr().String(), other.ClientTLS())
	require.Error(t, err)

	// TLS 1.1 is refused.
	raw, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	old := tls.Client(raw, &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS11, ServerName: "127.0.0.1"})
	require.Error(t, old.Handshake())
}

func TestMismatchedKeyIsReported(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	_, err := LoadOrCreate(a)
	require.NoError(t, err)
	_, err = LoadOrCreate(b)
	require.NoError(t, err)
	key, err := os.ReadFile(filepath.Join(b, caKeyFile))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(a, caKeyFile), key, 0o600))
	_, err = LoadOrCreate(a)
	require.ErrorContains(t, err, "does not match")
}
