package iam

import (
	"context"
	"crypto/rand"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/device"
)

// TestDeviceEnrollThenCredentials is a camera's whole path through the
// device client against the real service: enroll, then temporary
// credentials over mutual TLS, then what revocation and a wrong thing or
// alias do to it.
func TestDeviceEnrollThenCredentials(t *testing.T) {
	e := newEnv(t)
	_, id := e.enrollDevice("cam-d")
	tr := &http.Transport{TLSClientConfig: e.ca.ClientTLS()}
	p := &device.IoTCredentials{Endpoint: e.provider, Identity: id, Transport: tr, Seed: 1, Clock: e.clock.Now}
	require.Equal(t, CameraRoleAlias, id.RoleAlias, "the role alias comes from the enrollment answer")

	c, err := device.NewCredentialsCache(p).Retrieve(context.Background())
	require.NoError(t, err)
	issued, ok := e.svc.LookupAccessKey(c.AccessKeyID)
	require.True(t, ok, "the service knows the access key it issued")
	require.Equal(t, issued.SecretAccessKey, c.SecretAccessKey)
	require.Equal(t, issued.SessionToken, c.SessionToken)
	require.Equal(t, "cam-d", issued.Principal.ThingName)
	require.Equal(t, id.CertificateID, issued.Principal.CertificateID)
	life := issued.Expiration.Sub(e.clock.Now())
	cut := issued.Expiration.Sub(c.Expires)
	require.True(t, cut >= life/100-time.Second && cut <= life/5+time.Second,
		"expiry %s brought forward by %s of a %s lifetime, want 1-20 %%", c.Expires, cut, life)

	// Another thing's name with this certificate, and an unknown alias.
	otherID := id
	otherID.ThingName = "cam-e"
	other := &device.IoTCredentials{Endpoint: e.provider, Identity: otherID, Transport: tr}
	_, err = other.Retrieve(context.Background())
	var refusal *device.CredentialsError
	require.ErrorAs(t, err, &refusal)
	require.Equal(t, device.CredentialsError{Status: 403, ErrorType: "AccessDeniedException", Message: `the client certificate is not attached to thing "cam-e"`}, *refusal)
	noAlias := &device.IoTCredentials{Endpoint: e.provider, RoleAlias: "no-such-alias", Identity: id, Transport: tr}
	_, err = noAlias.Retrieve(context.Background())
	require.ErrorAs(t, err, &refusal)
	require.Equal(t, 404, refusal.Status)
	require.Equal(t, "ResourceNotFoundException", refusal.ErrorType)

	// Revoked: the next fetch is refused with an answer (which the
	// stack's audit trail records), not a failed handshake.
	require.NoError(t, e.svc.RevokeCertificate(id.CertificateID))
	_, err = p.Retrieve(context.Background())
	require.ErrorAs(t, err, &refusal)
	require.Equal(t, device.CredentialsError{Status: 403, ErrorType: "AccessDeniedException", Message: "the client certificate is REVOKED"}, *refusal)
}

// TestDeviceEnrollRefused checks the device client's view of the
// enrollment endpoint's refusals.
func TestDeviceEnrollRefused(t *testing.T) {
	e := newEnv(t)
	_, err := device.Enroll(context.Background(), e.client(), e.enroll, "wrong", "cam-1", rand.Reader)
	var refusal *device.EnrollError
	require.ErrorAs(t, err, &refusal)
	require.Equal(t, 401, refusal.Status)
	require.Equal(t, "Unauthorized", refusal.Code)
	require.Contains(t, refusal.Message, "enrollment token")
	require.Empty(t, e.svc.ThingCertificates("cam-1"))
}
