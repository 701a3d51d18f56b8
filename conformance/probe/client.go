// Package probe is the conformance suites' client of a KVS-compatible
// target: control-plane calls, PutMedia uploads that keep every ACK, and
// media read back and parsed with an MKV parser independent of camstorm's
// own (at-wat/ebml-go).
package probe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
)

// Client calls a target as one principal.
type Client struct {
	Target *conformance.Target
	// Credentials sign each request (SigV4, service kinesisvideo); nil
	// sends requests unsigned.
	Credentials aws.CredentialsProvider
}

// New returns a client of tg acting with creds (nil: unsigned).
func New(tg *conformance.Target, creds aws.CredentialsProvider) *Client {
	return &Client{Target: tg, Credentials: creds}
}

// HTTP is the client requests go through: the target's trust, and SigV4
// when the client has credentials.
func (c *Client) HTTP() *http.Client {
	base := c.Target.HTTP
	if base == nil {
		base = http.DefaultClient
	}
	if c.Credentials == nil {
		return base
	}
	return &http.Client{Transport: &kvsclient.SigningTransport{Base: base.Transport, Credentials: c.Credentials,
		Region: c.Target.Region}, Timeout: base.Timeout}
}

// Call makes one control-plane call (a JSON POST to path); an API error
// is returned as *kvsapi.Exception.
func (c *Client) Call(ctx context.Context, path string, in, out any) error {
	return kvsclient.Call(ctx, c.HTTP(), c.Target.ControlPlaneURL, path, in, out)
}

// Exception returns err's API error, if it is one.
func Exception(err error) (*kvsapi.Exception, bool) {
	var e *kvsapi.Exception
	ok := errors.As(err, &e)
	return e, ok
}

// CreateStream creates a stream with 24 h retention, under kmsKeyID (empty:
// the target's default key), and waits until it is ACTIVE.
func (c *Client) CreateStream(ctx context.Context, name, kmsKeyID string) (kvsapi.StreamInfo, error) {
	in := kvsapi.CreateStreamInput{StreamName: name, DataRetentionInHours: 24, MediaType: "video/h264", KmsKeyID: kmsKeyID}
	if err := c.Call(ctx, kvsapi.PathCreateStream, in, nil); err != nil {
		return kvsapi.StreamInfo{}, fmt.Errorf("CreateStream %s: %w", name, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := c.DescribeStream(ctx, name)
		if err != nil {
			return info, err
		}
		if info.Status == "ACTIVE" {
			return info, nil
		}
		if time.Now().After(deadline) {
			return info, fmt.Errorf("stream %s is %s 10 s after CreateStream, want ACTIVE", name, info.Status)
		}
		select {
		case <-ctx.Done():
			return info, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// DescribeStream returns the stream's description.
func (c *Client) DescribeStream(ctx context.Context, name string) (kvsapi.StreamInfo, error) {
	var out kvsapi.DescribeStreamOutput
	if err := c.Call(ctx, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamName: name}, &out); err != nil {
		return kvsapi.StreamInfo{}, fmt.Errorf("DescribeStream %s: %w", name, err)
	}
	return out.StreamInfo, nil
}

// DataEndpoint asks the control plane where api (APIPutMedia …)
// is served for the stream.
func (c *Client) DataEndpoint(ctx context.Context, stream, api string) (string, error) {
	var out kvsapi.GetDataEndpointOutput
	in := kvsapi.GetDataEndpointInput{StreamRef: kvsapi.StreamRef{StreamName: stream}, APIName: api}
	if err := c.Call(ctx, kvsapi.PathGetDataEndpoint, in, &out); err != nil {
		return "", fmt.Errorf("GetDataEndpoint %s %s: %w", stream, api, err)
	}
	return out.DataEndpoint, nil
}

// Data-plane API names for DataEndpoint.
const (
	APIPutMedia                = "PUT_MEDIA"
	APIGetMedia                = "GET_MEDIA"
	APIListFragments           = "LIST_FRAGMENTS"
	APIGetMediaForFragmentList = "GET_MEDIA_FOR_FRAGMENT_LIST"
)
