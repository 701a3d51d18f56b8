package sigv4

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const kmsBody = `{"KeyId":"alias/cam-1","NumberOfBytes":32}`

// kmsRequest is a KMS GenerateDataKey call signed by the SDK at the given
// time, as the server receives it.
func kmsRequest(t testing.TB, akid string, at time.Time) (*http.Request, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://kms.us-east-1.amazonaws.com/", strings.NewReader(kmsBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.GenerateDataKey")
	sdkSign(t, req, creds(akid), hexSHA256([]byte(kmsBody)), "kms", testRegion, at)
	return onTheWire(t, req)
}

// presignedRequest is a presigned GET for kinesisvideo, as the server
// receives it.
func presignedRequest(t testing.TB, akid string, at time.Time, expires string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://kinesisvideo.us-east-1.amazonaws.com/getMedia?StreamName=cam-1&X-Amz-Expires="+expires, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds(akid), req, emptyStringSHA, "kinesisvideo", testRegion, at)
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodGet, u, nil)
	for k, v := range hdr {
		if k != "Host" {
			req.Header[k] = v
		}
	}
	sr, _ := onTheWire(t, req)
	return sr
}

// TestRefusals pins the code, status and message of each refusal.
func TestRefusals(t *testing.T) {
	v := newTestVerifier(t, nil)
	at := t0.Add(-time.Minute)
	setQuery := func(r *http.Request, k, val string) {
		q := r.URL.Query()
		if val == "" {
			q.Del(k)
		} else {
			q.Set(k, val)
		}
		r.URL.RawQuery = q.Encode()
		r.RequestURI = r.URL.RequestURI()
	}
	tests := []struct {
		name    string
		req     func() (*http.Request, Payload)
		code    string
		status  int
		message string // exact, or a prefix when it ends in "…"
	}{
		{"no authentication", func() (*http.Request, Payload) {
			r, b := kmsRequest(t, testAKID, at)
			r.Header.Del("Authorization")
			return r, Body(b)
		}, CodeMissingAuthenticationToken, 403, "Missing Authentication Token"},
		{"other scheme", func() (*http.Request, Payload) {
			r, b := kmsRequest(t, testAKID, at)
			r.Header.Set("Authorization", "AWS AKIDEXAMPLE:c2lnbmF0dXJl")
			return r, Body(b)
		}, CodeIncompleteSignature, 400, "Unsupported Authorization scheme: sign requests with Signature Version 4 (AWS4-HMAC-SHA256)."},
		{"Credential and Signature missing", func() (*http.Request, Payload) {
			r, b := kmsRequest(t, testAKID, at)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date")
			return r, Body(b)
		}, CodeIncompleteSignature, 400, "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter."},
		{"no X-Amz-Date", func() (*http.Request, Payload) {
			r, b := kmsRequest(t, testAKID, at)
			r.Header.Del("X-Amz-Date")
			return r, Body(b)
		}, CodeIncompleteSignature, 400, "Authorization header requires existence of an 'X-Amz-Date' header."},
		{"host not signed", func() (*http.Request, Payload) {
			r, b := kmsRequest(t, testAKID, at)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=content-length;content-type;host;", "SignedHeaders=content-length;content-type;", 1))
			return r, Body(b)
		}, CodeIncompleteSignature, 400, "'Host' must be a 'SignedHeader' in the AWS Authorization."},
		{"signed headers unsorted", func() (*http.Request, Payload) {
			r, b := kmsRequest(t, testAKID, at)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "content-length;content-type", "content-type;content-length", 1))
			return r, Body(b)
		}, CodeIncompleteSignature, 400, "SignedHeaders must be sorted and must not repeat a header."},
		{"unknown key", func() (*http.Request, Payload) {
			r, b := kmsRequest(t, testAKID, at)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), testAKID, "AKIDNOBODY", 1))
			return r, Body(b)
		}, CodeUnrecognizedClient, 403, "The security token included in the request is invalid."},
		{"signed 20 minutes ago", func() (*http.Request, Payload) {
			r, b := kmsRequest(t, testAKID, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			return r, Body(b)
		}, CodeInvalidSignature, 403, "Signature expired: 20260101T000000Z is now earlier than 20260101T000500Z (20260101T002000Z - 15 min.)"},
		{"signed 20 minutes ahead", func() (*http.Request, Payload) {
			r, b := kmsRequest(t, testAKID, time.Date(2026, 1, 1, 0, 40, 0, 0, time.UTC))
			return r, Body(b)
		}, CodeInvalidSignature, 403, "Signature not yet current: 20260101T004000Z is still later than 20260101T003500Z (20260101T002000Z + 15 min.)"},
		{"scope date is not X-Amz-Date's", func() (*http.Request, Payload) {
			r, b := kmsRequest(t, testAKID, at)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20260101/", "/20251231/", 1))
			return r, Body(b)
		}, CodeInvalidSignature, 403, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20251231' != '20260101', from '20260101T001900Z'."},
		{"other region", func() (*http.Request, Payload) {
			r, b := kmsRequest(t, testAKID, at)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/us-east-1/", "/eu-west-2/", 1))
			return r, Body(b)
		}, CodeInvalidSignature, 403, "Credential should be scoped to a valid region: 'us-east-1'."},
		{"other service", func() (*http.Request, Payload) {
			r, b := kmsRequest(t, testAKID, at)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/kms/", "/s3/", 1))
			return r, Body(b)
		}, CodeInvalidSignature, 403, "Credential should be scoped to correct service: 'kinesisvideo' or 'kms' or 'sts'."},
		{"bad signature", func() (*http.Request, Payload) {
			r, b := kmsRequest(t, testAKID, at)
			return r, Body(bytes.ToUpper(b))
		}, CodeInvalidSignature, 403, msgSignatureInvalid},
		{"token on a long-term key", func() (*http.Request, Payload) {
			r, b := kmsRequest(t, testAKID, at)
			r.Header.Set("X-Amz-Security-Token", tempToken)
			return r, Body(b)
		}, CodeUnrecognizedClient, 403, msgUnrecognized},
		{"content hash mismatch", func() (*http.Request, Payload) {
			req, _ := http.NewRequest(http.MethodPost, "https://kms.us-east-1.amazonaws.com/", strings.NewReader(kmsBody))
			req.Header.Set("X-Amz-Content-Sha256", hexSHA256([]byte(kmsBody)))
			sdkSign(t, req, creds(testAKID), hexSHA256([]byte(kmsBody)), "kms", testRegion, at)
			r, b := onTheWire(t, req)
			return r, Body(bytes.ToUpper(b))
		}, CodeContentSHA256Mismatch, 400, "The provided 'x-amz-content-sha256' header does not match what was computed."},
		{"aws-chunked on a buffered route", func() (*http.Request, Payload) {
			r, b := kmsRequest(t, testAKID, at)
			r.Header.Set("X-Amz-Content-Sha256", streamingHash)
			return r, Body(b)
		}, CodeInvalidPayload, 400, "This operation does not accept aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) bodies; sign the SHA-256 of the body."},
		{"garbage content hash", func() (*http.Request, Payload) {
			r, b := kmsRequest(t, testAKID, at)
			r.Header.Set("X-Amz-Content-Sha256", "sha256-please")
			return r, Body(b)
		}, CodeInvalidPayload, 400, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD or the hex-encoded SHA-256 of the body."},
		{"Authorization and presigned query", func() (*http.Request, Payload) {
			r := presignedRequest(t, testAKID, at, "60")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
			return r, Body(nil)
		}, CodeIncompleteSignature, 400, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified."},
		{"presigned without credential", func() (*http.Request, Payload) {
			r := presignedRequest(t, testAKID, at, "60")
			setQuery(r, qCredential, "")
			return r, Body(nil)
		}, CodeIncompleteSignature, 400, "AWS query-string parameters must include 'X-Amz-Credential'. Re-examine the query-string parameters."},
		{"presigned for more than a week", func() (*http.Request, Payload) {
			return presignedRequest(t, testAKID, at, "604801"), Body(nil)
		}, CodeIncompleteSignature, 400, "X-Amz-Expires must be a whole number of seconds from 1 to 604800 (one week)."},
		{"presigned for zero seconds", func() (*http.Request, Payload) {
			return presignedRequest(t, testAKID, at, "0"), Body(nil)
		}, CodeIncompleteSignature, 400, "X-Amz-Expires must be a whole number of seconds from 1 to 604800 (one week)."},
		{"presigned URL expired", func() (*http.Request, Payload) {
			return presignedRequest(t, testAKID, t0.Add(-time.Hour), "3600"), Body(nil)
		}, CodeInvalidSignature, 403, "Signature expired: the presigned request was valid until 20260101T002000Z (X-Amz-Date 20251231T232000Z + X-Amz-Expires 3600 s); it is now 20260101T002000Z."},
		{"presigned URL starts in 20 minutes", func() (*http.Request, Payload) {
			return presignedRequest(t, testAKID, t0.Add(20*time.Minute), "3600"), Body(nil)
		}, CodeInvalidSignature, 403, "Signature not yet current: 20260101T004000Z is still later than 20260101T003500Z (20260101T002000Z + 15 min.)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, p := tc.req()
			_, err := v.Verify(r, p)
			if err == nil {
				t.Fatalf("verified; want %s", tc.code)
			}
			e := awsError(t, err)
			if e.Code != tc.code || e.Status != tc.status || e.Message != tc.message {
				t.Fatalf("got  %d %s %q\nwant %d %s %q", e.Status, e.Code, e.Message, tc.status, tc.code, tc.message)
			}
			if strings.Contains(e.Message, testSecret) || strings.Contains(e.Message, tempSecret) {
				t.Fatalf("message leaks the secret: %q", e.Message)
			}
		})
	}
}

// TestExpiredTemporaryKey: the right token on an expired session credential
// is ExpiredTokenException, a wrong one stays UnrecognizedClientException.
func TestExpiredTemporaryKey(t *testing.T) {
	later := t0.Add(2 * time.Hour) // the temporary key expires at t0+1h
	v := newTestVerifier(t, func(c *Config) { c.Clock = func() time.Time { return later } })
	r, b := kmsRequest(t, tempAKID, later)
	_, err := v.Verify(r, Body(b))
	if e := awsError(t, err); e.Code != CodeExpiredToken || e.Status != 403 || e.Message != "The security token included in the request is expired" {
		t.Fatalf("expired key: %d %s %q", e.Status, e.Code, e.Message)
	}
	r.Header.Set("X-Amz-Security-Token", "forged")
	_, err = v.Verify(r, Body(b))
	if e := awsError(t, err); e.Code != CodeUnrecognizedClient {
		t.Fatalf("expired key, wrong token: %s, want %s", e.Code, CodeUnrecognizedClient)
	}
}

// TestPresignedAccepted: a presigned URL is good until X-Amz-Date +
// X-Amz-Expires, even past the skew window, and carries its token.
func TestPresignedAccepted(t *testing.T) {
	v := newTestVerifier(t, nil)
	for _, tc := range []struct {
		akid    string
		signed  time.Time
		expires string
	}{
		{testAKID, t0.Add(-50 * time.Minute), "3600"},
		{tempAKID, t0.Add(-time.Minute), "120"},
		{testAKID, t0.Add(10 * time.Minute), "1"},
		{tempAKID, t0.Add(-6*24*time.Hour - 23*time.Hour), "604800"},
	} {
		r := presignedRequest(t, tc.akid, tc.signed, tc.expires)
		res, err := v.Verify(r, Body(nil))
		if err != nil {
			t.Fatalf("presigned by %s at %s for %s s: %v", tc.akid, tc.signed.Format(amzDateLayout), tc.expires, err)
		}
		if !res.Presigned || res.Expires.IsZero() || res.Temporary != (tc.akid == tempAKID) {
			t.Fatalf("result %+v", res)
		}
	}
}

// TestStreamPayloads covers the Stream() policy with the SDK signer.
func TestStreamPayloads(t *testing.T) {
	v := newTestVerifier(t, nil)
	media := bytes.Repeat([]byte("fragment "), 4000)
	for _, tc := range []struct {
		name     string
		header   string // X-Amz-Content-Sha256 sent and signed, "" for none
		hash     string // payload hash signed
		body     []byte // body sent
		coverage Coverage
		readErr  string
	}{
		{"empty hash, no header (KVS PutMedia)", "", emptyStringSHA, media, BodyUncovered, ""},
		{"empty hash in the header", emptyStringSHA, emptyStringSHA, media, BodyUncovered, ""},
		{"unsigned payload", unsignedHash, unsignedHash, media, BodyUnsigned, ""},
		{"hex hash checked while reading", hexSHA256(media), hexSHA256(media), media, BodySigned, ""},
		{"hex hash of another body", hexSHA256(media), hexSHA256(media), append(bytes.Clone(media[1:]), '!'), BodySigned, CodeContentSHA256Mismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, "https://s-1234abcd.kinesisvideo.us-east-1.amazonaws.com/putMedia", bytes.NewReader(tc.body))
			req.ContentLength = -1
			req.TransferEncoding = []string{"chunked"}
			req.Header.Set("X-Amzn-Stream-Name", "cam-1")
			if tc.header != "" {
				req.Header.Set("X-Amz-Content-Sha256", tc.header)
			}
			sdkSign(t, req, creds(tempAKID), tc.hash, "kinesisvideo", testRegion, t0)
			sr, _ := onTheWire(t, req)
			res, err := v.Verify(sr, Stream())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.Payload != tc.coverage {
				t.Fatalf("coverage %v, want %v", res.Payload, tc.coverage)
			}
			got, err := io.ReadAll(res.Body)
			switch {
			case tc.readErr == "" && (err != nil || !bytes.Equal(got, tc.body)):
				t.Fatalf("reading body: %v (%d of %d bytes)", err, len(got), len(tc.body))
			case tc.readErr != "" && (err == nil || awsError(t, err).Code != tc.readErr):
				t.Fatalf("reading body: %v, want %s", err, tc.readErr)
			}
		})
	}
}

