package containers

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	kv "github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	kvtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
	"github.com/stretchr/testify/require"
)

// allInOne is the all-in-one server `camstorm stack up` on fixed container
// ports, its data in the volume "data".
func allInOne(ref string) Spec {
	return Spec{
		Name: "stack", Image: ref,
		Cmd: []string{"stack", "up", "--data", "/data",
			"--listen", "0.0.0.0:9443", "--data-listen", "0.0.0.0:9444", "--kms-listen", "0.0.0.0:9445",
			"--identity-listen", "0.0.0.0:9446", "--iot-listen", "0.0.0.0:9447", "--metrics-listen", "0.0.0.0:8080"},
		Volumes: map[string]string{"data": "/data"},
		Ports: []PortSpec{
			{ContainerPort: 9443, TLS: true}, {ContainerPort: 9444, TLS: true}, {ContainerPort: 9445, TLS: true},
			{ContainerPort: 9446, TLS: true}, {ContainerPort: 9447, TLS: true}, {ContainerPort: 8080},
		},
		HealthPort: 8080, HealthPath: "/healthz",
	}
}

// endpoints is the part of stack up's JSON line the test uses.
type endpoints struct {
	ControlPlaneURL      string `json:"control_plane_url"`
	Region               string `json:"region"`
	AdminAccessKeyID     string `json:"admin_access_key_id"`
	AdminSecretAccessKey string `json:"admin_secret_access_key"`
}

// lastEndpoints finds the last JSON line with endpoints in a log.
func lastEndpoints(t *testing.T, logs []byte) endpoints {
	t.Helper()
	var found endpoints
	for line := range bytes.Lines(logs) {
		var e endpoints
		if bytes.HasPrefix(line, []byte("{")) && json.Unmarshal(line, &e) == nil && e.ControlPlaneURL != "" {
			found = e
		}
	}
	require.NotEmpty(t, found.AdminAccessKeyID, "no endpoints line in the log:\n%s", logs)
	return found
}

// TestAllInOneSurvivesSIGKILL: a stream created through the control plane
// is still there after the container is killed and started again on its
// volume.
func TestAllInOneSurvivesSIGKILL(t *testing.T) {
	ref, _ := testImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := newTestSession(t, SessionOptions{})

	start := time.Now()
	c, err := s.Start(ctx, allInOne(ref))
	require.NoError(t, err)
	t.Logf("container start to healthy: %v", time.Since(start))

	caPEM, err := c.ReadFile(ctx, "/data/pki/ca.pem")
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM), "ca.pem is not PEM:\n%s", caPEM)
	logs, err := c.Logs(ctx)
	require.NoError(t, err)
	ep := lastEndpoints(t, logs)
	require.NotEmpty(t, ep.Region)

	// The stack advertises its listen address; clients use the loopback
	// port the container port is published on, which the certificate
	// covers (127.0.0.1).
	kvc := kv.New(kv.Options{
		Region:       ep.Region,
		BaseEndpoint: aws.String(c.URL(9443)),
		Credentials:  credentials.NewStaticCredentialsProvider(ep.AdminAccessKeyID, ep.AdminSecretAccessKey, ""),
		HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		}},
	})
	created, err := kvc.CreateStream(ctx, &kv.CreateStreamInput{StreamName: aws.String("cam-1"), DataRetentionInHours: aws.Int32(2)})
	require.NoError(t, err)

	require.NoError(t, c.Kill(ctx))
	start = time.Now()
	require.NoError(t, c.Start(ctx))
	t.Logf("restart after SIGKILL to healthy: %v", time.Since(start))

	d, err := kvc.DescribeStream(ctx, &kv.DescribeStreamInput{StreamName: aws.String("cam-1")})
	require.NoError(t, err, "DescribeStream after SIGKILL and restart; log:\n%s", mustLogs(c))
	require.Equal(t, kvtypes.StatusActive, d.StreamInfo.Status)
	require.Equal(t, aws.ToString(created.StreamARN), aws.ToString(d.StreamInfo.StreamARN))
}

func mustLogs(c *Container) []byte {
	b, _ := c.Logs(context.Background())
	return b
}
