package ingest

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/stack/ingest/fragstore"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCloseStoresEveryReceivedFragment: a KVS producer resumes after the
// last fragment acknowledged RECEIVED (§4.4), so a server that closes must
// still store every fragment it had acknowledged that way, or those
// fragments are lost for good.
func TestCloseStoresEveryReceivedFragment(t *testing.T) {
	dir := t.TempDir()
	ti := startTestIngest(t, Config{DataDir: dir})
	ti.createStream(t, "closing", 1)
	p := ti.putMedia(t, "closing", nil)
	p.send(headerBytes(t, videoHeader()))
	// Fragments of a few MB, sent back to back, keep the persister behind the
	// RECEIVED ACKs when Close arrives.
	const n = 6
	var last int64
	for i := range n {
		f := makeFragment(t, epoch2023+int64(i)*2000, 60, 64<<10, 33, true)
		p.send(f.wire)
		last = f.timecode
	}
	received := map[int64]bool{}
	for !received[last] {
		a, err := p.next(10 * time.Second)
		if err != nil {
			t.Fatalf("the session ended before the last RECEIVED: %v", err)
		}
		if a.EventType == kvsapi.EventReceived {
			received[a.FragmentTimecode] = true
		}
	}
	if err := ti.srv.Close(); err != nil {
		t.Fatal(err)
	}

	store, err := fragstore.Open(fragstore.Options{Dir: filepath.Join(dir, "fragments"), CompactEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	stored := map[int64]bool{}
	for _, info := range store.After("closing", "", 100) {
		stored[info.ProducerMs] = true
	}
	for tc := range received {
		if !stored[tc] {
			t.Errorf("fragment %d was acknowledged RECEIVED but is not stored after Close (%d of %d stored)", tc, len(stored), len(received))
		}
	}
}

// TestCloseEndsAGetMediaWhoseConsumerStoppedReading: a consumer that keeps
// its connection but reads nothing leaves the GetMedia handler blocked in a
// write; Close must end it at once rather than after the write timeout
// (IdleTimeout), or `stack up` cannot shut down while a player is paused.
func TestCloseEndsAGetMediaWhoseConsumerStoppedReading(t *testing.T) {
	ti := startTestIngest(t, Config{IdleTimeout: time.Minute})
	ti.createStream(t, "paused", 1)
	p := ti.putMedia(t, "paused", nil)
	p.send(headerBytes(t, videoHeader()))
	const n = 8 // 8 x 2 MB: more than the loopback socket buffers hold
	var total int64
	for i := range n {
		f := makeFragment(t, epoch2023+int64(i)*2000, 60, 32<<10, 33, true)
		p.send(f.wire)
		total += int64(len(f.wire))
	}
	p.end()
	if _, err := p.rest(10 * time.Second); err != io.EOF {
		t.Fatalf("seeding: %v", err)
	}

	resp, err := ti.Client.Post(ti.DataURL+kvsapi.PathGetMedia, kvsapi.JSONContentType,
		strings.NewReader(`{"StreamName":"paused","StartSelector":{"StartSelectorType":"EARLIEST"}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() // never read
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GetMedia: %d", resp.StatusCode)
	}
	out := ti.srv.metrics.bytes.WithLabelValues("out")
	// Wait until the server is stuck: the bytes it wrote stop growing.
	prev := -1.0
	for deadline := time.Now().Add(10 * time.Second); ; {
		time.Sleep(100 * time.Millisecond)
		cur := testutil.ToFloat64(out)
		if cur == prev && cur > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetMedia kept writing for 10 s (%v bytes)", cur)
		}
		prev = cur
	}
	if prev >= float64(total) {
		t.Fatalf("the consumer's socket took all %v bytes; the test needs a blocked writer", prev)
	}

	if err := ti.srv.Close(); err != nil {
		t.Fatal(err)
	}
	conns := ti.srv.metrics.connections.WithLabelValues("get_media")
	for deadline := time.Now().Add(3 * time.Second); testutil.ToFloat64(conns) != 0; {
		if time.Now().After(deadline) {
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
			t.Fatalf("GetMedia still blocked writing to a consumer that stopped reading 3 s after Close")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDeletedStreamGetsNoLateFragmentsAfterRecreate: fragments a session
// received before its stream was deleted must not end up in a stream
// re-created under the same name, even when the session's persister was held
// up (here by a producer that stopped reading its ACKs) until after the
// re-creation.
func TestDeletedStreamGetsNoLateFragmentsAfterRecreate(t *testing.T) {
	ti := startTestIngest(t, Config{IdleTimeout: 2 * time.Second})
	arn := ti.createStream(t, "reborn", 1)
	stallPutMedia(t, ti, "reborn")
	ti.deleteStream(t, arn)
	ti.createStream(t, "reborn", 1)
	// The stalled ACK write times out after IdleTimeout; wait for the session
	// to end, then look at the new stream.
	conns := ti.srv.metrics.connections.WithLabelValues("put_media")
	for deadline := time.Now().Add(10 * time.Second); testutil.ToFloat64(conns) != 0; {
		if time.Now().After(deadline) {
			t.Fatal("the session did not end")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out := ti.listFragments(t, kvsapi.ListFragmentsInput{StreamRef: kvsapi.StreamRef{StreamName: "reborn"}}); len(out.Fragments) != 0 {
		t.Fatalf("the re-created stream holds %d fragments of the deleted one", len(out.Fragments))
	}
}

// stallPutMedia opens a PutMedia whose producer sends small fragments but
// never reads its ACKs, and returns once the session has stalled on them:
// the ACK writer blocked in a write, its queue full, the persister and the
// reader blocked behind it.
func stallPutMedia(t *testing.T, ti *testIngest, stream string) {
	t.Helper()
	conn, _, _ := ti.rawChunkedPutMedia(t, stream)
	if err := writeChunk(conn, headerBytes(t, videoHeader())); err != nil {
		t.Fatal(err)
	}
	sending := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-sending })
	go func() {
		defer close(sending)
		for i := range 20000 {
			f := makeFragment(t, epoch2023+int64(i)*100, 1, 10, 33, true)
			_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if writeChunk(conn, f.wire) != nil {
				return
			}
		}
	}()
	persisted := ti.srv.metrics.fragments.WithLabelValues("persisted")
	prev := -1.0
	for deadline := time.Now().Add(20 * time.Second); ; {
		time.Sleep(100 * time.Millisecond)
		cur := testutil.ToFloat64(persisted)
		if cur == prev && cur > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session never stalled (%v fragments persisted)", cur)
		}
		prev = cur
	}
}

// TestCloseIsNotHeldUpByAProducerThatStoppedReadingACKs: Close waits for
// sessions to store what they received, but a session stalled on its ACKs
// must not make it wait for the ACK write timeout (IdleTimeout).
func TestCloseIsNotHeldUpByAProducerThatStoppedReadingACKs(t *testing.T) {
	ti := startTestIngest(t, Config{IdleTimeout: time.Minute})
	ti.createStream(t, "stalled", 1)
	stallPutMedia(t, ti, "stalled")
	closed := make(chan error, 1)
	go func() { closed <- ti.srv.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		t.Fatal("Close still waiting 5 s after it was called")
	}
}
