package device

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// testCA signs device certificates the way a stack's CA does, so the
// client can be tested without importing the stack.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// sign issues a client certificate for a PEM CSR and returns it as PEM.
func (ca *testCA) sign(t testing.TB, csrPEM []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(csrPEM)
	require.NotNil(t, block, "CSR %q", csrPEM)
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	require.NoError(t, err)
	require.NoError(t, csr.CheckSignature())
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: csr.Subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca.cert, csr.PublicKey, ca.key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// enrolled is an identity for thing signed by ca, made without a server.
func (ca *testCA) enrolled(t testing.TB, thing string) Identity {
	t.Helper()
	keyPEM, csrPEM, err := NewCSR(thing, rand.Reader)
	require.NoError(t, err)
	certPEM := ca.sign(t, csrPEM)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	return Identity{ThingName: thing, Certificate: cert, KeyPEM: keyPEM, CSRPEM: csrPEM, CertificatePEM: certPEM}
}

func TestValidateThingName(t *testing.T) {
	long := string(make([]byte, 257))
	for _, tc := range []struct {
		thing string
		ok    bool
	}{
		{"cam-0001", true}, {"a", true}, {"A_b.c-9", true}, {string(bytes256('a')), true},
		{"", false}, {"cam 1", false}, {"cam/1", false}, {"camé", false}, {string(bytes256('a')) + "a", false}, {long, false},
	} {
		err := ValidateThingName(tc.thing)
		if tc.ok {
			require.NoError(t, err, "ValidateThingName(%q)", tc.thing)
		} else {
			require.ErrorIs(t, err, ErrInvalidThingName, "ValidateThingName(%q)", tc.thing)
		}
	}
}

func bytes256(c byte) []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = c
	}
	return b
}

func TestNewCSR(t *testing.T) {
	keyPEM, csrPEM, err := NewCSR("cam-7", rand.Reader)
	require.NoError(t, err)
	block, _ := pem.Decode(csrPEM)
	require.Equal(t, "CERTIFICATE REQUEST", block.Type)
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	require.NoError(t, err)
	require.NoError(t, csr.CheckSignature())
	require.Equal(t, "cam-7", csr.Subject.CommonName)
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	require.True(t, ok, "key type %T", csr.PublicKey)
	require.Equal(t, elliptic.P256(), pub.Curve)
	kb, _ := pem.Decode(keyPEM)
	require.Equal(t, "EC PRIVATE KEY", kb.Type)
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	require.NoError(t, err)
	require.True(t, key.PublicKey.Equal(pub), "the CSR carries the key's public half")

	_, _, err = NewCSR("cam 7", rand.Reader)
	require.ErrorIs(t, err, ErrInvalidThingName)
}

