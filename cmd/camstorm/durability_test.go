package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

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

func clientFor(t *testing.T, caFile string) *http.Client {
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// clusterCapture records the bytes of each cluster as the producer writes them.
type clusterCapture struct {
	mu   sync.Mutex
	cur  *bytes.Buffer
	byTC map[int64][]byte
	tc   int64
}

func (c *clusterCapture) start(tc int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finish()
	c.cur, c.tc = new(bytes.Buffer), tc
}

func (c *clusterCapture) finish() {
	if c.cur != nil {
		c.byTC[c.tc] = c.cur.Bytes()
		c.cur = nil
	}
}

func (c *clusterCapture) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil {
		c.cur.Write(b)
	}
	return len(b), nil
}

// TestPersistedFragmentsSurviveKill9 runs the ingest as its own process,
// kills it with SIGKILL while a camera is streaming, restarts it on the same
// data directory and reads every fragment that was acknowledged PERSISTED back
// byte for byte.
func TestPersistedFragmentsSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts camstorm as a separate process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	data := t.TempDir()
	p := startStackProcess(t, data)
	hc := clientFor(t, p.ep.CACertFile)
	require.NoError(t, kvsclient.Call(ctx, hc, p.ep.ControlPlaneURL, kvsapi.PathCreateStream,
		kvsapi.CreateStreamInput{StreamName: "durable", DataRetentionInHours: 1}, nil))

	pm, err := kvsclient.StartPutMedia(ctx, hc, p.ep.DataPlaneURL, kvsclient.PutMediaOptions{StreamName: "durable"})
	require.NoError(t, err)
	src, err := media.NewSynthetic(media.SyntheticConfig{BitrateBps: 2_000_000, FPS: 15, GOP: time.Second, Seed: 7, Width: 640, Height: 360})
	require.NoError(t, err)

	capture := &clusterCapture{byTC: map[int64][]byte{}}
	w := mkv.NewWriter(io.MultiWriter(pm, capture))
	require.NoError(t, w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{src.Track()}}))

	persisted := map[int64]string{} // cluster timecode -> fragment number
	var pmu sync.Mutex
	enough := make(chan struct{})
	go func() {
		for {
			a, err := pm.NextAck()
			if err != nil {
				return
			}
			if a.EventType == kvsapi.EventPersisted {
				pmu.Lock()
				persisted[a.FragmentTimecode] = a.FragmentNumber
				if len(persisted) == 20 {
					close(enough)
				}
				pmu.Unlock()
			}
		}
	}()

	base := time.Now().UnixMilli()
	killed := false
	for !killed {
		f := src.Next()
		pts := base + f.PTS.Milliseconds()
		if f.Key {
			capture.start(pts)
			require.NoError(t, w.StartCluster(pts))
		}
		if err := w.WriteFrame(src.Track().Number, pts, f.Key, f.Data); err != nil {
			t.Fatalf("streaming stopped before the kill: %v; stderr: %s", err, p.stderr)
		}
		select {
		case <-enough:
			// Mid-stream: a fragment is open and bytes are in flight.
			require.NoError(t, p.cmd.Process.Signal(os.Kill))
			_ = p.cmd.Wait()
			killed = true
		case <-ctx.Done():
			t.Fatalf("only %d fragments PERSISTED before the deadline; stderr: %s", len(persisted), p.stderr)
		default:
		}
	}
	pm.Close()
	pmu.Lock()
	acked := make(map[int64]string, len(persisted))
	for tc, n := range persisted {
		acked[tc] = n
	}
	pmu.Unlock()

	p2 := startStackProcess(t, data)
	require.Equal(t, p.ep.CACertFile, p2.ep.CACertFile, "the CA is reused from the data directory")

	// What the camera was told is durable, in the consumer's terms.
	want := make([]simulator.SentFragment, 0, len(acked))
	for tc, n := range acked {
		b := capture.byTC[tc]
		want = append(want, simulator.SentFragment{Timecode: tc, Size: int64(len(b)), SHA256: sha256.Sum256(b),
			Complete: true, Number: n, Persisted: simulator.AckTiming{Seen: true}})
	}
	v := consumer.Verify(ctx, simulator.Target{ControlPlaneURL: p2.ep.ControlPlaneURL, HTTP: clientFor(t, p2.ep.CACertFile)}, "durable", want)
	require.Empty(t, v.Err, "reading back after restart")
	require.Equal(t, len(acked), v.Persisted)
	require.Zero(t, v.Lost, "PERSISTED fragments missing after kill -9: %+v", v.LostFragments)
	require.Zero(t, v.Corrupted, "PERSISTED fragments not byte-identical after kill -9: %v", v.CorruptedFragments)
	require.GreaterOrEqual(t, v.Delivered, len(acked))
	t.Logf("%d PERSISTED fragments read back byte-identical after kill -9 (%d stored)", len(acked), v.Stored)
}