// TestConfigProblemsReportedTogether: New names every problem at once.
func TestConfigProblemsReportedTogether(t *testing.T) {
	_, err := New(Config{Services: []string{"kms", "bad/name"}, MaxSkew: -1})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New: %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"Lookup is required", "Region is required", `service "bad/name"`, "MaxSkew"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestQueryCanonicalisation pins the decisions taken where clients could
// disagree, against the SDK.
func TestQueryCanonicalisation(t *testing.T) {
	v := newTestVerifier(t, nil)
	for _, raw := range []string{
		"b=2&a=1&b=1",         // repeated and unsorted
		"a=&b",                // empty values
		"x=a+b&y=a%20b",       // '+' is a space
		"bad=%zz&ok=1",        // a bad escape is skipped, as net/url does
		"semi=1;2&ok=1",       // a ';' pair is skipped
		"k=%E2%82%AC&%7E=~",   // unicode, tilde
		"&&a=1&&",             // empty pairs
		"=v",                  // empty key
		"a=1&A=2&_=3&-=4&.=5", // byte order
	} {
		req, _ := http.NewRequest(http.MethodGet, "https://kinesisvideo.us-east-1.amazonaws.com/listStreams?"+raw, nil)
		req.URL.RawQuery = raw
		sdkSign(t, req, creds(testAKID), emptyStringSHA, "kinesisvideo", testRegion, t0)
		sr, _ := onTheWire(t, req)
		if _, err := v.Verify(sr, Body(nil)); err != nil {
			t.Errorf("query %q: %v", raw, err)
		}
		sr.URL.RawQuery += "&new=1"
		sr.RequestURI = sr.URL.RequestURI()
		if _, err := v.Verify(sr, Body(nil)); err == nil {
			t.Errorf("query %q with a parameter added still verifies", raw)
		}
	}
	if _, err := url.ParseQuery("bad=%zz"); err == nil {
		t.Fatal("net/url no longer refuses bad escapes; revisit parseQuery")
	}
}

// TestPresignedTokenInHeader: a presigned request may carry its session
// token as a signed header instead of a query parameter (the SDK does so
// with header hoisting off and the token set as a header).
func TestPresignedTokenInHeader(t *testing.T) {
	v := newTestVerifier(t, nil)
	req, _ := http.NewRequest(http.MethodGet, "https://kinesisvideo.us-east-1.amazonaws.com/getMedia?X-Amz-Expires=60", nil)
	req.Header.Set("X-Amz-Security-Token", tempToken)
	u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds(tempAKID), req, emptyStringSHA, "kinesisvideo", testRegion, t0,
		func(o *v4.SignerOptions) { o.DisableHeaderHoisting, o.DisableSessionToken = true, true })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(u, qSecurityToken) || hdr.Get("X-Amz-Security-Token") != tempToken {
		t.Fatalf("the SDK did not sign the token as a header: %s %v", u, hdr)
	}
	for _, tc := range []struct {
		token  string
		extra  string // query appended after signing
		wantOK bool
	}{
		{tempToken, "", true},
		{tempToken + "x", "", false},
		{tempToken, "&X-Amz-Security-Token=" + url.QueryEscape(tempToken), false},
	} {
		r, _ := http.NewRequest(http.MethodGet, u+tc.extra, nil)
		for k, vals := range hdr {
			if k != "Host" {
				r.Header[k] = vals
			}
		}
		r.Header.Set("X-Amz-Security-Token", tc.token)
		sr, _ := onTheWire(t, r)
		if _, err := v.Verify(sr, Body(nil)); (err == nil) != tc.wantOK {
			t.Errorf("header token %q, query %q: error %v, want ok=%v", tc.token, tc.extra, err, tc.wantOK)
		}
	}
}

func TestResultSigned(t *testing.T) {
	res := Result{SignedHeaders: "connection;host;x-amz-date;x-amzn-stream-name"}
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{"host", true}, {"X-Amzn-Stream-Name", true}, {"connection", true},
		{"x-amz-security-token", false}, {"x-amz", false}, {"", false}, {"host;x-amz-date", false},
	} {
		if got := res.Signed(tc.header); got != tc.want {
			t.Errorf("Signed(%q) over %q = %v, want %v", tc.header, res.SignedHeaders, got, tc.want)
		}
	}
}
