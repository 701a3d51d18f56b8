package iam

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// SessionLogFile keeps the issued session tokens inside Config.DataDir
// (mode 0600), one per line, so temporary keys can be found by access key
// id after a restart. The lines are the sealed tokens themselves: the file
// reveals no secret without the session key.
const SessionLogFile = "iam-sessions.log"

// Bounds of the temporary credential index.
const (
	// MaxLiveSessions caps the temporary credentials known by access key id;
	// issuing more answers LimitExceeded until some expire.
	MaxLiveSessions = 100_000
	// ExpiredSessionRetention is how long an expired credential stays
	// known by access key id, so a verifier answers ExpiredToken rather than
	// InvalidClientTokenId to a client that is a little late.
	ExpiredSessionRetention = time.Hour
	// maxTokenLine bounds a line read back from the session log.
	maxTokenLine = maxTokenLen + 1
)

// sessions indexes the temporary credentials this service issued and keeps
// them in the session log. Appends are group-committed: concurrent issuers
// share one write and one fsync.
type sessions struct {
	path  string
	limit int // MaxLiveSessions; lower in tests

	mu        sync.RWMutex // guards byKey and lastPurge
	byKey     map[string]*Credential
	lastPurge time.Time

	logMu   sync.Mutex // guards pending, gen, synced, err
	pending []byte
	gen     uint64
	synced  uint64
	err     error // sticky: once the log cannot be written, issuing stops

	writeMu sync.Mutex // guards f and lines; one write or compaction at a time
	f       *os.File
	lines   int
}

// openSessions loads the session log, keeping the credentials that are not
// long expired, and compacts it when it holds mostly dead lines. Lines that
// do not open (a write torn by a crash, a token of an older session key)
// are dropped.
func (s *Service) openSessions(now time.Time) (*sessions, error) {
	ss := &sessions{path: filepath.Join(s.cfg.DataDir, SessionLogFile), limit: MaxLiveSessions, byKey: map[string]*Credential{}, lastPurge: now}
	f, err := os.Open(ss.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("iam: reading session log: %w", err)
	default:
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 4096), maxTokenLine)
		for sc.Scan() {
			ss.lines++
			c, ok := s.openToken(sc.Text())
			if ok && now.Before(c.Expiration.Add(ExpiredSessionRetention)) && len(ss.byKey) < ss.limit {
				ss.byKey[c.AccessKeyID] = &c
			}
		}
		// A line over the bound cannot be a token this service wrote; the
		// rest of the file is skipped and compaction below drops it.
		_ = f.Close()
	}
	if err := ss.compact(); err != nil {
		return nil, err
	}
	return ss, nil
}

// compact rewrites the log with only the indexed credentials and reopens it
// for appending. The caller holds writeMu or has ss to itself.
func (ss *sessions) compact() error {
	ss.mu.RLock()
	var b []byte
	for _, c := range ss.byKey {
		b = append(b, c.SessionToken...)
		b = append(b, '\n')
	}
	n := len(ss.byKey)
	ss.mu.RUnlock()
	if ss.f != nil {
		_ = ss.f.Close()
		ss.f = nil
	}
	if err := writeFileAtomic(filepath.Dir(ss.path), ss.path, b); err != nil {
		return fmt.Errorf("iam: compacting session log: %w", err)
	}
	f, err := os.OpenFile(ss.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("iam: opening session log: %w", err)
	}
	ss.f, ss.lines = f, n
	return nil
}

// add indexes c and returns once its token is durable in the log.
func (ss *sessions) add(c Credential, now time.Time) error {
	ss.mu.Lock()
	if now.Sub(ss.lastPurge) > time.Minute || len(ss.byKey) >= ss.limit {
		for id, old := range ss.byKey {
			if !now.Before(old.Expiration.Add(ExpiredSessionRetention)) {
				delete(ss.byKey, id)
			}
		}
		ss.lastPurge = now
	}
	if len(ss.byKey) >= ss.limit {
		ss.mu.Unlock()
		return fmt.Errorf("%w: %d temporary credentials are live; wait for some to expire", ErrLimitExceeded, ss.limit)
	}
	ss.byKey[c.AccessKeyID] = &c
	ss.mu.Unlock()

	ss.logMu.Lock()
	ss.pending = append(append(ss.pending, c.SessionToken...), '\n')
	ss.gen++
	g := ss.gen
	ss.logMu.Unlock()

	err := ss.sync(g)
	if err != nil {
		ss.mu.Lock()
		delete(ss.byKey, c.AccessKeyID)
		ss.mu.Unlock()
	}
	return err
}

// sync makes the log durable up to generation g.
func (ss *sessions) sync(g uint64) error {
	ss.writeMu.Lock()
	defer ss.writeMu.Unlock()
	ss.logMu.Lock()
	if ss.err != nil || ss.synced >= g {
		err := ss.err
		ss.logMu.Unlock()
		return err
	}
	buf, cur := ss.pending, ss.gen
	ss.pending = nil
	ss.logMu.Unlock()

	var err error
	if ss.f == nil {
		err = errors.New("the session log is closed")
	} else if _, err = ss.f.Write(buf); err == nil {
		err = ss.f.Sync()
	}
	if err != nil {
		return ss.fail(fmt.Errorf("iam: writing session log %s: %w (temporary credentials cannot be issued until the service restarts)", ss.path, err))
	}
	ss.logMu.Lock()
	ss.synced = cur
	ss.logMu.Unlock()
	ss.lines += countLines(buf)
	ss.mu.RLock()
	live := len(ss.byKey)
	ss.mu.RUnlock()
	if ss.lines > 2*live+1024 {
		if err := ss.compact(); err != nil {
			return ss.fail(err)
		}
	}
	return nil
}

// fail makes err sticky: every later issue reports it.
func (ss *sessions) fail(err error) error {
	ss.logMu.Lock()
	defer ss.logMu.Unlock()
	ss.err = err
	return err
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

// lookup returns the indexed credential with that access key id.
func (ss *sessions) lookup(accessKeyID string) (Credential, bool) {
	ss.mu.RLock()
	defer ss.mu.RUnlock()
	c, ok := ss.byKey[accessKeyID]
	if !ok {
		return Credential{}, false
	}
	return *c, true
}

func (ss *sessions) close() error {
	ss.writeMu.Lock()
	defer ss.writeMu.Unlock()
	if ss.f == nil {
		return nil
	}
	err := ss.f.Close()
	ss.f = nil
	return err
}

// writeFileAtomic replaces path with data: temp file (mode 0600), fsync,
// rename, fsync of the directory.
func writeFileAtomic(dir, path string, data []byte) error {
	tmp, err := os.CreateTemp(dir, ".iam-tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err = tmp.Chmod(0o600); err == nil {
		if _, err = tmp.Write(data); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // makes the rename durable where the platform supports it
		_ = d.Close()
	}
	return nil
}
