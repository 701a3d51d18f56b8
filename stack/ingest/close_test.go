package ingest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/stack/ingest/fragstore"
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
