package sigv4

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestChunkedAWSExample is the aws-chunked example of the S3 documentation
// ("Signature Calculations for the Authorization Header: Transferring Payload
// in Multiple Chunks"): 64 KiB + 1 KiB of 'a' in two signed chunks.
func TestChunkedAWSExample(t *testing.T) {
	at := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	v, err := New(Config{
		Lookup: func(id, _ string) (Key, bool) {
			return Key{SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}, id == "AKIAIOSFODNN7EXAMPLE"
		},
		Region: "us-east-1", Services: []string{"s3"}, Clock: func() time.Time { return at },
	})
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	for _, c := range []struct {
		n   int
		sig string
	}{
		{65536, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"},
		{1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"},
		{0, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"},
	} {
		fmt.Fprintf(&body, "%x;chunk-signature=%s\r\n%s\r\n", c.n, c.sig, strings.Repeat("a", c.n))
	}
	r := httptest.NewRequest(http.MethodPut, "http://s3.amazonaws.com/examplebucket/chunkObject.txt", bytes.NewReader(body.Bytes()))
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	r.Header.Set("Content-Length", "66824")
	r.Header.Set("X-Amz-Content-Sha256", streamingHash)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "+
		"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class, "+
		"Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
	if body.Len() != 66824 {
		t.Fatalf("example body is %d bytes, the example says 66824", body.Len())
	}
	res, err := v.Verify(r, Stream())
	if err != nil {
		t.Fatalf("seed signature: %v", err)
	}
	got, err := io.ReadAll(res.Body)
	if err != nil || len(got) != 66560 || strings.Trim(string(got), "a") != "" {
		t.Fatalf("decoded %d bytes, err %v; want 66560 'a's", len(got), err)
	}
}

// chunkedPut is an aws-chunked PutMedia signed with the SDK's signer and
// stream signer. edit may change the chunk list before framing.
func chunkedPut(t *testing.T, chunks [][]byte, decodedLen string, edit func(frames []string) []string) *http.Request {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "https://s-1234abcd.kinesisvideo.us-east-1.amazonaws.com/putMedia", nil)
	req.Header.Set("X-Amz-Content-Sha256", streamingHash)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amzn-Stream-Name", "cam-1")
	if decodedLen != "" {
		req.Header.Set("X-Amz-Decoded-Content-Length", decodedLen)
	}
	sdkSign(t, req, creds(tempAKID), streamingHash, "kinesisvideo", testRegion, t0)
	auth := req.Header.Get("Authorization")
	seed, err := hex.DecodeString(auth[strings.LastIndex(auth, "=")+1:])
	if err != nil {
		t.Fatal(err)
	}
	ss := v4.NewStreamSigner(creds(tempAKID), "kinesisvideo", testRegion, seed)
	var frames []string
	for _, c := range append(chunks, nil) {
		sig, err := ss.GetSignature(context.Background(), nil, c, t0)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, fmt.Sprintf("%x;chunk-signature=%x\r\n%s\r\n", len(c), sig, c))
	}
	if edit != nil {
		frames = edit(frames)
	}
	body := strings.Join(frames, "")
	req.Body, req.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
	sr, _ := onTheWire(t, req)
	return sr
}

// TestChunkedPayload: aws-chunked bodies decode when every chunk signature
// chains, and no byte of a bad chunk reaches the reader.
func TestChunkedPayload(t *testing.T) {
	v := newTestVerifier(t, nil)
	chunks := [][]byte{bytes.Repeat([]byte{1}, 8192), bytes.Repeat([]byte{2}, 70000), []byte("last")}
	var all []byte
	for _, c := range chunks {
		all = append(all, c...)
	}
	good := fmt.Sprint(len(all))
	tests := []struct {
		name     string
		decoded  string
		edit     func([]string) []string
		wantRead int // bytes released before the error
		wantErr  string
	}{
		{name: "valid", decoded: good, wantRead: len(all)},
		{name: "valid without decoded length", wantRead: len(all)},
		{name: "data changed in chunk 2", decoded: good, wantRead: 8192, wantErr: CodeInvalidSignature,
			edit: func(f []string) []string { f[1] = strings.Replace(f[1], "\x02\x02", "\x02\x03", 1); return f }},
		{name: "chunks reordered", decoded: good, wantRead: 0, wantErr: CodeInvalidSignature,
			edit: func(f []string) []string { f[0], f[1] = f[1], f[0]; return f }},
		{name: "chunk dropped", decoded: good, wantRead: 8192, wantErr: CodeInvalidSignature,
			edit: func(f []string) []string { return append(f[:1], f[2:]...) }},
		{name: "final chunk missing", decoded: good, wantRead: len(all), wantErr: CodeIncompleteBody,
			edit: func(f []string) []string { return f[:len(f)-1] }},
		{name: "truncated inside a chunk", decoded: good, wantRead: 8192, wantErr: CodeIncompleteBody,
			edit: func(f []string) []string { f[1] = f[1][:1000]; return f[:2] }},
		{name: "decoded length too small", decoded: "8192", wantRead: 8192, wantErr: CodeIncompleteBody},
		{name: "decoded length too large", decoded: "999999", wantRead: len(all), wantErr: CodeIncompleteBody},
		{name: "header line without signature", decoded: good, wantRead: 0, wantErr: CodeIncompleteBody,
			edit: func(f []string) []string { f[0] = "2000\r\n" + f[0][strings.Index(f[0], "\r\n")+2:]; return f }},
		{name: "oversize chunk", decoded: good, wantRead: 0, wantErr: CodeIncompleteBody,
			edit: func(f []string) []string {
				f[0] = fmt.Sprintf("%x;chunk-signature=%s\r\n", MaxChunkBytes+1, strings.Repeat("0", 64))
				return f[:1]
			}},
		{name: "endless header line", decoded: good, wantRead: 0, wantErr: CodeIncompleteBody,
			edit: func(f []string) []string { return []string{strings.Repeat("f", 10000)} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := chunkedPut(t, chunks, tc.decoded, tc.edit)
			res, err := v.Verify(r, Stream())
			if err != nil {
				t.Fatalf("seed signature refused: %v", err)
			}
			if res.Payload != BodyChunkSigned {
				t.Fatalf("coverage %v", res.Payload)
			}
			got, err := io.ReadAll(res.Body)
			if len(got) != tc.wantRead || !bytes.Equal(got, all[:len(got)]) {
				t.Fatalf("released %d bytes (prefix ok: %v), want %d", len(got), bytes.Equal(got, all[:min(len(got), len(all))]), tc.wantRead)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("read error %v", err)
			case tc.wantErr != "" && (err == nil || awsError(t, err).Code != tc.wantErr):
				t.Fatalf("read error %v, want %s", err, tc.wantErr)
			}
		})
	}
}
