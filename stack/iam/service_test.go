package iam

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camstorm/camstorm/stack/pki"
	"github.com/stretchr/testify/require"
)

func TestRestartKeepsStateAndCredentials(t *testing.T) {
	e := newEnv(t)
	admin := e.svc.AdminCredential()
	token := e.svc.EnrollmentToken()
	cert, d := e.enrollDevice("cam-1")
	_, d2 := e.enrollDevice("cam-2")
	require.NoError(t, e.svc.RevokeCertificate(d2.CertificateID))
	res, err := e.fetch(e.client(cert), CameraRoleAlias, "cam-1")
	require.NoError(t, err)
	require.Equal(t, 200, res.status)
	assumed, err := e.svc.AssumeRole(admin.Principal, e.svc.RoleARN(AdminRoleName), "ops", 0)
	require.NoError(t, err)
	require.NoError(t, e.svc.PutRole(Role{Name: "extra", TrustPolicy: `{"Statement":[]}`, MaxSessionDuration: 2 * time.Hour}))
	require.Error(t, e.svc.PutRole(Role{Name: "extra", TrustPolicy: `{}`}), "a trust policy needs statements")
	require.NoError(t, e.svc.PutRole(Role{Name: "extra", TrustPolicy: `{"Statement":[{"Effect":"Deny"}]}`, MaxSessionDuration: 2 * time.Hour}))
	require.NoError(t, e.svc.PutRolePolicy("extra", "p1", `{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`))
	extra, _ := e.svc.Role("extra")

	for _, name := range []string{StateFile, SessionLogFile} {
		st, err := os.Stat(filepath.Join(e.dir, "iam", name))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "%s holds secrets", name)
	}
	require.NoError(t, e.svc.Close())
	require.ErrorIs(t, e.svc.RevokeCertificate(d.CertificateID), ErrClosed)

	e.open()
	require.Equal(t, admin, e.svc.AdminCredential(), "the admin keys survive")
	require.Equal(t, token, e.svc.EnrollmentToken())
	got, ok := e.svc.Certificate(d2.CertificateID)
	require.True(t, ok)
	require.Equal(t, CertificateRevoked, got.Status, "a revocation survives")
	again, ok := e.svc.Role("extra")
	require.True(t, ok)
	require.Equal(t, extra, again, "roles survive with their id")
	for _, c := range []providerCredentials{res.creds, {AccessKeyID: assumed.AccessKeyID, SessionToken: assumed.SessionToken, SecretAccessKey: assumed.SecretAccessKey}} {
		found, ok := e.svc.LookupCredential(c.AccessKeyID, c.SessionToken)
		require.True(t, ok, "credentials issued before the restart verify after it: %s", c.AccessKeyID)
		require.Equal(t, c.SecretAccessKey, found.SecretAccessKey)
		byID, ok := e.svc.LookupAccessKey(c.AccessKeyID)
		require.True(t, ok, "credentials issued before the restart are found by id after it: %s", c.AccessKeyID)
		require.Equal(t, found, byID)
	}
	res, err = e.fetch(e.client(cert), CameraRoleAlias, "cam-1")
	require.NoError(t, err)
	require.Equal(t, 200, res.status, "an enrolled device keeps working after a restart")

	entries, err := os.ReadDir(filepath.Join(e.dir, "iam"))
	require.NoError(t, err)
	require.Len(t, entries, 2, "only the state and the session log, no temporary files: %v", entries)
}

func TestDefaults(t *testing.T) {
	e := newEnv(t)
	admin := e.svc.AdminCredential()
	require.Equal(t, Principal{Type: PrincipalUser, ARN: "arn:aws:iam::123456789012:user/camstorm-admin", Account: "123456789012"}, admin.Principal)
	require.Len(t, admin.SecretAccessKey, 40)
	found, ok := e.svc.LookupAccessKey(admin.AccessKeyID)
	require.True(t, ok)
	require.Equal(t, admin, found)
	found, ok = e.svc.LookupCredential(admin.AccessKeyID, "")
	require.True(t, ok)
	require.Equal(t, admin, found)
	require.Equal(t, []string{allowEverything}, e.svc.IdentityPolicies(admin.Principal))
	require.Empty(t, e.svc.IdentityPolicies(Principal{Type: PrincipalRoot, ARN: "arn:aws:iam::123456789012:root", Account: "123456789012"}))
	require.Empty(t, e.svc.IdentityPolicies(Principal{Type: PrincipalUser, ARN: "arn:aws:iam::999999999999:user/camstorm-admin", Account: "999999999999"}))

	camera, ok := e.svc.Role(CameraRoleName)
	require.True(t, ok)
	require.Equal(t, time.Hour, camera.MaxSessionDuration)
	require.True(t, trustsService(camera.TrustPolicy, CredentialProviderService))
	doc := camera.Policies["camstorm-camera-producer"]
	for _, action := range []string{"DescribeStream", "CreateStream", "GetDataEndpoint", "PutMedia", "TagStream"} {
		require.Contains(t, doc, `"kinesisvideo:`+action+`"`)
	}
	require.NotContains(t, doc, "GetMedia\"", "cameras do not read")
	require.NotContains(t, doc, "kms:", "the ingest calls KMS as itself")

	consumer, ok := e.svc.Role(ConsumerRoleName)
	require.True(t, ok)
	require.Contains(t, consumer.Policies["camstorm-consumer-read"], `"kms:Decrypt"`)
	require.False(t, trustsService(consumer.TrustPolicy, CredentialProviderService))
	trust, ok := e.svc.RoleTrustPolicy("arn:aws:iam::123456789012:role/camstorm-admin")
	require.True(t, ok)
	require.Contains(t, trust, "arn:aws:iam::123456789012:root")
	_, ok = e.svc.RoleTrustPolicy("arn:aws:iam::999999999999:role/camstorm-admin")
	require.False(t, ok)

	alias, ok := e.svc.RoleAlias(CameraRoleAlias)
	require.True(t, ok)
	require.Equal(t, RoleAlias{Alias: CameraRoleAlias, ARN: "arn:aws:iot::123456789012:rolealias/camstorm-camera-alias",
		RoleARN: "arn:aws:iam::123456789012:role/camstorm-camera", CredentialDuration: time.Hour}, alias)
}

