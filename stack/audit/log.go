// Package audit is the reference stack's tamper-evident audit trail: one
// CloudTrail-shaped record per request, allowed or denied, appended to a
// hash-chained JSON-lines log that Verify checks and Query filters.
//
// # File format
//
// Each line is one Record as a JSON object whose last member is its link in
// the chain:
//
//	{"eventVersion":"1.08",…,"eventCategory":"Management","auditChain":{"seq":7,"prev":"HEX","hash":"HEX"}}
//
// seq counts from 1; prev is the previous record's hash (GenesisHash for
// the first); hash is SHA-256 over prev (32 bytes), seq (8 bytes, big
// endian) and the line's bytes before `,"auditChain":`. The link must be
// written exactly as Log writes it, so every byte of a line is either
// hashed or checked: editing any byte, deleting, inserting, duplicating or
// reordering lines breaks the chain at a line Verify names. A line is a
// plain CloudTrail record to other tools (jq '.eventName' works).
//
// Beside the log, FILE.head holds a checkpoint (the seq and hash of the
// last durable record), replaced atomically on every flush. With it,
// cutting records off the end of the log is detected too, except records
// appended after the last flush.
//
// # What this does not protect against
//
// The chain has no secret: someone who can rewrite both the log and its
// checkpoint, and knows this scheme, can recompute a consistent chain over
// edited records, and deleting both files loses everything. Protection
// against that needs a checkpoint the attacker cannot forge or reach:
// signing each checkpoint with a key held off the host and shipping it
// elsewhere, as CloudTrail does with its hourly signed digest files. That
// is not implemented here; copying FILE.head off the host periodically
// gives the same detection for everything before the copy.
//
// Files are not rotated: one log grows until the operator moves it aside
// (with its .head) and the next Open starts a new chain.
package audit

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Errors from Log.
var (
	ErrClosed         = errors.New("audit: log closed")
	ErrRecordTooLarge = errors.New("audit: record larger than 256 KiB")
)

// Options tune a Log; the zero value is sensible.
type Options struct {
	// FlushInterval is how often buffered records are written, fsynced
	// and checkpointed; default 200ms. Records appended since the last
	// flush are lost if the process dies.
	FlushInterval time.Duration
	// BufferSize bounds the memory of records waiting to be written
	// (default 256 KiB). When it is full, Append writes to the file under
	// the log's lock, so callers wait instead of records being dropped.
	BufferSize int
	// Clock stamps checkpoints and records without an eventTime; nil
	// means time.Now.
	Clock func() time.Time
	// Logf reports what Open recovered (a torn last line); nil discards.
	Logf func(format string, args ...any)
}

// Resume describes the log Open found.
type Resume struct {
	// Records is how many intact records the log already held; Head is
	// the last of them, which the chain continues from.
	Records uint64
	Head    Head
	// Torn is set when the last line was incomplete (no newline): its
	// bytes were moved to TornFile and cut from the log.
	Torn     *Break
	TornFile string
}

// Sink receives audit records. *Log is the durable one; services take a
// Sink, so the integration decides where records go.
type Sink interface {
	Append(Record) error
}

var _ Sink = (*Log)(nil)

