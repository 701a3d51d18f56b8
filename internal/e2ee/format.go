package e2ee

import (
	"crypto/mlkem"
	"encoding/binary"
	"fmt"
	"math"
)

// Format version 1. docs/E2EE.md is the normative description of every
// constant and layout in this file.
const (
	formatVersion byte = 1

	envelopeMagic = "CSE1"
	// envelopeHeaderSize: magic(4) version(1) epoch(4) kem(2) kdf(2) aead(2) count(1).
	envelopeHeaderSize = 16
	// MaxRecipients is the most consumers one envelope wraps a key for.
	MaxRecipients = 64

	contentKeySize = 32 // AES-256
	saltSize       = 4
	counterSize    = 8
	nonceSize      = saltSize + counterSize // 12, the GCM standard nonce
	tagSize        = 16
	seqSize        = 8

	// wrappedKeySize is the HPKE ciphertext of a content key: key + GCM tag.
	wrappedKeySize = contentKeySize + tagSize

	// frameHeaderSize: version(1) epoch(4) nonce(12).
	frameHeaderSize = 1 + 4 + nonceSize
	// SealedOverhead is how many bytes SealFrame adds to a frame.
	SealedOverhead = frameHeaderSize + seqSize + tagSize

	// MaxFrameSize bounds the frames SealFrame accepts (far above any video
	// frame; well below AES-GCM's 2^36-byte message limit).
	MaxFrameSize = 1 << 30

	// maxStreamName is the longest stream name the AAD's 2-byte length prefix
	// can carry.
	maxStreamName = math.MaxUint16

	frameAADLabel    = "camstorm-e2ee/frame"
	envelopeKeyLabel = "camstorm-e2ee/epoch-key"
)

// recipientSize is the size of one recipient entry of an envelope for kem:
// keyID(8) encLen(2) enc ctLen(2) ct.
func recipientSize(kem KEM) int { return 8 + 2 + kem.encSize() + 2 + wrappedKeySize }

// EnvelopeSize is the exact size of an envelope for n recipients of kem (0
// for an unsupported KEM or n outside 1..MaxRecipients).
func EnvelopeSize(kem KEM, n int) int {
	if !kem.supported() || n < 1 || n > MaxRecipients {
		return 0
	}
	return envelopeHeaderSize + n*recipientSize(kem)
}

// MaxEnvelopeSize is the largest envelope any supported KEM can produce
// (MaxRecipients ML-KEM-768+X25519 recipients; TestEnvelopeSize checks it).
const MaxEnvelopeSize = envelopeHeaderSize + MaxRecipients*(8+2+mlkem.CiphertextSize768+32+2+wrappedKeySize)

// SealedSize is the exact size of SealFrame's output for a frame of frameLen
// bytes.
func SealedSize(frameLen int) int { return frameLen + SealedOverhead }

// wrappedKey is one recipient entry of an envelope.
type wrappedKey struct {
	id  KeyID
	enc []byte // HPKE encapsulated key
	ct  []byte // HPKE ciphertext of the content key
}

// envelope is a parsed epoch envelope. Its slices alias the parsed bytes.
type envelope struct {
	epoch      uint32
	kem        KEM
	recipients []wrappedKey
}

// appendEnvelope encodes e (whose recipients must be valid for e.kem).
func appendEnvelope(dst []byte, e envelope) []byte {
	dst = append(dst, envelopeMagic...)
	dst = append(dst, formatVersion)
	dst = binary.BigEndian.AppendUint32(dst, e.epoch)
	dst = binary.BigEndian.AppendUint16(dst, uint16(e.kem))
	dst = binary.BigEndian.AppendUint16(dst, hpkeKDFHKDFSHA256)
	dst = binary.BigEndian.AppendUint16(dst, hpkeAEADAES256GCM)
	dst = append(dst, byte(len(e.recipients)))
	for _, r := range e.recipients {
		dst = append(dst, r.id[:]...)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(r.enc)))
		dst = append(dst, r.enc...)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(r.ct)))
		dst = append(dst, r.ct...)
	}
	return dst
}

