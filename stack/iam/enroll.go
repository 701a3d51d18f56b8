package iam

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/camstorm/camstorm/internal/device"
)

// Certificate statuses, as in AWS IoT.
const (
	CertificateActive  = "ACTIVE"
	CertificateRevoked = "REVOKED"
)

// MaxEnrollBody bounds the body of POST /enroll (a PEM CSR is under 2 KiB).
const MaxEnrollBody = 16 << 10

// Certificate is an enrolled device certificate.
type Certificate struct {
	// ID is the hex SHA-256 of the DER, as AWS IoT's certificateId.
	ID        string
	ThingName string
	Status    string // CertificateActive or CertificateRevoked
	NotAfter  time.Time
}

// Enrollment is what a device gets back from enrolling; its JSON form is the
// body of POST /enroll's answer.
type Enrollment struct {
	CertificatePEM        string `json:"certificatePem"`
	CertificateID         string `json:"certificateId"`
	ThingName             string `json:"thingName"`
	CredentialProviderURL string `json:"credentialProviderUrl,omitempty"`
	RoleAlias             string `json:"roleAlias"`
}

// CertificateID is the id the service gives a certificate: the hex SHA-256
// of its DER encoding.
func CertificateID(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// ParseCSR decodes a PEM certificate signing request from an enrolling
// device, checks its signature and key, and returns it with the thing name
// (its subject CN).
func ParseCSR(body []byte) (*x509.CertificateRequest, string, error) {
	block, rest := pem.Decode(body)
	if block == nil {
		return nil, "", fmt.Errorf("%w: the body is not a PEM certificate signing request", ErrInvalid)
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, "", fmt.Errorf("%w: the PEM block is %q, want CERTIFICATE REQUEST", ErrInvalid, block.Type)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, "", fmt.Errorf("%w: send exactly one PEM block, the certificate signing request", ErrInvalid)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("%w: certificate signing request: %v", ErrInvalid, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, "", fmt.Errorf("%w: certificate signing request signature does not verify: %v", ErrInvalid, err)
	}
	if err := checkDeviceKey(csr.PublicKey); err != nil {
		return nil, "", err
	}
	thing := csr.Subject.CommonName
	if device.ValidateThingName(thing) != nil { // the rule devices check before they ask
		return nil, "", fmt.Errorf("%w: subject CN %q is not a thing name: use 1-256 characters of letters, digits and _.- (it names the camera's stream)", ErrInvalid, thing)
	}
	return csr, thing, nil
}

func checkDeviceKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return nil
		}
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return nil
		}
	case ed25519.PublicKey:
		return nil
	}
	return fmt.Errorf("%w: device keys must be ECDSA P-256 or P-384, RSA of 2048 bits or more, or Ed25519", ErrInvalid)
}

// Enroll signs a client certificate for the thing named in the CSR's
// subject CN with the stack CA and registers it as ACTIVE. Enrolling a thing
// again adds another certificate.
func (s *Service) Enroll(csrPEM []byte) (Enrollment, error) {
	csr, thing, err := ParseCSR(csrPEM)
	if err != nil {
		return Enrollment{}, err
	}
	now := s.cfg.Clock()
	s.randMu.Lock()
	der, err := s.cfg.CA.SignClientCertificate(s.cfg.Rand, csr, now.Add(-5*time.Minute), now.Add(s.cfg.CertificateValidity))
	s.randMu.Unlock()
	if err != nil {
		return Enrollment{}, fmt.Errorf("iam: %w", err)
	}
	c := &certificate{ID: CertificateID(der), Thing: thing, Status: CertificateActive,
		NotAfter: now.Add(s.cfg.CertificateValidity).UTC().Truncate(time.Second), Created: now.UTC().Truncate(time.Second)}

	err = s.update(func() error {
		if len(s.st.Certificates) >= MaxCertificates {
			s.purgeExpiredLocked(now)
			if len(s.st.Certificates) >= MaxCertificates {
				return fmt.Errorf("%w: %d certificates are registered; revoke and let some expire first", ErrLimitExceeded, MaxCertificates)
			}
		}
		s.st.Certificates[c.ID] = c
		return nil
	})
	if err != nil {
		return Enrollment{}, err
	}
	s.cfg.Logf("iam: enrolled thing %s with certificate %s", thing, c.ID)
	return Enrollment{CertificatePEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), CertificateID: c.ID, ThingName: thing,
		CredentialProviderURL: s.cfg.CredentialProviderURL, RoleAlias: CameraRoleAlias}, nil
}

