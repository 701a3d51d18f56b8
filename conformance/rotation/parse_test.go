package rotation

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/camstorm/camstorm/internal/e2ee"
)

// realEnvelope seals one fragment for the keys and returns its envelope.
func realEnvelope(t testing.TB, keys ...*e2ee.PrivateKey) []byte {
	var pubs []e2ee.PublicKey
	for _, k := range keys {
		pubs = append(pubs, k.Public())
	}
	s, err := e2ee.NewSealer(e2ee.SealerConfig{Stream: "parse-test", Recipients: pubs})
	if err != nil {
		t.Fatal(err)
	}
	env, err := s.BeginFragment(1_700_000_000_000)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(env)
}

func TestEnvelopeParsing(t *testing.T) {
	a, _ := e2ee.GenerateKey(e2ee.KEMX25519, nil)
	b, _ := e2ee.GenerateKey(e2ee.KEMX25519, nil)
	env := realEnvelope(t, a, b)
	ids, ok := envelopeKeyIDs(env)
	if !ok || !slices.Equal(ids, []e2ee.KeyID{a.Public().ID(), b.Public().ID()}) {
		t.Fatalf("envelopeKeyIDs = %v, %v; want alice's and bob's ids", ids, ok)
	}
	if ep, ok := envelopeEpoch(env); !ok || ep != 1 {
		t.Errorf("envelopeEpoch = %d, %v; want 1", ep, ok)
	}
	for _, bad := range [][]byte{nil, env[:15], env[:len(env)-1], append(bytes.Clone(env), 0)} {
		if _, ok := envelopeKeyIDs(bad); ok {
			t.Errorf("envelopeKeyIDs accepted a %d-byte envelope (the real one is %d bytes)", len(bad), len(env))
		}
	}
}

func TestBlobVersion(t *testing.T) {
	const keyID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	id := []byte{0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0}
	blob := append(append([]byte{0x01}, id...), binary.BigEndian.AppendUint32(nil, 7)...)
	blob = append(blob, make([]byte, 28)...)
	for _, tc := range []struct {
		name string
		blob []byte
		key  string
		want uint32
		ok   bool
	}{
		{"camstorm layout", blob, keyID, 7, true},
		{"another key", blob, "00000000-0000-0000-0000-000000000000", 0, false},
		{"other format", append([]byte{0x02}, blob[1:]...), keyID, 0, false},
		{"short", blob[:20], keyID, 0, false},
		{"key id not a UUID", blob, "alias/x", 0, false},
	} {
		v, ok := blobVersion(tc.blob, tc.key)
		if v != tc.want || ok != tc.ok {
			t.Errorf("%s: blobVersion = %d, %v; want %d, %v", tc.name, v, ok, tc.want, tc.ok)
		}
	}
	// In a stored payload the blob follows its one-byte length.
	stored := append(append([]byte("K\x02"), byte(len(blob))), blob...)
	got := storedBlobs(map[string][]byte{"seg": append(stored, stored...)}, keyID)
	if len(got) != 1 || !bytes.Equal(got[0], blob) {
		t.Errorf("storedBlobs found %d blobs, want the one blob (stored twice)", len(got))
	}
}

// FuzzParsers: what a target returns or stores never panics the parsers.
func FuzzParsers(f *testing.F) {
	a, _ := e2ee.GenerateKey(e2ee.KEMX25519, nil)
	f.Add(realEnvelope(f, a))
	f.Add([]byte("CSE1\x01\x00\x00\x00\x01\x00\x20\x00\x01\x00\x02\x40"))
	f.Add([]byte{0x31, 0x01, 0x0f, 0x1e})
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, ok := envelopeKeyIDs(b)
		if ok && len(ids) != int(b[15]) {
			t.Fatalf("%d ids from an envelope that counts %d", len(ids), b[15])
		}
		envelopeEpoch(b)
		frameEpoch(b)
		blobVersion(b, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
		for _, blob := range storedBlobs(map[string][]byte{"f": b}, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0") {
			if len(blob) < 21 || blob[0] != 0x01 {
				t.Fatalf("storedBlobs returned %x", blob)
			}
		}
	})
}
