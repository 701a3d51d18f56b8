package simulator

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The device side of camera identity: enrollment against the stack's CA and
// temporary credentials from an AWS IoT-style credential provider, as the
// KVS producer SDK's IotCredentialProvider gets them (kvs-protocol.md
// §4.7, §5.2).

// DeviceIdentity is what a camera holds after enrolling: its private key
// and the certificate the stack's CA issued for its thing name.
type DeviceIdentity struct {
	ThingName     string
	CertificateID string
	Certificate   tls.Certificate
	// KeyPEM and CertificatePEM are the same pair, for writing to files.
	KeyPEM, CertificatePEM []byte
}

// maxEnrollmentAnswer bounds the enrollment endpoint's answer.
const maxEnrollmentAnswer = 64 << 10

// Enroll makes a P-256 key and a certificate signing request for thing and
// has the enrollment endpoint (enrollURL, e.g. https://host:port/enroll)
// sign it, presenting token. hc must trust the stack's CA.
func Enroll(ctx context.Context, hc *http.Client, enrollURL, token, thing string) (DeviceIdentity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		return DeviceIdentity{}, err
	}
	csr, err := x509.CreateCertificateRequest(crand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: thing}}, key)
	if err != nil {
		return DeviceIdentity{}, fmt.Errorf("enrolling %s: making the CSR: %w", thing, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, enrollURL,
		bytes.NewReader(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})))
	if err != nil {
		return DeviceIdentity{}, fmt.Errorf("enrolling %s: %w", thing, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-pem-file")
	resp, err := hc.Do(req)
	if err != nil {
		return DeviceIdentity{}, fmt.Errorf("enrolling %s: %w", thing, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxEnrollmentAnswer))
	if err != nil {
		return DeviceIdentity{}, fmt.Errorf("enrolling %s: reading the answer: %w", thing, err)
	}
	if resp.StatusCode != http.StatusOK {
		return DeviceIdentity{}, fmt.Errorf("enrolling %s: %s: %s", thing, resp.Status, bytes.TrimSpace(body))
	}
	var ans struct {
		CertificatePEM string `json:"certificatePem"`
		CertificateID  string `json:"certificateId"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return DeviceIdentity{}, fmt.Errorf("enrolling %s: decoding the answer: %w", thing, err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return DeviceIdentity{}, err
	}
	id := DeviceIdentity{ThingName: thing, CertificateID: ans.CertificateID,
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), CertificatePEM: []byte(ans.CertificatePEM)}
	if id.Certificate, err = tls.X509KeyPair(id.CertificatePEM, id.KeyPEM); err != nil {
		return DeviceIdentity{}, fmt.Errorf("enrolling %s: the issued certificate: %w", thing, err)
	}
	return id, nil
}

// IoT credential timing of the producer SDK (IotCredentialProvider.h).
const (
	// IoTCredentialsRefreshEarly: credentials are fetched again this long
	// before they expire (5 s + 30 s + 3 s).
	IoTCredentialsRefreshEarly = 38 * time.Second
	iotConnectTimeout          = 3 * time.Second
	iotRequestTimeout          = 5 * time.Second
	maxCredentialsAnswer       = 16 << 10
)

// IoTCredentials fetches temporary credentials over mutual TLS from an AWS
// IoT-style credential provider: GET /role-aliases/ALIAS/credentials with
// x-amzn-iot-thingname. Wrap it with NewIoTCredentialsProvider to cache
// and refresh the credentials as the SDK does.
type IoTCredentials struct {
	// Endpoint is the provider's base URL (https://host:port).
	Endpoint  string
	RoleAlias string
	Identity  DeviceIdentity
	// Transport carries the dialer and the trusted CAs (its
	// TLSClientConfig); the device certificate is added to a copy.
	Transport *http.Transport
	// Seed drives the random shortening of each credential's lifetime.
	Seed uint64

	once sync.Once
	hc   *http.Client
	mu   sync.Mutex
	rng  *rand.Rand
}

var _ aws.CredentialsProvider = (*IoTCredentials)(nil)

// Retrieve fetches a new set of credentials. Their expiry is brought
// forward by a random 1–20 % of their lifetime, as the producer SDK does,
// so a fleet does not refresh in lockstep.
func (p *IoTCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	p.once.Do(p.init)
	ctx, cancel := context.WithTimeout(ctx, iotRequestTimeout)
	defer cancel()
	u := strings.TrimSuffix(p.Endpoint, "/") + "/role-aliases/" + url.PathEscape(p.RoleAlias) + "/credentials"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("IoT credentials for %s: %w", p.Identity.ThingName, err)
	}
	req.Header.Set("x-amzn-iot-thingname", p.Identity.ThingName)
	resp, err := p.hc.Do(req)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("IoT credentials for %s: %w", p.Identity.ThingName, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCredentialsAnswer))
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("IoT credentials for %s: reading the answer: %w", p.Identity.ThingName, err)
	}
	if resp.StatusCode != http.StatusOK {
		return aws.Credentials{}, fmt.Errorf("IoT credentials for %s: %s %s: %s", p.Identity.ThingName, resp.Status,
			resp.Header.Get("x-amzn-ErrorType"), bytes.TrimSpace(body))
	}
	var ans struct {
		Credentials struct {
			AccessKeyID     string `json:"accessKeyId"`
			SecretAccessKey string `json:"secretAccessKey"`
			SessionToken    string `json:"sessionToken"`
			Expiration      string `json:"expiration"`
		} `json:"credentials"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return aws.Credentials{}, fmt.Errorf("IoT credentials for %s: decoding the answer: %w", p.Identity.ThingName, err)
	}
	c := ans.Credentials
	exp, err := time.Parse(time.RFC3339, c.Expiration)
	if err != nil || c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" {
		return aws.Credentials{}, fmt.Errorf("IoT credentials for %s: incomplete answer (expiration %q)", p.Identity.ThingName, c.Expiration)
	}
	if life := time.Until(exp); life > 0 {
		p.mu.Lock()
		frac := 0.01 + 0.19*p.rng.Float64()
		p.mu.Unlock()
		exp = exp.Add(-time.Duration(frac * float64(life)))
	}
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
		Source: "IoTCredentialProvider", CanExpire: true, Expires: exp}, nil
}