// Log appends records to a hash-chained JSON-lines file. It is safe for
// concurrent use. Only one Log (in one process) may write a file at a time;
// Open does not lock the file.
type Log struct {
	path   string
	opts   Options
	f      *os.File
	resume Resume

	mu     sync.Mutex // guards the fields below
	w      *bufio.Writer
	h      hash.Hash
	line   []byte
	seq    uint64
	sum    [32]byte
	err    error // sticky: after a failed write the file's tail is unknown
	closed bool

	flushMu sync.Mutex // serialises Flush; guards synced
	synced  uint64     // seq of the last checkpoint written

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open opens the log at path for appending, creating it if missing, and
// continues its chain. It first verifies the whole file (and its
// checkpoint, HeadPath(path), if present) and refuses a log that does not
// verify, so a broken chain is never silently extended; the error names the
// line (errors.Is ErrChainBroken). The one exception is an incomplete last
// line, the mark of a crash during a write: its bytes are moved to
// PATH.torn.SEQ, cut from the log, reported through Options.Logf and
// Resume, and the chain continues from the last complete record.
func Open(path string, opts Options) (*Log, error) {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 200 * time.Millisecond
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = 256 << 10
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	var checkpoint []Head
	var synced uint64
	switch cp, err := ReadHead(HeadPath(path)); {
	case err == nil:
		checkpoint, synced = []Head{cp}, cp.Seq
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("audit: opening %s: %w; move the log and its checkpoint aside to start a new log", path, err)
	}
	rep, created, err := recoverLog(path, checkpoint, opts.Logf)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: opening %s for appending: %w", path, err)
	}
	if created {
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, fmt.Errorf("audit: creating %s: %w", path, err)
		}
	}
	sum, _ := hexHash(rep.Head.Hash)
	l := &Log{
		path: path, opts: opts, f: f, resume: rep,
		w: bufio.NewWriterSize(f, opts.BufferSize), h: newSHA256(),
		seq: rep.Head.Seq, sum: sum, synced: synced, // a lagging checkpoint catches up at the first flush
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go l.flushLoop()
	return l, nil
}

// recoverLog verifies the existing log and cuts a torn last line.
func recoverLog(path string, checkpoint []Head, logf func(string, ...any)) (Resume, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if len(checkpoint) > 0 {
			return Resume{}, false, fmt.Errorf("audit: %s is missing but its checkpoint %s names record %d: %w: the log was deleted; move the checkpoint aside to start a new log",
				path, HeadPath(path), checkpoint[0].Seq, ErrChainBroken)
		}
		return Resume{Head: Head{Hash: GenesisHash}}, true, nil
	}
	if err != nil {
		return Resume{}, false, fmt.Errorf("audit: opening %s: %w", path, err)
	}
	defer f.Close()
	rep, err := Verify(f, checkpoint...)
	res := Resume{Records: rep.Records, Head: rep.Head}
	var brk *Break
	switch {
	case err == nil:
		return res, false, nil
	case !errors.As(err, &brk) || brk.Kind != BreakTorn:
		return res, false, fmt.Errorf("audit: refusing to append to %s: %w; run `camstorm audit verify %s` for details and move the log (and %s) aside to start a new one",
			path, err, path, filepath.Base(HeadPath(path)))
	case len(checkpoint) > 0 && checkpoint[0].Seq > rep.Head.Seq:
		return res, false, fmt.Errorf("audit: refusing to append to %s: %w, and the checkpoint names record %d beyond it: records were cut; move the log aside to start a new one",
			path, err, checkpoint[0].Seq)
	}
	torn, err := moveTail(f, path, brk.Offset, fmt.Sprintf("%s.torn.%d", path, rep.Head.Seq+1))
	if err != nil {
		return res, false, err
	}
	res.Torn, res.TornFile = brk, torn
	logf("audit: %s: %v; moved its bytes to %s and continuing after record %d", path, brk, torn, rep.Head.Seq)
	return res, false, nil
}

// moveTail copies the log's bytes from off to the end into a new file
// named base (or base.2, base.3 … if taken: a crash can tear the same
// record twice) and then cuts them from the log. It returns the file name.
func moveTail(f *os.File, path string, off int64, base string) (string, error) {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return "", fmt.Errorf("audit: recovering torn line of %s: %w", path, err)
	}
	to := base
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	for i := 2; errors.Is(err, fs.ErrExist) && i <= 100; i++ {
		to = fmt.Sprintf("%s.%d", base, i)
		out, err = os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err != nil {
		return "", fmt.Errorf("audit: saving the torn last line of %s: %w; move old %s* files aside and retry", path, err, base)
	}
	_, err = io.Copy(out, io.LimitReader(f, MaxLineBytes+1))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("audit: saving the torn last line of %s to %s: %w", path, to, err)
	}
	if err := os.Truncate(path, off); err != nil {
		return "", fmt.Errorf("audit: cutting the torn last line of %s: %w", path, err)
	}
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return "", fmt.Errorf("audit: %s: %w", path, err)
	}
	err = w.Sync()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	return to, err
}

