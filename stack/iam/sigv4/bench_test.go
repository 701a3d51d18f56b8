package sigv4

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// benchCaches runs fn with the signing key cache on and off.
func benchCaches(b *testing.B, fn func(b *testing.B, v *Verifier)) {
	for _, bc := range []struct {
		name string
		size int
	}{{"cache", 0}, {"nocache", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			fn(b, newTestVerifier(b, func(c *Config) { c.KeyCacheSize = bc.size }))
		})
	}
}

// BenchmarkVerifyHeaderSigned: a KMS GenerateDataKey call (small JSON body,
// SDK header set) with session credentials.
func BenchmarkVerifyHeaderSigned(b *testing.B) {
	r, body := kmsRequest(b, tempAKID, t0)
	benchCaches(b, func(b *testing.B, v *Verifier) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(r, Body(body)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerifyPutMediaStreaming: a producer-c PutMedia (empty-payload
// hash, ten signed headers, unsigned token).
func BenchmarkVerifyPutMediaStreaming(b *testing.B) {
	host := "s-1234abcd.kinesisvideo.us-east-1.amazonaws.com"
	headers := [][2]string{
		{"connection", "keep-alive"},
		{"host", host},
		{"transfer-encoding", "chunked"},
		{"user-agent", "AWS-SDK-KVS/3.0.0 GCC/6.4.1 Linux/4.9.51 mips"},
		{"x-amz-date", t0.Format(amzDateLayout)},
		{"x-amzn-fragment-acknowledgment-required", "1"},
		{"x-amzn-fragment-timecode-type", "ABSOLUTE"},
		{"x-amzn-producer-start-timestamp", "1767226800.123"},
		{"x-amzn-stream-name", "cam-1"},
	}
	r := httptest.NewRequest(http.MethodPost, "https://"+host+"/putMedia", strings.NewReader("media"))
	for _, h := range headers {
		if h[0] != "host" {
			r.Header.Set(h[0], h[1])
		}
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Amz-Security-Token", tempToken)
	r.Header.Set("Authorization", handSign("POST", "/putMedia", "", headers, emptyStringSHA, tempAKID, tempSecret, testRegion, "kinesisvideo", t0))
	benchCaches(b, func(b *testing.B, v *Verifier) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(r, Stream()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerifyParallel: the header-signed case from many goroutines, to
// see the cache lock under contention.
func BenchmarkVerifyParallel(b *testing.B) {
	r, body := kmsRequest(b, tempAKID, t0)
	benchCaches(b, func(b *testing.B, v *Verifier) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := v.Verify(r, Body(body)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
