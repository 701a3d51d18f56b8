package stack_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/stack"
)

// TestRefusedPutMediaIsAnsweredAtOnce: a producer that waits for the
// response head before sending media (kvsclient, the producer SDKs) hears
// a signature refusal at once, not after its head timeout.
func TestRefusedPutMediaIsAnsweredAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := stack.StartEmbedded(ctx, stack.Options{})
	require.NoError(t, err)
	defer st.Close(context.Background())
	wrong := credentials.NewStaticCredentialsProvider(st.AdminAccessKeyID, "not-the-secret", "")
	hc := st.HTTPClient()
	hc.Transport = &kvsclient.SigningTransport{Base: hc.Transport, Credentials: wrong, Region: st.Region}
	start := time.Now()
	_, err = kvsclient.StartPutMedia(ctx, hc, st.DataPlaneURL, kvsclient.PutMediaOptions{StreamName: "any"})
	var e *kvsapi.Exception
	require.ErrorAs(t, err, &e)
	require.Equal(t, 403, e.Status)
	require.Less(t, time.Since(start), 3*time.Second, "the refusal came only after the client gave up waiting")
}