// Resumed describes what Open found in the existing log.
func (l *Log) Resumed() Resume { return l.resume }

// Path is the log's file name.
func (l *Log) Path() string { return l.path }

// Append adds rec to the log. It fills in eventVersion, eventType and
// eventTime when empty, normalises eventTime to whole seconds in UTC,
// redacts requestParameters and responseElements (Redact) and replaces
// rec.Chain with the record's link. The record is buffered: it is durable
// after the next flush (Options.FlushInterval, Flush or Close). Append
// blocks while the buffer is full. After a write error every Append
// returns that error; reopen the log to continue.
func (l *Log) Append(rec Record) error {
	if rec.EventVersion == "" {
		rec.EventVersion = EventVersion
	}
	if rec.EventType == "" {
		rec.EventType = EventTypeAPI
	}
	if rec.EventTime.IsZero() {
		rec.EventTime = l.opts.Clock()
	}
	rec.EventTime = rec.EventTime.UTC().Truncate(time.Second)
	rec.RequestParameters = Redact(rec.RequestParameters)
	rec.ResponseElements = Redact(rec.ResponseElements)
	rec.Chain = nil
	body, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("audit: encoding record %s: %w", rec.EventName, err)
	}
	if len(body) > MaxRecordBytes {
		return fmt.Errorf("%w: %s is %d bytes", ErrRecordTooLarge, rec.EventName, len(body))
	}
	body = body[:len(body)-1] // the link goes inside the object

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.err != nil {
		return l.err
	}
	seq := l.seq + 1
	sum := chainHash(l.h, l.sum, seq, body)
	l.line = appendLine(l.line[:0], body, seq, l.sum, sum)
	if _, err := l.w.Write(l.line); err != nil {
		l.err = fmt.Errorf("audit: writing %s: %w", l.path, err)
		return l.err
	}
	l.seq, l.sum = seq, sum
	return nil
}

// Head is the last appended record, durable or not.
func (l *Log) Head() Head {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Head{Seq: l.seq, Hash: hex.EncodeToString(l.sum[:])}
}

// Flush writes buffered records, fsyncs the log and replaces the
// checkpoint. Once it returns, every record appended before the call is
// durable.
func (l *Log) Flush() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	if l.err == nil {
		if err := l.w.Flush(); err != nil {
			l.err = fmt.Errorf("audit: writing %s: %w", l.path, err)
		}
	}
	err, seq, sum := l.err, l.seq, l.sum
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if seq == l.synced {
		return nil
	}
	if err := l.f.Sync(); err != nil {
		return l.fail(fmt.Errorf("audit: fsync %s: %w", l.path, err))
	}
	h := Head{Seq: seq, Hash: hex.EncodeToString(sum[:]), Time: l.opts.Clock().UTC()}
	if err := writeHead(HeadPath(l.path), h); err != nil {
		return l.fail(fmt.Errorf("audit: writing checkpoint %s: %w", HeadPath(l.path), err))
	}
	l.synced = seq
	return nil
}

func (l *Log) fail(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
	}
	return l.err
}

func (l *Log) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(l.opts.FlushInterval)
	defer t.Stop()
	reported := false
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if err := l.Flush(); err != nil && !reported {
				l.opts.Logf("audit: %v; records are no longer written", err)
				reported = true
			}
		}
	}
}

// Close flushes and closes the log. Appends after Close return ErrClosed;
// a second Close returns the first one's result.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		close(l.stop)
		<-l.done
		err := l.Flush()
		if cerr := l.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("audit: closing %s: %w", l.path, cerr)
		}
		l.closeErr = err
	})
	return l.closeErr
}
