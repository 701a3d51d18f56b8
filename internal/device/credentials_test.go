package device

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/require"
)

// providerServer serves a credential provider over mutual TLS (client
// certificates of ca) with answer deciding each response after the path and
// thing name header were checked.
func providerServer(t *testing.T, ca *testCA, answer http.HandlerFunc) (*http.Transport, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.EscapedPath() != "/role-aliases/alias%2F1/credentials" && r.URL.EscapedPath() != "/role-aliases/alias-1/credentials" {
			w.Header().Set("x-amzn-ErrorType", "ResourceNotFoundException")
			w.WriteHeader(404)
			return
		}
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != r.Header.Get(ThingNameHeader) {
			w.Header().Set("x-amzn-ErrorType", "AccessDeniedException")
			w.WriteHeader(403)
			return
		}
		answer(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Client().Transport.(*http.Transport), srv.URL
}

func credentialsJSON(expiration string) string {
	b, _ := json.Marshal(map[string]any{"credentials": map[string]string{"accessKeyId": "ASIAEXAMPLE",
		"secretAccessKey": "secret", "sessionToken": "token", "expiration": expiration}})
	return string(b)
}

func TestIoTCredentialsRetrieve(t *testing.T) {
	ca := newTestCA(t)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	exp := now.Add(time.Hour)
	var dials atomic.Int32
	tr, url := providerServer(t, ca, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(credentialsJSON(exp.Format(time.RFC3339))))
	})
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tr = tr.Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return dial(ctx, network, addr)
	}

	id := ca.enrolled(t, "cam-1")
	id.CredentialProviderURL, id.RoleAlias = url+"/", "alias-1" // taken from the identity when the fields are empty
	p := &IoTCredentials{Identity: id, Transport: tr, Seed: 7, Clock: func() time.Time { return now }}
	c, err := p.Retrieve(context.Background())
	require.NoError(t, err)
	require.Equal(t, "ASIAEXAMPLE", c.AccessKeyID)
	require.Equal(t, "secret", c.SecretAccessKey)
	require.Equal(t, "token", c.SessionToken)
	require.Equal(t, CredentialsSource, c.Source)
	require.True(t, c.CanExpire)
	require.Equal(t, int32(1), dials.Load(), "the transport's dialer carries the connection")

	// An alias that needs escaping is escaped as one path segment.
	p = &IoTCredentials{Endpoint: url, RoleAlias: "alias/1", Identity: id, Transport: tr}
	_, err = p.Retrieve(context.Background())
	require.NoError(t, err)
}

func TestIoTCredentialsExpiryShortening(t *testing.T) {
	ca := newTestCA(t)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	const life = time.Hour
	tr, url := providerServer(t, ca, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(credentialsJSON(now.Add(life).Format(time.RFC3339))))
	})
	id := ca.enrolled(t, "cam-1")
	run := func(seed uint64, n int) []time.Duration {
		p := &IoTCredentials{Endpoint: url, RoleAlias: "alias-1", Identity: id, Transport: tr, Seed: seed, Clock: func() time.Time { return now }}
		var cuts []time.Duration
		for range n {
			c, err := p.Retrieve(context.Background())
			require.NoError(t, err)
			cut := now.Add(life).Sub(c.Expires)
			require.GreaterOrEqual(t, cut, life/100, "seed %d: expiry %s brought forward by %s, want at least 1 %% of %s", seed, c.Expires, cut, life)
			require.LessOrEqual(t, cut, life/5, "seed %d: expiry %s brought forward by %s, want at most 20 %% of %s", seed, c.Expires, cut, life)
			cuts = append(cuts, cut)
		}
		return cuts
	}
	a := run(1, 40)
	require.Equal(t, a, run(1, 40), "the same seed shortens the same way")
	require.NotEqual(t, a, run(2, 40), "another seed shortens another way")
	lo, hi := a[0], a[0]
	for _, c := range a {
		lo, hi = min(lo, c), max(hi, c)
	}
	require.Greater(t, hi-lo, life/20, "40 draws spread over the 1-20 %% range (got %s..%s)", lo, hi)

	// Credentials already past their expiry are returned as they are.
	p := &IoTCredentials{Endpoint: url, RoleAlias: "alias-1", Identity: id, Transport: tr, Clock: func() time.Time { return now.Add(2 * life) }}
	c, err := p.Retrieve(context.Background())
	require.NoError(t, err)
	require.Equal(t, now.Add(life), c.Expires.UTC())
}

