package simulator

import (
	"context"
	crand "crypto/rand"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/camstorm/camstorm/internal/device"
)

// NewIoTCredentialsProvider caches p's credentials and fetches new ones
// device.RefreshEarly before they expire, as the producer SDK does.
func NewIoTCredentialsProvider(p aws.CredentialsProvider) *aws.CredentialsCache {
	return device.NewCredentialsCache(p)
}

// DeviceCredentials is a camera's whole credential chain: it enrols on
// first use (once it succeeds, the certificate is kept) and then gets
// temporary credentials from the credential provider, as
// device.IoTCredentials. Wrap it with NewIoTCredentialsProvider.
type DeviceCredentials struct {
	EnrollURL, EnrollToken string
	// CredentialsURL is the credential provider's base URL; empty means
	// the one the enrollment answer names.
	CredentialsURL string
	// RoleAlias empty means the one the enrollment answer names.
	RoleAlias, ThingName string
	// Transport carries the dialer and trusted CAs for both endpoints.
	Transport *http.Transport
	Seed      uint64

	mu  sync.Mutex
	iot *device.IoTCredentials
}

var _ aws.CredentialsProvider = (*DeviceCredentials)(nil)

// enrollTimeout bounds one enrollment request.
const enrollTimeout = 10 * time.Second

// Retrieve enrols if the device has no certificate yet, then fetches
// credentials.
func (d *DeviceCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	d.mu.Lock()
	if d.iot == nil {
		tr := &http.Transport{DisableKeepAlives: true}
		if d.Transport != nil {
			tr.DialContext, tr.TLSClientConfig = d.Transport.DialContext, d.Transport.TLSClientConfig
		}
		// Bounded: a network that goes silent must not hold the camera.
		hc := &http.Client{Transport: tr, Timeout: enrollTimeout}
		id, err := device.Enroll(ctx, hc, d.EnrollURL, d.EnrollToken, d.ThingName, crand.Reader)
		if err != nil {
			d.mu.Unlock()
			return aws.Credentials{}, err
		}
		id.KeyPEM, id.CSRPEM, id.CertificatePEM = nil, nil, nil // the parsed pair is enough here
		d.iot = &device.IoTCredentials{Endpoint: d.CredentialsURL, RoleAlias: d.RoleAlias, Identity: id, Transport: d.Transport, Seed: d.Seed}
	}
	iot := d.iot
	d.mu.Unlock()
	return iot.Retrieve(ctx)
}
