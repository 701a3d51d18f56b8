// Package fragstore is the reference ingest's durable, log-structured store of fragments, their index
// and stream records.
//
// Records are appended to segment files by one writer goroutine that batches
// concurrent callers into one write and one fsync (group commit); a call
// returns only after its record is on stable storage. An in-memory index per
// stream answers lookups by fragment number, producer timestamp and time
// range without touching the disk; payloads are read back with their CRC
// checked. See docs/STORAGE.md for the design and its measurements.
package fragstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by the store. Callers match them with errors.Is.
var (
	ErrClosed   = errors.New("fragstore: store is closed")
	ErrCorrupt  = errors.New("fragstore: corrupt data")
	ErrNotFound = errors.New("fragstore: fragment is no longer stored")
	ErrNoStream = errors.New("fragstore: no such stream")
	ErrInvalid  = errors.New("fragstore: invalid argument")
	ErrLocked   = errors.New("fragstore: directory is in use by another store")
	// ErrFailed means a write or fsync failed; the store accepts no more
	// writes because the state of the file is unknown. Reopen to recover.
	ErrFailed = errors.New("fragstore: store failed after a write error; reopen it")
)

const (
	defaultSegmentBytes = 64 << 20
	defaultCompactEvery = time.Minute
	queueDepth          = 256      // requests waiting for the writer; callers block beyond this
	maxBatchRecords     = 1024     // per fsync
	maxBatchBytes       = 64 << 20 // per fsync
	writeBufferBytes    = 128 << 10
)

// Options configure Open. Only Dir is required.
type Options struct {
	Dir string
	// SegmentBytes is the size at which the writer starts a new segment file
	// (default 64 MiB). A record larger than this gets a segment to itself.
	SegmentBytes int64
	// Retention returns how long a stream's fragments stay visible, measured
	// from their ServerMs. Nil keeps everything; 0 expires immediately.
	Retention func(stream string) time.Duration
	// CompactEvery is the interval of the background compactor (default 1
	// minute); a negative value disables it, Compact can still be called.
	CompactEvery time.Duration
	// Now is the clock for retention and fragment numbers (default time.Now).
	Now func() time.Time
	// Logf, if set, receives notable events (a torn tail cut away, a failed
	// background compaction).
	Logf func(format string, args ...any)
}

// Fragment is what Append stores.
type Fragment struct {
	Stream     string
	Number     string // from NextFragmentNumber
	ProducerMs int64
	ServerMs   int64
	DurationMs int64
	// Parts are written back to back as the payload, so the caller need not
	// concatenate them. They must not change until Append returns.
	Parts [][]byte
	// StoreResent stores the fragment even when the stream holds one with
	// the same ProducerMs: only for the ingest's deliberate defect
	// duplicate-resent-fragment (stack.Defect), never for production.
	StoreResent bool
}

// Info describes a stored fragment and where it is.
type Info struct {
	Stream     string
	Number     string
	ProducerMs int64
	ServerMs   int64
	DurationMs int64
	Size       int64 // payload bytes
	Duplicate  bool  // set only in Append's result: the fragment was already stored

	seg uint32
	off int64
}

// Stats are counters for monitoring and for the benchmarks.
type Stats struct {
	Segments  int   // segment files
	Bytes     int64 // bytes in segment files
	Streams   int   // live stream records
	Fragments int   // index entries (expired ones linger until the next compaction)

	Records         int64   // records written since Open
	Fsyncs          int64   // data-file fsyncs since Open
	DirFsyncs       int64   // directory fsyncs since Open (new and deleted segments)
	RecordsPerFsync float64 // Records / Fsyncs: how well group commit batches
	Duplicates      int64   // appends answered from an already stored fragment

	TruncatedTailBytes int64 // torn tail cut from the last segment at Open
	CompactedSegments  int64 // segment files deleted by compaction since Open
	RelocatedRecords   int64 // stream records re-appended by compaction since Open
}

type segment struct {
	id   uint32
	path string
	f    *os.File
	size int64 // durable bytes
	live int   // index entries pointing into this segment
}

type tombstone struct {
	horizon position // everything of the stream logged before this is deleted
	at      uint32   // segment that holds the delete record
}