// parseEnvelope decodes b strictly: every length is checked against what the
// KEM produces before it is used, nothing may follow the last recipient, and a
// key id may appear only once. The result aliases b. Errors wrap ErrMalformed.
func parseEnvelope(b []byte) (envelope, error) {
	var e envelope
	if len(b) < envelopeHeaderSize {
		return e, fmt.Errorf("%w: envelope is %d bytes, shorter than its %d-byte header", ErrMalformed, len(b), envelopeHeaderSize)
	}
	if string(b[:4]) != envelopeMagic {
		return e, fmt.Errorf("%w: envelope magic %q, want %q", ErrMalformed, b[:4], envelopeMagic)
	}
	if b[4] != formatVersion {
		return e, fmt.Errorf("%w: envelope version %d, want %d", ErrMalformed, b[4], formatVersion)
	}
	e.epoch = binary.BigEndian.Uint32(b[5:9])
	e.kem = KEM(binary.BigEndian.Uint16(b[9:11]))
	if !e.kem.supported() {
		return e, fmt.Errorf("%w: envelope KEM %v unsupported", ErrMalformed, e.kem)
	}
	if kdf := binary.BigEndian.Uint16(b[11:13]); kdf != hpkeKDFHKDFSHA256 {
		return e, fmt.Errorf("%w: envelope KDF 0x%04x, want 0x%04x (HKDF-SHA256)", ErrMalformed, kdf, hpkeKDFHKDFSHA256)
	}
	if aead := binary.BigEndian.Uint16(b[13:15]); aead != hpkeAEADAES256GCM {
		return e, fmt.Errorf("%w: envelope AEAD 0x%04x, want 0x%04x (AES-256-GCM)", ErrMalformed, aead, hpkeAEADAES256GCM)
	}
	n := int(b[15])
	if n < 1 || n > MaxRecipients {
		return e, fmt.Errorf("%w: envelope has %d recipients, want 1..%d", ErrMalformed, n, MaxRecipients)
	}
	if want := envelopeHeaderSize + n*recipientSize(e.kem); len(b) != want {
		return e, fmt.Errorf("%w: envelope with %d %v recipients is %d bytes, want %d", ErrMalformed, n, e.kem, len(b), want)
	}
	e.recipients = make([]wrappedKey, n)
	encSize := e.kem.encSize()
	p := b[envelopeHeaderSize:]
	for i := range e.recipients {
		r := &e.recipients[i]
		copy(r.id[:], p[:8])
		if l := int(binary.BigEndian.Uint16(p[8:10])); l != encSize {
			return envelope{}, fmt.Errorf("%w: envelope recipient %d: encapsulated key is %d bytes, want %d", ErrMalformed, i, l, encSize)
		}
		r.enc = p[10 : 10+encSize]
		p = p[10+encSize:]
		if l := int(binary.BigEndian.Uint16(p[:2])); l != wrappedKeySize {
			return envelope{}, fmt.Errorf("%w: envelope recipient %d: wrapped key is %d bytes, want %d", ErrMalformed, i, l, wrappedKeySize)
		}
		r.ct = p[2 : 2+wrappedKeySize]
		p = p[2+wrappedKeySize:]
		for j := range i {
			if e.recipients[j].id == r.id {
				return envelope{}, fmt.Errorf("%w: envelope names key %v twice", ErrMalformed, r.id)
			}
		}
	}
	return e, nil
}

// appendLabel appends a 1-byte length-prefixed domain-separation label and
// the format version.
func appendLabel(dst []byte, label string) []byte {
	dst = append(dst, byte(len(label)))
	dst = append(dst, label...)
	return append(dst, formatVersion)
}

// appendStream appends the stream name with its 2-byte big-endian length.
func appendStream(dst []byte, stream string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(stream)))
	return append(dst, stream...)
}

// envelopeInfo is the HPKE info that binds a wrapped content key to its
// stream and epoch.
func envelopeInfo(stream string, epoch uint32) []byte {
	b := make([]byte, 0, 1+len(envelopeKeyLabel)+1+2+len(stream)+4)
	b = appendLabel(b, envelopeKeyLabel)
	b = appendStream(b, stream)
	return binary.BigEndian.AppendUint32(b, epoch)
}

// frameAADTailSize: epoch(4) timecode(8) index(4) final(1).
const frameAADTailSize = 4 + 8 + 4 + 1

// frameAADPrefix is the part of every frame's AAD that depends only on the
// stream. A caller keeps it with frameAADTailSize spare capacity so
// appendFrameAADTail does not allocate.
func frameAADPrefix(stream string) []byte {
	b := make([]byte, 0, 1+len(frameAADLabel)+1+2+len(stream)+frameAADTailSize)
	b = appendLabel(b, frameAADLabel)
	return appendStream(b, stream)
}

// appendFrameAADTail appends the per-frame part of the AAD.
func appendFrameAADTail(dst []byte, epoch uint32, tc int64, index uint32, final bool) []byte {
	dst = binary.BigEndian.AppendUint32(dst, epoch)
	dst = binary.BigEndian.AppendUint64(dst, uint64(tc))
	dst = binary.BigEndian.AppendUint32(dst, index)
	f := byte(0)
	if final {
		f = 1
	}
	return append(dst, f)
}

// checkStreamName reports why a stream name cannot be used, or nil.
func checkStreamName(stream string) error {
	if stream == "" {
		return fmt.Errorf("stream name is empty")
	}
	if len(stream) > maxStreamName {
		return fmt.Errorf("stream name is %d bytes, at most %d fit the format", len(stream), maxStreamName)
	}
	return nil
}
