package iam

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camstorm/camstorm/internal/device"
	"github.com/camstorm/camstorm/stack/pki"
	"github.com/stretchr/testify/require"
)

type fetchResult struct {
	status    int
	errorType string
	body      []byte
	reused    bool // the request rode an open connection
	resumed   bool // the connection resumed an earlier TLS session
	creds     providerCredentials
}

// fetch asks the credential provider for credentials through alias.
func (e *env) fetch(c *http.Client, alias, thing string) (fetchResult, error) {
	e.t.Helper()
	var res fetchResult
	req, err := http.NewRequest(http.MethodGet, e.provider+"/role-aliases/"+alias+"/credentials", nil)
	require.NoError(e.t, err)
	if thing != "" {
		req.Header.Set(ThingNameHeader, thing)
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			res.reused = info.Reused
			if tc, ok := info.Conn.(*tls.Conn); ok {
				res.resumed = tc.ConnectionState().DidResume
			}
		},
	}))
	resp, err := c.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	res.status, res.errorType = resp.StatusCode, resp.Header.Get("x-amzn-ErrorType")
	res.body, _ = io.ReadAll(resp.Body)
	if res.status == http.StatusOK {
		var out struct{ Credentials providerCredentials }
		require.NoError(e.t, json.Unmarshal(res.body, &out), "body %s", res.body)
		res.creds = out.Credentials
	} else {
		var msg struct{ Message string }
		require.NoError(e.t, json.Unmarshal(res.body, &msg), "error body %s", res.body)
		require.NotEmpty(e.t, msg.Message, "error body %s", res.body)
	}
	return res, nil
}

func TestCredentialProviderIssuesCameraCredentials(t *testing.T) {
	e := newEnv(t)
	cert, d := e.enrollDevice("cam-7")
	c := e.client(cert)

	for _, thing := range []string{"cam-7", ""} {
		res, err := e.fetch(c, CameraRoleAlias, thing)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.status, "thing header %q: %s", thing, res.body)
		cr := res.creds
		require.True(t, strings.HasPrefix(cr.AccessKeyID, "ASIA"), cr.AccessKeyID)
		require.Len(t, cr.AccessKeyID, 20)
		require.Len(t, cr.SecretAccessKey, 40)
		exp, err := time.Parse(time.RFC3339, cr.Expiration)
		require.NoError(t, err)
		require.True(t, strings.HasSuffix(cr.Expiration, "Z"), cr.Expiration)
		require.WithinDuration(t, e.clock.Now().Add(time.Hour), exp, 2*time.Second)

		got, ok := e.svc.LookupCredential(cr.AccessKeyID, cr.SessionToken)
		require.True(t, ok)
		require.Equal(t, cr.SecretAccessKey, got.SecretAccessKey)
		require.Equal(t, Principal{Type: PrincipalAssumedRole, ARN: "arn:aws:sts::123456789012:assumed-role/camstorm-camera/cam-7",
			Account: "123456789012", RoleARN: "arn:aws:iam::123456789012:role/camstorm-camera", SessionName: "cam-7",
			ThingName: "cam-7", CertificateID: d.CertificateID}, got.Principal)
		require.False(t, got.Expired(e.clock.Now()))
		pols := e.svc.IdentityPolicies(got.Principal)
		require.Len(t, pols, 1)
		require.Contains(t, pols[0], "stream/${credentials-iot:ThingName}/*")
		require.NotContains(t, pols[0], "kms:")

		_, ok = e.svc.LookupCredential("ASIAAAAAAAAAAAAAAAAA", cr.SessionToken)
		require.False(t, ok, "a token must not vouch for another access key id")
		byID, ok := e.svc.LookupAccessKey(cr.AccessKeyID)
		require.True(t, ok, "temporary keys are found by id too")
		require.Equal(t, got, byID)
		_, ok = e.svc.LookupCredential(cr.AccessKeyID, "")
		require.False(t, ok, "a temporary key without its token")
	}

	// The alias's duration decides the lifetime; later it expires.
	_, err := e.svc.CreateRoleAlias("short", CameraRoleName, 20*time.Minute)
	require.NoError(t, err)
	res, err := e.fetch(c, "short", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	e.clock.Advance(21 * time.Minute)
	got, ok := e.svc.LookupCredential(res.creds.AccessKeyID, res.creds.SessionToken)
	require.True(t, ok, "expired credentials are still found, so the verifier can say ExpiredToken")
	require.True(t, got.Expired(e.clock.Now()))
}

