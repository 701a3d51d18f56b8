package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The AWS documentation's example credentials.
const (
	testAKID   = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	tempAKID   = "ASIATEMPEXAMPLE"
	tempSecret = "tEmPsEcReT/K7MDENG+bPxRfiCYEXAMPLEKEY0"
	tempToken  = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+token/with+slashes=="
	testRegion = "us-east-1"
)

// t0 is the verifier's clock in most tests.
var t0 = time.Date(2026, 1, 1, 0, 20, 0, 0, time.UTC)

func testKeys() map[string]Key {
	return map[string]Key{
		testAKID: {SecretAccessKey: testSecret, Identity: "user/alice"},
		tempAKID: {SecretAccessKey: tempSecret, SessionToken: tempToken, Expiration: t0.Add(time.Hour), Identity: "assumed-role/camera/cam-1"},
	}
}

// newTestVerifier accepts the three services of the stack in testRegion at t0.
func newTestVerifier(t testing.TB, mod func(*Config)) *Verifier {
	t.Helper()
	keys := testKeys()
	cfg := Config{
		Lookup:   func(id, _ string) (Key, bool) { k, ok := keys[id]; return k, ok },
		Region:   testRegion,
		Services: []string{"kinesisvideo", "kms", "sts"},
		Clock:    func() time.Time { return t0 },
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func creds(akid string) aws.Credentials {
	switch akid {
	case tempAKID:
		return aws.Credentials{AccessKeyID: tempAKID, SecretAccessKey: tempSecret, SessionToken: tempToken}
	default:
		return aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	}
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// sdkSign signs req in place with the AWS SDK's signer (a fresh signer each
// time: the SDK's key cache ignores the secret).
func sdkSign(t testing.TB, req *http.Request, c aws.Credentials, payloadHash, service, region string, at time.Time) {
	t.Helper()
	if err := v4.NewSigner().SignHTTP(context.Background(), c, req, payloadHash, service, region, at); err != nil {
		t.Fatal(err)
	}
}

// onTheWire sends req through HTTP/1.1 serialisation and parses it back as
// a server would, returning the server-side request and its body bytes.
func onTheWire(t testing.TB, req *http.Request) (*http.Request, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatalf("writing request: %v", err)
	}
	sr, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatalf("reading request back: %v\n%s", err, buf.String())
	}
	body, err := io.ReadAll(sr.Body)
	if err != nil {
		t.Fatal(err)
	}
	sr.Body = io.NopCloser(bytes.NewReader(body))
	return sr, body
}

// awsError returns err as *Error or fails.
func awsError(t testing.TB, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *sigv4.Error", err, err)
	}
	return e
}

// handSign is an independent, deliberately plain SigV4 signer following the
// AWS documentation step by step. It signs exactly the headers given (sorted
// lower-case names), which the SDK cannot: it never signs User-Agent or
// Transfer-Encoding. canonicalURI and canonicalQuery are given canonical.
func handSign(method, canonicalURI, canonicalQuery string, headers [][2]string, payloadHash, akid, secret, region, service string, at time.Time) string {
	var names, lines []string
	for _, h := range headers {
		names = append(names, h[0])
		lines = append(lines, h[0]+":"+strings.Join(strings.Fields(h[1]), " ")+"\n")
	}
	signed := strings.Join(names, ";")
	creq := method + "\n" + canonicalURI + "\n" + canonicalQuery + "\n" + strings.Join(lines, "") + "\n" + signed + "\n" + payloadHash
	date := at.UTC().Format("20060102")
	scope := date + "/" + region + "/" + service + "/aws4_request"
	sts := "AWS4-HMAC-SHA256\n" + at.UTC().Format("20060102T150405Z") + "\n" + scope + "\n" + hexSHA256([]byte(creq))
	mac := func(k []byte, m string) []byte { h := hmac.New(sha256.New, k); h.Write([]byte(m)); return h.Sum(nil) }
	k := mac([]byte("AWS4"+secret), date)
	k = mac(k, region)
	k = mac(k, service)
	k = mac(k, "aws4_request")
	return "AWS4-HMAC-SHA256 Credential=" + akid + "/" + scope + ", SignedHeaders=" + signed + ", Signature=" + hex.EncodeToString(mac(k, sts))
}
