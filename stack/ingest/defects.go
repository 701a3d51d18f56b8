package ingest

import (
	"context"
	"crypto/sha256"
	"math/bits"
	"sync"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/stack/ingest/fragstore"
)

// Defects are deliberate flaws the ingest can be started with, only to
// prove that conformance suites catch them (stack.Defect names them);
// never for production. Each is checked at the one place the flaw lives.
type Defects struct {
	// ReuseNonce seals every fragment under a data key with the same nonce.
	ReuseNonce bool
	// DropResentFragment acknowledges (through PERSISTED) but does not
	// store a fragment whose producer timecode the stream has already
	// seen, even when that earlier upload was cut before it completed.
	DropResentFragment bool
	// DuplicateResentFragment stores a resent fragment again, under a new
	// fragment number.
	DuplicateResentFragment bool
	// PersistedBeforeDurable sends PERSISTED when a fragment is queued and
	// writes it PersistDelay later from memory; Crash loses the queue.
	PersistedBeforeDurable bool
	// TamperMedia flips one bit in the first SimpleBlock of every fragment
	// GetMedia and GetMediaForFragmentList serve.
	TamperMedia bool
	// ReorderFragments serves fragments pairwise swapped (2,1,4,3…).
	ReorderFragments bool
	// WrongErrorAck reports a disabled KMS key as 4503 (unavailable)
	// instead of 4501.
	WrongErrorAck bool
	// StoreDataKeys writes every plaintext data key it gets from the KMS
	// to DataDir/datakeys.cache.
	StoreDataKeys bool
}

// PersistDelay is how long the defect PersistedBeforeDurable keeps an
// acknowledged fragment in memory before writing it.
const PersistDelay = 3 * time.Second

// errorIDFor is the KMS error id of err, as the defect WrongErrorAck
// would have it.
func (s *Server) errorIDFor(err error) kvsapi.ErrorID {
	id := kmsErrorID(err)
	if s.cfg.Defects.WrongErrorAck && id == kvsapi.ErrKMSKeyDisabled {
		return kvsapi.ErrKMSKeyUnavailable
	}
	return id
}

// fixedNonce is the one nonce the defect ReuseNonce uses per data key.
func fixedNonce(wrapped []byte) []byte {
	sum := sha256.Sum256(wrapped)
	return sum[:atRestNonceSize]
}

// maxSeenProducerTimes bounds the producer timecodes remembered for the
// defect DropResentFragment.
const maxSeenProducerTimes = 1 << 16

// seenTimes remembers the producer timecodes each stream's fragments
// started at, for the defect DropResentFragment.
type seenTimes struct {
	mu   sync.Mutex
	seen map[string]map[int64]struct{}
	n    int
}

// saw reports whether stream has seen ms before, and remembers it.
func (t *seenTimes) saw(stream string, ms int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen == nil || t.n >= maxSeenProducerTimes {
		t.seen, t.n = map[string]map[int64]struct{}{}, 0
	}
	m := t.seen[stream]
	if m == nil {
		m = map[int64]struct{}{}
		t.seen[stream] = m
	}
	if _, ok := m[ms]; ok {
		return true
	}
	m[ms] = struct{}{}
	t.n++
	return false
}

// delayedWrites is the in-memory queue of the defect
// PersistedBeforeDurable: fragments already acknowledged PERSISTED that
// are written PersistDelay later.
type delayedWrites struct {
	s    *Server
	mu   sync.Mutex
	q    []delayedFragment
	stop chan struct{}
	done chan struct{}
}

type delayedFragment struct {
	frag fragstore.Fragment
	due  time.Time
}

func newDelayedWrites(s *Server) *delayedWrites {
	d := &delayedWrites{s: s, stop: make(chan struct{}), done: make(chan struct{})}
	go d.run()
	return d
}

// add queues a copy of frag, whose parts the caller may reuse.
func (d *delayedWrites) add(frag fragstore.Fragment) {
	n := 0
	for _, p := range frag.Parts {
		n += len(p)
	}
	buf := make([]byte, 0, n)
	for _, p := range frag.Parts {
		buf = append(buf, p...)
	}
	frag.Parts = [][]byte{buf}
	d.mu.Lock()
	d.q = append(d.q, delayedFragment{frag: frag, due: time.Now().Add(PersistDelay)})
	d.mu.Unlock()
}

func (d *delayedWrites) run() {
	defer close(d.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.write(time.Now())
		}
	}
}

// write appends the fragments due by now.
func (d *delayedWrites) write(now time.Time) {
	d.mu.Lock()
	var due []delayedFragment
	for len(d.q) > 0 && !d.q[0].due.After(now) {
		due = append(due, d.q[0])
		d.q = d.q[1:]
	}
	d.mu.Unlock()
	for _, f := range due {
		if _, err := d.s.store.Append(context.Background(), f.frag); err != nil {
			d.s.cfg.Logf("ingest: %s: storing acknowledged fragment %s late: %v", f.frag.Stream, f.frag.Number, err)
		}
	}
}

// close stops the queue; flush writes what is left (a graceful close),
// otherwise it is lost (a crash).
func (d *delayedWrites) close(flush bool) {
	close(d.stop)
	<-d.done
	if flush {
		d.write(time.Unix(1<<40, 0))
		return
	}
	d.mu.Lock()
	d.q = nil
	d.mu.Unlock()
}

// pairwiseSwapped returns s with neighbours swapped: 2,1,4,3…
func pairwiseSwapped[T any](s []T) []T {
	out := append([]T(nil), s...)
	for i := 0; i+1 < len(out); i += 2 {
		out[i], out[i+1] = out[i+1], out[i]
	}
	return out
}

// tamperFirstBlock flips the lowest bit of the last byte of the first
// SimpleBlock in a Cluster (a frame payload byte), in place. A Cluster it
// cannot walk is left alone.
func tamperFirstBlock(cluster []byte) {
	const clusterID, simpleBlockID = 0x1F43B675, 0xA3
	id, n := ebmlID(cluster)
	if n == 0 || id != clusterID {
		return
	}
	_, m, _ := ebmlSize(cluster[n:])
	if m == 0 {
		return
	}
	for off := n + m; off < len(cluster); {
		id, n := ebmlID(cluster[off:])
		if n == 0 {
			return
		}
		size, m, unknown := ebmlSize(cluster[off+n:])
		if m == 0 || unknown {
			return
		}
		start := off + n + m
		if size > uint64(len(cluster)-start) {
			return
		}
		if id == simpleBlockID {
			if size > 4 { // track vint, timecode and flags come first
				cluster[start+int(size)-1] ^= 1
			}
			return
		}
		off = start + int(size)
	}
}

// ebmlID reads an element ID (marker bits kept); n is 0 if unreadable.
func ebmlID(b []byte) (id uint32, n int) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0
	}
	w := bits.LeadingZeros8(b[0]) + 1
	if w > 4 || len(b) < w {
		return 0, 0
	}
	for _, c := range b[:w] {
		id = id<<8 | uint32(c)
	}
	return id, w
}

// ebmlSize reads an element data size; n is 0 if unreadable.
func ebmlSize(b []byte) (size uint64, n int, unknown bool) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0, false
	}
	w := bits.LeadingZeros8(b[0]) + 1
	if len(b) < w {
		return 0, 0, false
	}
	size = uint64(b[0]) & (0xFF >> w)
	all := size == uint64(0xFF>>w)
	for _, c := range b[1:w] {
		size = size<<8 | uint64(c)
		all = all && c == 0xFF
	}
	return size, w, all
}
