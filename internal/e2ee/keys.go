package e2ee

import (
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
)

// KEM is an HPKE KEM identifier (RFC 9180 §7.1, draft-ietf-hpke-pq).
type KEM uint16

// The KEMs the format supports.
const (
	KEMX25519         KEM = 0x0020 // DHKEM(X25519, HKDF-SHA256), the default
	KEMMLKEM768X25519 KEM = 0x647a // ML-KEM-768 + X25519 hybrid (X-Wing)
)

// The HPKE KDF and AEAD every envelope of format version 1 uses.
const (
	hpkeKDFHKDFSHA256 uint16 = 0x0001
	hpkeAEADAES256GCM uint16 = 0x0002
)

func (k KEM) String() string {
	switch k {
	case KEMX25519:
		return "X25519"
	case KEMMLKEM768X25519:
		return "ML-KEM-768+X25519"
	}
	return fmt.Sprintf("KEM(0x%04x)", uint16(k))
}

// hpkeKEM returns the crypto/hpke KEM, or nil for an unsupported id.
func (k KEM) hpkeKEM() hpke.KEM {
	switch k {
	case KEMX25519:
		return hpke.DHKEM(ecdh.X25519())
	case KEMMLKEM768X25519:
		return hpke.MLKEM768X25519()
	}
	return nil
}

// supported reports whether the format knows k.
func (k KEM) supported() bool { return k.hpkeKEM() != nil }

// PublicKeySize is the size of a serialized public key of k (0 if unknown).
func (k KEM) PublicKeySize() int {
	switch k {
	case KEMX25519:
		return 32
	case KEMMLKEM768X25519:
		return mlkem.EncapsulationKeySize768 + 32
	}
	return 0
}

// encSize is the size of the HPKE encapsulated key of k (0 if unknown).
func (k KEM) encSize() int {
	switch k {
	case KEMX25519:
		return 32
	case KEMMLKEM768X25519:
		return mlkem.CiphertextSize768 + 32
	}
	return 0
}

// privateKeySize is the size of a serialized private key: the X25519 scalar,
// or the 32-byte X-Wing seed.
const privateKeySize = 32

// KeyID names a consumer key in an envelope: the first 8 bytes of
// SHA-256(KEM id as 2 bytes big-endian || serialized public key).
type KeyID [8]byte

func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

// PublicKey is a consumer's public key. The zero value is not a valid key.
type PublicKey struct {
	kem   KEM
	raw   []byte
	id    KeyID
	hpkek hpke.PublicKey
}

// KEM returns the key's KEM (0 for the zero PublicKey).
func (p PublicKey) KEM() KEM { return p.kem }

// Bytes returns a copy of the serialized key (RFC 9180 SerializePublicKey).
func (p PublicKey) Bytes() []byte { return append([]byte(nil), p.raw...) }

// ID returns the key's KeyID.
func (p PublicKey) ID() KeyID { return p.id }

// Equal reports whether p and q are the same key.
func (p PublicKey) Equal(q PublicKey) bool {
	return p.kem == q.kem && p.id == q.id && string(p.raw) == string(q.raw)
}

func (p PublicKey) valid() bool { return p.hpkek != nil }

func keyIDOf(kem KEM, raw []byte) KeyID {
	h := sha256.New()
	var k [2]byte
	binary.BigEndian.PutUint16(k[:], uint16(kem))
	h.Write(k[:])
	h.Write(raw)
	var id KeyID
	copy(id[:], h.Sum(nil))
	return id
}

// ParsePublicKey parses a serialized public key of the given KEM. X25519 keys
// (alone or as the X25519 half of a hybrid key) must be canonical (below
// 2^255-19, top bit clear) and not of low order: sealing to such a key would
// either fail or produce an envelope the key's owner cannot open, because
// HPKE hashes the key's bytes as the sender saw them.
func ParsePublicKey(kem KEM, b []byte) (PublicKey, error) {
	hk := kem.hpkeKEM()
	if hk == nil {
		return PublicKey{}, fmt.Errorf("%w: unsupported KEM %v", ErrInvalidKey, kem)
	}
	if len(b) != kem.PublicKeySize() {
		return PublicKey{}, fmt.Errorf("%w: %v public key is %d bytes, want %d", ErrInvalidKey, kem, len(b), kem.PublicKeySize())
	}
	if err := checkX25519Public(b[len(b)-32:]); err != nil {
		return PublicKey{}, fmt.Errorf("%w: %v public key: %w", ErrInvalidKey, kem, err)
	}
	pk, err := hk.NewPublicKey(b)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: %v public key: %w", ErrInvalidKey, kem, err)
	}
	raw := append([]byte(nil), b...)
	return PublicKey{kem: kem, raw: raw, id: keyIDOf(kem, raw), hpkek: pk}, nil
}

