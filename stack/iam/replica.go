package iam

import (
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// ErrReadOnly is returned by a replica (OpenReplica) asked to change
// something: only the identity service that owns the state changes it.
var ErrReadOnly = errors.New("iam: this is a read-only replica of the identity state")

// ReplicaRefresh is how often a replica looks for a newer state file.
const ReplicaRefresh = time.Second

// OpenReplica opens, read-only, the identity state that the identity
// service of another process keeps in cfg.DataDir (a shared volume): the
// ingest and the KMS use it when they run apart from the identity service,
// in containers. A replica verifies credentials — long-term keys from the
// state, session tokens by opening them (they are sealed, so no shared
// index is needed: use LookupCredential) — answers identity policies and
// role ARNs, and issues session credentials for its own service's role
// (AssumeRole), which every verifier accepts. It writes nothing; changes
// the identity service makes (roles, policies, keys) are picked up within
// ReplicaRefresh. cfg.CA is not needed.
func OpenReplica(cfg Config) (*Service, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("%w: the data directory (Config.DataDir) is required", ErrInvalidConfig)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Rand == nil {
		cfg.Rand = crand.Reader
	}
	s := &Service{cfg: cfg, path: filepath.Join(cfg.DataDir, StateFile), readOnly: true}
	st, fi, err := readState(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("iam: no identity state in %s: start the identity service first (it creates it)", cfg.DataDir)
	}
	if err != nil {
		return nil, err
	}
	if cfg.Account != "" && st.Account != cfg.Account {
		return nil, fmt.Errorf("%w: data directory %s belongs to account %s, not %s", ErrInvalidConfig, cfg.DataDir, st.Account, cfg.Account)
	}
	s.cfg.Account = st.Account
	s.st, s.stateFile, s.checked = st, fi, cfg.Clock()
	if s.session, err = newSealer(st.SessionKey); err != nil {
		return nil, err
	}
	return s, nil
}

// readState reads and checks a state file, and says which file it read.
func readState(path string) (state, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return state{}, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return state{}, nil, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return state{}, nil, fmt.Errorf("iam: reading state: %w", err)
	}
	probe := &Service{}
	if err := json.Unmarshal(b, &probe.st); err != nil {
		return state{}, nil, fmt.Errorf("iam: state file %s is damaged: %w", path, err)
	}
	probe.fillMaps()
	if err := probe.checkLoaded(); err != nil {
		return state{}, nil, fmt.Errorf("iam: state file %s is damaged: %w", path, err)
	}
	return probe.st, fi, nil
}

// refreshLocked reloads a replica's state when the file changed, at most
// every ReplicaRefresh; a state file that cannot be read is logged and the
// last good state kept. s.mu is held.
func (s *Service) refreshLocked() {
	if !s.readOnly {
		return
	}
	now := s.cfg.Clock()
	if now.Sub(s.checked) < ReplicaRefresh && !now.Before(s.checked) {
		return
	}
	s.checked = now
	// The service replaces the file by renaming a new one over it, so a
	// change is a new file; its time alone may not move, since file times
	// tick coarsely.
	fi, err := os.Stat(s.path)
	if err != nil || os.SameFile(fi, s.stateFile) {
		return
	}
	st, got, err := readState(s.path)
	if err != nil {
		s.cfg.Logf("iam: replica keeps its last state: %v", err)
		return
	}
	s.st, s.stateFile = st, got
}
