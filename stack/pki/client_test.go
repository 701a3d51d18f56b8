package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSignClientCertificate(t *testing.T) {
	ca, err := LoadOrCreate(t.TempDir())
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cam-1"}}, key)
	require.NoError(t, err)
	csr, err := x509.ParseCertificateRequest(csrDER)
	require.NoError(t, err)

	now := time.Now()
	der, err := ca.SignClientCertificate(rand.Reader, csr, now, now.Add(time.Hour))
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	require.Equal(t, "cam-1", cert.Subject.CommonName)
	require.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, cert.ExtKeyUsage)
	_, err = cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err, "the certificate must chain to the CA as a client certificate")
	_, err = cert.Verify(x509.VerifyOptions{Roots: ca.Pool()})
	require.Error(t, err, "a client certificate must not serve as a server certificate")

	// A request whose signature does not match its key is refused.
	tampered := *csr
	tampered.RawTBSCertificateRequest = append([]byte(nil), csr.RawTBSCertificateRequest...)
	tampered.RawTBSCertificateRequest[len(tampered.RawTBSCertificateRequest)-1] ^= 1
	_, err = ca.SignClientCertificate(rand.Reader, &tampered, now, now.Add(time.Hour))
	require.Error(t, err, "tampered request")

	_, err = ca.SignClientCertificate(rand.Reader, csr, now, now)
	require.Error(t, err, "empty validity")
}
