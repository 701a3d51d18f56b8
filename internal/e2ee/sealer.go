package e2ee

import (
	"crypto/hpke"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRotateAfter is the epoch age limit when SealerConfig.RotateAfter is 0.
const DefaultRotateAfter = 10 * time.Minute

// Nonce-counter limits of one epoch. SealFrame refuses to go past
// maxFramesPerEpoch, and BeginFragment rotates once half of it is used, so a
// fragment always has 2^31 frames of headroom and the counter never wraps.
const (
	maxFramesPerEpoch  uint64 = 1 << 32
	rotateFramesAtLeft uint64 = maxFramesPerEpoch / 2
)

// SealerConfig configures a Sealer.
type SealerConfig struct {
	// Stream is the stream name every AAD and HPKE info binds (1..65535 bytes).
	Stream string
	// Recipients are the consumers that can open the stream: 1..MaxRecipients
	// distinct keys, all of one KEM.
	Recipients []PublicKey
	// RotateAfter is the epoch age limit, measured on fragment timecodes
	// (0 means DefaultRotateAfter).
	RotateAfter time.Duration
	// RotateFragments is the most fragments one epoch covers (0 means no
	// limit).
	RotateFragments int
	// Rand supplies content keys and nonce salts; nil means crypto/rand. A
	// seeded reader makes keys and nonces reproducible — for tests only: two
	// Sealers with the same seed reuse keys and nonces. HPKE's ephemeral keys
	// always come from Go's cryptographic generator (see docs/E2EE.md).
	Rand io.Reader
}

// validateRecipients reports every problem with a recipient set.
func validateRecipients(r []PublicKey) []error {
	var errs []error
	if len(r) == 0 {
		errs = append(errs, fmt.Errorf("%w: no recipients (want 1..%d)", ErrInvalidConfig, MaxRecipients))
	}
	if len(r) > MaxRecipients {
		errs = append(errs, fmt.Errorf("%w: %d recipients, at most %d fit an envelope", ErrInvalidConfig, len(r), MaxRecipients))
	}
	seen := make(map[KeyID]int, len(r))
	var kem KEM
	for i, p := range r {
		if !p.valid() {
			errs = append(errs, fmt.Errorf("%w: recipient %d is the zero PublicKey (use ParsePublicKey or PrivateKey.Public)", ErrInvalidConfig, i))
			continue
		}
		if kem == 0 {
			kem = p.kem
		} else if p.kem != kem {
			errs = append(errs, fmt.Errorf("%w: recipient %d uses KEM %v, recipient 0 uses %v (one envelope has one KEM)", ErrInvalidConfig, i, p.kem, kem))
		}
		if j, dup := seen[p.id]; dup {
			errs = append(errs, fmt.Errorf("%w: recipient %d is the same key as recipient %d (%v)", ErrInvalidConfig, i, j, p.id))
		} else {
			seen[p.id] = i
		}
	}
	return errs
}

// Validate reports every problem with c at once, each wrapping ErrInvalidConfig.
func (c SealerConfig) Validate() error {
	var errs []error
	if err := checkStreamName(c.Stream); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
	}
	errs = append(errs, validateRecipients(c.Recipients)...)
	if c.RotateAfter < 0 {
		errs = append(errs, fmt.Errorf("%w: RotateAfter %v is negative (0 means %v)", ErrInvalidConfig, c.RotateAfter, DefaultRotateAfter))
	} else if c.RotateAfter > 0 && c.RotateAfter < time.Millisecond {
		errs = append(errs, fmt.Errorf("%w: RotateAfter %v is below the 1 ms timecode resolution", ErrInvalidConfig, c.RotateAfter))
	}
	if c.RotateFragments < 0 {
		errs = append(errs, fmt.Errorf("%w: RotateFragments %d is negative (0 means no limit)", ErrInvalidConfig, c.RotateFragments))
	}
	return errors.Join(errs...)
}

