package device

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// ThingNameHeader names the thing a credential provider request is for.
const ThingNameHeader = "x-amzn-iot-thingname"

// Credential timing of the producer SDK (IotCredentialProvider.h).
const (
	// RefreshEarly: credentials are fetched again this long before they
	// expire (5 s + 30 s + 3 s).
	RefreshEarly = 38 * time.Second
	// ConnectTimeout bounds the TCP connect and the TLS handshake with the
	// credential provider.
	ConnectTimeout = 3 * time.Second
	// RequestTimeout bounds one whole credentials request.
	RequestTimeout = 5 * time.Second
)

// maxCredentialsAnswer bounds the credential provider's answer (four short
// strings: under 2 KiB).
const maxCredentialsAnswer = 16 << 10

// CredentialsSource is the Source of the credentials IoTCredentials returns.
const CredentialsSource = "IoTCredentialProvider"

// CredentialsError is a refusal from the credential provider: any answer
// but 200, with its x-amzn-ErrorType (e.g. AccessDeniedException) and the
// message of its JSON body ({"message":…}) or, for another body, its first
// bytes.
type CredentialsError struct {
	Status    int
	ErrorType string
	Message   string
}

func (e *CredentialsError) Error() string {
	return fmt.Sprintf("credentials refused (HTTP %d %s): %s", e.Status, e.ErrorType, e.Message)
}

// IoTCredentials fetches temporary credentials over mutual TLS from an AWS
// IoT-style credential provider: GET /role-aliases/ALIAS/credentials with
// x-amzn-iot-thingname. Wrap it with NewCredentialsCache to cache and
// refresh the credentials as the SDK does. Set the fields before the first
// Retrieve and leave them.
type IoTCredentials struct {
	// Endpoint is the provider's base URL (https://host:port); empty means
	// Identity.CredentialProviderURL.
	Endpoint string
	// RoleAlias empty means Identity.RoleAlias.
	RoleAlias string
	Identity  Identity
	// Transport carries the dialer and the trusted CAs (its
	// TLSClientConfig); the device certificate is added to a copy. Nil
	// means the default dialer and the system roots.
	Transport *http.Transport
	// Seed drives the random shortening of each credential's lifetime.
	Seed uint64
	// Clock is the time lifetimes are measured from; nil means time.Now.
	Clock func() time.Time

	once    sync.Once
	url     string
	hc      *http.Client
	initErr error
	mu      sync.Mutex
	rng     *rand.Rand
}

var _ aws.CredentialsProvider = (*IoTCredentials)(nil)

// NewCredentialsCache caches p's credentials and fetches new ones
// RefreshEarly before they expire, as the producer SDK does.
func NewCredentialsCache(p aws.CredentialsProvider) *aws.CredentialsCache {
	return aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = RefreshEarly })
}

// Retrieve fetches a new set of credentials. Their expiry is brought
// forward by a random 1–20 % of their lifetime, as the producer SDK does,
// so a fleet does not refresh in lockstep. A refusal is a
// *CredentialsError.
func (p *IoTCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	p.once.Do(p.init)
	thing := p.Identity.ThingName
	if p.initErr != nil {
		return aws.Credentials{}, fmt.Errorf("device: credentials for %s: %w", thing, p.initErr)
	}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("device: credentials for %s: %w", thing, err)
	}
	req.Header.Set(ThingNameHeader, thing)
	resp, err := p.hc.Do(req)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("device: credentials for %s: %w", thing, err)
	}
	defer resp.Body.Close()
	body, over, err := readBounded(resp.Body, maxCredentialsAnswer)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("device: credentials for %s: reading the answer: %w", thing, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Message string }
		if over || json.Unmarshal(body, &e) != nil || e.Message == "" {
			e.Message = excerpt(body)
		}
		return aws.Credentials{}, fmt.Errorf("device: credentials for %s: %w", thing,
			&CredentialsError{Status: resp.StatusCode, ErrorType: resp.Header.Get("x-amzn-ErrorType"), Message: e.Message})
	}
	if over {
		return aws.Credentials{}, fmt.Errorf("device: credentials for %s: the answer is over %d bytes: is %s a credential provider?", thing, maxCredentialsAnswer, p.url)
	}
	c, err := parseCredentials(body)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("device: credentials for %s: %w", thing, err)
	}
	if life := c.Expires.Sub(p.now()); life > 0 {
		p.mu.Lock()
		frac := 0.01 + 0.19*p.rng.Float64()
		p.mu.Unlock()
		c.Expires = c.Expires.Add(-time.Duration(frac * float64(life)))
	}
	return c, nil
}

// parseCredentials decodes a credential provider's answer:
// {"credentials":{"accessKeyId":…,"secretAccessKey":…,"sessionToken":…,"expiration":RFC 3339}}.
func parseCredentials(body []byte) (aws.Credentials, error) {
	var ans struct {
		Credentials struct {
			AccessKeyID     string `json:"accessKeyId"`
			SecretAccessKey string `json:"secretAccessKey"`
			SessionToken    string `json:"sessionToken"`
			Expiration      string `json:"expiration"`
		} `json:"credentials"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return aws.Credentials{}, fmt.Errorf("the answer is not credentials: %w", err)
	}
	c := ans.Credentials
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"accessKeyId", c.AccessKeyID}, {"secretAccessKey", c.SecretAccessKey}, {"sessionToken", c.SessionToken}, {"expiration", c.Expiration},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return aws.Credentials{}, fmt.Errorf("incomplete credentials: no %s", strings.Join(missing, ", "))
	}
	exp, err := time.Parse(time.RFC3339, c.Expiration)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("incomplete credentials: expiration %q is not an RFC 3339 time", c.Expiration)
	}
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
		Source: CredentialsSource, CanExpire: true, Expires: exp}, nil
}

func (p *IoTCredentials) now() time.Time {
	if p.Clock != nil {
		return p.Clock()
	}
	return time.Now()
}

func (p *IoTCredentials) init() {
	p.rng = rand.New(rand.NewPCG(p.Seed, 0x10c4ed))
	endpoint, alias := p.Endpoint, p.RoleAlias
	if endpoint == "" {
		endpoint = p.Identity.CredentialProviderURL
	}
	if alias == "" {
		alias = p.Identity.RoleAlias
	}
	switch {
	case endpoint == "":
		p.initErr = errors.New("no credential provider URL: set Endpoint (the enrollment answer named none)")
		return
	case alias == "":
		p.initErr = errors.New("no role alias: set RoleAlias (the enrollment answer named none)")
		return
	case len(p.Identity.Certificate.Certificate) == 0:
		p.initErr = errors.New("no device certificate: enroll first")
		return
	}
	p.url = strings.TrimSuffix(endpoint, "/") + "/role-aliases/" + url.PathEscape(alias) + "/credentials"

	dial := (&net.Dialer{}).DialContext
	tr := &http.Transport{DisableKeepAlives: true, TLSHandshakeTimeout: ConnectTimeout}
	if p.Transport != nil {
		if p.Transport.DialContext != nil {
			dial = p.Transport.DialContext
		}
		if p.Transport.TLSClientConfig != nil {
			tr.TLSClientConfig = p.Transport.TLSClientConfig.Clone()
		}
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
		defer cancel()
		return dial(ctx, network, addr)
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.Certificates = []tls.Certificate{p.Identity.Certificate}
	p.hc = &http.Client{Transport: tr}
}
