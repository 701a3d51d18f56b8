package e2ee

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the seed corpus under testdata/fuzz")

// fuzzWorld is the fixed stream the fuzz targets attack: deterministic
// consumer keys and one genuine fragment (frames are deterministic because
// the Sealer's Rand is seeded; the envelope is not, because HPKE draws its
// ephemeral keys from Go's generator).
type fuzzWorld struct {
	x25519, hybrid *PrivateKey
	frag           fragment
	hybridEnvelope []byte
}

const fuzzStream = "fuzz-stream"

var fuzzSetup = sync.OnceValues(func() (*fuzzWorld, error) {
	var w fuzzWorld
	var err error
	if w.x25519, err = GenerateKey(KEMX25519, seeded(101)); err != nil {
		return nil, err
	}
	if w.hybrid, err = GenerateKey(KEMMLKEM768X25519, seeded(102)); err != nil {
		return nil, err
	}
	other, err := GenerateKey(KEMX25519, seeded(103))
	if err != nil {
		return nil, err
	}
	s, err := NewSealer(SealerConfig{Stream: fuzzStream, Recipients: []PublicKey{other.Public(), w.x25519.Public()}, Rand: seeded(104)})
	if err != nil {
		return nil, err
	}
	if w.frag.envelope, err = s.BeginFragment(testTC); err != nil {
		return nil, err
	}
	w.frag.tc = testTC
	for i, fr := range testFrames(3, 'f') {
		sealed, err := s.SealFrame(nil, uint32(i), i == 2, uint64(1000+i), fr)
		if err != nil {
			return nil, err
		}
		w.frag.frames = append(w.frag.frames, sealed)
	}
	hs, err := NewSealer(SealerConfig{Stream: fuzzStream, Recipients: []PublicKey{w.hybrid.Public()}, Rand: seeded(105)})
	if err != nil {
		return nil, err
	}
	if w.hybridEnvelope, err = hs.BeginFragment(testTC); err != nil {
		return nil, err
	}
	return &w, nil
})

func fuzzWorldOf(tb testing.TB) *fuzzWorld {
	tb.Helper()
	w, err := fuzzSetup()
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// FuzzEnvelope: the envelope parser and Opener.BeginFragment never panic,
// fail only with the package's sentinels, and accept exactly one encoding of
// each envelope.
func FuzzEnvelope(f *testing.F) {
	w := fuzzWorldOf(f)
	f.Add(w.frag.envelope)
	f.Add(w.hybridEnvelope)
	f.Add([]byte{})
	f.Add([]byte(envelopeMagic + "\x01\x00\x00\x00\x01\x00\x20\x00\x01\x00\x02\x40"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parseEnvelope(b)
		if err == nil {
			if again := appendEnvelope(nil, e); !bytes.Equal(again, b) {
				t.Fatalf("parseEnvelope accepted %x, which re-encodes as %x", b, again)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("parseEnvelope(%x) = %v, want ErrMalformed", b, err)
		}
		for _, key := range []*PrivateKey{w.x25519, w.hybrid} {
			err := NewOpener(fuzzStream, key).BeginFragment(testTC, b)
			if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotRecipient) && !errors.Is(err, ErrAuth) {
				t.Fatalf("BeginFragment(%x) with a %v key = %v, want ErrMalformed, ErrNotRecipient or ErrAuth", b, key.KEM(), err)
			}
		}
	})
}

// FuzzOpenFrame: OpenFrame never panics, fails only with the package's
// sentinels, never writes outside dst's spare capacity, and opens nothing but
// the genuine frames at their own index and final flag.
func FuzzOpenFrame(f *testing.F) {
	w := fuzzWorldOf(f)
	for i, fr := range w.frag.frames {
		f.Add(fr, uint32(i), i == 2)
	}
	f.Add([]byte{}, uint32(0), false)
	f.Add(make([]byte, SealedOverhead), uint32(0), true)
	o := NewOpener(fuzzStream, w.x25519)
	f.Fuzz(func(t *testing.T, sealed []byte, index uint32, final bool) {
		if err := o.BeginFragment(w.frag.tc, w.frag.envelope); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 3, 3+len(sealed)+8)
		copy(buf, "abc")
		seq, out, err := o.OpenFrame(buf, index, final, sealed)
		if err != nil {
			if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("OpenFrame(%d, %t, %x) = %v, want ErrAuth or ErrMalformed", index, final, sealed, err)
			}
			if string(buf[:3]) != "abc" {
				t.Fatalf("failed OpenFrame changed dst's existing bytes")
			}
			return
		}
		genuine := int(index) < len(w.frag.frames) && bytes.Equal(sealed, w.frag.frames[index]) && final == (int(index) == len(w.frag.frames)-1)
		if !genuine {
			t.Fatalf("OpenFrame(%d, %t, %x) opened (seq %d): a forgery", index, final, sealed, seq)
		}
		if string(out[:3]) != "abc" || seq != 1000+uint64(index) || !bytes.Equal(out[3:], testFrames(3, 'f')[index]) {
			t.Fatalf("OpenFrame(%d) = seq %d, %x; want seq %d and the frame after dst's bytes", index, seq, out, 1000+index)
		}
	})
}

