package access

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
)

// Hand-made requests: the cases that judge authentication build each
// request themselves, sign it with the AWS SDK's SigV4 signer at a chosen
// time and with chosen credentials, damage it on purpose, and send it
// through the target's trust alone.

// rawRequest is a request before signing; build makes a fresh
// *http.Request each time, so one request can be sent signed several ways.
type rawRequest struct {
	// Action is the API operation (the audit record's eventName).
	Action string
	URL    string
	Body   []byte
	Header http.Header
	// PayloadHash is what the signer signs for the body: the body's
	// SHA-256, or for streaming PutMedia the empty string's, as the KVS
	// producer SDKs sign it.
	PayloadHash string
	// Stream is the stream the request names (the audit marker).
	Stream string
}

func (r rawRequest) build(ctx context.Context) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return req, nil
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// describeRequest is DescribeStream of stream on the control plane.
func describeRequest(tg *conformance.Target, stream string) rawRequest {
	body, _ := json.Marshal(kvsapi.StreamRef{StreamName: stream})
	return rawRequest{Action: "DescribeStream", URL: tg.ControlPlaneURL + kvsapi.PathDescribeStream, Body: body,
		Header: http.Header{"Content-Type": {kvsapi.JSONContentType}}, PayloadHash: hexSHA256(body), Stream: stream}
}

// listFragmentsRequest is ListFragments of stream at a data endpoint.
func listFragmentsRequest(endpoint, stream string) rawRequest {
	body, _ := json.Marshal(kvsapi.ListFragmentsInput{StreamRef: kvsapi.StreamRef{StreamName: stream}})
	return rawRequest{Action: "ListFragments", URL: endpoint + kvsapi.PathListFragments, Body: body,
		Header: http.Header{"Content-Type": {kvsapi.JSONContentType}}, PayloadHash: hexSHA256(body), Stream: stream}
}

// putMediaRequest is a whole PutMedia of one fragment (header and one
// cluster) at timecode into stream.
func putMediaRequest(endpoint, stream string, timecode int64) rawRequest {
	frag := probe.Fragment{Timecode: timecode, Frames: []probe.Frame{{Data: probe.Payload(stream, int(timecode%1e6), 400)}}}
	body := append(probe.Header(), frag.Encode()...)
	return rawRequest{Action: "PutMedia", URL: endpoint + kvsapi.PathPutMedia, Body: body, Header: http.Header{
		http.CanonicalHeaderKey(kvsapi.HeaderStreamName):           {stream},
		http.CanonicalHeaderKey(kvsapi.HeaderFragmentTimecodeType): {kvsapi.TimecodeTypeAbsolute},
		http.CanonicalHeaderKey(kvsapi.HeaderAckRequired):          {"1"},
	}, PayloadHash: kvsclient.EmptyPayloadHash, Stream: stream}
}

// scope is the SigV4 credential scope a request is signed for; the zero
// scope is the target's KVS (service kinesisvideo, the target's region).
type scope struct{ Service, Region string }

// signAt signs req as creds at the given time for the scope.
func signAt(ctx context.Context, tg *conformance.Target, req *http.Request, payloadHash string, creds aws.Credentials, at time.Time, sc scope) error {
	if sc.Service == "" {
		sc.Service = kvsclient.SigningService
	}
	if sc.Region == "" {
		sc.Region = tg.Region
	}
	return v4.NewSigner().SignHTTP(ctx, creds, req, payloadHash, sc.Service, sc.Region, at)
}

// outcome is what the target answered to a hand-made request.
type outcome struct {
	Status  int
	Code    string // x-amzn-ErrorType, without any ":…" suffix
	Message string
	Body    string // the first bytes of the body (ACKs for PutMedia)
}

func (o outcome) String() string {
	if o.Status == http.StatusOK {
		return fmt.Sprintf("HTTP 200, body %q", clipText(o.Body, 300))
	}
	return fmt.Sprintf("HTTP %d %s: %s", o.Status, o.Code, clipText(o.Message, 300))
}

func (o outcome) accepted() bool { return o.Status == http.StatusOK }

// persisted reports whether a PutMedia answer carries a PERSISTED ACK.
func (o outcome) persisted() bool {
	return o.accepted() && strings.Contains(o.Body, `"EventType":"`+string(kvsapi.EventPersisted)+`"`)
}

func clipText(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// send sends req through the target's trust and reads the answer (an ACK
// stream ends when the service has acknowledged the whole body).
func send(ctx context.Context, tg *conformance.Target, req *http.Request) (outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	hc := tg.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req.WithContext(ctx))
	if err != nil {
		return outcome{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	o := outcome{Status: resp.StatusCode, Body: string(body)}
	if resp.StatusCode != http.StatusOK {
		o.Code, _, _ = strings.Cut(resp.Header.Get(kvsapi.HeaderErrorType), ":")
		var m struct {
			Message  string `json:"Message"`
			MessageL string `json:"message"`
		}
		if json.Unmarshal(body, &m) == nil {
			o.Message = m.Message + m.MessageL
		}
		if o.Message == "" {
			o.Message = string(body)
		}
	}
	return o, nil
}

// signedSend builds r, signs it as creds at the given time, lets damage
// change the signed request, and sends it.
func signedSend(ctx context.Context, t *conformance.T, r rawRequest, creds aws.Credentials, at time.Time, damage func(*http.Request)) outcome {
	return scopedSend(ctx, t, r, creds, at, scope{}, damage)
}

// scopedSend is signedSend with a chosen credential scope.
func scopedSend(ctx context.Context, t *conformance.T, r rawRequest, creds aws.Credentials, at time.Time, sc scope, damage func(*http.Request)) outcome {
	req, err := r.build(ctx)
	t.Must(err, "building "+r.Action)
	t.Must(signAt(ctx, t.Target, req, r.PayloadHash, creds, at, sc), "signing "+r.Action)
	if damage != nil {
		damage(req)
	}
	o, err := send(ctx, t.Target, req)
	t.Must(err, "sending "+r.Action)
	return o
}

// expectRefusedWith checks that a hand-made request was refused with the
// status and error code a client is told; it reports whether it was.
func expectRefusedWith(t *conformance.T, what string, o outcome, status int, code string) bool {
	if o.Status == status && o.Code == code {
		t.Evidence("http", "%s: %s", what, o)
		return true
	}
	if o.accepted() {
		t.Fail("%s was accepted (%s); want HTTP %d %s", what, o, status, code)
	} else {
		t.Fail("%s was answered %s; want HTTP %d %s", what, o, status, code)
	}
	return false
}
