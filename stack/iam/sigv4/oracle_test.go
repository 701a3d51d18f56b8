package sigv4

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// oracleCase is one request signed by the AWS SDK signer.
type oracleCase struct {
	desc      string
	service   string
	akid      string
	presigned bool
	streaming bool   // verify with Stream() instead of Body(...)
	hashMode  string // "body" (no header), "header" (hex X-Amz-Content-Sha256), "unsigned", "empty" (stream: empty-string hash)
	body      []byte
	build     func() *http.Request // fresh unsigned request
	signedAt  time.Time
}

var (
	pathPieces  = []string{"describeStream", "a b", "ünï", "x%2Fy", "plus+sign", "~tilde", "semi;colon", "star*", "dot.dot", "", "UPPER", "q=1", "%25"}
	queryKeys   = []string{"StreamName", "b", "a", "A", "empty", "x-id", "ü", "sp ace", "plus+", "StreamName"}
	queryValues = []string{"", "1", "two words", "ünicode", "a+b", "a=b", "%", "/slash/", "~-._", "*"}
	hdrValues   = []string{"plain", "  padded  ", "inner   spaces", "a,b", "ünicode", "tab\there"}
)

// randomCase draws one varied request.
func randomCase(rng *rand.Rand, i int) oracleCase {
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	c := oracleCase{
		service:   pick([]string{"kinesisvideo", "kms", "sts"}),
		akid:      pick([]string{testAKID, tempAKID}),
		presigned: rng.IntN(4) == 0,
		signedAt:  t0.Add(time.Duration(rng.IntN(20*60)-10*60) * time.Second),
	}
	method := pick([]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch})
	var escPath strings.Builder
	for n := rng.IntN(4); n >= 0; n-- {
		escPath.WriteString("/")
		escPath.WriteString(url.PathEscape(pick(pathPieces)))
	}
	rawPath := strings.ReplaceAll(escPath.String(), "x%252Fy", "x%2Fy") // keep one encoded slash
	var q []string
	for n := rng.IntN(5); n > 0; n-- {
		k, v := url.QueryEscape(pick(queryKeys)), url.QueryEscape(pick(queryValues))
		if rng.IntN(6) == 0 {
			q = append(q, k) // key without '='
		} else {
			q = append(q, k+"="+v)
		}
	}
	rawQuery := strings.Join(q, "&")
	if method != http.MethodGet && method != http.MethodDelete || rng.IntN(3) == 0 {
		switch rng.IntN(3) {
		case 0:
			c.body = []byte(fmt.Sprintf(`{"KeyId":"alias/cam-%d","NumberOfBytes":32}`, i))
		case 1:
			c.body = make([]byte, rng.IntN(3000))
			for j := range c.body {
				c.body[j] = byte(rng.Uint32())
			}
		}
	}
	switch {
	case c.presigned:
		c.hashMode = pick([]string{"body", "empty"})
	default:
		c.hashMode = pick([]string{"body", "body", "header", "unsigned", "empty"})
	}
	c.streaming = c.hashMode == "empty" || rng.IntN(5) == 0 && c.hashMode != "body"
	headers := http.Header{}
	headers.Set("Content-Type", pick([]string{"application/x-amz-json-1.1", "application/json"}))
	if c.service == "kms" {
		headers.Set("X-Amz-Target", "TrentService.GenerateDataKey")
	}
	if rng.IntN(2) == 0 {
		headers.Set("X-Amzn-Stream-Name", fmt.Sprintf("cam-%d", i))
	}
	if rng.IntN(2) == 0 {
		headers.Add("X-Multi", pick(hdrValues))
		headers.Add("X-Multi", pick(hdrValues))
	}
	if rng.IntN(2) == 0 {
		headers.Set("X-Spaced", pick(hdrValues))
	}
	body := c.body
	c.desc = fmt.Sprintf("#%d %s %s?%s service=%s key=%s presigned=%v hash=%s stream=%v body=%dB", i, method, rawPath, rawQuery, c.service, c.akid, c.presigned, c.hashMode, c.streaming, len(body))
	c.build = func() *http.Request {
		u, err := url.Parse("https://" + c.service + "." + testRegion + ".amazonaws.com" + rawPath)
		if err != nil {
			panic(err)
		}
		u.RawQuery = rawQuery
		req := &http.Request{Method: method, URL: u, Host: u.Host, Header: headers.Clone(), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
		req.Body, req.ContentLength = http.NoBody, 0
		if len(body) > 0 {
			req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		}
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		switch c.hashMode {
		case "header":
			req.Header.Set("X-Amz-Content-Sha256", hexSHA256(body))
		case "unsigned":
			req.Header.Set("X-Amz-Content-Sha256", unsignedHash)
		}
		return req
	}
	return c
}