func TestRoleAndAliasValidation(t *testing.T) {
	e := newEnv(t)
	ra, err := e.svc.CreateRoleAlias("long", CameraRoleName, 5*time.Hour)
	require.NoError(t, err)
	require.Equal(t, time.Hour, ra.CredentialDuration, "clamped to the role's maximum session")

	aliasCases := []struct {
		alias, role string
		d           time.Duration
		want        error
	}{
		{"bad alias!", CameraRoleName, 0, ErrInvalid},
		{"", CameraRoleName, 0, ErrInvalid},
		{"ok", "no-such-role", 0, ErrNotFound},
		{"ok", CameraRoleName, 10 * time.Minute, ErrInvalid},
	}
	for _, tc := range aliasCases {
		_, err := e.svc.CreateRoleAlias(tc.alias, tc.role, tc.d)
		require.ErrorIs(t, err, tc.want, "CreateRoleAlias(%q, %q, %s)", tc.alias, tc.role, tc.d)
	}

	trust := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}`
	roleCases := []struct {
		role Role
		want error
	}{
		{Role{Name: "has space", TrustPolicy: trust}, ErrInvalid},
		{Role{Name: strings.Repeat("r", 65), TrustPolicy: trust}, ErrInvalid},
		{Role{Name: "r", TrustPolicy: "not json"}, ErrInvalid},
		{Role{Name: "r", TrustPolicy: trust, MaxSessionDuration: 30 * time.Minute}, ErrInvalid},
		{Role{Name: "r", TrustPolicy: trust, MaxSessionDuration: 13 * time.Hour}, ErrInvalid},
		{Role{Name: "r", TrustPolicy: trust, Policies: map[string]string{"p": "{"}}, ErrInvalid},
		{Role{Name: "r", TrustPolicy: trust, Policies: map[string]string{"bad name": `{"Statement":[]}`}}, ErrInvalid},
		{Role{Name: "r", TrustPolicy: `{"Statement":[],"x":"` + strings.Repeat("a", MaxPolicyBytes) + `"}`}, ErrInvalid},
		{Role{Name: "r", TrustPolicy: trust}, nil},
	}
	for _, tc := range roleCases {
		require.ErrorIs(t, e.svc.PutRole(tc.role), tc.want, "PutRole(%.120v)", tc.role)
	}
	r, _ := e.svc.Role("r")
	require.Equal(t, DefaultSessionDuration, r.MaxSessionDuration)
	require.ErrorIs(t, e.svc.PutRolePolicy("nope", "p", `{"Statement":[]}`), ErrNotFound)
	require.ErrorIs(t, e.svc.PutRolePolicy("r", "p", `[]`), ErrInvalid)
}

func TestTrustsService(t *testing.T) {
	const svc = CredentialProviderService
	cases := []struct {
		policy string
		want   bool
	}{
		{`{"Statement":[{"Effect":"Allow","Principal":{"Service":"credentials.iot.amazonaws.com"},"Action":"sts:AssumeRole"}]}`, true},
		{`{"Statement":{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com","credentials.iot.amazonaws.com"]},"Action":["sts:AssumeRole"]}}`, true},
		{`{"Statement":[{"Effect":"Allow","Principal":{"Service":"credentials.iot.amazonaws.com"},"Action":"sts:*"}]}`, true},
		{`{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`, false},
		{`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"credentials.iot.amazonaws.com"},"Action":"sts:AssumeRole"}]}`, false},
		{`{"Statement":[{"Effect":"Allow","Principal":{"Service":"credentials.iot.amazonaws.com"},"Action":"sts:TagSession"}]}`, false},
		{`{"Statement":[{"Effect":"Allow","Principal":{"Service":"credentials.iot.amazonaws.com"},"Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":{"Service":"credentials.iot.amazonaws.com"},"Action":"*"}]}`, false},
		{`{"Statement":"x"}`, false},
		{`not json`, false},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, trustsService(tc.policy, svc), "trustsService(%s)", tc.policy)
	}
}

