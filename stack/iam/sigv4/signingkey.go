package sigv4

import (
	"crypto/sha256"
	"sync"
)

// deriveSigningKey computes the SigV4 signing key
// HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func deriveSigningKey(m *hmacState, buf []byte, secret, date, region, service string, out *[sha256.Size]byte) []byte {
	buf = append(append(buf[:0], "AWS4"...), secret...)
	n := len(buf)
	buf = append(buf, date...)
	var k [sha256.Size]byte
	m.mac(buf[:n], buf[n:], &k)
	buf = append(buf[:0], region...)
	m.mac(k[:], buf, &k)
	buf = append(buf[:0], service...)
	m.mac(k[:], buf, &k)
	buf = append(buf[:0], scopeEnd...)
	m.mac(k[:], buf, out)
	clear(k[:])
	return buf[:0]
}

// keyCache remembers derived signing keys per (secret, date, region,
// service); a camera's key changes once a day, so nearly every request hits.
type keyCache struct {
	mu  sync.RWMutex
	m   map[cacheKey][sha256.Size]byte
	max int
}

type cacheKey struct {
	secret          string
	date            [8]byte
	region, service string
}

func newKeyCache(max int) *keyCache {
	if max <= 0 {
		return nil
	}
	return &keyCache{m: make(map[cacheKey][sha256.Size]byte), max: max}
}

// signingKey returns the derived key, from the cache when it can.
func (kc *keyCache) signingKey(s *scratch, secret, date, region, service string, out *[sha256.Size]byte) {
	if kc == nil {
		s.buf = deriveSigningKey(s.hm, s.buf, secret, date, region, service, out)
		return
	}
	ck := cacheKey{secret: secret, region: region, service: service}
	copy(ck.date[:], date)
	kc.mu.RLock()
	k, ok := kc.m[ck]
	kc.mu.RUnlock()
	if ok {
		*out = k
		return
	}
	s.buf = deriveSigningKey(s.hm, s.buf, secret, date, region, service, out)
	kc.mu.Lock()
	if len(kc.m) >= kc.max {
		for old := range kc.m { // Go randomises iteration: random eviction
			delete(kc.m, old)
			break
		}
	}
	kc.m[ck] = *out
	kc.mu.Unlock()
}
