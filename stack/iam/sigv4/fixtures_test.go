package sigv4

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestAWSGetVanilla: the get-vanilla case of AWS's SigV4 test suite, which
// also pins handSign, the independent signer the fixtures below rely on.
func TestAWSGetVanilla(t *testing.T) {
	at := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	const want = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, " +
		"SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
	got := handSign("GET", "/", "", [][2]string{{"host", "example.amazonaws.com"}, {"x-amz-date", "20150830T123600Z"}},
		emptyStringSHA, testAKID, testSecret, "us-east-1", "service", at)
	if got != want {
		t.Fatalf("handSign get-vanilla:\n got %s\nwant %s", got, want)
	}
	v := newTestVerifier(t, func(c *Config) {
		c.Services = []string{"service"}
		c.Clock = func() time.Time { return at }
	})
	r := httptest.NewRequest("GET", "http://example.amazonaws.com/", nil)
	r.Header.Set("X-Amz-Date", "20150830T123600Z")
	r.Header.Set("Authorization", want)
	if _, err := v.Verify(r, Body(nil)); err != nil {
		t.Fatalf("get-vanilla refused: %v", err)
	}
}

// producerServer is a loopback server that verifies every request the way
// the stack's services will: /putMedia streams, everything else is buffered.
func producerServer(t *testing.T, v *Verifier) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := Stream()
		if r.URL.Path != "/putMedia" {
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			p = Body(b)
		}
		res, err := v.Verify(r, p)
		if err != nil {
			awsError(t, err).WriteError(w, RESTJSON)
			return
		}
		var n int64
		if res.Body != nil {
			if n, err = io.Copy(io.Discard, res.Body); err != nil {
				awsError(t, err).WriteError(w, RESTJSON)
				return
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Key": res.AccessKeyID, "SignedHeaders": res.SignedHeaders,
			"Payload": res.Payload.String(), "Bytes": n, "Temporary": res.Temporary})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// rawRequest writes a hand-made HTTP/1.1 request over TCP and returns the
// status, the x-amzn-ErrorType and the body of the answer.
func rawRequest(t *testing.T, addr, head, body string) (int, string, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, head+"\r\n"+body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), string(b)
}

// kvsRequest builds a request the way the KVS C producers do: the given
// headers are sent (in that order) and the ones named in signed are signed
// with handSign.
type kvsRequest struct {
	path    string
	headers [][2]string // lower-case names, sent in this order
	signed  []string    // sorted
	akid    string
	hash    string // the payload hash signed
}

func (k kvsRequest) head(host string, at time.Time) string {
	var sh [][2]string
	for _, name := range k.signed {
		for _, h := range append([][2]string{{"host", host}, {"x-amz-date", at.Format(amzDateLayout)}}, k.headers...) {
			if h[0] == name {
				sh = append(sh, h)
			}
		}
	}
	secret := map[string]string{testAKID: testSecret, tempAKID: tempSecret}[k.akid]
	auth := handSign("POST", k.path, "", sh, k.hash, k.akid, secret, testRegion, "kinesisvideo", at)
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nX-Amz-Date: %s\r\n", k.path, host, at.Format(amzDateLayout))
	for _, h := range k.headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	fmt.Fprintf(&b, "Authorization: %s\r\n", auth)
	return b.String()
}

func chunkedBody(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(p), p)
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