func TestCredentialProviderRefusals(t *testing.T) {
	e := newEnv(t)
	certA, _ := e.enrollDevice("cam-a")
	_, _ = e.enrollDevice("cam-b")
	// A role alias whose role does not trust the credential provider.
	_, err := e.svc.CreateRoleAlias("admin-alias", AdminRoleName, 0)
	require.NoError(t, err)
	c := e.client(certA)

	cases := []struct {
		name, alias, thing string
		wantStatus         int
		wantType           string
	}{
		{"unknown alias", "no-such-alias", "cam-a", 404, "ResourceNotFoundException"},
		{"other thing", CameraRoleAlias, "cam-b", 403, "AccessDeniedException"},
		{"unknown thing", CameraRoleAlias, "cam-z", 403, "AccessDeniedException"},
		{"role not trusting the provider", "admin-alias", "cam-a", 403, "AccessDeniedException"},
		{"own thing", CameraRoleAlias, "cam-a", 200, ""},
	}
	for _, tc := range cases {
		res, err := e.fetch(c, tc.alias, tc.thing)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.wantStatus, res.status, "%s (alias %s, thing %s): %s", tc.name, tc.alias, tc.thing, res.body)
		require.Equal(t, tc.wantType, res.errorType, tc.name)
	}
	res, err := e.fetch(c, "a/b", "")
	require.NoError(t, err)
	require.Equal(t, 404, res.status, "nested path")
}

func TestCredentialProviderTLSRefusals(t *testing.T) {
	e := newEnv(t)
	_, _ = e.enrollDevice("cam-a")

	// No client certificate.
	_, err := e.fetch(e.client(), CameraRoleAlias, "")
	require.Error(t, err, "a connection without a client certificate must fail")

	// A certificate from another CA with the same thing name.
	other, err := pki.LoadOrCreate(filepath.Join(t.TempDir(), "other"))
	require.NoError(t, err)
	otherSvc, err := Open(Config{DataDir: t.TempDir(), CA: other})
	require.NoError(t, err)
	keyPEM, csr, err := device.NewCSR("cam-a", rand.Reader)
	require.NoError(t, err)
	foreign, err := otherSvc.Enroll(csr)
	require.NoError(t, err)
	foreignCert, err := tls.X509KeyPair([]byte(foreign.CertificatePEM), keyPEM)
	require.NoError(t, err)
	_, err = e.fetch(e.client(foreignCert), CameraRoleAlias, "cam-a")
	require.Error(t, err, "a certificate of another CA must fail the handshake")

	// A client certificate of our CA that the service never registered.
	keyPEM, csr, err = device.NewCSR("cam-a", rand.Reader)
	require.NoError(t, err)
	parsed, _, err := ParseCSR(csr)
	require.NoError(t, err)
	der, err := e.ca.SignClientCertificate(rand.Reader, parsed, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	require.NoError(t, err)
	unregistered, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM)
	require.NoError(t, err)
	res, err := e.fetch(e.client(unregistered), CameraRoleAlias, "cam-a")
	require.NoError(t, err, "a certificate of our CA passes the handshake")
	require.Equal(t, 403, res.status, "but an unregistered one gets no credentials: %s", res.body)
	require.Equal(t, "AccessDeniedException", res.errorType)
}

func TestRevocationIsImmediate(t *testing.T) {
	e := newEnv(t)
	cert, d := e.enrollDevice("cam-r")
	kept := e.client(cert)
	res, err := e.fetch(kept, CameraRoleAlias, "cam-r")
	require.NoError(t, err)
	require.Equal(t, 200, res.status)
	resuming := e.client(cert)
	res, err = e.fetch(resuming, CameraRoleAlias, "cam-r")
	require.NoError(t, err)
	require.Equal(t, 200, res.status)
	resuming.CloseIdleConnections()
	res, err = e.fetch(resuming, CameraRoleAlias, "cam-r")
	require.NoError(t, err)
	require.True(t, res.resumed, "the client must hold a resumable session for the check below to mean anything")
	resuming.CloseIdleConnections()

	require.NoError(t, e.svc.RevokeCertificate(d.CertificateID))
	got, _ := e.svc.Certificate(d.CertificateID)
	require.Equal(t, CertificateRevoked, got.Status)

	// The kept-alive connection is refused at the next request.
	res, err = e.fetch(kept, CameraRoleAlias, "cam-r")
	require.NoError(t, err)
	require.True(t, res.reused, "the second request must ride the kept-alive connection")
	require.Equal(t, 403, res.status, "%s", res.body)
	require.Equal(t, "AccessDeniedException", res.errorType)

	// New connections are refused the same way, with or without a session
	// to resume.
	for _, c := range []*http.Client{e.client(cert), resuming} {
		res, err = e.fetch(c, CameraRoleAlias, "cam-r")
		require.NoError(t, err)
		require.Equal(t, 403, res.status, "%s", res.body)
		require.Equal(t, "AccessDeniedException", res.errorType)
	}

	require.ErrorIs(t, e.svc.RevokeCertificate("0000"), ErrNotFound)
}

func TestExpiredCertificateRefused(t *testing.T) {
	e := newEnv(t)
	cert, _ := e.enrollDevice("cam-x")
	kept := e.client(cert)
	res, err := e.fetch(kept, CameraRoleAlias, "")
	require.NoError(t, err)
	require.Equal(t, 200, res.status)

	e.clock.Advance(DefaultCertificateValidity + time.Minute)
	res, err = e.fetch(kept, CameraRoleAlias, "")
	require.NoError(t, err)
	require.True(t, res.reused)
	require.Equal(t, 403, res.status, "an expired certificate on an open connection: %s", res.body)

	_, err = e.fetch(e.client(cert), CameraRoleAlias, "")
	require.Error(t, err, "a new handshake with an expired certificate must fail")
}
