package iam

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/camstorm/camstorm/stack/pki"
)

// Defaults used when Config leaves a field empty, and the names of what the
// service creates on first start.
const (
	DefaultAccount             = "123456789012"
	DefaultCertificateValidity = 365 * 24 * time.Hour

	// AdminUserName is the IAM user holding the stack's only long-term keys.
	AdminUserName = "camstorm-admin"
	// CameraRoleName is the role cameras get through CameraRoleAlias: only the
	// KVS producer calls, only on the stream named like the camera's thing.
	CameraRoleName  = "camstorm-camera"
	CameraRoleAlias = "camstorm-camera-alias"
	// ConsumerRoleName reads media and decrypts with KMS; the account assumes it.
	ConsumerRoleName = "camstorm-consumer"
	// AdminRoleName may do everything; the account assumes it.
	AdminRoleName = "camstorm-admin"

	// CredentialProviderService is the service principal a role must trust to
	// be reachable through a role alias, as in AWS IoT.
	CredentialProviderService = "credentials.iot.amazonaws.com"

	// StateFile is the service's state inside Config.DataDir (mode 0600).
	StateFile = "iam-state.json"

	// MaxCertificates bounds the certificates kept; enrollment beyond it
	// answers LimitExceededException.
	MaxCertificates = 100_000
)

// Sentinel errors; the HTTP handlers map them to AWS error codes.
var (
	ErrInvalidConfig = errors.New("iam: invalid config")
	ErrNotFound      = errors.New("iam: not found")
	ErrInvalid       = errors.New("iam: invalid request")
	ErrAccessDenied  = errors.New("iam: access denied")
	ErrLimitExceeded = errors.New("iam: limit exceeded")
	ErrClosed        = errors.New("iam: service closed")
)

// Config configures a Service.
type Config struct {
	// DataDir holds StateFile; required.
	DataDir string
	// CA signs device certificates and is the only CA the credential
	// provider trusts; required.
	CA *pki.CA
	// Account appears in every ARN; 12 digits.
	Account string
	// Clock drives credential expiry and certificate validity, including
	// the TLS verification of device certificates.
	Clock func() time.Time
	// Rand supplies keys, secrets, serial numbers and nonces; nil means
	// crypto/rand. It must not replay a sequence against an existing DataDir.
	Rand io.Reader
	// CertificateValidity is how long an enrolled device certificate lasts.
	CertificateValidity time.Duration
	// EnrollmentToken, when set, is the bearer token POST /enroll accepts;
	// when empty a random one is made on first start and kept in the state.
	EnrollmentToken string
	// CredentialProviderURL is returned to enrolled devices (the base URL of
	// the mutual-TLS credential provider listener); optional.
	CredentialProviderURL string
	// Logf receives one line per state change and refused request; nil
	// discards them.
	Logf func(format string, args ...any)
	// IgnoreRevocation is a deliberate defect, only for proving that
	// conformance suites catch it (stack.Defect), never for production:
	// the credential provider serves revoked certificates.
	IgnoreRevocation bool
}

var accountPattern = regexp.MustCompile(`^[0-9]{12}$`)