func TestOpenRefusals(t *testing.T) {
	_, err := Open(Config{Account: "12", CertificateValidity: time.Second, EnrollmentToken: "short"})
	require.ErrorIs(t, err, ErrInvalidConfig)
	for _, want := range []string{"DataDir", "Config.CA", "Config.Account", "Config.CertificateValidity", "Config.EnrollmentToken"} {
		require.Contains(t, err.Error(), want, "every problem is reported at once")
	}

	ca, err := pki.LoadOrCreate(t.TempDir())
	require.NoError(t, err)
	dir := t.TempDir()
	svc, err := Open(Config{DataDir: dir, CA: ca})
	require.NoError(t, err)
	require.NoError(t, svc.Close())
	_, err = Open(Config{DataDir: dir, CA: ca, Account: "999999999999"})
	require.ErrorIs(t, err, ErrInvalidConfig, "a data directory of another account")

	// A configured enrollment token replaces the stored one.
	svc, err = Open(Config{DataDir: dir, CA: ca, EnrollmentToken: "a-long-enough-token"})
	require.NoError(t, err)
	require.Equal(t, "a-long-enough-token", svc.EnrollmentToken())

	for _, damaged := range []string{
		`{"account":`,
		`{"account":"123456789012"}`,
		`{"account":"123456789012","sessionKey":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","users":{}}`,
		`{"account":"123456789012","sessionKey":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","users":{"camstorm-admin":{"accessKeyId":"AKIA","secretAccessKey":"x"}},"roles":{"r":null}}`,
		`{"account":"123456789012","sessionKey":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","users":{"camstorm-admin":{"accessKeyId":"AKIA","secretAccessKey":"x"}},"certificates":{"a":{"id":"b"}}}`,
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, StateFile), []byte(damaged), 0o600))
		_, err = Open(Config{DataDir: dir, CA: ca})
		require.ErrorContains(t, err, "damaged", "state %s", damaged)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, StateFile), []byte(`{"account":"123456789012","sessionKey":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","users":{"camstorm-admin":{"accessKeyId":"AKIA","secretAccessKey":"x"}},"roles":{"r":{"name":"r","trustPolicy":"{}"}}}`), 0o600))
	svc, err = Open(Config{DataDir: dir, CA: ca})
	require.NoError(t, err, "a minimal state opens")
	require.NoError(t, svc.PutRolePolicy("r", "p", `{"Statement":[]}`), "a role stored without policies takes one")

	// A random source that fails is reported, not ignored.
	_, err = Open(Config{DataDir: t.TempDir(), CA: ca, Rand: bytes.NewReader(nil)})
	require.ErrorContains(t, err, "randomness")
}

func TestSessionTokensAreSealed(t *testing.T) {
	e := newEnv(t)
	c, err := e.svc.AssumeRole(e.svc.AdminCredential().Principal, e.svc.RoleARN(ConsumerRoleName), "s-1", 0)
	require.NoError(t, err)
	require.NotContains(t, c.SessionToken, c.SecretAccessKey)
	for _, bad := range []string{"", "!!!", "AQ==", strings.Repeat("A", maxTokenLen+4), c.SessionToken[:len(c.SessionToken)-4]} {
		_, ok := e.svc.LookupCredential(c.AccessKeyID, bad)
		require.False(t, ok, "token %.40q", bad)
	}
	// A token sealed by another data directory's key does not open here.
	other := newEnv(t)
	_, ok := other.svc.LookupCredential(c.AccessKeyID, c.SessionToken)
	require.False(t, ok)
}

func TestConcurrentChangesAllPersist(t *testing.T) {
	e := newEnv(t)
	const n = 40
	ids := make(chan string, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d, err := e.svc.Enroll(csrPEM(t, fmt.Sprintf("cam-%d", i)))
			if err != nil {
				errs <- err
				return
			}
			ids <- d.CertificateID
			if i%4 == 0 {
				errs <- e.svc.RevokeCertificate(d.CertificateID)
			}
		})
	}
	wg.Wait()
	close(ids)
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, e.svc.Close())
	e.open()
	count, revoked := 0, 0
	for id := range ids {
		c, ok := e.svc.Certificate(id)
		require.True(t, ok, "certificate %s enrolled concurrently is lost after a restart", id)
		count++
		if c.Status == CertificateRevoked {
			revoked++
		}
	}
	require.Equal(t, n, count)
	require.Equal(t, n/4, revoked)
}

// BenchmarkEnroll measures one enrollment (CSR check, signature, state
// write) with about 1,000 certificates already registered.
func BenchmarkEnroll(b *testing.B) {
	ca, err := pki.LoadOrCreate(b.TempDir())
	require.NoError(b, err)
	svc, err := Open(Config{DataDir: b.TempDir(), CA: ca})
	require.NoError(b, err)
	csr := csrPEM(b, "cam-bench")
	for range 1000 {
		_, err := svc.Enroll(csr)
		require.NoError(b, err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := svc.Enroll(csr); err != nil {
			b.Fatal(err)
		}
	}
}
