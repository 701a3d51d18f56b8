package ingest

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/stack/iam/policy"
	"github.com/camstorm/camstorm/stack/kms"
	"github.com/camstorm/camstorm/stack/pki"
)

// referenceKMS serves the stack's reference KMS over TLS on loopback and
// returns an unmodified SDK client for it.
func referenceKMS(t *testing.T) *awskms.Client {
	t.Helper()
	dir := t.TempDir()
	// Its caller is the KVS service, as the stack tells its KMS, so the
	// managed key's policy (use through KVS only) admits it; its identity
	// policy allows every KMS action, so the tests also administer keys.
	allowKMS, err := policy.Parse([]byte(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}`))
	require.NoError(t, err)
	ingest := kms.Caller{Principal: policy.Principal{ARN: "arn:aws:sts::" + kms.DefaultAccount + ":assumed-role/camstorm-ingest/ingest"},
		Identity: []*policy.Policy{allowKMS}, Conditions: map[string][]string{"kms:ViaService": {"kinesisvideo.us-east-1.amazonaws.com"}}}
	srv, err := kms.New(kms.Config{DataDir: filepath.Join(dir, "kms"),
		Caller: func(*http.Request) (kms.Caller, bool) { return ingest, true }})
	require.NoError(t, err)
	ca, err := pki.LoadOrCreate(filepath.Join(dir, "pki"))
	require.NoError(t, err)
	cert, err := ca.ServerCertificate([]string{"127.0.0.1"})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hs := &http.Server{Handler: srv.Handler(), TLSConfig: pki.ServerTLS(cert)}
	go hs.ServeTLS(ln, "", "")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientTLS()}}
	t.Cleanup(func() {
		hc.CloseIdleConnections()
		hs.Close()
		srv.Close()
	})
	return awskms.New(awskms.Options{Region: "us-east-1", HTTPClient: hc, RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDINGEST", "secret", "")},
		func(o *awskms.Options) { o.BaseEndpoint = aws.String("https://" + ln.Addr().String()) })
}

const testStreamARN = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam/1"

// TestDataKeysCachePolicy: a stream's data key is reused until it is
// DataKeyMaxUses fragments or DataKeyMaxAge old, then a new one comes
// from KMS; every key unwraps again, bound to its stream.
func TestDataKeysCachePolicy(t *testing.T) {
	client := referenceKMS(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	d := newDataKeys(client, clock, time.Minute, 3)
	ctx := context.Background()
	const key = "alias/aws/kinesisvideo"

	k1, err := d.forWriting(ctx, testStreamARN, key)
	require.NoError(t, err)
	require.Len(t, k1.Plaintext, 32)
	require.Contains(t, k1.KMSKeyID, "arn:aws:kms:")
	for range 2 {
		k, err := d.forWriting(ctx, testStreamARN, key)
		require.NoError(t, err)
		require.Equal(t, k1.Wrapped, k.Wrapped, "reused within the use count")
	}
	k2, err := d.forWriting(ctx, testStreamARN, key)
	require.NoError(t, err)
	require.NotEqual(t, k1.Wrapped, k2.Wrapped, "a new key after 3 uses")
	now.Add(int64(time.Minute))
	k3, err := d.forWriting(ctx, testStreamARN, key)
	require.NoError(t, err)
	require.NotEqual(t, k2.Wrapped, k3.Wrapped, "a new key after a minute")
	other, err := d.forWriting(ctx, testStreamARN+"x", key)
	require.NoError(t, err)
	require.NotEqual(t, k3.Wrapped, other.Wrapped, "each stream its own key")

	// A fresh cache (a restarted ingest) unwraps every stored key through
	// KMS, bound to its stream.
	fresh := newDataKeys(client, clock, time.Minute, 3)
	for _, k := range []DataKey{k1, k2, k3} {
		p, err := fresh.forReading(ctx, testStreamARN, k.Wrapped)
		require.NoError(t, err)
		require.Equal(t, k.Plaintext, p)
	}
	_, err = fresh.forReading(ctx, testStreamARN+"x", k1.Wrapped)
	require.Error(t, err, "a data key does not unwrap for another stream")
	require.Equal(t, kvsapi.ErrKMSKeyValidation, kmsErrorID(err))
}

// TestKMSErrorIDs: KMS failures map to the ERROR ACKs KVS sends.
func TestKMSErrorIDs(t *testing.T) {
	client := referenceKMS(t)
	ctx := context.Background()
	d := newDataKeys(client, time.Now, time.Minute, 10)

	_, err := d.forWriting(ctx, testStreamARN, "alias/does-not-exist")
	require.Error(t, err)
	require.Equal(t, kvsapi.ErrKMSKeyNotFound, kmsErrorID(err), "%v", err)

	created, err := client.CreateKey(ctx, &awskms.CreateKeyInput{})
	require.NoError(t, err)
	id := aws.ToString(created.KeyMetadata.KeyId)
	_, err = client.DisableKey(ctx, &awskms.DisableKeyInput{KeyId: aws.String(id)})
	require.NoError(t, err)
	_, err = d.forWriting(ctx, testStreamARN, id)
	require.Error(t, err)
	require.Equal(t, kvsapi.ErrKMSKeyDisabled, kmsErrorID(err), "%v", err)

	unreachable := awskms.New(awskms.Options{Region: "us-east-1", RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")},
		func(o *awskms.Options) { o.BaseEndpoint = aws.String("https://127.0.0.1:1") })
	_, err = newDataKeys(unreachable, time.Now, time.Minute, 10).forWriting(ctx, testStreamARN, id)
	require.Error(t, err)
	require.Equal(t, kvsapi.ErrKMSKeyUnavailable, kmsErrorID(err), "%v", err)
}

// TestUnwrappedKeysAreBounded: reading back many streams keeps at most
// unwrappedKeysKept plaintext keys, forgetting the oldest.
func TestUnwrappedKeysAreBounded(t *testing.T) {
	d := newDataKeys(nil, time.Now, time.Minute, 10)
	for i := range unwrappedKeysKept + 10 {
		d.remember("s", []byte{byte(i), byte(i >> 8)}, make([]byte, 32), time.Now())
	}
	require.Len(t, d.unwrapped, unwrappedKeysKept)
	require.Len(t, d.order, unwrappedKeysKept)
	_, oldest := d.unwrapped["s\x00"+string([]byte{0, 0})]
	require.False(t, oldest, "the oldest is forgotten")
}
