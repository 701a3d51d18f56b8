package e2ee

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"testing/cryptotest"
	"time"
)

// setGlobalCryptoRandom fixes the randomness crypto/hpke draws its ephemeral
// keys from (it takes no io.Reader) for the rest of the test.
func setGlobalCryptoRandom(t *testing.T, seed uint64) { cryptotest.SetGlobalRandom(t, seed) }

const testTC = 1_700_000_000_000 // a cluster timecode in ms

// seeded returns a reproducible random source.
func seeded(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return mrand.NewChaCha8(s)
}

func testKey(t testing.TB, kem KEM, seed byte) *PrivateKey {
	t.Helper()
	k, err := GenerateKey(kem, seeded(seed))
	if err != nil {
		t.Fatalf("GenerateKey(%v) = %v", kem, err)
	}
	return k
}

func testSealer(t testing.TB, stream string, seed byte, recipients ...*PrivateKey) *Sealer {
	t.Helper()
	cfg := SealerConfig{Stream: stream, Rand: seeded(seed)}
	for _, r := range recipients {
		cfg.Recipients = append(cfg.Recipients, r.Public())
	}
	s, err := NewSealer(cfg)
	if err != nil {
		t.Fatalf("NewSealer = %v", err)
	}
	return s
}

// fragment is what a camera writes for one cluster: timecode, the key-track
// envelope and the sealed video blocks in order.
type fragment struct {
	tc       int64
	envelope []byte
	frames   [][]byte
}

func (f fragment) clone() fragment {
	c := fragment{tc: f.tc, envelope: bytes.Clone(f.envelope)}
	for _, fr := range f.frames {
		c.frames = append(c.frames, bytes.Clone(fr))
	}
	return c
}

// testFrames makes n distinct frames of varying size (the first is empty).
func testFrames(n int, salt byte) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat([]byte{salt, byte(i)}, i*37)
	}
	return out
}

func sealFragment(t testing.TB, s *Sealer, tc int64, firstSeq uint64, frames [][]byte) fragment {
	t.Helper()
	env, err := s.BeginFragment(tc)
	if err != nil {
		t.Fatalf("BeginFragment(%d) = %v", tc, err)
	}
	f := fragment{tc: tc, envelope: env}
	for i, fr := range frames {
		final := i == len(frames)-1
		sealed, err := s.SealFrame(nil, uint32(i), final, firstSeq+uint64(i), fr)
		if err != nil {
			t.Fatalf("SealFrame(index=%d, final=%t) = %v", i, final, err)
		}
		f.frames = append(f.frames, sealed)
	}
	return f
}

// openResult is what a consumer got out of one fragment.
type openResult struct {
	seqs   []uint64
	frames [][]byte
	err    error // first error, from BeginFragment or OpenFrame
	failAt int   // index of the failing frame, -1 for BeginFragment or none
}

// openFragment opens every block of f as a consumer does: index = position,
// final = last position.
func openFragment(o *Opener, f fragment) openResult {
	r := openResult{failAt: -1}
	if err := o.BeginFragment(f.tc, f.envelope); err != nil {
		r.err = fmt.Errorf("BeginFragment(%d): %w", f.tc, err)
		return r
	}
	for i, sealed := range f.frames {
		final := i == len(f.frames)-1
		seq, frame, err := o.OpenFrame(nil, uint32(i), final, sealed)
		if err != nil {
			r.err = fmt.Errorf("OpenFrame(index=%d, final=%t): %w", i, final, err)
			r.failAt = i
			return r
		}
		r.seqs = append(r.seqs, seq)
		r.frames = append(r.frames, frame)
	}
	return r
}

func TestRoundTrip(t *testing.T) {
	for _, kem := range []KEM{KEMX25519, KEMMLKEM768X25519} {
		t.Run(kem.String(), func(t *testing.T) {
			alice, bob := testKey(t, kem, 1), testKey(t, kem, 2)
			s := testSealer(t, "cam-0001", 3, alice, bob)
			var frags []fragment
			var want [][]byte
			seq := uint64(100)
			for i, n := range []int{1, 5, 3} {
				frames := testFrames(n, byte(i))
				frags = append(frags, sealFragment(t, s, testTC+int64(i)*2000, seq, frames))
				want = append(want, frames...)
				seq += uint64(n)
			}
			for name, key := range map[string]*PrivateKey{"alice": alice, "bob": bob} {
				o := NewOpener("cam-0001", key)
				var got [][]byte
				var seqs []uint64
				for _, f := range frags {
					r := openFragment(o, f)
					if r.err != nil {
						t.Fatalf("%s: %v, want no error", name, r.err)
					}
					got = append(got, r.frames...)
					seqs = append(seqs, r.seqs...)
				}
				if len(got) != len(want) {
					t.Fatalf("%s opened %d frames, want %d", name, len(got), len(want))
				}
				for i := range want {
					if !bytes.Equal(got[i], want[i]) || seqs[i] != 100+uint64(i) {
						t.Errorf("%s frame %d = seq %d, %d bytes; want seq %d, %d bytes %x", name, i, seqs[i], len(got[i]), 100+i, len(want[i]), want[i])
					}
				}
			}
		})
	}
}

