package iam

import (
	"bytes"
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
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/device"
)

// enrollDevice enrolls thing over HTTPS and returns its TLS client
// certificate and what the service answered.
func (e *env) enrollDevice(thing string) (tls.Certificate, device.Identity) {
	e.t.Helper()
	d, err := device.Enroll(context.Background(), e.client(), e.enroll, e.svc.EnrollmentToken(), thing, rand.Reader)
	require.NoError(e.t, err, "enrolling %s", thing)
	return d.Certificate, d
}

func TestEnrollIssuesClientCertificate(t *testing.T) {
	e := newEnv(t)
	_, d := e.enrollDevice("cam-0001")
	require.Equal(t, "cam-0001", d.ThingName)
	require.Equal(t, CameraRoleAlias, d.RoleAlias)
	require.Equal(t, "https://credentials.example", d.CredentialProviderURL)

	block, _ := pem.Decode(d.CertificatePEM)
	require.NotNil(t, block)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	require.Equal(t, CertificateID(block.Bytes), d.CertificateID, "the id is the SHA-256 of the DER")
	require.Len(t, d.CertificateID, 64)
	require.Equal(t, "cam-0001", cert.Subject.CommonName)
	require.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, cert.ExtKeyUsage)
	require.WithinDuration(t, e.clock.Now().Add(DefaultCertificateValidity), cert.NotAfter, time.Second)
	_, err = cert.Verify(x509.VerifyOptions{Roots: e.ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)

	got, ok := e.svc.Certificate(d.CertificateID)
	require.True(t, ok)
	require.Equal(t, CertificateActive, got.Status)
	require.Equal(t, "cam-0001", got.ThingName)

	// Enrolling again adds a second certificate to the thing.
	_, d2 := e.enrollDevice("cam-0001")
	require.NotEqual(t, d.CertificateID, d2.CertificateID)
	require.ElementsMatch(t, []string{d.CertificateID, d2.CertificateID}, e.svc.ThingCertificates("cam-0001"))
}

func csrPEM(t testing.TB, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestEnrollRefusals(t *testing.T) {
	e := newEnv(t)
	good := csrPEM(t, "cam-1")
	tampered := bytes.Clone(good)
	block, _ := pem.Decode(tampered)
	block.Bytes[len(block.Bytes)/2] ^= 0x01
	tampered = pem.EncodeToMemory(block)
	key, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	require.NoError(t, err)
	p224DER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cam-1"}}, key)
	require.NoError(t, err)
	p224 := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: p224DER})
	token := "Bearer " + e.svc.EnrollmentToken()

	cases := []struct {
		name       string
		method     string
		auth       string
		body       []byte
		wantStatus int
		wantCode   string
	}{
		{"no token", "POST", "", good, 401, "Unauthorized"},
		{"wrong token", "POST", "Bearer " + strings.Repeat("x", 43), good, 401, "Unauthorized"},
		{"token prefix", "POST", token[:len(token)-1], good, 401, "Unauthorized"},
		{"basic scheme", "POST", "Basic " + e.svc.EnrollmentToken(), good, 401, "Unauthorized"},
		{"GET", "GET", token, nil, 405, "MethodNotAllowed"},
		{"empty body", "POST", token, nil, 400, "InvalidRequest"},
		{"not PEM", "POST", token, []byte("hello"), 400, "InvalidRequest"},
		{"certificate instead of CSR", "POST", token, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}), 400, "InvalidRequest"},
		{"garbage DER", "POST", token, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0x03, 1, 2, 3}}), 400, "InvalidRequest"},
		{"bad signature", "POST", token, tampered, 400, "InvalidRequest"},
		{"two blocks", "POST", token, append(bytes.Clone(good), good...), 400, "InvalidRequest"},
		{"P-224 key", "POST", token, p224, 400, "InvalidRequest"},
		{"CN with space", "POST", token, csrPEM(t, "cam 1"), 400, "InvalidRequest"},
		{"CN with slash", "POST", token, csrPEM(t, "cam/1"), 400, "InvalidRequest"},
		{"CN non-ASCII", "POST", token, csrPEM(t, "camé"), 400, "InvalidRequest"},
		{"empty CN", "POST", token, csrPEM(t, ""), 400, "InvalidRequest"},
		{"CN of 257", "POST", token, csrPEM(t, strings.Repeat("a", 257)), 400, "InvalidRequest"},
		{"oversize body", "POST", token, append(bytes.Clone(good), bytes.Repeat([]byte("\n"), MaxEnrollBody)...), 413, "RequestTooLarge"},
		{"CN of 256", "POST", token, csrPEM(t, strings.Repeat("a", 256)), 200, ""},
		{"good", "POST", token, good, 200, ""},
	}
	c := e.client()
	for _, tc := range cases {
		req, err := http.NewRequest(tc.method, e.enroll, bytes.NewReader(tc.body))
		require.NoError(t, err)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := c.Do(req)
		require.NoError(t, err, tc.name)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, tc.wantStatus, resp.StatusCode, "%s: body %s", tc.name, body)
		if tc.wantCode == "" {
			continue
		}
		var got struct{ Code, Message string }
		require.NoError(t, json.Unmarshal(body, &got), "%s: body %s", tc.name, body)
		require.Equal(t, tc.wantCode, got.Code, "%s: body %s", tc.name, body)
		require.NotEmpty(t, got.Message, tc.name)
	}
	require.Len(t, e.svc.ThingCertificates("cam-1"), 1, "only the good request registers a certificate")
}

func TestRotateEnrollmentToken(t *testing.T) {
	e := newEnv(t)
	old := e.svc.EnrollmentToken()
	tok, err := e.svc.RotateEnrollmentToken()
	require.NoError(t, err)
	require.NotEqual(t, old, tok)
	_, err = device.Enroll(context.Background(), e.client(), e.enroll, old, "cam-1", rand.Reader)
	var ee *device.EnrollError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 401, ee.Status)
	_, err = device.Enroll(context.Background(), e.client(), e.enroll, tok, "cam-1", rand.Reader)
	require.NoError(t, err)
}

func FuzzEnroll(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	for _, cn := range []string{"cam-1", "a", "x y", strings.Repeat("b", 256)} {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	}
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		csr, thing, err := ParseCSR(body)
		if err != nil {
			if csr != nil || thing != "" {
				t.Fatalf("ParseCSR(%q) returned a request with error %v", body, err)
			}
			return
		}
		if device.ValidateThingName(thing) != nil || thing != csr.Subject.CommonName {
			t.Fatalf("ParseCSR(%q) accepted thing name %q", body, thing)
		}
		if csr.CheckSignature() != nil {
			t.Fatalf("ParseCSR(%q) accepted a request whose signature does not verify", body)
		}
	})
}