func (c *Config) validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("the data directory (Config.DataDir) is required"))
	}
	if c.CA == nil {
		errs = append(errs, errors.New("the stack CA (Config.CA) is required: open it with pki.LoadOrCreate"))
	}
	if c.Account == "" {
		c.Account = DefaultAccount
	} else if !accountPattern.MatchString(c.Account) {
		errs = append(errs, fmt.Errorf("account %q (Config.Account) must be 12 digits", c.Account))
	}
	if c.CertificateValidity == 0 {
		c.CertificateValidity = DefaultCertificateValidity
	} else if c.CertificateValidity < time.Minute {
		errs = append(errs, fmt.Errorf("certificate validity %s (Config.CertificateValidity) is shorter than a minute", c.CertificateValidity))
	}
	if c.EnrollmentToken != "" && len(c.EnrollmentToken) < 16 {
		errs = append(errs, errors.New("the enrollment token (Config.EnrollmentToken) must have at least 16 characters"))
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

// Service is the identity service. It is safe for concurrent use.
type Service struct {
	cfg     Config
	path    string
	session *sealer
	sess    *sessions

	randMu sync.Mutex // Config.Rand need not be safe for concurrent use

	mu       sync.Mutex // guards st, closed and the generations
	st       state
	closed   bool
	gen      uint64 // bumped by every change of st
	savedGen uint64 // the generation the state file holds

	writeMu sync.Mutex // one state file write at a time

	// A replica (OpenReplica) reads the state another process writes.
	readOnly  bool
	stateFile os.FileInfo // the state file last read
	checked   time.Time   // when it was last looked for
}

// state is everything kept in StateFile.
type state struct {
	Account         string                  `json:"account"`
	SessionKey      []byte                  `json:"sessionKey"` // seals session tokens
	EnrollmentToken string                  `json:"enrollmentToken"`
	Users           map[string]*user        `json:"users"`
	Roles           map[string]*role        `json:"roles"`
	RoleAliases     map[string]*roleAlias   `json:"roleAliases"`
	Certificates    map[string]*certificate `json:"certificates"`
}

type user struct {
	Name     string            `json:"name"`
	ID       string            `json:"id"`
	KeyID    string            `json:"accessKeyId"`
	Secret   string            `json:"secretAccessKey"`
	Policies map[string]string `json:"policies"`
}

type role struct {
	Name        string            `json:"name"`
	ID          string            `json:"id"`
	TrustPolicy string            `json:"trustPolicy"`
	Policies    map[string]string `json:"policies"`
	MaxSession  int64             `json:"maxSessionDurationSeconds"`
	Created     time.Time         `json:"created"`
}

type roleAlias struct {
	Alias    string `json:"alias"`
	Role     string `json:"role"`
	Duration int64  `json:"credentialDurationSeconds"`
}

type certificate struct {
	ID       string    `json:"id"`
	Thing    string    `json:"thing"`
	Status   string    `json:"status"`
	NotAfter time.Time `json:"notAfter"`
	Created  time.Time `json:"created"`
}

// Open loads the state kept in cfg.DataDir, creating it with the defaults
// (admin user and keys, the camera, consumer and admin roles, the camera
// role alias, an enrollment token) on first start.
func Open(cfg Config) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("iam: creating data directory: %w", err)
	}
	s := &Service{cfg: cfg, path: filepath.Join(cfg.DataDir, StateFile)}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := s.initState(); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("iam: reading state: %w", err)
	default:
		if err := json.Unmarshal(b, &s.st); err != nil {
			return nil, fmt.Errorf("iam: state file %s is damaged (%v); restore it or remove it to start over with new keys", s.path, err)
		}
		if s.st.Account != cfg.Account {
			return nil, fmt.Errorf("%w: data directory %s belongs to account %s, not %s", ErrInvalidConfig, cfg.DataDir, s.st.Account, cfg.Account)
		}
		s.fillMaps()
		if err := s.checkLoaded(); err != nil {
			return nil, fmt.Errorf("iam: state file %s is damaged (%w); restore it or remove it to start over with new keys", s.path, err)
		}
	}
	if cfg.EnrollmentToken != "" && cfg.EnrollmentToken != s.st.EnrollmentToken {
		s.st.EnrollmentToken = cfg.EnrollmentToken
		if err := s.writeState(); err != nil {
			return nil, err
		}
	}
	sl, err := newSealer(s.st.SessionKey)
	if err != nil {
		return nil, err
	}
	s.session = sl
	if s.sess, err = s.openSessions(cfg.Clock()); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Service) fillMaps() {
	if s.st.Users == nil {
		s.st.Users = map[string]*user{}
	}
	if s.st.Roles == nil {
		s.st.Roles = map[string]*role{}
	}
	if s.st.RoleAliases == nil {
		s.st.RoleAliases = map[string]*roleAlias{}
	}
	if s.st.Certificates == nil {
		s.st.Certificates = map[string]*certificate{}
	}
}

// checkLoaded makes sure a state read from disk has what the service
// relies on.
func (s *Service) checkLoaded() error {
	if len(s.st.SessionKey) != 32 {
		return errors.New("no valid session key")
	}
	if u := s.st.Users[AdminUserName]; u == nil || u.KeyID == "" || u.Secret == "" {
		return errors.New("no admin user with keys")
	}
	for name, u := range s.st.Users {
		if u == nil {
			return fmt.Errorf("user %s is empty", name)
		}
	}
	for name, r := range s.st.Roles {
		if r == nil || r.Name != name {
			return fmt.Errorf("role %s is empty or misnamed", name)
		}
		if r.Policies == nil {
			r.Policies = map[string]string{}
		}
	}
	for name, ra := range s.st.RoleAliases {
		if ra == nil || ra.Alias != name {
			return fmt.Errorf("role alias %s is empty or misnamed", name)
		}
	}
	for id, c := range s.st.Certificates {
		if c == nil || c.ID != id {
			return fmt.Errorf("certificate %s is empty or misnamed", id)
		}
	}
	return nil
}