// TestEveryFragmentOpensAlone opens the fragments of one epoch out of order
// with fresh Openers, as GetMediaForFragmentList of a single fragment does.
func TestEveryFragmentOpensAlone(t *testing.T) {
	k := testKey(t, KEMX25519, 1)
	s := testSealer(t, "cam", 2, k)
	var frags []fragment
	for i := range 4 {
		frags = append(frags, sealFragment(t, s, testTC+int64(i)*1000, uint64(i)*3, testFrames(3, byte(i))))
	}
	for _, i := range []int{3, 0, 2, 1} {
		if r := openFragment(NewOpener("cam", k), frags[i]); r.err != nil || len(r.frames) != 3 || r.seqs[0] != uint64(i)*3 {
			t.Errorf("fragment %d alone: %d frames, seqs %v, err %v; want 3 frames from seq %d", i, len(r.frames), r.seqs, r.err, i*3)
		}
	}
}

// TestTamperDetected covers the chunked-AEAD failure classes of
// reference/reliability.md §1.3 on fragments.
func TestTamperDetected(t *testing.T) {
	const stream = "cam-0001"
	key := testKey(t, KEMX25519, 1)
	other := testKey(t, KEMX25519, 9)

	s := testSealer(t, stream, 7, key)
	a := sealFragment(t, s, testTC, 0, testFrames(4, 'a'))      // epoch 1
	b := sealFragment(t, s, testTC+2000, 4, testFrames(4, 'b')) // epoch 1, next fragment
	if err := s.SetRecipients([]PublicKey{key.Public()}); err != nil {
		t.Fatal(err)
	}
	c := sealFragment(t, s, testTC+4000, 8, testFrames(4, 'c')) // epoch 2
	// Same seed, same recipients, other stream: same content key and nonces,
	// so only the stream binding can tell the frames apart.
	x := sealFragment(t, testSealer(t, "cam-0002", 7, key), testTC, 0, testFrames(4, 'a'))
	if !bytes.Equal(a.frames[0][:frameHeaderSize], x.frames[0][:frameHeaderSize]) {
		t.Fatal("setup: the other stream's sealer should reuse key and nonces")
	}

	cases := []struct {
		name   string
		key    *PrivateKey
		frag   fragment
		tamper func(f *fragment)
		want   error
		failAt int // -1: BeginFragment fails
	}{
		{"ciphertext byte", key, a, func(f *fragment) { f.frames[1][frameHeaderSize+3] ^= 1 }, ErrAuth, 1},
		{"sequence number byte", key, a, func(f *fragment) { f.frames[1][frameHeaderSize] ^= 0x80 }, ErrAuth, 1},
		{"tag byte", key, a, func(f *fragment) { fr := f.frames[2]; fr[len(fr)-1] ^= 1 }, ErrAuth, 2},
		{"header version byte", key, a, func(f *fragment) { f.frames[0][0] = 2 }, ErrMalformed, 0},
		{"header epoch byte", key, a, func(f *fragment) { f.frames[1][4] ^= 1 }, ErrAuth, 1},
		{"header nonce salt byte", key, a, func(f *fragment) { f.frames[2][5] ^= 1 }, ErrAuth, 2},
		{"header nonce counter byte", key, a, func(f *fragment) { f.frames[3][16] ^= 1 }, ErrAuth, 3},
		{"frames swapped (reorder)", key, a, func(f *fragment) { f.frames[1], f.frames[2] = f.frames[2], f.frames[1] }, ErrAuth, 1},
		{"frame duplicated", key, a, func(f *fragment) { f.frames = slices.Insert(f.frames, 2, f.frames[1]) }, ErrAuth, 2},
		{"frame dropped in the middle", key, a, func(f *fragment) { f.frames = slices.Delete(f.frames, 1, 2) }, ErrAuth, 1},
		{"fragment truncated (final frame missing)", key, a, func(f *fragment) { f.frames = f.frames[:3] }, ErrAuth, 2},
		{"data after the final frame", key, a, func(f *fragment) { f.frames = append(f.frames, f.frames[3]) }, ErrAuth, 3},
		{"frame cut short", key, a, func(f *fragment) { f.frames[2] = f.frames[2][:len(f.frames[2])-1] }, ErrAuth, 2},
		{"frame shorter than the overhead", key, a, func(f *fragment) { f.frames[1] = f.frames[1][:SealedOverhead-1] }, ErrMalformed, 1},
		{"fragment moved to another timecode", key, a, func(f *fragment) { f.tc += 1 }, ErrAuth, 0},
		{"frame from another fragment of the epoch", key, a, func(f *fragment) { f.frames[1] = bytes.Clone(b.frames[1]) }, ErrAuth, 1},
		{"frame from another stream", key, a, func(f *fragment) { f.frames[1] = bytes.Clone(x.frames[1]) }, ErrAuth, 1},
		{"envelope from another stream", key, a, func(f *fragment) { f.envelope = bytes.Clone(x.envelope) }, ErrAuth, -1},
		{"envelope epoch rewritten", key, a, func(f *fragment) { f.envelope[8] ^= 3 }, ErrAuth, -1},
		{"envelope of another epoch", key, a, func(f *fragment) { f.envelope = bytes.Clone(c.envelope) }, ErrAuth, 0},
		{"envelope encapsulated key byte", key, a, func(f *fragment) { f.envelope[envelopeHeaderSize+10] ^= 1 }, ErrAuth, -1},
		{"envelope wrapped key byte", key, a, func(f *fragment) { f.envelope[len(f.envelope)-1] ^= 1 }, ErrAuth, -1},
		{"envelope key id byte", key, a, func(f *fragment) { f.envelope[envelopeHeaderSize] ^= 1 }, ErrNotRecipient, -1},
		{"envelope truncated", key, a, func(f *fragment) { f.envelope = f.envelope[:len(f.envelope)-1] }, ErrMalformed, -1},
		{"envelope with trailing byte", key, a, func(f *fragment) { f.envelope = append(f.envelope, 0) }, ErrMalformed, -1},
		{"envelope names a key twice", key, a, func(f *fragment) {
			f.envelope[envelopeHeaderSize-1] = 2
			f.envelope = append(f.envelope, f.envelope[envelopeHeaderSize:]...)
		}, ErrMalformed, -1},
		{"envelope KDF id", key, a, func(f *fragment) { f.envelope[12] = 2 }, ErrMalformed, -1},
		{"envelope missing", key, a, func(f *fragment) { f.envelope = nil }, ErrMalformed, -1},
		{"wrong consumer key", other, a, func(*fragment) {}, ErrNotRecipient, -1},
		{"consumer key of another KEM", testKey(t, KEMMLKEM768X25519, 1), a, func(*fragment) {}, ErrNotRecipient, -1},
		{"untouched (control)", key, a, func(*fragment) {}, nil, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.frag.clone()
			tc.tamper(&f)
			r := openFragment(NewOpener(stream, tc.key), f)
			if !errors.Is(r.err, tc.want) || (tc.want != nil && r.failAt != tc.failAt) {
				t.Fatalf("open fragment with %s: failed at frame %d with %v; want %v at frame %d (-1 = BeginFragment)", tc.name, r.failAt, r.err, tc.want, tc.failAt)
			}
			if tc.want != nil && len(r.frames) != max(tc.failAt, 0) {
				t.Errorf("open fragment with %s released %d frames, want only the %d before the failure", tc.name, len(r.frames), max(tc.failAt, 0))
			}
		})
	}
}