// TestFuzzSeedCorpus keeps the committed seed corpus meaningful: its genuine
// envelope and frames must still open (they would stop opening if the format
// changed). go test -run TestFuzzSeedCorpus -update rewrites it.
func TestFuzzSeedCorpus(t *testing.T) {
	w := fuzzWorldOf(t)
	envDir := filepath.Join("testdata", "fuzz", "FuzzEnvelope")
	frameDir := filepath.Join("testdata", "fuzz", "FuzzOpenFrame")
	if *update {
		for _, d := range []string{envDir, frameDir} {
			if err := os.RemoveAll(d); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		writeSeed(t, envDir, "genuine-x25519-2-recipients", w.frag.envelope)
		writeSeed(t, envDir, "genuine-mlkem768x25519", w.hybridEnvelope)
		writeSeed(t, envDir, "header-only", w.frag.envelope[:envelopeHeaderSize])
		writeSeed(t, envDir, "count-64-truncated", append(bytes.Clone(w.frag.envelope[:envelopeHeaderSize-1]), MaxRecipients))
		for i, fr := range w.frag.frames {
			writeSeed(t, frameDir, "genuine-frame-"+strconv.Itoa(i), fr, uint32(i), i == 2)
		}
		writeSeed(t, frameDir, "final-flag-flipped", w.frag.frames[1], uint32(1), true)
		writeSeed(t, frameDir, "overhead-only", w.frag.frames[0][:SealedOverhead], uint32(0), false)
	}
	env := readSeed(t, filepath.Join(envDir, "genuine-x25519-2-recipients"))
	if err := NewOpener(fuzzStream, w.x25519).BeginFragment(testTC, env[0].([]byte)); err != nil {
		t.Fatalf("seed genuine-x25519-2-recipients: BeginFragment = %v, want no error (refresh with -update)", err)
	}
	henv := readSeed(t, filepath.Join(envDir, "genuine-mlkem768x25519"))
	if err := NewOpener(fuzzStream, w.hybrid).BeginFragment(testTC, henv[0].([]byte)); err != nil {
		t.Fatalf("seed genuine-mlkem768x25519: BeginFragment = %v, want no error (refresh with -update)", err)
	}
	o := NewOpener(fuzzStream, w.x25519)
	for i := range w.frag.frames {
		v := readSeed(t, filepath.Join(frameDir, "genuine-frame-"+strconv.Itoa(i)))
		if err := o.BeginFragment(testTC, w.frag.envelope); err != nil {
			t.Fatal(err)
		}
		if _, _, err := o.OpenFrame(nil, v[1].(uint32), v[2].(bool), v[0].([]byte)); err != nil {
			t.Errorf("seed genuine-frame-%d: OpenFrame = %v, want no error (refresh with -update)", i, err)
		}
	}
}

// writeSeed writes one corpus file in the "go test fuzz v1" encoding.
func writeSeed(t *testing.T, dir, name string, values ...any) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, v := range values {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case uint32:
			fmt.Fprintf(&b, "uint32(%d)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%t)\n", v)
		default:
			t.Fatalf("writeSeed: unsupported %T", v)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readSeed reads a corpus file written by writeSeed.
func readSeed(t *testing.T, path string) []any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create the corpus with -update)", err)
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	if len(lines) < 2 || string(lines[0]) != "go test fuzz v1" {
		t.Fatalf("%s: not a go fuzz corpus file", path)
	}
	var out []any
	for _, l := range lines[1:] {
		s := string(l)
		switch {
		case len(s) > 8 && s[:7] == "[]byte(":
			u, err := strconv.Unquote(s[7 : len(s)-1])
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			out = append(out, []byte(u))
		case len(s) > 8 && s[:7] == "uint32(":
			n, err := strconv.ParseUint(s[7:len(s)-1], 10, 32)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			out = append(out, uint32(n))
		case len(s) > 5 && s[:5] == "bool(":
			out = append(out, s[5:len(s)-1] == "true")
		default:
			t.Fatalf("%s: unknown line %q", path, s)
		}
	}
	return out
}