// TestKVSProducerHeaderSets sends, over real TCP, requests in the header
// sets the KVS C producers sign (kvs-protocol.md §5.1), which the SDK
// signer cannot produce.
func TestKVSProducerHeaderSets(t *testing.T) {
	v := newTestVerifier(t, nil)
	srv := producerServer(t, v)
	addr := srv.Listener.Addr().String()
	at := t0.Add(-3 * time.Minute)
	describe := `{"StreamName":"cam-1"}`
	media := chunkedBody("\x1a\x45\xdf\xa3 EBML header", strings.Repeat("cluster bytes ", 500), "tail")
	putMediaHeaders := func(token [2]string) [][2]string {
		h := [][2]string{
			{"user-agent", "AWS-SDK-KVS/3.0.0 GCC/6.4.1 Linux/4.9.51 mips"},
			{"accept", "*/*"},
			{"transfer-encoding", "chunked"},
			{"connection", "keep-alive"},
			{"content-type", "application/json"},
			{"x-amzn-stream-name", "cam-1"},
			{"x-amzn-fragment-timecode-type", "ABSOLUTE"},
			{"x-amzn-producer-start-timestamp", "1767226800.123"},
			{"x-amzn-fragment-acknowledgment-required", "1"},
		}
		return append(h, token)
	}
	tests := []struct {
		name       string
		req        kvsRequest
		body       string
		tamper     func(head string) string
		wantStatus int
		wantType   string
		wantInBody string
	}{
		{
			name: "producer-c control plane: host;user-agent;x-amz-date, token unsigned",
			req: kvsRequest{path: "/describeStream", akid: tempAKID, hash: hexSHA256([]byte(describe)),
				headers: [][2]string{
					{"user-agent", "AWS-SDK-KVS/3.0.0 GCC/6.4.1 Linux/4.9.51 mips"},
					{"content-type", "application/json"},
					{"x-amz-security-token", tempToken},
					{"content-length", fmt.Sprint(len(describe))},
				},
				signed: []string{"host", "user-agent", "x-amz-date"}},
			body: describe, wantStatus: 200, wantInBody: `"SignedHeaders":"host;user-agent;x-amz-date"`,
		},
		{
			name: "producer-c PutMedia: connection and transfer-encoding signed, empty-payload hash, token unsigned",
			req: kvsRequest{path: "/putMedia", akid: tempAKID, hash: emptyStringSHA,
				headers: putMediaHeaders([2]string{"x-amz-security-token", tempToken}),
				signed: []string{"connection", "host", "transfer-encoding", "user-agent", "x-amz-date",
					"x-amzn-fragment-acknowledgment-required", "x-amzn-fragment-timecode-type",
					"x-amzn-producer-start-timestamp", "x-amzn-stream-name"}},
			body: media, wantStatus: 200, wantInBody: `"Payload":"uncovered"`,
		},
		{
			name: "embedded-c PutMedia: token signed",
			req: kvsRequest{path: "/putMedia", akid: tempAKID, hash: emptyStringSHA,
				headers: putMediaHeaders([2]string{"x-amz-security-token", tempToken}),
				signed: []string{"connection", "host", "transfer-encoding", "user-agent", "x-amz-date", "x-amz-security-token",
					"x-amzn-fragment-acknowledgment-required", "x-amzn-fragment-timecode-type",
					"x-amzn-producer-start-timestamp", "x-amzn-stream-name"}},
			body: media, wantStatus: 200, wantInBody: fmt.Sprintf(`"Bytes":%d`, len("\x1a\x45\xdf\xa3 EBML header")+500*len("cluster bytes ")+4),
		},
		{
			name: "signed stream name changed in transit",
			req: kvsRequest{path: "/putMedia", akid: tempAKID, hash: emptyStringSHA,
				headers: putMediaHeaders([2]string{"x-amz-security-token", tempToken}),
				signed:  []string{"connection", "host", "transfer-encoding", "user-agent", "x-amz-date", "x-amzn-stream-name"}},
			body: media,
			tamper: func(h string) string {
				return strings.Replace(h, "x-amzn-stream-name: cam-1", "x-amzn-stream-name: cam-2", 1)
			},
			wantStatus: 403, wantType: CodeInvalidSignature, wantInBody: `{"Message":"The request signature we calculated does not match`,
		},
		{
			name: "unsigned token replaced",
			req: kvsRequest{path: "/putMedia", akid: tempAKID, hash: emptyStringSHA,
				headers: putMediaHeaders([2]string{"x-amz-security-token", tempToken}),
				signed:  []string{"host", "user-agent", "x-amz-date"}},
			body:       media,
			tamper:     func(h string) string { return strings.Replace(h, tempToken, tempToken+"A", 1) },
			wantStatus: 403, wantType: CodeUnrecognizedClient, wantInBody: msgUnrecognized,
		},
		{
			name: "temporary key without its token",
			req: kvsRequest{path: "/putMedia", akid: tempAKID, hash: emptyStringSHA,
				headers: putMediaHeaders([2]string{"x-amzn-fragment-acknowledgment-required", "1"})[:8],
				signed:  []string{"host", "user-agent", "x-amz-date"}},
			body: media, wantStatus: 403, wantType: CodeUnrecognizedClient,
		},
		{
			name: "control plane body changed",
			req: kvsRequest{path: "/describeStream", akid: testAKID, hash: hexSHA256([]byte(describe)),
				headers: [][2]string{{"user-agent", "x"}, {"content-length", fmt.Sprint(len(describe))}},
				signed:  []string{"host", "user-agent", "x-amz-date"}},
			body: strings.Replace(describe, "cam-1", "cam-2", 1), wantStatus: 403, wantType: CodeInvalidSignature,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			head := tc.req.head(addr, at)
			if tc.tamper != nil {
				head = tc.tamper(head)
			}
			status, typ, body := rawRequest(t, addr, head, tc.body)
			if status != tc.wantStatus || typ != tc.wantType || !strings.Contains(body, tc.wantInBody) {
				t.Fatalf("request:\n%s\ngot %d %q %s\nwant %d %q containing %s", head, status, typ, body, tc.wantStatus, tc.wantType, tc.wantInBody)
			}
		})
	}
}