type pendingKey struct {
	stream     string
	producerMs int64
}

// Store is a durable fragment store. All methods are safe for concurrent use.
type Store struct {
	opts Options
	dir  string
	lock *os.File

	mu       sync.RWMutex
	streams  map[string]*streamState
	tombs    map[string]tombstone
	segs     map[uint32]*segment
	segIDs   []uint32 // ascending
	active   *segment
	batchSeg uint32 // first segment of the batch being written, 0 when idle
	pending  map[pendingKey]*request
	failed   error
	stats    Stats

	wmu         sync.Mutex
	watchers    map[string]chan struct{}
	watchClosed bool

	numMu      sync.Mutex
	lastNumber uint64

	sendMu sync.RWMutex
	closed bool
	queue  chan *request

	w          writer // owned by the writer goroutine (and Open before it starts)
	writerDone chan struct{}

	compactMu     sync.Mutex
	closing       atomic.Bool
	stopCompactor chan struct{}
	compactorDone chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// Open opens or creates the store in o.Dir, replays its log and starts the
// writer (and, unless disabled, the compactor).
func Open(o Options) (*Store, error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("%w: Options.Dir is empty", ErrInvalid)
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = defaultSegmentBytes
	}
	if o.SegmentBytes < 0 {
		return nil, fmt.Errorf("%w: SegmentBytes %d", ErrInvalid, o.SegmentBytes)
	}
	if o.CompactEvery == 0 {
		o.CompactEvery = defaultCompactEvery
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("fragstore: create %s: %w", o.Dir, err)
	}
	lock, err := lockDir(o.Dir)
	if err != nil {
		return nil, err
	}
	s := &Store{
		opts:          o,
		dir:           o.Dir,
		lock:          lock,
		streams:       make(map[string]*streamState),
		tombs:         make(map[string]tombstone),
		segs:          make(map[uint32]*segment),
		pending:       make(map[pendingKey]*request),
		watchers:      make(map[string]chan struct{}),
		queue:         make(chan *request, queueDepth),
		writerDone:    make(chan struct{}),
		stopCompactor: make(chan struct{}),
		compactorDone: make(chan struct{}),
	}
	if err := s.recover(); err != nil {
		s.closeFiles()
		unlockDir(lock)
		return nil, err
	}
	// A mark in the active segment keeps the number high-water mark even if
	// compaction later deletes every older segment.
	if err := s.w.writeMarkNow(s, s.lastNumber); err != nil {
		s.closeFiles()
		unlockDir(lock)
		return nil, err
	}
	go s.runWriter()
	if o.CompactEvery > 0 {
		go s.runCompactor(o.CompactEvery)
	} else {
		close(s.compactorDone)
	}
	return s, nil
}

// Close flushes pending writes, stops the background goroutines and closes
// the files. It is idempotent; later calls return the first call's result.
// Watch channels are closed so tailers wake up.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stopCompactor)
		<-s.compactorDone
		s.compactMu.Lock()
		s.closing.Store(true)
		s.compactMu.Unlock()

		// Persist the number high-water mark so numbers handed out but never
		// stored are not reissued after a clean restart.
		s.numMu.Lock()
		last := s.lastNumber
		s.numMu.Unlock()
		mark := &request{kind: kindMark, mark: last, done: make(chan struct{})}
		s.sendMu.Lock()
		s.closed = true
		s.queue <- mark
		close(s.queue)
		s.sendMu.Unlock()
		<-s.writerDone
		<-mark.done

		s.mu.Lock()
		failed := s.failed
		s.mu.Unlock()
		err := mark.err
		if failed != nil {
			err = fmt.Errorf("%w: %w", ErrFailed, failed)
		}
		if cerr := s.closeFiles(); err == nil {
			err = cerr
		}
		unlockDir(s.lock)
		s.wmu.Lock()
		s.watchClosed = true
		for name, ch := range s.watchers {
			close(ch)
			delete(s.watchers, name)
		}
		s.wmu.Unlock()
		s.closeErr = err
	})
	return s.closeErr
}