// payloadHash is what the client passes to the SDK signer.
func (c *oracleCase) payloadHash() string {
	switch c.hashMode {
	case "unsigned":
		return unsignedHash
	case "empty":
		return emptyStringSHA
	}
	return hexSHA256(c.body)
}

// signed returns the SDK-signed client request, after mut (if any) changed
// it the way a tampering middlebox would.
func (c *oracleCase) signed(t testing.TB, mut func(*http.Request)) *http.Request {
	t.Helper()
	req := c.build()
	if c.presigned {
		q := req.URL.Query()
		q.Set("X-Amz-Expires", "900")
		req.URL.RawQuery = q.Encode()
		u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds(c.akid), req, c.payloadHash(), c.service, testRegion, c.signedAt)
		if err != nil {
			t.Fatal(err)
		}
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		req.URL = pu
		for k, v := range hdr {
			if !strings.EqualFold(k, "host") {
				req.Header[k] = v
			}
		}
	} else {
		sdkSign(t, req, creds(c.akid), c.payloadHash(), c.service, testRegion, c.signedAt)
	}
	if mut != nil {
		mut(req)
	}
	return req
}

func (c *oracleCase) verify(t testing.TB, v *Verifier, req *http.Request) (Result, error) {
	t.Helper()
	sr, body := onTheWire(t, req)
	p := Body(body)
	if c.streaming {
		p = Stream()
	}
	res, err := v.Verify(sr, p)
	if err == nil && res.Body != nil {
		if _, rerr := io.ReadAll(res.Body); rerr != nil {
			return res, rerr
		}
	}
	return res, err
}

// TestSDKSignedRequestsVerify: requests the SDK signs verify, and every single
// mutation of what the signature covers is refused.
func TestSDKSignedRequestsVerify(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{'s', 'i', 'g', 'v', '4'}))
	v := newTestVerifier(t, nil)
	for i := range 400 {
		c := randomCase(rng, i)
		res, err := c.verify(t, v, c.signed(t, nil))
		if err != nil {
			t.Fatalf("%s: valid request refused: %v", c.desc, err)
		}
		if res.AccessKeyID != c.akid || res.Service != c.service || res.Region != testRegion ||
			!res.SigningTime.Equal(c.signedAt) || res.Presigned != c.presigned || res.Temporary != (c.akid == tempAKID) {
			t.Fatalf("%s: result %+v does not describe the request", c.desc, res)
		}
		if want := testKeys()[c.akid].Identity; res.Identity != want {
			t.Fatalf("%s: Identity %v, want %v", c.desc, res.Identity, want)
		}
		if !res.Signed("host") || !res.Signed("Host") {
			t.Fatalf("%s: Signed(host) false for %q", c.desc, res.SignedHeaders)
		}

		for _, m := range mutations(&c) {
			verifier := v
			if m.verifier != nil {
				verifier = m.verifier(t)
			}
			if _, err := c.verify(t, verifier, c.signed(t, m.req)); err == nil {
				t.Fatalf("%s: mutation %q still verifies", c.desc, m.name)
			}
		}
	}
}

type mutation struct {
	name     string
	req      func(*http.Request)
	verifier func(testing.TB) *Verifier
}

