package sigv4

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fuzzVerify runs the whole verifier on r: it must answer with an *Error
// (or, in the astronomically unlikely case, success), never panic.
func fuzzVerify(t *testing.T, v *Verifier, r *http.Request) {
	_, err := v.Verify(r, Body([]byte(kmsBody)))
	var e *Error
	if err != nil && !errors.As(err, &e) {
		t.Fatalf("Verify returned %T %v, want *Error", err, err)
	}
	if e != nil && (e.Code == "" || e.Status < 400 || e.Message == "") {
		t.Fatalf("incomplete error %+v", e)
	}
}

// checkCredential asserts what a successful parse guarantees.
func checkCredential(t *testing.T, c credential) {
	if c.accessKeyID == "" || len(c.date) != 8 || !isDigits(c.date) || c.region == "" || c.service == "" {
		t.Fatalf("parsed scope %+v violates the format", c)
	}
	names := strings.Split(c.signedHeaders, ";")
	if len(names) > MaxSignedHeaders {
		t.Fatalf("%d signed headers accepted", len(names))
	}
	host := false
	for i, n := range names {
		if !isLowerToken(n) || i > 0 && n <= names[i-1] {
			t.Fatalf("signed headers %q accepted", c.signedHeaders)
		}
		host = host || n == "host"
	}
	if !host {
		t.Fatalf("signed headers %q without host accepted", c.signedHeaders)
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/kms/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-target, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		"AWS4-HMAC-SHA256 Credential=ASIATEMPEXAMPLE/20260101/us-east-1/kinesisvideo/aws4_request, SignedHeaders=host;user-agent;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		"AWS4-HMAC-SHA256 Credential=ASIATEMPEXAMPLE/20260101/us-east-1/kinesisvideo/aws4_request,SignedHeaders=connection;host;transfer-encoding;user-agent;x-amz-date;x-amz-security-token;x-amzn-fragment-acknowledgment-required;x-amzn-fragment-timecode-type;x-amzn-producer-start-timestamp;x-amzn-stream-name,Signature=00",
		"AWS4-HMAC-SHA256 SignedHeaders=host, Signature=x, Credential=a/b/c/d/e",
		"AWS AKIDEXAMPLE:c2lnbmF0dXJl",
		"AWS4-HMAC-SHA256 Credential=A/20260101/r/s/aws4_request/extra, SignedHeaders=host;host, Signature=",
		"",
	} {
		f.Add(s)
	}
	v := newTestVerifier(f, nil)
	f.Fuzz(func(t *testing.T, h string) {
		c, err := parseAuthorization(h)
		if err != nil {
			if err.Code == "" || err.Status != http.StatusBadRequest && err.Status != http.StatusForbidden {
				t.Fatalf("parse error %+v", err)
			}
		} else {
			checkCredential(t, c)
			again := "AWS4-HMAC-SHA256 Credential=" + c.accessKeyID + "/" + c.date + "/" + c.region + "/" + c.service +
				"/aws4_request, SignedHeaders=" + c.signedHeaders + ", Signature=" + hexOf(c.signature[:])
			c2, err := parseAuthorization(again)
			if err != nil || c2 != c {
				t.Fatalf("re-parsing %q: %+v, %v; want %+v", again, c2, err, c)
			}
		}
		r := httptest.NewRequest(http.MethodPost, "http://kms.us-east-1.amazonaws.com/", strings.NewReader(kmsBody))
		r.Header["Authorization"] = []string{h}
		r.Header.Set("X-Amz-Date", t0.Format(amzDateLayout))
		fuzzVerify(t, v, r)
	})
}

func FuzzParsePresigned(f *testing.F) {
	for _, s := range []string{
		"StreamName=cam-1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20260101%2Fus-east-1%2Fkinesisvideo%2Faws4_request&X-Amz-Date=20260101T001900Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIATEMPEXAMPLE%2F20260101%2Fus-east-1%2Fkinesisvideo%2Faws4_request&X-Amz-Date=20260101T001900Z&X-Amz-Expires=604800&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr%2F%2F%2Btoken%3D%3D&X-Amz-SignedHeaders=content-type%3Bhost&X-Amz-Signature=00",
		"X-Amz-Signature=1&X-Amz-Signature=2",
		"a=1&b=%zz&c=1;2&&=v&X-Amz-Expires=0",
		"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261301T250000Z",
		"",
	} {
		f.Add(s)
	}
	v := newTestVerifier(f, nil)
	f.Fuzz(func(t *testing.T, raw string) {
		params, err := parseQuery(nil, raw)
		if err == nil {
			if len(params) > MaxQueryParams {
				t.Fatalf("%d parameters accepted", len(params))
			}
			for _, p := range params {
				if p.encKey != uriEncode(p.key) || p.encValue != uriEncode(p.value) {
					t.Fatalf("encoding of %+v", p)
				}
			}
			if c, err := parsePresigned(params); err == nil {
				checkCredential(t, c)
				if c.expires < 1 || c.expires > maxExpires {
					t.Fatalf("X-Amz-Expires %d accepted", c.expires)
				}
				if _, err := time.Parse(amzDateLayout, c.amzDate); err != nil {
					t.Fatalf("X-Amz-Date %q accepted: %v", c.amzDate, err)
				}
			}
		}
		r := httptest.NewRequest(http.MethodGet, "http://kinesisvideo.us-east-1.amazonaws.com/getMedia", nil)
		r.URL.RawQuery = raw
		fuzzVerify(t, v, r)
	})
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	s := make([]byte, 0, 2*len(b))
	for _, c := range b {
		s = append(s, digits[c>>4], digits[c&15])
	}
	return string(s)
}