func (s *Store) closeFiles() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for _, seg := range s.segs {
		if err := seg.f.Close(); err != nil && first == nil && !errors.Is(err, os.ErrClosed) {
			first = fmt.Errorf("fragstore: close %s: %w", seg.path, err)
		}
	}
	return first
}

// NextFragmentNumber returns a new fragment number: 47 digits, strictly
// greater than every number this store issued or stored before, also across
// restarts.
func (s *Store) NextFragmentNumber() string {
	now := s.opts.Now().UnixMicro()
	if now < 0 {
		now = 0
	}
	s.numMu.Lock()
	v := s.lastNumber + 1
	if uint64(now) > v {
		v = uint64(now)
	}
	s.lastNumber = v
	s.numMu.Unlock()
	return formatNumber(v)
}

func (s *Store) noteNumber(v uint64) {
	s.numMu.Lock()
	if v > s.lastNumber {
		s.lastNumber = v
	}
	s.numMu.Unlock()
}

// cutoffFor asks the retention callback; never call it with s.mu held, the
// callback may call back into the store.
func (s *Store) cutoffFor(stream string) cutoff {
	if s.opts.Retention == nil {
		return keepAll
	}
	r := s.opts.Retention(stream)
	if r <= 0 {
		return cutoff{none: true}
	}
	// A Duration is at most ~2^43 ms, so the subtraction cannot overflow.
	return cutoff{minServerMs: s.opts.Now().UnixMilli() - r.Milliseconds()}
}

// Append stores f durably and returns after the fsync that covers it. If the
// stream already holds a visible fragment with the same ProducerMs (a
// producer resending after a reconnect), nothing is written and the stored
// fragment's Info is returned with Duplicate set; concurrent appends of the
// same (stream, ProducerMs) resolve to one stored copy.
//
// ctx bounds only the wait for room in the write queue. Once queued, Append
// waits for the writer (at most one group commit) so that f.Parts are no
// longer in use when it returns.
func (s *Store) Append(ctx context.Context, f Fragment) (Info, error) {
	num, size, err := validateFragment(&f)
	if err != nil {
		return Info{}, err
	}
	s.noteNumber(num)
	c := s.cutoffFor(f.Stream)
	key := pendingKey{f.Stream, f.ProducerMs}
	var r *request
	for r == nil {
		s.mu.Lock()
		if s.failed != nil {
			s.mu.Unlock()
			return Info{}, fmt.Errorf("%w: %w", ErrFailed, s.failed)
		}
		st := s.streams[f.Stream]
		if st == nil || !st.hasRecord {
			s.mu.Unlock()
			return Info{}, fmt.Errorf("%w: %q", ErrNoStream, f.Stream)
		}
		if n, ok := st.byProducer[f.ProducerMs]; ok && !f.StoreResent {
			if i, found := st.find(n); found && c.visible(&st.frags[i]) {
				info := st.info(&st.frags[i])
				info.Duplicate = true
				s.stats.Duplicates++
				s.mu.Unlock()
				return info, nil
			}
		}
		if p := s.pending[key]; p != nil && !f.StoreResent {
			s.mu.Unlock()
			select {
			case <-p.done:
			case <-ctx.Done():
				return Info{}, ctx.Err()
			}
			if p.err == nil {
				info := p.info
				info.Duplicate = true
				s.mu.Lock()
				s.stats.Duplicates++
				s.mu.Unlock()
				return info, nil
			}
			continue // the first copy failed: try to store ours
		}
		if _, taken := st.find(num); taken {
			s.mu.Unlock()
			return Info{}, fmt.Errorf("%w: fragment number %s already stored in %q", ErrInvalid, f.Number, f.Stream)
		}
		r = &request{kind: kindFragment, frag: f, num: num, size: size, key: key, done: make(chan struct{})}
		s.pending[key] = r
		s.mu.Unlock()
	}
	r.head = appendFragmentHead(nil, &r.frag, num, int(size))
	if err := s.submit(ctx, r); err != nil {
		s.mu.Lock()
		delete(s.pending, key)
		s.mu.Unlock()
		r.err = err
		close(r.done)
		return Info{}, err
	}
	<-r.done
	if r.err != nil {
		return Info{}, r.err
	}
	return r.info, nil
}

