package kvsclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// SigningService is the SigV4 service name of every KVS API, the control
// plane and both data planes alike (kvs-protocol.md §5.1).
const SigningService = "kinesisvideo"

// EmptyPayloadHash is the SHA-256 of the empty string: what the KVS
// producer SDKs sign as the payload hash of a streaming PutMedia, whose
// body is not known in advance.
const EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// maxSignedBody bounds the request bodies SigningTransport hashes; KVS
// JSON requests are far smaller.
const maxSignedBody = 1 << 20

// SigningTransport signs every request with SigV4 before Base sends it.
// Use it as an http.Client's Transport; StartPutMedia finds it there and
// signs its hand-written request head the same way, with the empty-payload
// hash, as the producer SDKs do.
type SigningTransport struct {
	// Base sends the signed requests; nil means http.DefaultTransport.
	// StartPutMedia dials with Base's TLS settings and DialContext when it
	// is an *http.Transport.
	Base http.RoundTripper
	// Credentials are fetched for each request; wrap refreshing providers
	// in aws.NewCredentialsCache so they are fetched once per lifetime.
	Credentials aws.CredentialsProvider
	Region      string
	// Service is the signing name; empty means SigningService (KVS).
	Service string
	// Clock is the signing time; nil means time.Now.
	Clock func() time.Time
}

var signer = v4.NewSigner()

// RoundTrip signs a copy of req and sends it.
func (t *SigningTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	hash := EmptyPayloadHash
	out := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		body, err := io.ReadAll(io.LimitReader(req.Body, maxSignedBody+1))
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("signing %s: reading the body: %w", req.URL.Path, err)
		}
		if len(body) > maxSignedBody {
			return nil, fmt.Errorf("signing %s: body larger than %d bytes", req.URL.Path, maxSignedBody)
		}
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
	}
	if err := t.sign(req.Context(), out, hash); err != nil {
		return nil, err
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(out)
}

// CloseIdleConnections closes Base's idle connections.
func (t *SigningTransport) CloseIdleConnections() {
	if c, ok := t.Base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// sign adds X-Amz-Date, X-Amz-Security-Token (for temporary credentials)
// and Authorization to req.
func (t *SigningTransport) sign(ctx context.Context, req *http.Request, payloadHash string) error {
	if t.Credentials == nil {
		return fmt.Errorf("signing %s: no credentials (SigningTransport.Credentials)", req.URL.Path)
	}
	creds, err := t.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("signing %s: getting credentials: %w", req.URL.Path, err)
	}
	now := time.Now
	if t.Clock != nil {
		now = t.Clock
	}
	service := t.Service
	if service == "" {
		service = SigningService
	}
	if err := signer.SignHTTP(ctx, creds, req, payloadHash, service, t.Region, now()); err != nil {
		return fmt.Errorf("signing %s: %w", req.URL.Path, err)
	}
	return nil
}

// transportOf returns the transport that dials for hc and the signer in
// front of it, if any.
func transportOf(hc *http.Client) (*http.Transport, *SigningTransport) {
	if hc == nil {
		return nil, nil
	}
	rt := hc.Transport
	st, signing := rt.(*SigningTransport)
	if signing {
		rt = st.Base
	}
	tr, _ := rt.(*http.Transport)
	return tr, st
}
