package stack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/stack/iam"
	"github.com/camstorm/camstorm/stack/iam/sigv4"
	"github.com/camstorm/camstorm/stack/ingest"
)

// BenchmarkRequestAuthorization is what authorisation adds to one request
// of a consumer reading media, without HTTP and without the handler: the
// SigV4 verification of the signed request (session token, JSON body
// hashed), the identity-policy decision for the stream, and the key-policy
// decision for using the stream's (managed) KMS key on the caller's behalf.
// The sub-benchmarks split it.
func BenchmarkRequestAuthorization(b *testing.B) {
	st, err := StartEmbedded(context.Background(), Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close(context.Background())
	ctx := context.Background()
	creds, err := st.AssumeRole(st.ConsumerRoleARN, "bench").Retrieve(ctx)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"StreamName":"cam-0001","Fragments":["91343852333181432392682062607743920146264184201"]}`)
	req := httptest.NewRequest(http.MethodPost, st.DataPlaneURL+kvsapi.PathGetMediaForFragmentList, bytes.NewReader(body))
	req.Header.Set("Content-Type", kvsapi.JSONContentType)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hashOf(body), kvsclient.SigningService, st.Region, time.Now()); err != nil {
		b.Fatal(err)
	}
	verifier := st.gateway.verifiers[signKVS]
	stream := "arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam-0001/1"
	key := "arn:aws:kms:us-east-1:123456789012:alias/aws/kinesisvideo"

	res, err := verifier.Verify(req, sigv4.Body(body))
	if err != nil {
		b.Fatal(err)
	}
	c := &caller{Principal: res.Identity.(iam.Credential).Principal, AccessKeyID: res.AccessKeyID, SourceIP: "127.0.0.1"}
	cctx := context.WithValue(ctx, callerKey{}, c)
	access := ingest.Access{Action: ingest.ActionGetMediaForFragmentList, Resource: stream}

	b.Run("sigv4", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := verifier.Verify(req, sigv4.Body(body)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("identity-policy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if e := st.access.Authorize(cctx, access); e != nil {
				b.Fatal(e)
			}
		}
	})
	b.Run("key-policy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := st.access.AuthorizeKeyUse(cctx, ingest.KeyActionRead, key); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			res, err := verifier.Verify(req, sigv4.Body(body))
			if err != nil {
				b.Fatal(err)
			}
			c := &caller{Principal: res.Identity.(iam.Credential).Principal, AccessKeyID: res.AccessKeyID, SourceIP: "127.0.0.1"}
			cctx := context.WithValue(ctx, callerKey{}, c)
			if e := st.access.Authorize(cctx, access); e != nil {
				b.Fatal(e)
			}
			if err := st.access.AuthorizeKeyUse(cctx, ingest.KeyActionRead, key); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
