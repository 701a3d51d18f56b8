package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/consumer"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/stack"
	"github.com/stretchr/testify/require"
)

// buildBinary compiles this command once per test binary run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "camstorm-bin-*")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "camstorm")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", errors.New(string(out))
	}
	return bin, nil
})

// lockedBuffer collects a child's stderr, written by os/exec's copier while
// the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stackProcess is `camstorm stack up` running as a separate process.
type stackProcess struct {
	cmd    *exec.Cmd
	ep     stack.Endpoints
	stderr *lockedBuffer
}

func startStackProcess(t *testing.T, dataDir string) *stackProcess {
	t.Helper()
	bin, err := buildBinary()
	require.NoError(t, err, "building camstorm")
	cmd := exec.Command(bin, "stack", "up", "--data", dataDir)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	require.NoError(t, err, "stack up printed no JSON line; stderr: %s", stderr.String())
	var ep stack.Endpoints
	require.NoError(t, json.Unmarshal(line, &ep), "stack up's line: %s", line)
	return &stackProcess{cmd: cmd, ep: ep, stderr: stderr}
}

// clientFor trusts the stack's CA; requests through it are not signed.
func clientFor(t *testing.T, caFile string) *http.Client {
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// adminCredentials are the bootstrap admin keys stack up printed.
func adminCredentials(ep stack.Endpoints) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(ep.AdminAccessKeyID, ep.AdminSecretAccessKey, "")
}

// TestPersistedFragmentsSurviveKill9 runs the ingest as its own process,
// kills it with SIGKILL while a camera is streaming end-to-end encrypted
// media, restarts it on the same data directory, and reads back, decrypts
// and authenticates every frame that was acknowledged PERSISTED.
func TestPersistedFragmentsSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts camstorm as a separate process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	data := t.TempDir()
	p := startStackProcess(t, data)
	hc := &http.Client{Transport: &kvsclient.SigningTransport{Base: clientFor(t, p.ep.CACertFile).Transport,
		Credentials: adminCredentials(p.ep), Region: p.ep.Region}}
	const stream = "durable"
	require.NoError(t, kvsclient.Call(ctx, hc, p.ep.ControlPlaneURL, kvsapi.PathCreateStream,
		kvsapi.CreateStreamInput{StreamName: stream, DataRetentionInHours: 1}, nil))

	key, err := e2ee.GenerateKey(e2ee.KEMX25519, nil)
	require.NoError(t, err)
	sealer, err := e2ee.NewSealer(e2ee.SealerConfig{Stream: stream, Recipients: []e2ee.PublicKey{key.Public()}})
	require.NoError(t, err)
	pm, err := kvsclient.StartPutMedia(ctx, hc, p.ep.DataPlaneURL, kvsclient.PutMediaOptions{StreamName: stream})
	require.NoError(t, err)
	const fps = 15 // and one GOP a second: 15 frames per fragment
	src, err := media.NewSynthetic(media.SyntheticConfig{BitrateBps: 2_000_000, FPS: fps, GOP: time.Second, Seed: 7, Width: 640, Height: 360})
	require.NoError(t, err)
	w := mkv.NewWriter(pm)
	require.NoError(t, w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{src.Track(), simulator.KeyTrack}}))

	ledger := simulator.Ledger{Stream: stream}
	frames := map[int64]simulator.SeqRange{} // cluster timecode -> its frames
	var mu sync.Mutex
	enough := make(chan struct{})
	go func() {
		for {
			a, err := pm.NextAck()
			if err != nil {
				return
			}
			if a.EventType == kvsapi.EventPersisted {
				mu.Lock()
				ledger.Ack(a.FragmentTimecode, frames[a.FragmentTimecode])
				if ledger.AckedFragments == 20 {
					close(enough)
				}
				mu.Unlock()
			}
		}
	}()

	base := time.Now().UnixMilli()
	ledger.Start = time.UnixMilli(base)
	var sealed []byte
	var tc int64
	for seq := uint64(0); ; seq++ {
		f := src.Next()
		pts := base + f.PTS.Milliseconds()
		index := uint32(seq % fps)
		if f.Key {
			tc = pts
			env, err := sealer.BeginFragment(tc)
			require.NoError(t, err)
			require.NoError(t, w.StartCluster(tc))
			require.NoError(t, w.WriteFrame(simulator.KeyTrack.Number, tc, true, env))
		}
		sealed, err = sealer.SealFrame(sealed[:0], index, index == fps-1, seq, f.Data)
		require.NoError(t, err)
		mu.Lock()
		frames[tc] = simulator.SeqRange{First: seq - uint64(index), Last: seq}
		ledger.Produced, ledger.End = seq+1, time.UnixMilli(pts+1)
		mu.Unlock()
		if err := w.WriteFrame(src.Track().Number, pts, f.Key, sealed); err != nil {
			t.Fatalf("streaming stopped before the kill: %v; stderr: %s", err, p.stderr)
		}
		select {
		case <-enough:
			// Mid-stream: a fragment is open and bytes are in flight.
			require.NoError(t, p.cmd.Process.Signal(os.Kill))
			_ = p.cmd.Wait()
		case <-ctx.Done():
			t.Fatalf("only %d fragments PERSISTED before the deadline; stderr: %s", ledger.AckedFragments, p.stderr)
		default:
			continue
		}
		break
	}
	pm.Close()

	p2 := startStackProcess(t, data)
	require.Equal(t, p.ep.CACertFile, p2.ep.CACertFile, "the CA is reused from the data directory")
	mu.Lock()
	want := ledger
	mu.Unlock()
	target := simulator.Target{ControlPlaneURL: p2.ep.ControlPlaneURL, HTTP: clientFor(t, p2.ep.CACertFile),
		Credentials: adminCredentials(p2.ep), Region: p2.ep.Region}
	v := consumer.Verify(ctx, target, &want, e2ee.NewOpener(stream, key))
	require.Empty(t, v.Err, "reading back after restart")
	require.True(t, v.Encrypted)
	require.Zero(t, v.LostFrames, "PERSISTED frames missing after kill -9: %+v", v.LostHoles)
	require.Zero(t, v.LostFragments)
	require.Zero(t, v.IntegrityFailures, "PERSISTED fragments that no longer authenticate: %+v", v.IntegrityErrors)
	require.GreaterOrEqual(t, v.Delivered, want.AckedFrames)
	t.Logf("%d PERSISTED fragments (%d frames) read back and authenticated after kill -9 (%d stored)",
		want.AckedFragments, want.AckedFrames, v.Stored)
}
