package iam

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// A session token is a sealed blob
//
//	base64(0x01 || 12-byte nonce || AES-256-GCM(session key, payload))
//
// whose payload (JSON) holds the access key id, the secret, the expiry and
// the principal, with the version byte as additional data. The session key
// lives in the state file. The token alone proves the credential
// (LookupCredential), with no state at all. For verifiers that look keys up
// by access key id only (LookupAccessKey), issued tokens are also appended
// to the session log and indexed in memory: bounded by MaxLiveSessions,
// purged ExpiredSessionRetention after expiry, reloaded on restart. An
// issued credential cannot be withdrawn before it expires, as in AWS.

const (
	tokenVersion = 0x01
	// maxTokenLen bounds what LookupCredential decodes from a request.
	maxTokenLen = 4096
)

type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("iam: session key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("iam: session key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

type sessionPayload struct {
	KeyID     string    `json:"k"`
	Secret    string    `json:"s"`
	Expires   int64     `json:"e"`
	Principal Principal `json:"p"`
}

// issue makes a temporary credential for p that expires after d.
func (s *Service) issue(p Principal, d time.Duration) (Credential, error) {
	id, err := s.newID("ASIA")
	if err != nil {
		return Credential{}, err
	}
	secret, err := s.newSecret()
	if err != nil {
		return Credential{}, err
	}
	exp := s.cfg.Clock().Add(d).UTC().Truncate(time.Second)
	payload, err := json.Marshal(sessionPayload{KeyID: id, Secret: secret, Expires: exp.Unix(), Principal: p})
	if err != nil {
		return Credential{}, fmt.Errorf("iam: encoding session: %w", err)
	}
	nonce, err := s.randomBytes(s.session.aead.NonceSize())
	if err != nil {
		return Credential{}, err
	}
	blob := append([]byte{tokenVersion}, nonce...)
	blob = s.session.aead.Seal(blob, nonce, payload, []byte{tokenVersion})
	c := Credential{AccessKeyID: id, SecretAccessKey: secret, SessionToken: base64.StdEncoding.EncodeToString(blob),
		Expiration: exp, Principal: p}
	if s.sess != nil { // a replica keeps no index: its tokens open anywhere
		if err := s.sess.add(c, s.cfg.Clock()); err != nil {
			return Credential{}, err
		}
	}
	return c, nil
}

// openToken returns the credential sealed in a session token.
func (s *Service) openToken(token string) (Credential, bool) {
	if len(token) > maxTokenLen {
		return Credential{}, false
	}
	blob, err := base64.StdEncoding.DecodeString(token)
	ns := s.session.aead.NonceSize()
	// Only the canonical encoding is accepted, so one credential has one token.
	if err != nil || len(blob) < 1+ns+s.session.aead.Overhead() || blob[0] != tokenVersion ||
		base64.StdEncoding.EncodeToString(blob) != token {
		return Credential{}, false
	}
	payload, err := s.session.aead.Open(nil, blob[1:1+ns], blob[1+ns:], blob[:1])
	if err != nil {
		return Credential{}, false
	}
	var sp sessionPayload
	if json.Unmarshal(payload, &sp) != nil {
		return Credential{}, false
	}
	return Credential{AccessKeyID: sp.KeyID, SecretAccessKey: sp.Secret, SessionToken: token,
		Expiration: time.Unix(sp.Expires, 0).UTC(), Principal: sp.Principal}, true
}

// LookupCredential finds the credential a request was signed with: a
// long-term key when sessionToken is empty, otherwise the temporary
// credential sealed in the token, which must carry the same access key id.
// Expired temporary credentials are returned too (check Expired), so a
// verifier can answer ExpiredTokenException rather than
// InvalidClientTokenId. It works across restarts.
func (s *Service) LookupCredential(accessKeyID, sessionToken string) (Credential, bool) {
	if sessionToken == "" {
		if !strings.HasPrefix(accessKeyID, "AKIA") {
			return Credential{}, false // a temporary key needs its token
		}
		return s.LookupAccessKey(accessKeyID)
	}
	if s.sess != nil {
		// The index spares opening the token (AES-GCM and JSON) on every
		// request; a replica, which has none, opens it.
		if c, ok := s.sess.lookup(accessKeyID); ok && subtle.ConstantTimeCompare([]byte(c.SessionToken), []byte(sessionToken)) == 1 {
			return c, true
		}
	}
	c, ok := s.openToken(sessionToken)
	if !ok || subtle.ConstantTimeCompare([]byte(c.AccessKeyID), []byte(accessKeyID)) != 1 {
		return Credential{}, false
	}
	return c, true
}

// LookupAccessKey finds an access key by id: a long-term key (AKIA…) or a
// temporary credential (ASIA…) this service issued, also before a restart,
// until ExpiredSessionRetention after it expired (check Expired, and compare
// the request's X-Amz-Security-Token with SessionToken).
func (s *Service) LookupAccessKey(accessKeyID string) (Credential, bool) {
	if strings.HasPrefix(accessKeyID, "ASIA") {
		if s.sess == nil {
			return Credential{}, false // a replica: use LookupCredential
		}
		return s.sess.lookup(accessKeyID)
	}
	if !strings.HasPrefix(accessKeyID, "AKIA") {
		return Credential{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked()
	for _, u := range s.st.Users {
		if subtle.ConstantTimeCompare([]byte(u.KeyID), []byte(accessKeyID)) == 1 {
			return s.userCredential(u), true
		}
	}
	return Credential{}, false
}

// AdminCredential is the bootstrap admin user's long-term access key, the
// one `stack up` prints.
func (s *Service) AdminCredential() Credential {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userCredential(s.st.Users[AdminUserName])
}

func (s *Service) userCredential(u *user) Credential {
	return Credential{AccessKeyID: u.KeyID, SecretAccessKey: u.Secret, Principal: Principal{
		Type: PrincipalUser, ARN: "arn:aws:iam::" + s.cfg.Account + ":user/" + u.Name, Account: s.cfg.Account}}
}

// AssumeRole issues temporary credentials for the role with that ARN to a
// caller who has already been authorised (the STS handler asks its
// Authorize function first). A zero duration means one hour; it must lie
// between 15 minutes and the role's maximum, and at most one hour when the
// caller is itself an assumed role (role chaining), as in STS.
func (s *Service) AssumeRole(caller Principal, roleARN, sessionName string, duration time.Duration) (Credential, error) {
	if !sessionNamePattern.MatchString(sessionName) {
		return Credential{}, fmt.Errorf("%w: role session name %q must be 2-64 characters of letters, digits and +=,.@_-", ErrInvalid, sessionName)
	}
	name, ok := s.roleNameFromARN(roleARN)
	if !ok {
		return Credential{}, fmt.Errorf("%w: %s is not a role ARN of account %s", ErrNotFound, roleARN, s.cfg.Account)
	}
	s.mu.Lock()
	r, ok := s.st.Roles[name]
	var maxSession time.Duration
	if ok {
		maxSession = time.Duration(r.MaxSession) * time.Second
	}
	s.mu.Unlock()
	if !ok {
		return Credential{}, fmt.Errorf("%w: role %s does not exist", ErrNotFound, roleARN)
	}
	if duration == 0 {
		duration = DefaultSessionDuration
	}
	if duration < MinSessionDuration {
		return Credential{}, fmt.Errorf("%w: DurationSeconds %d is under the minimum of 900", ErrInvalid, duration/time.Second)
	}
	if duration > maxSession {
		return Credential{}, fmt.Errorf("%w: the requested DurationSeconds exceeds the MaxSessionDuration set for this role (%d)", ErrInvalid, maxSession/time.Second)
	}
	if caller.Type == PrincipalAssumedRole && duration > time.Hour {
		return Credential{}, fmt.Errorf("%w: the requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining", ErrInvalid)
	}
	return s.issue(Principal{Type: PrincipalAssumedRole, ARN: "arn:aws:sts::" + s.cfg.Account + ":assumed-role/" + name + "/" + sessionName,
		Account: s.cfg.Account, RoleARN: s.RoleARN(name), SessionName: sessionName}, duration)
}

// principalID returns the unique id AWS shows for a principal: for an
// assumed role ROLEID:SESSION (AssumedRoleId, GetCallerIdentity UserId).
func (s *Service) principalID(p Principal) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch p.Type {
	case PrincipalAssumedRole:
		if name, ok := s.roleNameFromARN(p.RoleARN); ok {
			if r, ok := s.st.Roles[name]; ok {
				return r.ID + ":" + p.SessionName
			}
		}
	case PrincipalUser:
		if name, ok := strings.CutPrefix(p.ARN, "arn:aws:iam::"+s.cfg.Account+":user/"); ok {
			if u, ok := s.st.Users[name]; ok {
				return u.ID
			}
		}
	case PrincipalRoot:
		return p.Account
	}
	return p.ARN
}