func (p *IoTCredentials) init() {
	tr := &http.Transport{DisableKeepAlives: true, TLSHandshakeTimeout: iotConnectTimeout}
	if p.Transport != nil {
		tr.DialContext = p.Transport.DialContext
		if p.Transport.TLSClientConfig != nil {
			tr.TLSClientConfig = p.Transport.TLSClientConfig.Clone()
		}
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.Certificates = []tls.Certificate{p.Identity.Certificate}
	p.hc = &http.Client{Transport: tr}
	p.rng = rand.New(rand.NewPCG(p.Seed, 0x10c4ed))
}

// NewIoTCredentialsProvider caches p's credentials and fetches new ones
// IoTCredentialsRefreshEarly before they expire.
func NewIoTCredentialsProvider(p aws.CredentialsProvider) *aws.CredentialsCache {
	return aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = IoTCredentialsRefreshEarly })
}

// DeviceCredentials is a camera's whole credential chain: it enrols on
// first use (once it succeeds, the certificate is kept) and then gets
// temporary credentials from the credential provider, as IoTCredentials.
// Wrap it with NewIoTCredentialsProvider.
type DeviceCredentials struct {
	EnrollURL, EnrollToken string
	// CredentialsURL is the credential provider's base URL.
	CredentialsURL, RoleAlias, ThingName string
	// Transport carries the dialer and trusted CAs for both endpoints.
	Transport *http.Transport
	Seed      uint64

	mu  sync.Mutex
	iot *IoTCredentials
}

var _ aws.CredentialsProvider = (*DeviceCredentials)(nil)

// Retrieve enrols if the device has no certificate yet, then fetches
// credentials.
func (d *DeviceCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	d.mu.Lock()
	if d.iot == nil {
		tr := &http.Transport{DisableKeepAlives: true}
		if d.Transport != nil {
			tr.DialContext, tr.TLSClientConfig = d.Transport.DialContext, d.Transport.TLSClientConfig
		}
		hc := &http.Client{Transport: tr}
		id, err := Enroll(ctx, hc, d.EnrollURL, d.EnrollToken, d.ThingName)
		if err != nil {
			d.mu.Unlock()
			return aws.Credentials{}, err
		}
		id.KeyPEM, id.CertificatePEM = nil, nil // the parsed pair is enough here
		d.iot = &IoTCredentials{Endpoint: d.CredentialsURL, RoleAlias: d.RoleAlias, Identity: id, Transport: d.Transport, Seed: d.Seed}
	}
	iot := d.iot
	d.mu.Unlock()
	return iot.Retrieve(ctx)
}