// Sealer encrypts one stream's frames for its recipients. BeginFragment and
// SealFrame must be called from one goroutine; SetRecipients and Epoch may be
// called from any goroutine.
type Sealer struct {
	stream          string
	rand            io.Reader
	rotateAfterMs   int64
	rotateFragments int

	mu                sync.Mutex // guards recipients and recipientsChanged
	recipients        []PublicKey
	recipientsChanged bool

	epochNum atomic.Uint32 // published copy of epoch, for Epoch

	// Epoch state, owned by the BeginFragment/SealFrame goroutine.
	epoch        uint32
	aead         frameAEAD
	salt         [saltSize]byte
	counter      uint64 // frames sealed under this epoch's key
	envelope     []byte
	epochStartTC int64
	fragments    int // fragments begun in this epoch

	// Fragment state.
	inFragment bool
	fragmentTC int64
	nextIndex  uint32

	aad   []byte // frame AAD prefix with room for the per-frame tail
	nonce [nonceSize]byte
}

// NewSealer checks cfg, reporting every problem at once. The first epoch
// starts at the first BeginFragment.
func NewSealer(cfg SealerConfig) (*Sealer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sealer{
		stream:          cfg.Stream,
		rand:            cfg.Rand,
		rotateAfterMs:   cfg.RotateAfter.Milliseconds(),
		rotateFragments: cfg.RotateFragments,
		recipients:      slices.Clone(cfg.Recipients),
		aad:             frameAADPrefix(cfg.Stream),
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if cfg.RotateAfter == 0 {
		s.rotateAfterMs = DefaultRotateAfter.Milliseconds()
	}
	return s, nil
}

// SetRecipients replaces the recipient set; the next BeginFragment starts a
// new epoch whose key only the new set can unwrap (even if the set is
// unchanged). Frames of the current fragment stay under the current epoch.
func (s *Sealer) SetRecipients(r []PublicKey) error {
	if errs := validateRecipients(r); len(errs) > 0 {
		return errors.Join(errs...)
	}
	s.mu.Lock()
	s.recipients = slices.Clone(r)
	s.recipientsChanged = true
	s.mu.Unlock()
	return nil
}

// Epoch returns the current epoch number (0 before the first fragment).
func (s *Sealer) Epoch() uint32 { return s.epochNum.Load() }

// BeginFragment starts a fragment at cluster timecode tc (ms). It starts a new
// epoch when due — first fragment, age on timecodes (or a timecode before the
// epoch's start), fragment count, recipients changed, nonce counter half used
// — and returns the envelope to write as the fragment's key-track block: the
// same bytes for every fragment of an epoch, owned by the Sealer (do not
// modify). On error no fragment is open and a due rotation stays due.
func (s *Sealer) BeginFragment(tc int64) ([]byte, error) {
	s.inFragment = false
	s.mu.Lock()
	changed := s.recipientsChanged
	recipients := s.recipients
	s.mu.Unlock()

	if s.envelope == nil || changed || s.rotationDue(tc) {
		if err := s.rotate(tc, recipients); err != nil {
			return nil, err
		}
		if changed {
			s.mu.Lock()
			// Only clear the flag if no newer set arrived while wrapping.
			if sameSlice(s.recipients, recipients) {
				s.recipientsChanged = false
			}
			s.mu.Unlock()
		}
	}
	s.fragments++
	s.inFragment = true
	s.fragmentTC = tc
	s.nextIndex = 0
	return s.envelope, nil
}

func sameSlice(a, b []PublicKey) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

func (s *Sealer) rotationDue(tc int64) bool {
	switch {
	case tc < s.epochStartTC: // timecodes went back: the age is unknown
		return true
	case uint64(tc)-uint64(s.epochStartTC) >= uint64(s.rotateAfterMs): // tc >= start: no overflow
		return true
	case s.rotateFragments > 0 && s.fragments >= s.rotateFragments:
		return true
	case s.counter >= rotateFramesAtLeft:
		return true
	}
	return false
}

// rotate makes a new epoch: fresh content key and salt from s.rand, the key
// wrapped once for every recipient.
func (s *Sealer) rotate(tc int64, recipients []PublicKey) error {
	if s.epoch == math.MaxUint32 {
		return fmt.Errorf("%w: epoch numbers of this Sealer are used up; make a new Sealer", ErrEpochExhausted)
	}
	epoch := s.epoch + 1
	var key [contentKeySize]byte
	defer clear(key[:])
	var salt [saltSize]byte
	if _, err := io.ReadFull(s.rand, key[:]); err != nil {
		return fmt.Errorf("e2ee: reading a content key: %w", err)
	}
	if _, err := io.ReadFull(s.rand, salt[:]); err != nil {
		return fmt.Errorf("e2ee: reading a nonce salt: %w", err)
	}
	aead, err := newFrameAEAD(key[:])
	if err != nil {
		return err
	}
	env, err := wrapContentKey(s.stream, epoch, key[:], recipients)
	if err != nil {
		return err
	}
	s.epoch = epoch
	s.epochNum.Store(epoch)
	s.aead = aead
	s.salt = salt
	s.counter = 0
	s.envelope = env
	s.epochStartTC = tc
	s.fragments = 0
	return nil
}

// wrapContentKey seals key with HPKE for every recipient and encodes the
// envelope.
func wrapContentKey(stream string, epoch uint32, key []byte, recipients []PublicKey) ([]byte, error) {
	kem := recipients[0].kem
	info := envelopeInfo(stream, epoch)
	e := envelope{epoch: epoch, kem: kem, recipients: make([]wrappedKey, len(recipients))}
	for i, r := range recipients {
		enc, sender, err := hpke.NewSender(r.hpkek, hpke.HKDFSHA256(), hpke.AES256GCM(), info)
		if err != nil {
			return nil, fmt.Errorf("e2ee: wrapping the epoch key for %v: %w", r.id, err)
		}
		ct, err := sender.Seal(nil, key)
		if err != nil {
			return nil, fmt.Errorf("e2ee: wrapping the epoch key for %v: %w", r.id, err)
		}
		if len(enc) != kem.encSize() || len(ct) != wrappedKeySize {
			return nil, fmt.Errorf("e2ee: HPKE produced enc %d / ct %d bytes, format wants %d / %d", len(enc), len(ct), kem.encSize(), wrappedKeySize)
		}
		e.recipients[i] = wrappedKey{id: r.id, enc: enc, ct: ct}
	}
	return appendEnvelope(make([]byte, 0, EnvelopeSize(kem, len(recipients))), e), nil
}

// SealFrame appends the sealed frame to dst and returns the extended slice.
// index is the frame's position in the fragment (0, 1, … in order), final
// marks the fragment's last frame, seq is the camera's frame sequence number.
// It allocates nothing when dst has SealedSize(len(frame)) spare capacity.
// frame must not overlap dst's spare capacity.
func (s *Sealer) SealFrame(dst []byte, index uint32, final bool, seq uint64, frame []byte) ([]byte, error) {
	if !s.inFragment {
		return dst, fmt.Errorf("%w: call BeginFragment before SealFrame (and again after a final frame)", ErrNoFragment)
	}
	if index != s.nextIndex {
		return dst, fmt.Errorf("%w: frame index %d, want %d", ErrFrameOrder, index, s.nextIndex)
	}
	if len(frame) > MaxFrameSize {
		return dst, fmt.Errorf("%w: %d bytes, at most %d", ErrFrameTooLarge, len(frame), MaxFrameSize)
	}
	if s.counter >= maxFramesPerEpoch {
		return dst, fmt.Errorf("%w: %d frames sealed under epoch %d", ErrEpochExhausted, s.counter, s.epoch)
	}

	start := len(dst)
	out := slices.Grow(dst, SealedSize(len(frame)))
	out = append(out, formatVersion)
	out = binary.BigEndian.AppendUint32(out, s.epoch)
	copy(s.nonce[:saltSize], s.salt[:])
	binary.BigEndian.PutUint64(s.nonce[saltSize:], s.counter)
	out = append(out, s.nonce[:]...)
	// The plaintext (seq || frame) is written where the ciphertext goes and
	// sealed in place.
	body := start + frameHeaderSize
	plain := out[body : body+seqSize+len(frame)]
	binary.BigEndian.PutUint64(plain, seq)
	copy(plain[seqSize:], frame)
	aad := appendFrameAADTail(s.aad, s.epoch, s.fragmentTC, index, final)
	out, err := s.aead.seal(out, s.nonce[:], plain, aad)
	if err != nil {
		return dst, err
	}
	s.counter++
	s.nextIndex++
	if final {
		s.inFragment = false
	}
	return out, nil
}
