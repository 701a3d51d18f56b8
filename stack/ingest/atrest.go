package ingest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// A fragment stored with encryption at rest has the payload
//
//	'K' 0x02                  magic and layout version
//	uvarint len(wrapped)      the data key as KMS wrapped it (GenerateDataKey's
//	wrapped                   CiphertextBlob; encryption context: the stream ARN)
//	nonce[12]                 random
//	sealed                    AES-256-GCM under the data key of the whole
//	                          version-1 payload (chunk.go), tag last
//
// The additional data binds the sealed bytes to their stream and fragment:
// "camstorm-at-rest/1", then the stream ARN and the fragment number, each
// preceded by its length as a uvarint. The plaintext data key is never
// stored; it lives in the ingest's data-key cache (datakeys.go).
const (
	payloadVersionSealed = 2
	atRestLabel          = "camstorm-at-rest/1"
	atRestNonceSize      = 12
	// maxWrappedKey bounds the wrapped key a stored payload may claim.
	maxWrappedKey = 4 << 10
)

func atRestAAD(streamARN, number string) []byte {
	aad := binary.AppendUvarint(nil, uint64(len(atRestLabel)))
	aad = append(aad, atRestLabel...)
	aad = binary.AppendUvarint(aad, uint64(len(streamARN)))
	aad = append(aad, streamARN...)
	aad = binary.AppendUvarint(aad, uint64(len(number)))
	return append(aad, number...)
}

// sealPayload encrypts a version-1 payload (given as parts) under key and
// returns the version-2 payload.
func sealPayload(key DataKey, streamARN, number string, parts [][]byte) ([]byte, error) {
	return sealPayloadWith(key, streamARN, number, parts, false)
}

// sealPayloadWith is sealPayload; reuseNonce is the deliberate defect
// Defects.ReuseNonce (one nonce per data key).
func sealPayloadWith(key DataKey, streamARN, number string, parts [][]byte, reuseNonce bool) ([]byte, error) {
	aead, err := newAtRestAEAD(key.Plaintext)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	plain := make([]byte, 0, n)
	for _, p := range parts {
		plain = append(plain, p...)
	}
	out := make([]byte, 0, 2+binaryMaxVarint+len(key.Wrapped)+atRestNonceSize+n+aead.Overhead())
	out = append(out, payloadMagic, payloadVersionSealed)
	out = binary.AppendUvarint(out, uint64(len(key.Wrapped)))
	out = append(out, key.Wrapped...)
	nonce := out[len(out) : len(out)+atRestNonceSize]
	if reuseNonce {
		copy(nonce[:atRestNonceSize], fixedNonce(key.Wrapped))
	} else if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = out[:len(out)+atRestNonceSize]
	return aead.Seal(out, nonce, plain, atRestAAD(streamARN, number)), nil
}

// isSealed reports whether a stored payload is encrypted at rest.
func isSealed(p []byte) bool {
	return len(p) >= 2 && p[0] == payloadMagic && p[1] == payloadVersionSealed
}

// openPayload decrypts a version-2 payload with the data key unwrap gives
// for its wrapped key, returning the version-1 payload. Malformed input
// yields errBadPayload; unwrap's errors are returned as they are.
func openPayload(ctx context.Context, p []byte, streamARN, number string,
	unwrap func(ctx context.Context, wrapped []byte) ([]byte, error)) ([]byte, error) {
	if !isSealed(p) {
		return nil, fmt.Errorf("%w: not an encrypted payload", errBadPayload)
	}
	rest := p[2:]
	l, n := binary.Uvarint(rest)
	if n <= 0 || l == 0 || l > maxWrappedKey || l > uint64(len(rest)-n) {
		return nil, fmt.Errorf("%w: wrapped key length unreadable", errBadPayload)
	}
	wrapped := rest[n : n+int(l)]
	rest = rest[n+int(l):]
	if len(rest) < atRestNonceSize+16 {
		return nil, fmt.Errorf("%w: sealed payload too short", errBadPayload)
	}
	key, err := unwrap(ctx, wrapped)
	if err != nil {
		return nil, err
	}
	aead, err := newAtRestAEAD(key)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, rest[:atRestNonceSize], rest[atRestNonceSize:], atRestAAD(streamARN, number))
	if err != nil {
		return nil, fmt.Errorf("%w: does not authenticate for %s fragment %s", errBadPayload, streamARN, number)
	}
	return plain, nil
}

func newAtRestAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
