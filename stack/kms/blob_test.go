package kms

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func TestCanonicalContextSeparatesKeysFromValues(t *testing.T) {
	cases := []map[string]string{
		nil,
		{"ab": "c"},
		{"a": "bc"},
		{"a": "b", "c": ""},
		{"a": "", "bc": ""},
		{"abc": ""},
		{"": "abc"},
	}
	seen := map[string]int{}
	for i, c := range cases {
		enc := string(canonicalContext(c))
		if j, dup := seen[enc]; dup {
			t.Fatalf("canonicalContext(%q) == canonicalContext(%q)", c, cases[j])
		}
		seen[enc] = i
	}
	if !bytes.Equal(canonicalContext(map[string]string{"x": "1", "y": "2"}), canonicalContext(map[string]string{"y": "2", "x": "1"})) {
		t.Fatal("canonicalContext depends on map order")
	}
	if !bytes.Equal(canonicalContext(nil), canonicalContext(map[string]string{})) {
		t.Fatal("nil and empty context must encode alike")
	}
}

func TestParseBlobRoundTrip(t *testing.T) {
	id, _ := parseUUID("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0ff")
	header := blobHeader(id, 7)
	b := append(append(header, make([]byte, gcmNonceLen)...), make([]byte, 20)...)
	p, err := parseBlob(b)
	if err != nil || p.KeyID != id || p.Version != 7 || len(p.Sealed) != 20 || !bytes.Equal(p.Header, header) {
		t.Fatalf("parseBlob = %+v, %v", p, err)
	}
	for _, bad := range [][]byte{nil, b[:len(b)-5], append([]byte{2}, b[1:]...), make([]byte, maxBlobLen+1)} {
		if _, err := parseBlob(bad); !errors.Is(err, errMalformedBlob) {
			t.Errorf("parseBlob(%d bytes) = %v, want errMalformedBlob", len(bad), err)
		}
	}
}

// FuzzDecryptBlob feeds arbitrary bytes to the blob parser and to Decrypt on
// a real server: nothing panics, and only the genuine blob decrypts.
func FuzzDecryptBlob(f *testing.F) {
	s, err := New(Config{DataDir: f.TempDir(), Rand: rand.Reader})
	if err != nil {
		f.Fatal(err)
	}
	s.mu.Lock()
	k, err := s.newKeyLocked("fuzz", "", nil, keyManagerCustomer)
	s.mu.Unlock()
	if err != nil {
		f.Fatal(err)
	}
	c := &call{op: "Decrypt", caller: standInCaller(DefaultAccount, "fuzzer")}
	s.mu.Lock()
	sl, err := s.encryptingVersionLocked(c, k.ID, "kms:Encrypt")
	s.mu.Unlock()
	if err != nil {
		f.Fatal(err)
	}
	genuine, err := s.seal(sl, []byte("plaintext"), map[string]string{"k": "v"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(genuine)
	f.Add(genuine[:blobHeaderLen])
	f.Add([]byte{blobFormat})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseBlob(b)
		if err == nil {
			if len(p.Header) != blobHeaderLen || len(p.Nonce) != gcmNonceLen || len(p.Sealed) < gcmTagLen {
				t.Fatalf("parseBlob accepted %d bytes with bad field sizes", len(b))
			}
			if !bytes.Equal(append(append(append([]byte{}, p.Header...), p.Nonce...), p.Sealed...), b) {
				t.Fatal("parsed fields do not reassemble the blob")
			}
		}
		plain, _, err := s.openBlob(&call{op: "Decrypt", caller: standInCaller(DefaultAccount, "fuzzer")}, b, map[string]string{"k": "v"}, "", "kms:Decrypt")
		if err == nil && (!bytes.Equal(b, genuine) || string(plain) != "plaintext") {
			t.Fatalf("Decrypt accepted a blob that was never issued: %x", b)
		}
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				t.Fatalf("Decrypt returned a non-API error: %v", err)
			}
		}
	})
}