// mutations lists the single changes that must break c's signature.
func mutations(c *oracleCase) []mutation {
	ms := []mutation{
		{name: "method", req: func(r *http.Request) {
			if r.Method == http.MethodPost {
				r.Method = http.MethodPut
			} else {
				r.Method = http.MethodPost
			}
		}},
		{name: "path", req: func(r *http.Request) { r.URL.Path += "x"; r.URL.RawPath = "" }},
		{name: "path escaping", req: func(r *http.Request) {
			// the same decoded path, escaped differently on the wire
			p := r.URL.EscapedPath()
			if i := strings.LastIndexAny(p, "abcdefghijklmnopqrstuvwxyz"); i >= 0 {
				r.URL.RawPath = fmt.Sprintf("%s%%%02X%s", p[:i], p[i], p[i+1:])
			} else {
				r.URL.Path, r.URL.RawPath = r.URL.Path+"/A", p+"/%41"
			}
		}},
		{name: "query added", req: func(r *http.Request) { r.URL.RawQuery += "&extra=1" }},
		{name: "query value", req: func(r *http.Request) {
			if strings.Contains(r.URL.RawQuery, "=") {
				r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "=", "=z", 1)
			} else {
				r.URL.RawQuery += "=z"
			}
		}},
		{name: "host", req: func(r *http.Request) { r.Host = "evil.example.com" }},
		{name: "content-type", req: func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }},
		{name: "date +1s", req: func(r *http.Request) { shiftDate(r, time.Second) }},
		{name: "date +1 day", req: func(r *http.Request) { shiftDate(r, 24*time.Hour) }},
		{name: "secret", verifier: func(t testing.TB) *Verifier {
			return newTestVerifier(t, func(cfg *Config) {
				cfg.Lookup = func(id, _ string) (Key, bool) {
					k, ok := testKeys()[id]
					k.SecretAccessKey += "x"
					return k, ok
				}
			})
		}},
		{name: "region", verifier: func(t testing.TB) *Verifier {
			return newTestVerifier(t, func(cfg *Config) { cfg.Region = "eu-west-1" })
		}},
		{name: "service", verifier: func(t testing.TB) *Verifier {
			return newTestVerifier(t, func(cfg *Config) {
				cfg.Services = []string{map[string]string{"kms": "sts", "sts": "kinesisvideo", "kinesisvideo": "kms"}[c.service]}
			})
		}},
		{name: "token changed", req: func(r *http.Request) { setToken(r, tempToken+"x") }},
		{name: "token on a long-term key", req: func(r *http.Request) {
			if c.akid == testAKID {
				setToken(r, tempToken)
			} else {
				setToken(r, "")
			}
		}},
		{name: "key expired", verifier: func(t testing.TB) *Verifier {
			return newTestVerifier(t, func(cfg *Config) {
				cfg.Lookup = func(id, _ string) (Key, bool) {
					k, ok := testKeys()[id]
					k.Expiration = t0.Add(-time.Second)
					return k, ok
				}
			})
		}},
		{name: "signature", req: func(r *http.Request) {
			if c.presigned {
				q := r.URL.Query()
				s := []byte(q.Get(qSignature))
				s[10] ^= 1
				q.Set(qSignature, string(s))
				r.URL.RawQuery = q.Encode()
				return
			}
			a := []byte(r.Header.Get("Authorization"))
			a[len(a)-1] ^= 1
			r.Header.Set("Authorization", string(a))
		}},
	}
	if c.body != nil && (c.hashMode == "body" || c.hashMode == "header") {
		ms = append(ms, mutation{name: "body", req: func(r *http.Request) {
			b := bytes.Clone(c.body)
			if len(b) == 0 {
				b = []byte("x")
				r.ContentLength = 1
			} else {
				b[len(b)/2] ^= 0x20
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
		}})
	}
	if r := c.build(); len(r.Header["X-Multi"]) == 2 {
		ms = append(ms, mutation{name: "multi-value header order", req: func(r *http.Request) {
			m := r.Header["X-Multi"]
			if m[0] == m[1] {
				m[1] += "!"
			} else {
				m[0], m[1] = m[1], m[0]
			}
		}})
	}
	return ms
}

func shiftDate(r *http.Request, d time.Duration) {
	if q := r.URL.Query(); q.Get(qDate) != "" {
		at, _ := time.Parse(amzDateLayout, q.Get(qDate))
		q.Set(qDate, at.Add(d).Format(amzDateLayout))
		r.URL.RawQuery = q.Encode()
		return
	}
	at, _ := time.Parse(amzDateLayout, r.Header.Get("X-Amz-Date"))
	r.Header.Set("X-Amz-Date", at.Add(d).Format(amzDateLayout))
}

// setToken replaces the session token where the client put it ("" removes it).
func setToken(r *http.Request, tok string) {
	q := r.URL.Query()
	if q.Has(qSecurityToken) || q.Has(qSignature) {
		if tok == "" {
			q.Del(qSecurityToken)
		} else {
			q.Set(qSecurityToken, tok)
		}
		r.URL.RawQuery = q.Encode()
		return
	}
	if tok == "" {
		r.Header.Del("X-Amz-Security-Token")
	} else {
		r.Header.Set("X-Amz-Security-Token", tok)
	}
}