func (s *Service) initState() error {
	s.st = state{Account: s.cfg.Account}
	s.fillMaps()
	var err error
	if s.st.SessionKey, err = s.randomBytes(32); err != nil {
		return err
	}
	if s.st.EnrollmentToken, err = s.randomString(32); err != nil {
		return err
	}
	admin := &user{Name: AdminUserName, Policies: map[string]string{"AdministratorAccess": allowEverything}}
	if admin.ID, err = s.newID("AIDA"); err != nil {
		return err
	}
	if admin.KeyID, err = s.newID("AKIA"); err != nil {
		return err
	}
	if admin.Secret, err = s.newSecret(); err != nil {
		return err
	}
	s.st.Users[admin.Name] = admin
	for _, r := range defaultRoles(s.cfg.Account) {
		if err := s.putRoleLocked(r); err != nil {
			return err
		}
	}
	s.st.RoleAliases[CameraRoleAlias] = &roleAlias{Alias: CameraRoleAlias, Role: CameraRoleName, Duration: 3600}
	return s.writeState()
}

// Close makes the service refuse further changes and closes the session
// log; the state is already on disk.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if s.sess == nil {
		return nil
	}
	return s.sess.close()
}

// Account is the account id in every ARN.
func (s *Service) Account() string { return s.cfg.Account }

// EnrollmentToken is the bearer token POST /enroll accepts.
func (s *Service) EnrollmentToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.EnrollmentToken
}

// RotateEnrollmentToken replaces the enrollment token with a new random one
// and returns it; the old one stops working at once.
func (s *Service) RotateEnrollmentToken() (string, error) {
	tok, err := s.randomString(32)
	if err != nil {
		return "", err
	}
	if err := s.update(func() error { s.st.EnrollmentToken = tok; return nil }); err != nil {
		return "", err
	}
	s.cfg.Logf("iam: enrollment token rotated")
	return tok, nil
}

// update applies change to the state under the lock and returns once the
// state file holds it. Changes that arrive while a write is under way share
// the next write (group commit), so concurrent enrollments cost one write,
// not one each. If the write fails the change stays in effect in memory and
// the error says it may not survive a restart.
func (s *Service) update(change func() error) error {
	if s.readOnly {
		return ErrReadOnly
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if err := change(); err != nil {
		s.mu.Unlock()
		return err
	}
	s.gen++
	g := s.gen
	s.mu.Unlock()

	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	if s.savedGen >= g {
		s.mu.Unlock()
		return nil // a write that started after this change already carried it
	}
	cur := s.gen
	b, err := json.Marshal(&s.st)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("iam: encoding state: %w", err)
	}
	// Readers are not held up by the disk: only writeMu is held from here.
	if err := s.writeFile(b); err != nil {
		return fmt.Errorf("%w (the change is in effect until the service restarts)", err)
	}
	s.mu.Lock()
	s.savedGen = cur
	s.mu.Unlock()
	return nil
}

// writeState writes the whole state; for Open, which has the Service to
// itself.
func (s *Service) writeState() error {
	b, err := json.Marshal(&s.st)
	if err != nil {
		return fmt.Errorf("iam: encoding state: %w", err)
	}
	return s.writeFile(b)
}

// writeFile replaces the state file atomically.
func (s *Service) writeFile(b []byte) error {
	if err := writeFileAtomic(s.cfg.DataDir, s.path, b); err != nil {
		return fmt.Errorf("iam: writing state %s: %w", s.path, err)
	}
	return nil
}

func (s *Service) randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	s.randMu.Lock()
	defer s.randMu.Unlock()
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return nil, fmt.Errorf("iam: reading randomness: %w", err)
	}
	return b, nil
}

func (s *Service) randomString(n int) (string, error) {
	b, err := s.randomBytes(n)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// newID makes an AWS-style identifier: a four-letter prefix (AKIA, ASIA,
// AROA, AIDA) and 16 characters of base32.
func (s *Service) newID(prefix string) (string, error) {
	b, err := s.randomBytes(10)
	if err != nil {
		return "", err
	}
	return prefix + base32.StdEncoding.EncodeToString(b), nil
}

// newSecret makes a 40-character secret access key, like AWS's.
func (s *Service) newSecret() (string, error) {
	b, err := s.randomBytes(30)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