// TestOpenerFailsPersistently: once a frame fails, the rest of the fragment
// fails too, even frames that would authenticate (release only the
// authenticated prefix).
func TestOpenerFailsPersistently(t *testing.T) {
	key := testKey(t, KEMX25519, 1)
	f := sealFragment(t, testSealer(t, "cam", 2, key), testTC, 0, testFrames(3, 'p'))
	o := NewOpener("cam", key)
	if err := o.BeginFragment(f.tc, f.envelope); err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.OpenFrame(nil, 1, false, f.frames[0]); !errors.Is(err, ErrAuth) {
		t.Fatalf("OpenFrame(index=1, frame 0) = %v, want ErrAuth", err)
	}
	for i := range f.frames {
		if _, _, err := o.OpenFrame(nil, uint32(i), i == 2, f.frames[i]); !errors.Is(err, ErrAuth) {
			t.Errorf("OpenFrame(index=%d) after a failure = %v, want ErrAuth", i, err)
		}
	}
	// A new BeginFragment starts clean.
	if r := openFragment(o, f); r.err != nil {
		t.Errorf("reopening the fragment: %v, want no error", r.err)
	}
	// Even the final frame itself, offered again at its own index.
	if _, _, err := o.OpenFrame(nil, 2, true, f.frames[2]); !errors.Is(err, ErrAuth) {
		t.Errorf("OpenFrame(final frame again) after the final frame = %v, want ErrAuth", err)
	}
}

