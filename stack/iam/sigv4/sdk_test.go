package sigv4

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	kv "github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

// sdkServer is a TLS loopback server that verifies every request with v and
// answers errors in protocol p, or ok on success.
func sdkServer(t *testing.T, v *Verifier, p Protocol, ok string) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("x-amzn-RequestId", "req-1")
		if _, err := v.Verify(r, Body(b)); err != nil {
			awsError(t, err).WriteError(w, p)
			return
		}
		_, _ = io.WriteString(w, ok)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "not an API error: " + err.Error()
	}
	return ""
}

// TestSDKClientsSeeAWSErrors: unmodified SDK v2 clients (KMS, awsJson1_1;
// Kinesis Video, restJson1) are accepted, and read our refusals as the
// modelled AWS error codes.
func TestSDKClientsSeeAWSErrors(t *testing.T) {
	at := time.Now()
	tests := []struct {
		name        string
		akid, token string
		secret      string
		clock       time.Duration // verifier clock minus real time
		want        string
	}{
		{name: "long-term key", akid: testAKID, secret: testSecret},
		{name: "session credentials", akid: tempAKID, secret: tempSecret, token: tempToken},
		{name: "wrong secret", akid: testAKID, secret: "wrong", want: CodeInvalidSignature},
		{name: "unknown key", akid: "AKIDUNKNOWN", secret: testSecret, want: CodeUnrecognizedClient},
		{name: "wrong token", akid: tempAKID, secret: tempSecret, token: "other", want: CodeUnrecognizedClient},
		{name: "client clock 20 min slow", akid: testAKID, secret: testSecret, clock: 20 * time.Minute, want: CodeInvalidSignature},
	}
	for _, tc := range tests {
		v := newTestVerifier(t, func(c *Config) {
			c.Clock = func() time.Time { return time.Now().Add(tc.clock) }
			c.Lookup = func(id, _ string) (Key, bool) {
				k, ok := testKeys()[id]
				if k.SessionToken != "" {
					k.Expiration = at.Add(time.Hour)
				}
				return k, ok
			}
		})
		kmsSrv := sdkServer(t, v, AWSJSON, `{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/k","CiphertextBlob":"AQID","Plaintext":"AAAA"}`)
		kvSrv := sdkServer(t, v, RESTJSON, `{"StreamInfo":{"StreamName":"cam-1","Status":"ACTIVE"}}`)
		cfg := aws.Config{
			Region:           testRegion,
			Credentials:      credentials.NewStaticCredentialsProvider(tc.akid, tc.secret, tc.token),
			RetryMaxAttempts: 1,
		}
		t.Run("kms/"+tc.name, func(t *testing.T) {
			cfg.HTTPClient = kmsSrv.Client()
			c := awskms.NewFromConfig(cfg, func(o *awskms.Options) { o.BaseEndpoint = aws.String(kmsSrv.URL) })
			out, err := c.GenerateDataKey(context.Background(), &awskms.GenerateDataKeyInput{KeyId: aws.String("alias/cam"), NumberOfBytes: aws.Int32(32)})
			if got := apiCode(err); got != tc.want || (err == nil && aws.ToString(out.KeyId) == "") {
				t.Fatalf("GenerateDataKey as %s at %v: error %q, want %q", tc.akid, at, got, tc.want)
			}
		})
		t.Run("kinesisvideo/"+tc.name, func(t *testing.T) {
			cfg.HTTPClient = kvSrv.Client()
			c := kv.NewFromConfig(cfg, func(o *kv.Options) { o.BaseEndpoint = aws.String(kvSrv.URL) })
			out, err := c.DescribeStream(context.Background(), &kv.DescribeStreamInput{StreamName: aws.String("cam-1")})
			if got := apiCode(err); got != tc.want || (err == nil && aws.ToString(out.StreamInfo.StreamName) != "cam-1") {
				t.Fatalf("DescribeStream as %s: error %q, want %q", tc.akid, got, tc.want)
			}
		})
	}
}

// TestWriteError pins the three error shapes.
func TestWriteError(t *testing.T) {
	e := errSignatureInvalid
	tests := []struct {
		p          Protocol
		wantHeader string
		wantBody   string
	}{
		{AWSJSON, CodeInvalidSignature, `{"__type":"InvalidSignatureException","message":"` + msgSignatureInvalid + `"}`},
		{RESTJSON, CodeInvalidSignature, `{"Message":"` + msgSignatureInvalid + `"}`},
		{AWSQuery, "", `<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>` + msgSignatureInvalid + `</Message></Error><RequestId>req-9</RequestId></ErrorResponse>`},
	}
	for _, tc := range tests {
		w := httptest.NewRecorder()
		w.Header().Set("x-amzn-RequestId", "req-9")
		e.WriteError(w, tc.p)
		if w.Code != http.StatusForbidden || w.Header().Get("X-Amzn-ErrorType") != tc.wantHeader || w.Body.String() != tc.wantBody {
			t.Errorf("WriteError(%d): %d %q %s\nwant 403 %q %s", tc.p, w.Code, w.Header().Get("X-Amzn-ErrorType"), w.Body.String(), tc.wantHeader, tc.wantBody)
		}
	}
	var parsed struct {
		Code string `xml:"Error>Code"`
	}
	w := httptest.NewRecorder()
	errExpiredToken.WriteError(w, AWSQuery)
	if err := xml.Unmarshal(w.Body.Bytes(), &parsed); err != nil || parsed.Code != "ExpiredToken" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/xml") {
		t.Errorf("query ExpiredToken: %v %+v %s", err, parsed, w.Body.String())
	}
}