func TestIoTCredentialsErrors(t *testing.T) {
	ca := newTestCA(t)
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	cases := []struct {
		name    string
		answer  http.HandlerFunc
		refusal *CredentialsError // want this *CredentialsError, or else an error containing wantErr
		wantErr string
	}{
		{"throttled", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("x-amzn-ErrorType", "ThrottlingException")
			w.WriteHeader(429)
			_, _ = w.Write([]byte(`{"message":"too many live credentials"}`))
		}, &CredentialsError{Status: 429, ErrorType: "ThrottlingException", Message: "too many live credentials"}, ""},
		{"text refusal", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(503)
			_, _ = w.Write([]byte("unavailable\n"))
		}, &CredentialsError{Status: 503, Message: "unavailable"}, ""},
		{"oversize refusal", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("x-amzn-ErrorType", "InternalFailureException")
			w.WriteHeader(500)
			_, _ = w.Write([]byte(`{"message":"x"}` + strings.Repeat(" ", maxCredentialsAnswer)))
		}, &CredentialsError{Status: 500, ErrorType: "InternalFailureException", Message: `{"message":"x"}`}, ""},
		{"oversize answer", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(credentialsJSON(exp) + strings.Repeat(" ", maxCredentialsAnswer)))
		}, nil, "over 16384 bytes"},
		{"malformed JSON", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"credentials":{`)) }, nil, "not credentials"},
		{"no session token", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(strings.Replace(credentialsJSON(exp), `"sessionToken":"token"`, `"sessionToken":""`, 1)))
		}, nil, "incomplete credentials: no sessionToken"},
		{"empty object", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{}`)) }, nil,
			"no accessKeyId, secretAccessKey, sessionToken, expiration"},
		{"bad expiration", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(credentialsJSON("tomorrow"))) }, nil,
			`expiration "tomorrow" is not an RFC 3339 time`},
	}
	id := ca.enrolled(t, "cam-1")
	for _, tc := range cases {
		tr, url := providerServer(t, ca, tc.answer)
		p := &IoTCredentials{Endpoint: url, RoleAlias: "alias-1", Identity: id, Transport: tr}
		_, err := p.Retrieve(context.Background())
		require.Error(t, err, tc.name)
		require.ErrorContains(t, err, "cam-1", "%s: the error names the thing", tc.name)
		if tc.refusal != nil {
			var got *CredentialsError
			require.ErrorAs(t, err, &got, "%s: %v", tc.name, err)
			require.Equal(t, tc.refusal, got, tc.name)
			continue
		}
		require.ErrorContains(t, err, tc.wantErr, tc.name)
	}
}

func TestIoTCredentialsSetupErrors(t *testing.T) {
	ca := newTestCA(t)
	id := ca.enrolled(t, "cam-1")
	cases := []struct {
		name    string
		p       *IoTCredentials
		wantErr string
	}{
		{"no endpoint", &IoTCredentials{RoleAlias: "a", Identity: id}, "no credential provider URL"},
		{"no alias", &IoTCredentials{Endpoint: "https://127.0.0.1:1", Identity: id}, "no role alias"},
		{"no certificate", &IoTCredentials{Endpoint: "https://127.0.0.1:1", RoleAlias: "a", Identity: Identity{ThingName: "cam-1"}}, "enroll first"},
	}
	for _, tc := range cases {
		for range 2 { // the setup error stays
			_, err := tc.p.Retrieve(context.Background())
			require.ErrorContains(t, err, tc.wantErr, tc.name)
		}
	}

	// A certificate the provider's CA did not sign fails the handshake.
	tr, url := providerServer(t, ca, func(w http.ResponseWriter, r *http.Request) { t.Error("a foreign certificate got through") })
	p := &IoTCredentials{Endpoint: url, RoleAlias: "alias-1", Identity: newTestCA(t).enrolled(t, "cam-1"), Transport: tr}
	_, err := p.Retrieve(context.Background())
	require.Error(t, err)
	var refusal *CredentialsError
	require.False(t, errors.As(err, &refusal), "a failed handshake is not an answer: %v", err)
}

func TestNewCredentialsCacheRefreshesEarly(t *testing.T) {
	for _, tc := range []struct {
		left      time.Duration
		wantCalls int32
	}{
		{RefreshEarly - 2*time.Second, 3}, // inside the window: every Retrieve fetches
		{RefreshEarly + time.Minute, 1},   // outside: the first answer is kept
	} {
		var calls atomic.Int32
		cache := NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			calls.Add(1)
			return aws.Credentials{AccessKeyID: "A", SecretAccessKey: "S", CanExpire: true, Expires: time.Now().Add(tc.left)}, nil
		}))
		for range 3 {
			_, err := cache.Retrieve(context.Background())
			require.NoError(t, err)
		}
		require.Equal(t, tc.wantCalls, calls.Load(), "credentials expiring in %s, window %s", tc.left, RefreshEarly)
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add([]byte(credentialsJSON("2026-11-27T12:00:00Z")))
	f.Add([]byte(credentialsJSON("2026-11-27T12:00:00+01:00")))
	f.Add([]byte(`{"credentials":{"accessKeyId":"A","secretAccessKey":"S","sessionToken":"T","expiration":"x"}}`))
	f.Add([]byte(`{"credentials":null}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := parseCredentials(body)
		if err != nil {
			if c != (aws.Credentials{}) {
				t.Fatalf("parseCredentials(%q) returned %+v with error %v", body, c, err)
			}
			return
		}
		if c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" || c.Expires.IsZero() || !c.CanExpire {
			t.Fatalf("parseCredentials(%q) accepted incomplete credentials %+v", body, c)
		}
	})
}
