package simulator_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/consumer"
	"github.com/camstorm/camstorm/stack"
)

// countingProvider counts the credentials fetched from the provider.
type countingProvider struct {
	aws.CredentialsProvider
	fetched atomic.Int32
}

func (c *countingProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := c.CredentialsProvider.Retrieve(ctx)
	if err == nil {
		c.fetched.Add(1)
	}
	return creds, err
}

// TestCameraRenewsCredentialsAndRotatesSessions: a camera that is an
// enrolled device, with IoT credentials that live about a minute (the
// identity service's clock runs 59 minutes behind, so its one-hour
// credentials expire a minute from now). The camera fetches new
// credentials before the old ones expire (38 s early, as the SDK), starts
// a new PutMedia session before the token that signed the current one
// runs out (3 s grace), and loses nothing: no request is ever refused.
func TestCameraRenewsCredentialsAndRotatesSessions(t *testing.T) {
	t.Parallel()
	st, err := stack.StartEmbedded(context.Background(), stack.Options{
		IdentityClock: func() time.Time { return time.Now().Add(-59 * time.Minute) }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	hc := st.HTTPClient()
	t.Cleanup(hc.CloseIdleConnections)
	creds := &countingProvider{CredentialsProvider: &simulator.DeviceCredentials{EnrollURL: st.EnrollURL, EnrollToken: st.EnrollmentToken,
		CredentialsURL: st.IoTCredentialsURL, RoleAlias: st.CameraRoleAlias, ThingName: "renewing-cam",
		Transport: hc.Transport.(*http.Transport), Seed: 7}}
	target := simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Region: st.Region,
		Credentials: simulator.NewIoTCredentialsProvider(creds)}
	key := consumerKey(t)

	const runFor = 45 * time.Second
	cam, err := simulator.NewCamera(simulator.CameraConfig{StreamName: "renewing-cam", Seed: 7, Source: smallSource(t),
		Recipients: []e2ee.PublicKey{key.Public()}}, target)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), runFor+time.Minute)
	defer cancel()
	res := cam.Run(ctx, time.Now().Add(runFor))
	why := fmt.Sprintf("camera %+v\nledger %+v\nfetched %d", res.Counters, res.Ledger, creds.fetched.Load())
	t.Logf("credentials fetched %d times, %d sessions, %d rotations", creds.fetched.Load(), res.Sessions, res.Rotations)
	require.Nil(t, res.Failure, why)
	require.GreaterOrEqual(t, int(creds.fetched.Load()), 2, "credentials renewed before expiry; %s", why)
	require.GreaterOrEqual(t, res.Rotations, 1, "a new session before the signing token expired; %s", why)
	require.Less(t, res.Rotations, int(creds.fetched.Load()), "each rotation is signed with new credentials, so no more rotations than renewals; %s", why)
	require.Zero(t, res.ControlFailures, why)
	require.Zero(t, res.ConnectFailures, why)
	require.Zero(t, res.AckErrors, why)

	consumerTarget := simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Region: st.Region,
		Credentials: st.AssumeRole(st.ConsumerRoleARN, "checker")}
	vctx, vcancel := context.WithTimeout(context.Background(), time.Minute)
	defer vcancel()
	v := consumer.Verify(vctx, consumerTarget, &res.Ledger, e2ee.NewOpener(res.StreamName, key))
	why = fmt.Sprintf("verification %+v\n%s", v, why)
	require.Empty(t, v.Err, why)
	require.Zero(t, v.LostFrames, why)
	require.Zero(t, v.IntegrityFailures, why)
	require.Equal(t, res.Ledger.Produced, v.Delivered, why)
}
