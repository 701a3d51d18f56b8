package e2ee

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
)

// frameAEAD is the AES-256-GCM instance of one epoch (96-bit nonces, 128-bit
// tags), created once per epoch. Its methods reject any other key, nonce or
// tag size instead of silently accepting it, so the Wycheproof test can hold
// it to the format's parameters.
type frameAEAD struct {
	gcm cipher.AEAD
}

func newFrameAEAD(key []byte) (frameAEAD, error) {
	if len(key) != contentKeySize {
		return frameAEAD{}, fmt.Errorf("%w: AES-256-GCM key is %d bytes, want %d", ErrInvalidKey, len(key), contentKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return frameAEAD{}, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	gcm, err := cipher.NewGCM(block) // 12-byte nonce, 16-byte tag
	if err != nil {
		return frameAEAD{}, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	return frameAEAD{gcm: gcm}, nil
}

// seal appends ciphertext||tag of plaintext to dst. plaintext may be exactly
// dst[len(dst):len(dst)+len(plaintext)] (sealing in place).
func (a frameAEAD) seal(dst, nonce, plaintext, aad []byte) ([]byte, error) {
	if len(nonce) != nonceSize {
		return nil, fmt.Errorf("%w: GCM nonce is %d bytes, want %d", ErrMalformed, len(nonce), nonceSize)
	}
	return a.gcm.Seal(dst, nonce, plaintext, aad), nil
}

// open authenticates ciphertext||tag and appends the plaintext to dst.
func (a frameAEAD) open(dst, nonce, sealed, aad []byte) ([]byte, error) {
	if len(nonce) != nonceSize {
		return nil, fmt.Errorf("%w: GCM nonce is %d bytes, want %d", ErrMalformed, len(nonce), nonceSize)
	}
	if len(sealed) < tagSize {
		return nil, fmt.Errorf("%w: GCM input is %d bytes, shorter than the %d-byte tag", ErrMalformed, len(sealed), tagSize)
	}
	out, err := a.gcm.Open(dst, nonce, sealed, aad)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}
