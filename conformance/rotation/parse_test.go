package rotation

import (
	"bytes"
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
	})
}
