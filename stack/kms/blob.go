package kms

import (
	"encoding/binary"
	"errors"
	"sort"
)

const (
	blobFormat    = 0x01
	blobHeaderLen = 1 + 16 + 4
	gcmNonceLen   = 12
	gcmTagLen     = 16
	// maxBlobLen is AWS's limit for CiphertextBlob.
	maxBlobLen = 6144
)

// errMalformedBlob means the bytes are not a ciphertext blob of this server.
var errMalformedBlob = errors.New("kms: malformed ciphertext blob")

// blob is a parsed CiphertextBlob; see the package comment for the layout.
type blob struct {
	KeyID   [16]byte
	Version uint32
	Nonce   []byte
	Sealed  []byte // GCM ciphertext and tag
	Header  []byte // the authenticated header bytes
}

// parseBlob splits b into its fields without decrypting; it never panics and
// the returned slices alias b.
func parseBlob(b []byte) (blob, error) {
	if len(b) < blobHeaderLen+gcmNonceLen+gcmTagLen || len(b) > maxBlobLen || b[0] != blobFormat {
		return blob{}, errMalformedBlob
	}
	var p blob
	copy(p.KeyID[:], b[1:17])
	p.Version = binary.BigEndian.Uint32(b[17:21])
	p.Header = b[:blobHeaderLen]
	p.Nonce = b[blobHeaderLen : blobHeaderLen+gcmNonceLen]
	p.Sealed = b[blobHeaderLen+gcmNonceLen:]
	return p, nil
}

// blobHeader returns the header for a key id and version.
func blobHeader(keyID [16]byte, version uint32) []byte {
	h := make([]byte, blobHeaderLen, blobHeaderLen+gcmNonceLen)
	h[0] = blobFormat
	copy(h[1:17], keyID[:])
	binary.BigEndian.PutUint32(h[17:21], version)
	return h
}

// canonicalContext encodes an encryption context unambiguously: a pair count,
// then every pair sorted by key, each string preceded by its length.
func canonicalContext(ctx map[string]string) []byte {
	keys := make([]string, 0, len(ctx))
	n := 4
	for k, v := range ctx {
		keys = append(keys, k)
		n += 8 + len(k) + len(v)
	}
	sort.Strings(keys)
	out := make([]byte, 0, n)
	out = binary.BigEndian.AppendUint32(out, uint32(len(keys)))
	for _, k := range keys {
		out = binary.BigEndian.AppendUint32(out, uint32(len(k)))
		out = append(out, k...)
		v := ctx[k]
		out = binary.BigEndian.AppendUint32(out, uint32(len(v)))
		out = append(out, v...)
	}
	return out
}

// additionalData is what GCM authenticates besides the ciphertext.
func additionalData(header []byte, ctx map[string]string) []byte {
	c := canonicalContext(ctx)
	ad := make([]byte, 0, len(header)+len(c))
	return append(append(ad, header...), c...)
}
