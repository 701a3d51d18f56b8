package e2ee

import (
	"bytes"
	"crypto/hpke"
	"encoding/binary"
	"fmt"
)

// openerCacheSize is how many unwrapped epoch keys an Opener keeps.
const openerCacheSize = 8

// epochKey is an unwrapped epoch content key, cached under the exact envelope
// bytes it came from.
type epochKey struct {
	envelope []byte
	epoch    uint32
	aead     frameAEAD
}

// Opener decrypts one stream for one consumer. It holds the consumer's
// private key and never exports it. Its methods must be called from one
// goroutine.
type Opener struct {
	stream    string
	streamErr error
	key       *PrivateKey

	cache []*epochKey // most recently used first, at most openerCacheSize

	// Current fragment. After an authentication failure or a final frame the
	// fragment refuses every further frame: only an authenticated prefix is
	// ever released.
	cur       *epochKey
	tc        int64
	finalSeen bool
	failed    error

	aad []byte
}

// NewOpener makes an Opener for the named stream with the consumer's key. A
// nil key or an unusable stream name is reported by every BeginFragment.
func NewOpener(stream string, key *PrivateKey) *Opener {
	o := &Opener{stream: stream, key: key}
	if err := checkStreamName(stream); err != nil {
		o.streamErr = fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	} else {
		o.aad = frameAADPrefix(stream)
	}
	if key == nil && o.streamErr == nil {
		o.streamErr = fmt.Errorf("%w: Opener has no private key", ErrInvalidConfig)
	}
	return o
}

// BeginFragment checks the fragment's envelope and unwraps the epoch content
// key for a fragment at cluster timecode tc (ms), reusing the key of a
// byte-identical envelope seen recently. On error no fragment is open.
func (o *Opener) BeginFragment(tc int64, envelope []byte) error {
	o.cur, o.finalSeen, o.failed = nil, false, nil
	if o.streamErr != nil {
		return o.streamErr
	}
	if len(envelope) > MaxEnvelopeSize {
		return fmt.Errorf("%w: envelope is %d bytes, at most %d", ErrMalformed, len(envelope), MaxEnvelopeSize)
	}
	for i, k := range o.cache {
		if bytes.Equal(k.envelope, envelope) {
			copy(o.cache[1:i+1], o.cache[:i])
			o.cache[0] = k
			o.cur, o.tc = k, tc
			return nil
		}
	}
	k, err := o.unwrap(envelope)
	if err != nil {
		return err
	}
	if len(o.cache) < openerCacheSize {
		o.cache = append(o.cache, nil)
	}
	copy(o.cache[1:], o.cache)
	o.cache[0] = k
	o.cur, o.tc = k, tc
	return nil
}

// unwrap parses an envelope and opens this consumer's wrapped key.
func (o *Opener) unwrap(b []byte) (*epochKey, error) {
	e, err := parseEnvelope(b)
	if err != nil {
		return nil, err
	}
	if e.kem != o.key.kem {
		return nil, fmt.Errorf("%w: envelope of epoch %d uses KEM %v, this consumer's key is %v", ErrNotRecipient, e.epoch, e.kem, o.key.kem)
	}
	id := o.key.public.id
	var mine *wrappedKey
	for i := range e.recipients {
		if e.recipients[i].id == id {
			mine = &e.recipients[i]
			break
		}
	}
	if mine == nil {
		return nil, fmt.Errorf("%w: envelope of epoch %d has no key for %v", ErrNotRecipient, e.epoch, id)
	}
	info := envelopeInfo(o.stream, e.epoch)
	r, err := hpke.NewRecipient(mine.enc, o.key.hpkek, hpke.HKDFSHA256(), hpke.AES256GCM(), info)
	if err != nil {
		return nil, fmt.Errorf("%w: envelope of epoch %d: decapsulating the key for %v: %w", ErrAuth, e.epoch, id, err)
	}
	key, err := r.Open(nil, mine.ct)
	if err != nil {
		return nil, fmt.Errorf("%w: envelope of epoch %d: the key wrapped for %v does not open for stream %q (moved from another stream or epoch, or modified)", ErrAuth, e.epoch, id, o.stream)
	}
	defer clear(key)
	aead, err := newFrameAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("%w: envelope of epoch %d: %w", ErrMalformed, e.epoch, err)
	}
	return &epochKey{envelope: bytes.Clone(b), epoch: e.epoch, aead: aead}, nil
}

// OpenFrame authenticates and decrypts one sealed frame of the current
// fragment. index is the frame's position among the fragment's video blocks
// and final tells whether it is the last one; a frame that was dropped,
// duplicated, reordered, truncated away or moved fails here. It appends the
// frame bytes (without the sequence number) to dst and returns the extended
// slice, allocating nothing when dst has len(sealed) spare capacity. After a
// failure, and after the final frame, the fragment refuses further frames.
func (o *Opener) OpenFrame(dst []byte, index uint32, final bool, sealed []byte) (seq uint64, frame []byte, err error) {
	if o.cur == nil {
		return 0, dst, fmt.Errorf("%w: call BeginFragment (successfully) before OpenFrame", ErrNoFragment)
	}
	if o.failed != nil {
		return 0, dst, fmt.Errorf("%w: frame %d: an earlier frame of this fragment failed (%v)", ErrAuth, index, o.failed)
	}
	if o.finalSeen {
		o.failed = fmt.Errorf("frame %d after the final frame", index)
		return 0, dst, fmt.Errorf("%w: %v", ErrAuth, o.failed)
	}
	if len(sealed) < SealedOverhead {
		o.failed = fmt.Errorf("frame %d is %d bytes, shorter than the %d-byte overhead", index, len(sealed), SealedOverhead)
		return 0, dst, fmt.Errorf("%w: %v", ErrMalformed, o.failed)
	}
	if sealed[0] != formatVersion {
		o.failed = fmt.Errorf("frame %d has version %d, want %d", index, sealed[0], formatVersion)
		return 0, dst, fmt.Errorf("%w: %v", ErrMalformed, o.failed)
	}
	if epoch := binary.BigEndian.Uint32(sealed[1:5]); epoch != o.cur.epoch {
		o.failed = fmt.Errorf("frame %d is sealed under epoch %d, the fragment's envelope is epoch %d", index, epoch, o.cur.epoch)
		return 0, dst, fmt.Errorf("%w: %v", ErrAuth, o.failed)
	}
	aad := appendFrameAADTail(o.aad, o.cur.epoch, o.tc, index, final)
	start := len(dst)
	out, err := o.cur.aead.open(dst, sealed[5:frameHeaderSize], sealed[frameHeaderSize:], aad)
	if err != nil {
		o.failed = fmt.Errorf("frame %d (final=%t) of the fragment at %d ms does not authenticate", index, final, o.tc)
		return 0, dst, fmt.Errorf("%w: %v", ErrAuth, o.failed)
	}
	seq = binary.BigEndian.Uint64(out[start:])
	n := copy(out[start:], out[start+seqSize:])
	if final {
		o.finalSeen = true
	}
	return seq, out[:start+n], nil
}
