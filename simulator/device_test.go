package simulator_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/device"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/stack"
)

// TestDeviceCredentials runs a camera's credential chain against the
// embedded stack: a wrong token is refused (and not remembered), then the
// camera enrols, gets temporary credentials for its thing and STS
// recognises them.
func TestDeviceCredentials(t *testing.T) {
	st, err := stack.StartEmbedded(context.Background(), stack.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	tr := st.HTTPClient().Transport.(*http.Transport)

	d := &simulator.DeviceCredentials{EnrollURL: st.EnrollURL, EnrollToken: "wrong", CredentialsURL: st.IoTCredentialsURL,
		RoleAlias: st.CameraRoleAlias, ThingName: "cam-dc", Transport: tr, Seed: 3}
	_, err = d.Retrieve(context.Background())
	var refusal *device.EnrollError
	require.ErrorAs(t, err, &refusal)
	require.Equal(t, 401, refusal.Status)

	d.EnrollToken = st.EnrollmentToken
	creds := simulator.NewIoTCredentialsProvider(d)
	c, err := creds.Retrieve(context.Background())
	require.NoError(t, err)
	require.Equal(t, device.CredentialsSource, c.Source)
	again, err := creds.Retrieve(context.Background())
	require.NoError(t, err)
	require.Equal(t, c.AccessKeyID, again.AccessKeyID, "the cache keeps credentials far from expiry")

	client := sts.New(sts.Options{Region: st.Region, Credentials: creds, BaseEndpoint: aws.String(st.STSURL),
		HTTPClient: &http.Client{Transport: tr}})
	who, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(aws.ToString(who.Arn), "/cam-dc"), "caller %s is the camera's thing", aws.ToString(who.Arn))
}
