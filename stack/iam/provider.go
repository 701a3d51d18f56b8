package iam

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ThingNameHeader names the thing a credential provider request is for.
const ThingNameHeader = "x-amzn-iot-thingname"

// CredentialProviderTLS is the configuration of the credential provider's
// listener: the server certificate, and a client certificate signed by the
// stack CA and valid at Config.Clock's time. Whether the certificate is
// registered and ACTIVE is checked by the handler on every request, not at
// the handshake, so a revoked or unknown certificate gets an HTTP refusal
// (403 AccessDeniedException) that the stack's audit trail records, and a
// revocation takes effect at once even on connections already open.
func (s *Service) CredentialProviderTLS(serverCert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		MinVersion:   tls.VersionTLS12,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    s.cfg.CA.Pool(),
		Time:         s.cfg.Clock,
	}
}

// activeCertificate returns the registered certificate with that id if it
// is ACTIVE and unexpired.
func (s *Service) activeCertificate(id string) (Certificate, error) {
	c, ok := s.Certificate(id)
	switch {
	case !ok:
		return Certificate{}, fmt.Errorf("%w: the client certificate is not registered with this stack", ErrAccessDenied)
	case c.Status != CertificateActive && !(s.cfg.IgnoreRevocation && c.Status == CertificateRevoked):
		return Certificate{}, fmt.Errorf("%w: the client certificate is %s", ErrAccessDenied, c.Status)
	case !s.cfg.Clock().Before(c.NotAfter):
		return Certificate{}, fmt.Errorf("%w: the client certificate expired at %s", ErrAccessDenied, c.NotAfter.Format(time.RFC3339))
	}
	return c, nil
}

// CredentialsForCertificate issues the temporary credentials a device with
// that registered certificate gets through a role alias, as
// arn:aws:sts::ACCOUNT:assumed-role/ROLE/THING. An empty thingName means the
// certificate's own thing. Errors: ErrNotFound for an unknown alias,
// ErrAccessDenied for a certificate that is unknown, revoked, expired or
// attached to another thing, or a role that does not trust the credential
// provider.
func (s *Service) CredentialsForCertificate(alias, thingName, certificateID string) (Credential, error) {
	s.mu.Lock()
	ra, ok := s.st.RoleAliases[alias]
	var r *role
	if ok {
		r = s.st.Roles[ra.Role]
	}
	var trust string
	var dur time.Duration
	if r != nil {
		trust = r.TrustPolicy
		dur = time.Duration(min(ra.Duration, r.MaxSession)) * time.Second
	}
	s.mu.Unlock()
	if !ok {
		return Credential{}, fmt.Errorf("%w: role alias %s does not exist", ErrNotFound, alias)
	}
	c, err := s.activeCertificate(certificateID)
	if err != nil {
		return Credential{}, err
	}
	if thingName == "" {
		thingName = c.ThingName
	}
	if thingName != c.ThingName {
		return Credential{}, fmt.Errorf("%w: the client certificate is not attached to thing %q", ErrAccessDenied, thingName)
	}
	if r == nil || !trustsService(trust, CredentialProviderService) {
		return Credential{}, fmt.Errorf("%w: the role of alias %s does not trust %s", ErrAccessDenied, alias, CredentialProviderService)
	}
	return s.issue(Principal{Type: PrincipalAssumedRole, ARN: "arn:aws:sts::" + s.cfg.Account + ":assumed-role/" + r.Name + "/" + thingName,
		Account: s.cfg.Account, RoleARN: s.RoleARN(r.Name), SessionName: thingName,
		ThingName: thingName, CertificateID: certificateID}, dur)
}

// CredentialProviderHandler serves GET /role-aliases/ALIAS/credentials in
// the shape of AWS IoT's credential provider. Mount it on a listener using
// CredentialProviderTLS. Errors carry x-amzn-ErrorType and a JSON
// {"message": …}: 404 ResourceNotFoundException, 403 AccessDeniedException,
// 429 ThrottlingException when MaxLiveSessions credentials are live.
func (s *Service) CredentialProviderHandler() http.Handler {
	return http.HandlerFunc(s.serveCredentials)
}

type providerCredentials struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	SessionToken    string `json:"sessionToken"`
	Expiration      string `json:"expiration"`
}

func (s *Service) serveCredentials(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/role-aliases/")
	alias, ok2 := strings.CutSuffix(rest, "/credentials")
	if !ok || !ok2 || alias == "" || strings.Contains(alias, "/") {
		providerError(w, http.StatusNotFound, "ResourceNotFoundException", "no such resource: use GET /role-aliases/ALIAS/credentials")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		providerError(w, http.StatusMethodNotAllowed, "MethodNotAllowedException", "use GET")
		return
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		providerError(w, http.StatusForbidden, "AccessDeniedException", "a client certificate is required (mutual TLS)")
		return
	}
	certID := CertificateID(r.TLS.PeerCertificates[0].Raw)
	cred, err := s.CredentialsForCertificate(alias, r.Header.Get(ThingNameHeader), certID)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]providerCredentials{"credentials": {
			AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey, SessionToken: cred.SessionToken,
			Expiration: cred.Expiration.UTC().Format(time.RFC3339)}})
	case errors.Is(err, ErrNotFound):
		providerError(w, http.StatusNotFound, "ResourceNotFoundException", "Role alias does not exist")
	case errors.Is(err, ErrLimitExceeded):
		providerError(w, http.StatusTooManyRequests, "ThrottlingException", strings.TrimPrefix(err.Error(), ErrLimitExceeded.Error()+": "))
	case errors.Is(err, ErrAccessDenied):
		s.cfg.Logf("iam: credential provider refused certificate %s: %v", certID, err)
		providerError(w, http.StatusForbidden, "AccessDeniedException", strings.TrimPrefix(err.Error(), ErrAccessDenied.Error()+": "))
	default:
		s.cfg.Logf("iam: credential provider: %v", err)
		providerError(w, http.StatusInternalServerError, "InternalFailureException", "the identity service failed; see the stack log")
	}
}

func providerError(w http.ResponseWriter, status int, errType, msg string) {
	w.Header().Set("x-amzn-ErrorType", errType)
	writeJSON(w, status, map[string]string{"message": msg})
}