// purgeExpiredLocked forgets certificates past their validity: TLS refuses
// them anyway, so their status no longer matters.
func (s *Service) purgeExpiredLocked(now time.Time) {
	for id, c := range s.st.Certificates {
		if now.After(c.NotAfter) {
			delete(s.st.Certificates, id)
		}
	}
}

// RevokeCertificate marks a certificate REVOKED: new TLS handshakes with it
// fail and requests on connections already open are refused.
func (s *Service) RevokeCertificate(id string) error {
	var thing string
	err := s.update(func() error {
		c, ok := s.st.Certificates[id]
		if !ok {
			return fmt.Errorf("%w: certificate %s is not registered", ErrNotFound, id)
		}
		c.Status, thing = CertificateRevoked, c.Thing
		return nil
	})
	if err != nil {
		return err
	}
	s.cfg.Logf("iam: revoked certificate %s of thing %s", id, thing)
	return nil
}

// Certificate returns a registered certificate.
func (s *Service) Certificate(id string) (Certificate, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.st.Certificates[id]
	if !ok {
		return Certificate{}, false
	}
	return Certificate{ID: c.ID, ThingName: c.Thing, Status: c.Status, NotAfter: c.NotAfter}, true
}

// ThingCertificates returns the ids of the certificates attached to a thing.
func (s *Service) ThingCertificates(thing string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, c := range s.st.Certificates {
		if c.Thing == thing {
			ids = append(ids, id)
		}
	}
	return ids
}

// EnrollHandler serves POST /enroll (mount it on the stack's server-TLS
// listener): bearer enrollment token, PEM CSR body, JSON Enrollment answer.
// Errors are JSON {"code":…,"message":…}: 401 Unauthorized, 400
// InvalidRequest, 413 RequestTooLarge, 429 LimitExceeded.
func (s *Service) EnrollHandler() http.Handler {
	return http.HandlerFunc(s.serveEnroll)
}

func (s *Service) serveEnroll(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSONError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "POST a PEM certificate signing request to /enroll")
		return
	}
	if !s.enrollmentAuthorized(r.Header.Get("Authorization")) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="camstorm-enroll"`)
		writeJSONError(w, http.StatusUnauthorized, "Unauthorized", "missing or wrong enrollment token: send Authorization: Bearer <token> with the token `stack up` printed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxEnrollBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeJSONError(w, http.StatusRequestEntityTooLarge, "RequestTooLarge", fmt.Sprintf("the body is over %d bytes; send only the PEM certificate signing request", MaxEnrollBody))
			return
		}
		writeJSONError(w, http.StatusBadRequest, "InvalidRequest", "reading the body: "+err.Error())
		return
	}
	e, err := s.Enroll(body)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, e)
	case errors.Is(err, ErrInvalid):
		writeJSONError(w, http.StatusBadRequest, "InvalidRequest", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	case errors.Is(err, ErrLimitExceeded):
		writeJSONError(w, http.StatusTooManyRequests, "LimitExceeded", err.Error())
	default:
		s.cfg.Logf("iam: enrollment failed: %v", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", "the identity service could not register the certificate; see the stack log")
	}
}

// enrollmentAuthorized compares the bearer token with the configured one in
// constant time (hashes first, so the length does not leak either).
func (s *Service) enrollmentAuthorized(header string) bool {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	want := sha256.Sum256([]byte(s.EnrollmentToken()))
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding the answer failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"code": code, "message": msg})
}