func validateFragment(f *Fragment) (num uint64, size int64, err error) {
	if f.Stream == "" || len(f.Stream) > MaxStreamNameBytes {
		return 0, 0, fmt.Errorf("%w: stream name of %d bytes", ErrInvalid, len(f.Stream))
	}
	num, ok := parseNumber(f.Number)
	if !ok {
		return 0, 0, fmt.Errorf("%w: fragment number %q was not issued by NextFragmentNumber", ErrInvalid, f.Number)
	}
	if f.DurationMs < 0 {
		return 0, 0, fmt.Errorf("%w: negative duration %d ms", ErrInvalid, f.DurationMs)
	}
	for _, p := range f.Parts {
		size += int64(len(p))
	}
	if size > MaxFragmentBytes {
		return 0, 0, fmt.Errorf("%w: fragment of %d bytes exceeds %d", ErrInvalid, size, MaxFragmentBytes)
	}
	return num, size, nil
}

// PutStream durably creates or replaces the record of stream name.
func (s *Store) PutStream(ctx context.Context, name string, meta []byte) error {
	if name == "" || len(name) > MaxStreamNameBytes {
		return fmt.Errorf("%w: stream name of %d bytes", ErrInvalid, len(name))
	}
	if len(meta) > MaxStreamMetaBytes {
		return fmt.Errorf("%w: stream record of %d bytes exceeds %d", ErrInvalid, len(meta), MaxStreamMetaBytes)
	}
	r := &request{kind: kindStreamPut, stream: name, meta: append([]byte{}, meta...), done: make(chan struct{})}
	return s.do(ctx, r)
}

// DeleteStream durably deletes the record of stream name and all its
// fragments. A stream created again under the same name starts empty.
func (s *Store) DeleteStream(ctx context.Context, name string) error {
	if name == "" || len(name) > MaxStreamNameBytes {
		return fmt.Errorf("%w: stream name of %d bytes", ErrInvalid, len(name))
	}
	return s.do(ctx, &request{kind: kindStreamDelete, stream: name, done: make(chan struct{})})
}

// do queues a small record and waits for its fsync.
func (s *Store) do(ctx context.Context, r *request) error {
	if err := s.submit(ctx, r); err != nil {
		return err
	}
	<-r.done
	return r.err
}

func (s *Store) submit(ctx context.Context, r *request) error {
	s.sendMu.RLock()
	defer s.sendMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.queue <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Watch returns a channel that is closed at the next append to, or deletion
// of, stream (and when the store closes). To tail without missing a
// fragment: call Watch, then query, then wait on the channel.
func (s *Store) Watch(stream string) <-chan struct{} {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	ch := s.watchers[stream]
	if ch == nil {
		ch = make(chan struct{})
		if s.watchClosed {
			close(ch)
			return ch
		}
		s.watchers[stream] = ch
	}
	return ch
}

func (s *Store) notify(stream string) {
	s.wmu.Lock()
	if ch := s.watchers[stream]; ch != nil {
		close(ch)
		delete(s.watchers, stream)
	}
	s.wmu.Unlock()
}

// Streams returns a copy of the live stream records.
func (s *Store) Streams() map[string][]byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string][]byte, len(s.streams))
	for name, st := range s.streams {
		if st.hasRecord {
			out[name] = append([]byte{}, st.meta...)
		}
	}
	return out
}

// Stats returns a snapshot of the counters.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.stats
	st.Segments = len(s.segs)
	st.Bytes = 0
	for _, seg := range s.segs {
		st.Bytes += seg.size
	}
	st.Streams, st.Fragments = 0, 0
	for _, ss := range s.streams {
		if ss.hasRecord {
			st.Streams++
		}
		st.Fragments += len(ss.frags)
	}
	if st.Fsyncs > 0 {
		st.RecordsPerFsync = float64(st.Records) / float64(st.Fsyncs)
	}
	return st
}

func segmentName(id uint32) string { return fmt.Sprintf("seg-%012d.log", id) }

func (s *Store) segmentPath(id uint32) string { return filepath.Join(s.dir, segmentName(id)) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fragstore: open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fragstore: fsync directory %s: %w", dir, err)
	}
	return nil
}