// enrollServer serves POST /enroll over TLS with answer deciding the
// response to each CSR.
func enrollServer(t *testing.T, answer func(w http.ResponseWriter, csrPEM []byte)) (*http.Client, string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/x-pem-file" {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		body, _ := io.ReadAll(r.Body)
		answer(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.Client(), srv.URL + "/enroll"
}

func TestEnroll(t *testing.T) {
	ca := newTestCA(t)
	hc, url := enrollServer(t, func(w http.ResponseWriter, csrPEM []byte) {
		_ = json.NewEncoder(w).Encode(map[string]string{"certificatePem": string(ca.sign(t, csrPEM)), "certificateId": "abc",
			"thingName": "cam-1", "roleAlias": "alias-1", "credentialProviderUrl": "https://provider.example"})
	})
	id, err := Enroll(context.Background(), hc, url, "tok", "cam-1", rand.Reader)
	require.NoError(t, err)
	require.Equal(t, "cam-1", id.ThingName)
	require.Equal(t, "abc", id.CertificateID)
	require.Equal(t, "alias-1", id.RoleAlias)
	require.Equal(t, "https://provider.example", id.CredentialProviderURL)
	require.NotNil(t, id.Certificate.Leaf)
	require.Equal(t, "cam-1", id.Certificate.Leaf.Subject.CommonName)
	pair, err := tls.X509KeyPair(id.CertificatePEM, id.KeyPEM)
	require.NoError(t, err, "the PEM pair matches")
	require.Equal(t, id.Certificate.Certificate, pair.Certificate)
	block, _ := pem.Decode(id.CSRPEM)
	require.Equal(t, "CERTIFICATE REQUEST", block.Type)
}

func TestEnrollErrors(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	padding := make([]byte, maxEnrollAnswer+1)
	for i := range padding {
		padding[i] = ' '
	}
	cases := []struct {
		name    string
		thing   string
		answer  func(w http.ResponseWriter, csrPEM []byte)
		refusal *EnrollError // want this *EnrollError, or else an error containing wantErr
		wantErr string
	}{
		{"JSON refusal", "cam-1", func(w http.ResponseWriter, _ []byte) {
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"code":"Unauthorized","message":"wrong token"}`))
		}, &EnrollError{Status: 401, Code: "Unauthorized", Message: "wrong token"}, ""},
		{"text refusal", "cam-1", func(w http.ResponseWriter, _ []byte) {
			w.WriteHeader(502)
			_, _ = w.Write([]byte("  bad gateway\n"))
		}, &EnrollError{Status: 502, Message: "bad gateway"}, ""},
		{"oversize refusal", "cam-1", func(w http.ResponseWriter, _ []byte) {
			w.WriteHeader(500)
			_, _ = w.Write(append([]byte(`{"message":"x"}`), padding...))
		}, &EnrollError{Status: 500, Message: `{"message":"x"}`}, ""},
		{"oversize answer", "cam-1", func(w http.ResponseWriter, csrPEM []byte) {
			_, _ = w.Write(append([]byte(`{"certificatePem":"`+jsonString(ca.sign(t, csrPEM))+`"}`), padding...))
		}, nil, "over 65536 bytes"},
		{"malformed JSON", "cam-1", func(w http.ResponseWriter, _ []byte) { _, _ = w.Write([]byte(`{"certificatePem":`)) }, nil, "not an enrollment"},
		{"no certificate", "cam-1", func(w http.ResponseWriter, _ []byte) { _, _ = w.Write([]byte(`{"certificateId":"x"}`)) }, nil, "no PEM certificate"},
		{"other thing", "cam-1", func(w http.ResponseWriter, csrPEM []byte) {
			_ = json.NewEncoder(w).Encode(map[string]string{"certificatePem": string(ca.sign(t, csrPEM)), "thingName": "cam-2"})
		}, nil, `enrolled thing "cam-2"`},
		{"certificate of another key", "cam-1", func(w http.ResponseWriter, _ []byte) {
			_, csr, err := NewCSR("cam-1", rand.Reader)
			require.NoError(t, err)
			_ = json.NewEncoder(w).Encode(map[string]string{"certificatePem": string(other.sign(t, csr))})
		}, nil, "does not pair with the device key"},
		{"invalid thing name", "cam 1", func(w http.ResponseWriter, _ []byte) { t.Error("an invalid thing name must not reach the server") }, nil, "invalid thing name"},
	}
	for _, tc := range cases {
		hc, url := enrollServer(t, tc.answer)
		_, err := Enroll(context.Background(), hc, url, "tok", tc.thing, rand.Reader)
		require.Error(t, err, tc.name)
		if tc.refusal != nil {
			var got *EnrollError
			require.ErrorAs(t, err, &got, "%s: %v", tc.name, err)
			require.Equal(t, tc.refusal, got, tc.name)
			require.Contains(t, err.Error(), "HTTP", tc.name)
			continue
		}
		require.ErrorContains(t, err, tc.wantErr, tc.name)
	}
}

func jsonString(b []byte) string {
	s, _ := json.Marshal(string(b))
	return string(s[1 : len(s)-1])
}

func TestExcerptBounded(t *testing.T) {
	long := make([]byte, 10_000)
	for i := range long {
		long[i] = 0xff
	}
	got := excerpt(long)
	require.LessOrEqual(t, len([]rune(got)), maxErrorMessage, "excerpt of %d bytes", len(long))
	require.True(t, utf8.ValidString(got), "excerpt %q", got)
}

func FuzzParseEnrollment(f *testing.F) {
	ca := newTestCA(f)
	keyPEM, csrPEM, err := NewCSR("cam-1", rand.Reader)
	require.NoError(f, err)
	certPEM := ca.sign(f, csrPEM)
	good, _ := json.Marshal(map[string]string{"certificatePem": string(certPEM), "certificateId": "abc",
		"thingName": "cam-1", "roleAlias": "camstorm-camera-alias", "credentialProviderUrl": "https://127.0.0.1:9443"})
	f.Add(good)
	f.Add([]byte(`{"certificatePem":"` + jsonString(certPEM) + `"}`))
	f.Add([]byte(`{"certificatePem":"` + jsonString(certPEM) + `","thingName":"cam-2"}`))
	f.Add([]byte(`{"certificatePem":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := parseEnrollment(body, "cam-1", keyPEM)
		if err != nil {
			return
		}
		if id.ThingName != "cam-1" || len(id.Certificate.Certificate) == 0 || id.Certificate.Leaf == nil {
			t.Fatalf("parseEnrollment(%q) accepted %+v", body, id)
		}
	})
}