func TestOpenFrameWithoutFragment(t *testing.T) {
	key := testKey(t, KEMX25519, 1)
	f := sealFragment(t, testSealer(t, "cam", 2, key), testTC, 0, testFrames(1, 'n'))
	o := NewOpener("cam", key)
	if _, _, err := o.OpenFrame(nil, 0, true, f.frames[0]); !errors.Is(err, ErrNoFragment) {
		t.Errorf("OpenFrame before BeginFragment = %v, want ErrNoFragment", err)
	}
	if err := o.BeginFragment(f.tc, f.envelope[:10]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("BeginFragment(short envelope) = %v, want ErrMalformed", err)
	}
	if _, _, err := o.OpenFrame(nil, 0, true, f.frames[0]); !errors.Is(err, ErrNoFragment) {
		t.Errorf("OpenFrame after a failed BeginFragment = %v, want ErrNoFragment", err)
	}
	for _, o := range []*Opener{NewOpener("", key), NewOpener("cam", nil)} {
		if err := o.BeginFragment(f.tc, f.envelope); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("BeginFragment on NewOpener(%q, key nil=%t) = %v, want ErrInvalidConfig", o.stream, o.key == nil, err)
		}
	}
}

func TestSealFrameOrder(t *testing.T) {
	key := testKey(t, KEMX25519, 1)
	s := testSealer(t, "cam", 2, key)
	if _, err := s.SealFrame(nil, 0, false, 0, []byte("x")); !errors.Is(err, ErrNoFragment) {
		t.Errorf("SealFrame before BeginFragment = %v, want ErrNoFragment", err)
	}
	if _, err := s.BeginFragment(testTC); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SealFrame(nil, 1, false, 0, []byte("x")); !errors.Is(err, ErrFrameOrder) {
		t.Errorf("SealFrame(index=1) as the first frame = %v, want ErrFrameOrder", err)
	}
	if _, err := s.SealFrame(nil, 0, true, 0, []byte("x")); err != nil {
		t.Fatalf("SealFrame(index=0, final) = %v", err)
	}
	if _, err := s.SealFrame(nil, 1, false, 1, []byte("x")); !errors.Is(err, ErrNoFragment) {
		t.Errorf("SealFrame after the final frame = %v, want ErrNoFragment", err)
	}
}

