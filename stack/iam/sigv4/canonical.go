package sigv4

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// scratch is per-verification working memory, pooled so that verifying a
// request allocates next to nothing.
type scratch struct {
	h        hash.Hash // SHA-256 of the canonical request
	hm       *hmacState
	buf      []byte
	params   []queryParam
	sum      [sha256.Size]byte
	bodyHash [2 * sha256.Size]byte
	mac      [sha256.Size]byte
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{h: sha256.New(), hm: newHMACState(), buf: make([]byte, 0, 1024), params: make([]queryParam, 0, 8)}
}}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(s *scratch) {
	if cap(s.buf) > 64<<10 || cap(s.params) > MaxQueryParams {
		return // keep the pool from pinning what one large request grew
	}
	clear(s.params[:cap(s.params)]) // drop references to request strings
	s.buf, s.params = s.buf[:0], s.params[:0]
	scratchPool.Put(s)
}

// headerValues returns the values the client sent for the lower-case header
// name, looked up in net/http's canonical key form (as its server stores
// headers) or, for hand-built requests, as given. It allocates nothing and
// never scans the header map, whose size the client chooses.
func headerValues(r *http.Request, name string) []string {
	var buf [128]byte
	if len(name) <= len(buf) {
		upper := true
		for i := 0; i < len(name); i++ {
			c := name[i]
			if upper && c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			buf[i], upper = c, c == '-'
		}
		if v, ok := r.Header[string(buf[:len(name)])]; ok {
			return v
		}
	}
	return r.Header[name]
}

// writeCanonicalRequest hashes the canonical request into s.sum:
// method, URI, query, headers, signed header list, payload hash.
func writeCanonicalRequest(s *scratch, r *http.Request, c *credential, params []queryParam, presigned bool, payloadHash string) {
	b := s.buf[:0]
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = appendCanonicalURI(b, requestPath(r))
	b = append(b, '\n')

	slices.SortFunc(params, func(x, y queryParam) int {
		return cmp.Or(strings.Compare(x.encKey, y.encKey), strings.Compare(x.encValue, y.encValue))
	})
	first := true
	for i := range params {
		if presigned && params[i].key == qSignature {
			continue
		}
		if !first {
			b = append(b, '&')
		}
		first = false
		b = append(b, params[i].encKey...)
		b = append(b, '=')
		b = append(b, params[i].encValue...)
	}
	b = append(b, '\n')

	for rest := c.signedHeaders; ; {
		name, more, found := strings.Cut(rest, ";")
		b = append(b, name...)
		b = append(b, ':')
		switch name {
		case "host":
			host := r.Host
			if host == "" && r.URL != nil {
				host = r.URL.Host
			}
			b = appendStripped(b, host)
		case "content-length":
			if v := headerValues(r, name); v != nil {
				b = appendValues(b, v)
			} else if r.ContentLength > 0 {
				b = strconv.AppendInt(b, r.ContentLength, 10)
			}
		case "transfer-encoding":
			if v := headerValues(r, name); v != nil {
				b = appendValues(b, v)
			} else {
				b = appendValues(b, r.TransferEncoding)
			}
		default:
			b = appendValues(b, headerValues(r, name))
		}
		b = append(b, '\n')
		if len(b) > 32<<10 { // flush big header blocks rather than grow
			s.h.Write(b)
			b = b[:0]
		}
		rest = more
		if !found {
			break
		}
	}
	b = append(b, '\n')
	b = append(b, c.signedHeaders...)
	b = append(b, '\n')
	if payloadHash == "" {
		b = append(b, s.bodyHash[:]...)
	} else {
		b = append(b, payloadHash...)
	}
	s.h.Write(b)
	s.buf = b[:0]
	s.h.Sum(s.sum[:0])
	s.h.Reset()
}

// requestPath is the path as it came over the wire (already escaped), which
// is what the client signed.
func requestPath(r *http.Request) string {
	if u := r.RequestURI; strings.HasPrefix(u, "/") {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	if r.URL == nil {
		return "/"
	}
	return r.URL.EscapedPath()
}

// appendCanonicalURI escapes the already-escaped path once more, as AWS
// does for every service but S3 (and as the SDK signer does): every byte but
// A-Z a-z 0-9 - . _ ~ and '/' becomes %XX, so "%2F" is signed as "%252F".
// Dot segments are not removed, matching the SDK.
func appendCanonicalURI(b []byte, path string) []byte {
	if path == "" {
		return append(b, '/')
	}
	const upperhex = "0123456789ABCDEF"
	for i := 0; i < len(path); i++ {
		c := path[i]
		if isUnreserved(c) || c == '/' {
			b = append(b, c)
		} else {
			b = append(b, '%', upperhex[c>>4], upperhex[c&15])
		}
	}
	return b
}

func isUnreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// appendValues writes the values of one header, each trimmed with inner
// runs of spaces collapsed, joined by ','.
func appendValues(b []byte, values []string) []byte {
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		start := len(b)
		b = appendStripped(b, v)
		t := bytes.TrimSpace(b[start:])
		n := copy(b[start:], t)
		b = b[:start+n]
	}
	return b
}

// appendStripped trims leading and trailing spaces and collapses runs of
// spaces to one.
func appendStripped(b []byte, v string) []byte {
	v = strings.Trim(v, " ")
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, c)
	}
	return b
}

// appendStringToSign lays out the string to sign.
func appendStringToSign(b []byte, amzDate string, c *credential, canonicalHash *[sha256.Size]byte) []byte {
	b = append(b, algorithm...)
	b = append(b, '\n')
	b = append(b, amzDate...)
	b = append(b, '\n')
	b = appendScope(b, c)
	b = append(b, '\n')
	return hex.AppendEncode(b, canonicalHash[:])
}

func appendScope(b []byte, c *credential) []byte {
	b = append(b, c.date...)
	b = append(b, '/')
	b = append(b, c.region...)
	b = append(b, '/')
	b = append(b, c.service...)
	b = append(b, '/')
	return append(b, scopeEnd...)
}

// hmacState is working memory for HMAC-SHA256 (RFC 2104); reusing it
// avoids the allocations crypto/hmac makes per MAC, which would otherwise
// dominate the verifier's allocations.
type hmacState struct {
	h          hash.Hash // SHA-256
	pad        [64]byte
	inner, sum [sha256.Size]byte
}

func newHMACState() *hmacState { return &hmacState{h: sha256.New()} }

// mac sets out to HMAC-SHA256(key, msg). key and out do not escape, so
// callers can keep them on the stack.
func (m *hmacState) mac(key, msg []byte, out *[sha256.Size]byte) {
	const block = 64
	var k [block]byte
	if len(key) > block {
		d := sha256.Sum256(key)
		copy(k[:], d[:])
	} else {
		copy(k[:], key)
	}
	for i := range m.pad {
		m.pad[i] = k[i] ^ 0x36
	}
	m.h.Reset()
	m.h.Write(m.pad[:])
	m.h.Write(msg)
	m.h.Sum(m.inner[:0])
	for i := range m.pad {
		m.pad[i] = k[i] ^ 0x5c
	}
	m.h.Reset()
	m.h.Write(m.pad[:])
	m.h.Write(m.inner[:])
	m.h.Sum(m.sum[:0])
	m.h.Reset()
	*out = m.sum
	clear(k[:])
}
