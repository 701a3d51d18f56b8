// Package kms is the reference stack's key management service: an AWS KMS
// compatible server (JSON 1.1 wire protocol, symmetric keys, aliases, rotation,
// key policies) whose key material is kept encrypted in a data directory.
//
// # Ciphertext blob layout
//
// Every CiphertextBlob this server returns is
//
//	offset  size  field
//	0       1     format version, always 0x01
//	1       16    key id (the UUID of the KMS key, raw bytes)
//	17      4     key version (big-endian index into the key's material list)
//	21      12    AES-GCM nonce (random)
//	33      n+16  AES-256-GCM ciphertext of the n plaintext bytes, then the tag
//
// The 21-byte header is authenticated: the GCM additional data is the header
// followed by the canonical encoding of the encryption context, which is a
// 4-byte big-endian pair count and then, for every pair in byte order of the
// keys, the key and the value each preceded by its 4-byte big-endian length.
// Lengths make the encoding unambiguous, so {"a":"bc"} and {"ab":"c"} differ.
// Because the blob names the key and the version, Decrypt needs no KeyId and
// every old version keeps decrypting after rotation.
//
// Key material is stored in DataDir/kms-state.json (mode 0600), each version
// wrapped with AES-256-GCM under a root key kept in DataDir/kms-root.key
// (mode 0600, created on first start).
package kms

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"time"
)

// Defaults used when Config leaves a field empty.
const (
	DefaultRegion  = "us-east-1"
	DefaultAccount = "111122223333"
	// ManagedKinesisVideoAlias names the AWS-managed key that exists from the
	// first start, as in AWS where it is created on first use.
	ManagedKinesisVideoAlias = "alias/aws/kinesisvideo"
)

// ErrInvalidConfig is returned by New when the Config has problems.
var ErrInvalidConfig = errors.New("kms: invalid config")

// Config configures a Server.
type Config struct {
	// DataDir holds the root key and the key state; required.
	DataDir string
	// Region and Account appear in every ARN.
	Region  string
	Account string
	// Clock returns the current time; it drives automatic rotation and deletion.
	Clock func() time.Time
	// Rand supplies key material, nonces, key ids and request ids; nil means
	// crypto/rand. A seeded reader makes a single run reproducible, but must
	// not be replayed against an existing DataDir: it would repeat GCM nonces
	// under the root key and key ids.
	Rand io.Reader
	// Logf receives one audit line per request; nil discards them.
	Logf func(format string, args ...any)
	// Caller, when set, names each request's authenticated caller (the
	// stack verifies SigV4 in front of the KMS); false means the request
	// was not authenticated, and it gets only what "*" is allowed. Nil
	// takes the caller's claimed access key id at its word (standInCaller).
	Caller func(r *http.Request) (Caller, bool)
	// Defects are deliberate flaws, only for proving that conformance
	// suites catch them (stack.Defect); never for production.
	Defects Defects
}

// Defects are deliberate flaws of the KMS. ForgetOldKeyVersions: after a
// rotation, blobs of earlier key versions no longer decrypt.
// StaleKeyVersion: GenerateDataKey keeps sealing under the key's first
// version after rotations. IgnoreEncryptionContext: the encryption context
// is left out of what a blob's seal authenticates, so Decrypt succeeds
// under any context.
type Defects struct {
	ForgetOldKeyVersions, StaleKeyVersion, IgnoreEncryptionContext bool
}

var (
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
)

func (c *Config) validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("the data directory (Config.DataDir) is required"))
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	} else if !regionPattern.MatchString(c.Region) {
		errs = append(errs, fmt.Errorf("region %q (Config.Region) is not a region name like us-east-1", c.Region))
	}
	if c.Account == "" {
		c.Account = DefaultAccount
	} else if !accountPattern.MatchString(c.Account) {
		errs = append(errs, fmt.Errorf("account %q (Config.Account) must be 12 digits", c.Account))
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// Server is an AWS KMS compatible key service. It is safe for concurrent use.
type Server struct {
	cfg   Config
	store *store

	randMu sync.Mutex // Config.Rand need not be safe for concurrent use

	mu      sync.Mutex // guards everything below and the keys' mutable fields
	keys    map[string]*key
	aliases map[string]string // alias name -> key id
	closed  bool
}

// New opens (or creates) the key state in cfg.DataDir and makes sure the
// AWS-managed key behind ManagedKinesisVideoAlias exists.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, keys: map[string]*key{}, aliases: map[string]string{}}
	st, err := openStore(cfg.DataDir, s.random)
	if err != nil {
		return nil, err
	}
	s.store = st
	if err := s.load(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	managed := managedKeyPolicy(s.cfg.Account, s.cfg.Region)
	if id, ok := s.aliases[ManagedKinesisVideoAlias]; ok {
		// A managed key made before it had its own policy gets it now.
		if k := s.keys[id]; k != nil && k.Policy == defaultPolicy(s.cfg.Account) {
			k.Policy = managed
			if err := s.saveLocked(); err != nil {
				return nil, err
			}
		}
	} else {
		k, err := s.newKeyLocked("Default key that protects my Kinesis Video Streams data when no other key is defined", managed, nil, keyManagerAWS)
		if err != nil {
			return nil, err
		}
		now := s.cfg.Clock()
		k.RotationEnabled = true
		k.RotationPeriodDays = defaultRotationDays
		k.NextRotation = now.AddDate(0, 0, defaultRotationDays)
		s.aliases[ManagedKinesisVideoAlias] = k.ID
		if err := s.saveLocked(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Handler serves the KMS JSON 1.1 protocol (POST / with X-Amz-Target).
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Close stops the server from answering; the state is already on disk.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// random fills b from Config.Rand.
func (s *Server) random(b []byte) error {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return fmt.Errorf("kms: reading randomness: %w", err)
	}
	return nil
}

func (s *Server) newUUID() (string, error) {
	var b [16]byte
	if err := s.random(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b), nil
}

func formatUUID(b [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func parseUUID(s string) ([16]byte, bool) {
	var b [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return b, false
	}
	n, err := hex.Decode(b[:], []byte(s[0:8]+s[9:13]+s[14:18]+s[19:23]+s[24:36]))
	return b, err == nil && n == 16
}