func TestRemovedConsumer(t *testing.T) {
	for _, kem := range []KEM{KEMX25519, KEMMLKEM768X25519} {
		t.Run(kem.String(), func(t *testing.T) {
			stay, leave := testKey(t, kem, 1), testKey(t, kem, 2)
			s := testSealer(t, "cam", 3, stay, leave)
			before := sealFragment(t, s, testTC, 0, testFrames(2, 'b'))
			if err := s.SetRecipients([]PublicKey{stay.Public()}); err != nil {
				t.Fatal(err)
			}
			after := sealFragment(t, s, testTC+1000, 2, testFrames(2, 'a'))
			if s.Epoch() != 2 {
				t.Errorf("Epoch() after SetRecipients and BeginFragment = %d, want 2", s.Epoch())
			}
			if r := openFragment(NewOpener("cam", leave), after); !errors.Is(r.err, ErrNotRecipient) {
				t.Errorf("removed consumer opening the next epoch: %v, want ErrNotRecipient", r.err)
			}
			if r := openFragment(NewOpener("cam", leave), before); r.err != nil {
				t.Errorf("removed consumer opening an earlier epoch: %v, want no error (removal is not retroactive)", r.err)
			}
			if r := openFragment(NewOpener("cam", stay), after); r.err != nil {
				t.Errorf("remaining consumer opening the next epoch: %v, want no error", r.err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	key := testKey(t, KEMX25519, 1)
	cases := []struct {
		name string
		cfg  SealerConfig
		tcs  []int64 // fragment timecodes, ms after testTC
		want []uint32
	}{
		{"default age 10 min", SealerConfig{}, []int64{0, 599_999, 600_000, 700_000, 1_199_999, 1_200_000}, []uint32{1, 1, 2, 2, 2, 3}},
		{"age 10 s", SealerConfig{RotateAfter: 10 * time.Second}, []int64{0, 2000, 9999, 10_000, 12_000, 20_000}, []uint32{1, 1, 1, 2, 2, 3}},
		{"count 3", SealerConfig{RotateFragments: 3}, []int64{0, 1, 2, 3, 4, 5, 6}, []uint32{1, 1, 1, 2, 2, 2, 3}},
		{"age and count, first wins", SealerConfig{RotateAfter: 5 * time.Second, RotateFragments: 2}, []int64{0, 1000, 2000, 7000, 8000, 9000}, []uint32{1, 1, 2, 3, 3, 4}},
		{"timecode goes back", SealerConfig{}, []int64{5000, 6000, 1000, 2000}, []uint32{1, 1, 2, 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Stream, cfg.Recipients, cfg.Rand = "cam", []PublicKey{key.Public()}, seeded(1)
			s, err := NewSealer(cfg)
			if err != nil {
				t.Fatal(err)
			}
			envs := map[uint32][]byte{}
			for i, at := range tc.tcs {
				f := sealFragment(t, s, testTC+at, uint64(i), testFrames(2, byte(i)))
				if got := s.Epoch(); got != tc.want[i] {
					t.Errorf("Epoch() after BeginFragment(+%d ms) = %d, want %d", at, got, tc.want[i])
				}
				if prev, ok := envs[tc.want[i]]; ok && !bytes.Equal(prev, f.envelope) {
					t.Errorf("BeginFragment(+%d ms) returned a new envelope within epoch %d", at, tc.want[i])
				}
				envs[tc.want[i]] = f.envelope
				if r := openFragment(NewOpener("cam", key), f); r.err != nil {
					t.Errorf("fragment at +%d ms: %v", at, r.err)
				}
			}
		})
	}
}

// TestRotationExtremeTimecodes: an epoch age that overflows int64 still
// rotates.
func TestRotationExtremeTimecodes(t *testing.T) {
	s := testSealer(t, "cam", 1, testKey(t, KEMX25519, 1))
	for i, tc := range []int64{math.MinInt64 + 1, math.MaxInt64} {
		if _, err := s.BeginFragment(tc); err != nil || s.Epoch() != uint32(i+1) {
			t.Errorf("BeginFragment(%d) = %v, epoch %d; want epoch %d", tc, err, s.Epoch(), i+1)
		}
	}
}

// TestNonceCounterLimit: the counter never wraps; the epoch is exhausted at
// the limit and the next fragment rotates.
func TestNonceCounterLimit(t *testing.T) {
	key := testKey(t, KEMX25519, 1)
	s := testSealer(t, "cam", 2, key)
	if _, err := s.BeginFragment(testTC); err != nil {
		t.Fatal(err)
	}
	s.counter = maxFramesPerEpoch - 1
	if _, err := s.SealFrame(nil, 0, false, 0, []byte("last")); err != nil {
		t.Fatalf("SealFrame with one nonce left = %v", err)
	}
	if _, err := s.SealFrame(nil, 1, false, 1, []byte("over")); !errors.Is(err, ErrEpochExhausted) {
		t.Fatalf("SealFrame past the counter limit = %v, want ErrEpochExhausted", err)
	}
	if _, err := s.BeginFragment(testTC + 1); err != nil || s.Epoch() != 2 || s.counter != 0 {
		t.Fatalf("BeginFragment after exhaustion: err %v, epoch %d, counter %d; want epoch 2, counter 0", err, s.Epoch(), s.counter)
	}
	s.counter = rotateFramesAtLeft - 1
	if _, err := s.BeginFragment(testTC + 2); err != nil || s.Epoch() != 2 {
		t.Fatalf("BeginFragment below half the counter: err %v, epoch %d; want epoch 2", err, s.Epoch())
	}
	s.counter = rotateFramesAtLeft
	if _, err := s.BeginFragment(testTC + 3); err != nil || s.Epoch() != 3 {
		t.Fatalf("BeginFragment at half the counter: err %v, epoch %d; want epoch 3", err, s.Epoch())
	}
}

func TestEpochNumbersExhausted(t *testing.T) {
	key := testKey(t, KEMX25519, 1)
	s := testSealer(t, "cam", 2, key)
	if _, err := s.BeginFragment(testTC); err != nil {
		t.Fatal(err)
	}
	s.epoch = 1<<32 - 1
	if err := s.SetRecipients([]PublicKey{key.Public()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginFragment(testTC + 1); !errors.Is(err, ErrEpochExhausted) {
		t.Fatalf("BeginFragment with the last epoch number used = %v, want ErrEpochExhausted", err)
	}
	if _, err := s.SealFrame(nil, 0, true, 0, nil); !errors.Is(err, ErrNoFragment) {
		t.Errorf("SealFrame after a failed rotation = %v, want ErrNoFragment (never seal under the old recipients)", err)
	}
}

// failingReader fails every read.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy source broken") }

func TestRandomSourceFailure(t *testing.T) {
	key := testKey(t, KEMX25519, 1)
	s, err := NewSealer(SealerConfig{Stream: "cam", Recipients: []PublicKey{key.Public()}, Rand: failingReader{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginFragment(testTC); err == nil || !bytes.Contains([]byte(err.Error()), []byte("entropy source broken")) {
		t.Fatalf("BeginFragment with a failing Rand = %v, want the source's error", err)
	}
	if _, err := s.SealFrame(nil, 0, true, 0, nil); !errors.Is(err, ErrNoFragment) {
		t.Errorf("SealFrame after a failed BeginFragment = %v, want ErrNoFragment", err)
	}
	if _, err := GenerateKey(KEMX25519, failingReader{}); err == nil {
		t.Errorf("GenerateKey with a failing rand = nil error, want one")
	}
}

func TestSealedSize(t *testing.T) {
	key := testKey(t, KEMX25519, 1)
	s := testSealer(t, "cam", 2, key)
	if _, err := s.BeginFragment(testTC); err != nil {
		t.Fatal(err)
	}
	sizes := []int{0, 1, 15, 16, 17, 1024, 8192, 100_000}
	for i, n := range sizes {
		prefix := []byte("prefix")
		out, err := s.SealFrame(prefix, uint32(i), false, 0, make([]byte, n))
		if err != nil {
			t.Fatal(err)
		}
		if got := len(out) - len(prefix); got != SealedSize(n) || SealedSize(n) != n+41 {
			t.Errorf("SealFrame(%d-byte frame) wrote %d bytes; SealedSize(%d) = %d, want %d", n, got, n, SealedSize(n), n+41)
		}
		if !bytes.Equal(out[:len(prefix)], []byte("prefix")) {
			t.Errorf("SealFrame changed dst's existing bytes")
		}
	}
}

func TestFrameTooLarge(t *testing.T) {
	key := testKey(t, KEMX25519, 1)
	s := testSealer(t, "cam", 2, key)
	if _, err := s.BeginFragment(testTC); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, MaxFrameSize+1)
	if _, err := s.SealFrame(nil, 0, true, 0, big); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("SealFrame(%d bytes) = %v, want ErrFrameTooLarge", len(big), err)
	}
}

func TestEnvelopeSize(t *testing.T) {
	cases := []struct {
		kem  KEM
		n    int
		want int
	}{
		{KEMX25519, 1, 108},
		{KEMX25519, 8, 752},
		{KEMX25519, MaxRecipients, 5904},
		{KEMMLKEM768X25519, 1, 1196},
		{KEMMLKEM768X25519, 8, 9456},
	}
	for _, tc := range cases {
		var rs []*PrivateKey
		for i := range tc.n {
			rs = append(rs, testKey(t, tc.kem, byte(i)))
		}
		env, err := testSealer(t, "cam-0001", 1, rs...).BeginFragment(testTC)
		if err != nil {
			t.Fatal(err)
		}
		if len(env) != tc.want || EnvelopeSize(tc.kem, tc.n) != tc.want {
			t.Errorf("envelope for %d %v recipients is %d bytes, EnvelopeSize = %d; want %d", tc.n, tc.kem, len(env), EnvelopeSize(tc.kem, tc.n), tc.want)
		}
		if r := openFragment(NewOpener("cam-0001", rs[tc.n-1]), fragment{tc: testTC, envelope: env}); r.err != nil {
			t.Errorf("last of %d %v recipients: %v", tc.n, tc.kem, r.err)
		}
	}
	if MaxEnvelopeSize != EnvelopeSize(KEMMLKEM768X25519, MaxRecipients) || MaxEnvelopeSize != 75_536 {
		t.Errorf("MaxEnvelopeSize = %d, want %d", MaxEnvelopeSize, 75_536)
	}
	for _, n := range []int{0, MaxRecipients + 1} {
		if got := EnvelopeSize(KEMX25519, n); got != 0 {
			t.Errorf("EnvelopeSize(X25519, %d) = %d, want 0", n, got)
		}
	}
}

func TestSealerConfigReportsEveryProblem(t *testing.T) {
	a := testKey(t, KEMX25519, 1).Public()
	h := testKey(t, KEMMLKEM768X25519, 2).Public()
	err := SealerConfig{
		Stream:          "",
		Recipients:      []PublicKey{a, {}, a, h},
		RotateAfter:     -time.Second,
		RotateFragments: -1,
	}.Validate()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{
		"stream name is empty",
		"recipient 1 is the zero PublicKey",
		"recipient 2 is the same key as recipient 0",
		"recipient 3 uses KEM ML-KEM-768+X25519",
		"RotateAfter -1s is negative",
		"RotateFragments -1 is negative",
	} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("Validate() = %q\nwant it to contain %q", err, want)
		}
	}
	if _, err := NewSealer(SealerConfig{Stream: "cam"}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewSealer(no recipients) = %v, want ErrInvalidConfig", err)
	}
	many := make([]PublicKey, MaxRecipients+1)
	for i := range many {
		many[i] = testKey(t, KEMX25519, byte(i)).Public()
	}
	if err := (SealerConfig{Stream: "cam", Recipients: many}).Validate(); err == nil || !bytes.Contains([]byte(err.Error()), []byte("65 recipients")) {
		t.Errorf("Validate(65 recipients) = %v, want a recipient-count problem", err)
	}
	if err := (SealerConfig{Stream: "cam", Recipients: []PublicKey{a}, RotateAfter: time.Microsecond}).Validate(); err == nil {
		t.Errorf("Validate(RotateAfter 1µs) = nil, want an error")
	}
	s := testSealer(t, "cam", 1, testKey(t, KEMX25519, 1))
	if err := s.SetRecipients([]PublicKey{a, a}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("SetRecipients(duplicate) = %v, want ErrInvalidConfig", err)
	}
	if s.recipientsChanged {
		t.Errorf("a rejected SetRecipients marked the recipients changed")
	}
}

// TestDeterministic: with a seeded Rand (and Go's global crypto randomness
// fixed for HPKE), a Sealer's whole output is reproducible; another seed
// changes it.
func TestDeterministic(t *testing.T) {
	key := testKey(t, KEMX25519, 1)
	run := func(seed byte) []byte {
		setGlobalCryptoRandom(t, 42)
		s := testSealer(t, "cam", seed, key)
		var out []byte
		for i := range 3 {
			f := sealFragment(t, s, testTC+int64(i)*1000, uint64(i), testFrames(3, byte(i)))
			out = append(out, f.envelope...)
			for _, fr := range f.frames {
				out = append(out, fr...)
			}
		}
		return out
	}
	first, again, other := run(5), run(5), run(6)
	if !bytes.Equal(first, again) {
		t.Errorf("two Sealers with Rand seed 5 produced different output")
	}
	if bytes.Equal(first, other) {
		t.Errorf("Sealers with Rand seeds 5 and 6 produced the same output")
	}
	k1, k2 := testKey(t, KEMMLKEM768X25519, 3), testKey(t, KEMMLKEM768X25519, 3)
	if !k1.Public().Equal(k2.Public()) {
		t.Errorf("GenerateKey with the same seed gave different keys")
	}
}

func TestOpenerCacheBounded(t *testing.T) {
	key := testKey(t, KEMX25519, 1)
	s, err := NewSealer(SealerConfig{Stream: "cam", Recipients: []PublicKey{key.Public()}, RotateFragments: 1, Rand: seeded(1)})
	if err != nil {
		t.Fatal(err)
	}
	var frags []fragment
	for i := range openerCacheSize + 3 {
		frags = append(frags, sealFragment(t, s, testTC+int64(i), uint64(i), testFrames(2, byte(i))))
	}
	o := NewOpener("cam", key)
	for _, f := range frags {
		if r := openFragment(o, f); r.err != nil {
			t.Fatal(r.err)
		}
	}
	if len(o.cache) != openerCacheSize {
		t.Fatalf("cache holds %d keys after %d epochs, want %d", len(o.cache), len(frags), openerCacheSize)
	}
	newest := o.cache[0]
	oldestKept := o.cache[openerCacheSize-1]
	if r := openFragment(o, frags[3]); r.err != nil || o.cache[0] != oldestKept {
		t.Errorf("reopening the oldest cached epoch: err %v, reused cached key %t; want a cache hit", r.err, o.cache[0] == oldestKept)
	}
	if o.cache[1] != newest {
		t.Errorf("cache hit did not move the entry to the front")
	}
	if r := openFragment(o, frags[0]); r.err != nil || len(o.cache) != openerCacheSize {
		t.Errorf("reopening an evicted epoch: err %v, cache size %d; want no error, %d", r.err, len(o.cache), openerCacheSize)
	}
}

func TestSetRecipientsConcurrently(t *testing.T) {
	a, b := testKey(t, KEMX25519, 1), testKey(t, KEMX25519, 2)
	s := testSealer(t, "cam", 3, a)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			set := []PublicKey{a.Public()}
			if i%2 == 0 {
				set = append(set, b.Public())
			}
			if err := s.SetRecipients(set); err != nil {
				t.Error(err)
				return
			}
			_ = s.Epoch()
		}
	}()
	o := NewOpener("cam", a)
	for i := range 50 {
		if r := openFragment(o, sealFragment(t, s, testTC+int64(i), uint64(i), testFrames(2, byte(i)))); r.err != nil {
			t.Fatalf("fragment %d: %v", i, r.err)
		}
	}
	<-done
	// The last SetRecipients always reaches the next fragment.
	f := sealFragment(t, s, testTC+1000, 0, testFrames(1, 'z'))
	if r := openFragment(NewOpener("cam", b), f); !errors.Is(r.err, ErrNotRecipient) {
		t.Errorf("b after the final SetRecipients([a]): %v, want ErrNotRecipient", r.err)
	}
}

func TestZeroAllocations(t *testing.T) {
	key := testKey(t, KEMX25519, 1)
	s := testSealer(t, "cam", 2, key)
	env, err := s.BeginFragment(testTC)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 4096)
	dst := make([]byte, 0, SealedSize(len(frame)))
	var idx uint32
	if n := testing.AllocsPerRun(100, func() {
		if _, err := s.SealFrame(dst, idx, false, 1, frame); err != nil {
			t.Fatal(err)
		}
		idx++
	}); n != 0 {
		t.Errorf("SealFrame with room in dst: %v allocations, want 0", n)
	}
	s2 := testSealer(t, "cam", 2, key)
	if _, err := s2.BeginFragment(testTC); err != nil {
		t.Fatal(err)
	}
	sealed, err := s2.SealFrame(nil, 0, true, 9, frame)
	if err != nil {
		t.Fatal(err)
	}
	o := NewOpener("cam", key)
	if err := o.BeginFragment(testTC, env); err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, 0, len(sealed))
	if n := testing.AllocsPerRun(100, func() {
		if err := o.BeginFragment(testTC, env); err != nil {
			t.Fatal(err)
		}
		if _, _, err := o.OpenFrame(plain, 0, true, sealed); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("BeginFragment (cached) + OpenFrame with room in dst: %v allocations, want 0", n)
	}
}

func TestKeys(t *testing.T) {
	for _, kem := range []KEM{KEMX25519, KEMMLKEM768X25519} {
		k := testKey(t, kem, 1)
		b, err := k.Bytes()
		if err != nil || len(b) != 32 {
			t.Fatalf("%v Bytes() = %d bytes, %v; want 32", kem, len(b), err)
		}
		k2, err := ParsePrivateKey(kem, b)
		if err != nil || !k2.Public().Equal(k.Public()) {
			t.Errorf("ParsePrivateKey(%v, Bytes()) = %v, same public key %t; want the same key", kem, err, err == nil && k2.Public().Equal(k.Public()))
		}
		p, err := ParsePublicKey(kem, k.Public().Bytes())
		if err != nil || !p.Equal(k.Public()) || p.ID() != k.Public().ID() || p.KEM() != kem {
			t.Errorf("ParsePublicKey(%v, Public().Bytes()) = %v; want the same key", kem, err)
		}
		if len(p.Bytes()) != kem.PublicKeySize() {
			t.Errorf("%v public key is %d bytes, want %d", kem, len(p.Bytes()), kem.PublicKeySize())
		}
		for _, n := range []int{0, kem.PublicKeySize() - 1, kem.PublicKeySize() + 1} {
			if _, err := ParsePublicKey(kem, make([]byte, n)); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("ParsePublicKey(%v, %d bytes) = %v, want ErrInvalidKey", kem, n, err)
			}
		}
		if _, err := ParsePrivateKey(kem, make([]byte, 31)); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ParsePrivateKey(%v, 31 bytes) = %v, want ErrInvalidKey", kem, err)
		}
	}
	if _, err := GenerateKey(KEM(0x0010), nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("GenerateKey(P-256 KEM) = %v, want ErrInvalidKey", err)
	}
	if _, err := ParsePublicKey(KEM(0x0010), make([]byte, 65)); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("ParsePublicKey(P-256 KEM) = %v, want ErrInvalidKey", err)
	}
	// A hybrid key whose X25519 half is a low-order point is refused.
	h := testKey(t, KEMMLKEM768X25519, 1).Public().Bytes()
	clear(h[len(h)-32:])
	if _, err := ParsePublicKey(KEMMLKEM768X25519, h); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("ParsePublicKey(hybrid with X25519 half 0) = %v, want ErrInvalidKey", err)
	}
	if k, err := GenerateKey(KEMX25519, nil); err != nil || k.KEM() != KEMX25519 {
		t.Errorf("GenerateKey(X25519, crypto/rand) = %v", err)
	}
	id := testKey(t, KEMX25519, 1).Public().ID()
	if len(id.String()) != 16 {
		t.Errorf("KeyID.String() = %q, want 16 hex digits", id.String())
	}
}

