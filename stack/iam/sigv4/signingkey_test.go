package sigv4

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestHMACMatchesStdlib: the allocation-free HMAC equals crypto/hmac for
// keys shorter than, equal to and longer than the SHA-256 block.
func TestHMACMatchesStdlib(t *testing.T) {
	m := newHMACState()
	for n := 0; n <= 200; n += 7 {
		key := bytes.Repeat([]byte{byte(n)}, n)
		msg := []byte(fmt.Sprintf("message %d", n))
		var got [sha256.Size]byte
		m.mac(key, msg, &got)
		m := hmac.New(sha256.New, key)
		m.Write(msg)
		if want := m.Sum(nil); !bytes.Equal(got[:], want) {
			t.Fatalf("key of %d bytes: %x, want %x", n, got, want)
		}
	}
}

// TestKeyCacheBounded: the cache never holds more than its size, and a
// secret that changes under the same access key id is not served stale.
func TestKeyCacheBounded(t *testing.T) {
	secret := testSecret
	v := newTestVerifier(t, func(c *Config) {
		c.KeyCacheSize = 2
		c.Lookup = func(id, _ string) (Key, bool) { return Key{SecretAccessKey: secret}, id == testAKID }
		c.MaxSkew = 10 * 24 * time.Hour
	})
	for day := range 5 {
		at := t0.Add(-time.Duration(day) * 24 * time.Hour)
		r, b := kmsRequest(t, testAKID, at)
		if _, err := v.Verify(r, Body(b)); err != nil {
			t.Fatalf("day -%d: %v", day, err)
		}
		if n := len(v.cache.m); n > 2 {
			t.Fatalf("cache holds %d keys, limit 2", n)
		}
	}
	r, b := kmsRequest(t, testAKID, t0)
	secret = "rotated"
	if _, err := v.Verify(r, Body(b)); err == nil {
		t.Fatal("request signed with the old secret verifies after rotation")
	}
}

// TestConcurrentVerify shares one Verifier (cache, scratch pool) between
// goroutines; run with -race.
func TestConcurrentVerify(t *testing.T) {
	v := newTestVerifier(t, func(c *Config) { c.KeyCacheSize = 3 })
	type signed struct {
		r    *http.Request
		body []byte
	}
	var reqs []signed
	for i := range 6 {
		r, b := kmsRequest(t, []string{testAKID, tempAKID}[i%2], t0.Add(-time.Duration(i)*time.Minute))
		reqs = append(reqs, signed{r, b})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				s := reqs[(g+i)%len(reqs)]
				if _, err := v.Verify(s.r, Body(s.body)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