// lowOrderProbe is a fixed X25519 scalar. Its clamped form is a multiple of
// the cofactor 8, so the product with a point is the identity (and crypto/ecdh
// reports the all-zero shared secret as an error) exactly when the point lies
// in the small-order subgroup.
var lowOrderProbe = func() *ecdh.PrivateKey {
	s := make([]byte, 32)
	for i := range s {
		s[i] = byte(0x5a + i)
	}
	k, err := ecdh.X25519().NewPrivateKey(s)
	if err != nil {
		panic(err) // unreachable: any 32 bytes are an X25519 scalar
	}
	return k
}()

// fieldPrime is 2^255-19 little-endian, to check X25519 encodings are canonical.
var fieldPrime = [32]byte{
	0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
}

// checkX25519Public rejects non-canonical and low-order X25519 public keys.
func checkX25519Public(b []byte) error {
	if len(b) != 32 {
		return fmt.Errorf("X25519 key is %d bytes, want 32", len(b))
	}
	if b[31]&0x80 != 0 {
		return fmt.Errorf("X25519 key is not canonical (top bit set)")
	}
	if !lessLE(b, fieldPrime[:]) {
		return fmt.Errorf("X25519 key is not canonical (not below 2^255-19)")
	}
	pub, err := ecdh.X25519().NewPublicKey(b)
	if err != nil {
		return err
	}
	if _, err := lowOrderProbe.ECDH(pub); err != nil {
		return fmt.Errorf("X25519 key is a low-order point: %w", err)
	}
	return nil
}

// lessLE reports whether a < b, both little-endian numbers of equal length.
func lessLE(a, b []byte) bool {
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// PrivateKey is a consumer's key pair. It is safe to share between goroutines.
type PrivateKey struct {
	kem    KEM
	hpkek  hpke.PrivateKey
	public PublicKey
}

// GenerateKey makes a new key pair of the given KEM from 32 bytes of rand
// (nil means crypto/rand), so a seeded rand gives a reproducible key.
func GenerateKey(kem KEM, rnd io.Reader) (*PrivateKey, error) {
	if !kem.supported() {
		return nil, fmt.Errorf("%w: unsupported KEM %v", ErrInvalidKey, kem)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	seed := make([]byte, privateKeySize)
	if _, err := io.ReadFull(rnd, seed); err != nil {
		return nil, fmt.Errorf("e2ee: reading a private key seed: %w", err)
	}
	return ParsePrivateKey(kem, seed)
}

// ParsePrivateKey parses a serialized private key (32 bytes for both KEMs:
// the X25519 scalar, or the X-Wing seed), as returned by PrivateKey.Bytes.
func ParsePrivateKey(kem KEM, b []byte) (*PrivateKey, error) {
	var (
		hk  hpke.PrivateKey
		err error
	)
	switch kem {
	case KEMX25519:
		if len(b) != privateKeySize {
			return nil, fmt.Errorf("%w: %v private key is %d bytes, want %d", ErrInvalidKey, kem, len(b), privateKeySize)
		}
		var ek *ecdh.PrivateKey
		if ek, err = ecdh.X25519().NewPrivateKey(b); err == nil {
			hk, err = hpke.NewDHKEMPrivateKey(ek)
		}
	case KEMMLKEM768X25519:
		if len(b) != privateKeySize {
			return nil, fmt.Errorf("%w: %v private key is %d bytes, want %d", ErrInvalidKey, kem, len(b), privateKeySize)
		}
		hk, err = hpke.MLKEM768X25519().NewPrivateKey(b)
	default:
		return nil, fmt.Errorf("%w: unsupported KEM %v", ErrInvalidKey, kem)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v private key: %w", ErrInvalidKey, kem, err)
	}
	raw := hk.PublicKey().Bytes()
	pub := PublicKey{kem: kem, raw: raw, id: keyIDOf(kem, raw), hpkek: hk.PublicKey()}
	return &PrivateKey{kem: kem, hpkek: hk, public: pub}, nil
}

// Public returns the public half of k.
func (k *PrivateKey) Public() PublicKey { return k.public }

// KEM returns the key's KEM.
func (k *PrivateKey) KEM() KEM { return k.kem }

// Bytes serializes the private key (32 bytes) for storage by its owner. For
// X25519 it is the clamped scalar (RFC 9180 §7.1.2), which may differ from the
// bytes the key was parsed from but names the same key.
func (k *PrivateKey) Bytes() ([]byte, error) {
	b, err := k.hpkek.Bytes()
	if err != nil {
		return nil, fmt.Errorf("e2ee: serializing private key: %w", err)
	}
	return b, nil
}