// TestNonceLayout: within an epoch the nonce is the epoch's salt followed by
// a counter 0, 1, 2, … across fragments, so it never repeats under one key; a
// new epoch has a new key, a new salt and a counter starting at 0.
func TestNonceLayout(t *testing.T) {
	key := testKey(t, KEMX25519, 1)
	s, err := NewSealer(SealerConfig{Stream: "cam", Recipients: []PublicKey{key.Public()}, RotateFragments: 3, Rand: seeded(4)})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	salts := map[uint32][]byte{}
	want := map[uint32]uint64{}
	for f := range 6 {
		frag := sealFragment(t, s, testTC+int64(f), 0, testFrames(4, byte(f)))
		for i, fr := range frag.frames {
			epoch := binary.BigEndian.Uint32(fr[1:5])
			nonce := fr[5:frameHeaderSize]
			if seen[string(fr[1:frameHeaderSize])] {
				t.Fatalf("fragment %d frame %d repeats epoch %d nonce %x", f, i, epoch, nonce)
			}
			seen[string(fr[1:frameHeaderSize])] = true
			if salt, ok := salts[epoch]; ok && !bytes.Equal(salt, nonce[:saltSize]) {
				t.Errorf("fragment %d frame %d: salt %x changed within epoch %d (was %x)", f, i, nonce[:saltSize], epoch, salt)
			}
			salts[epoch] = nonce[:saltSize]
			if c := binary.BigEndian.Uint64(nonce[saltSize:]); c != want[epoch] {
				t.Errorf("fragment %d frame %d: counter %d, want %d", f, i, c, want[epoch])
			}
			want[epoch]++
		}
	}
	if len(salts) != 2 || bytes.Equal(salts[1], salts[2]) {
		t.Errorf("salts per epoch = %x, want 2 epochs with different salts", salts)
	}
}
