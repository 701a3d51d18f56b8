package e2ee

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// goldenVectors is testdata/vectors.json: complete fragments another
// implementation can check itself against (docs/E2EE.md points to it), and
// that pin format version 1 for this one.
type goldenVectors struct {
	Comment string         `json:"comment"`
	Streams []goldenStream `json:"streams"`
}

type goldenStream struct {
	Stream     string           `json:"stream"`
	KEM        uint16           `json:"kem"`
	PrivateKey string           `json:"private_key"` // hex, PrivateKey.Bytes
	PublicKey  string           `json:"public_key"`  // hex
	KeyID      string           `json:"key_id"`      // hex
	Fragments  []goldenFragment `json:"fragments"`
}

type goldenFragment struct {
	Timecode     int64         `json:"timecode_ms"`
	Envelope     string        `json:"envelope"`      // hex
	EnvelopeInfo string        `json:"envelope_info"` // hex, the HPKE info
	Frames       []goldenFrame `json:"frames"`
}

type goldenFrame struct {
	Index  uint32 `json:"index"`
	Final  bool   `json:"final"`
	Seq    uint64 `json:"seq"`
	Frame  string `json:"frame"`  // hex
	AAD    string `json:"aad"`    // hex
	Sealed string `json:"sealed"` // hex
}

const goldenPath = "testdata/vectors.json"

func TestGoldenVectors(t *testing.T) {
	if *update {
		writeGolden(t)
	}
	b, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (create it with go test -run TestGoldenVectors -update)", err)
	}
	var g goldenVectors
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Streams) != 2 {
		t.Fatalf("%s has %d streams, want 2", goldenPath, len(g.Streams))
	}
	for _, st := range g.Streams {
		key, err := ParsePrivateKey(KEM(st.KEM), unhex(t, st.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(key.Public().Bytes()); got != st.PublicKey {
			t.Errorf("%s: public key of the private key = %s, want %s", st.Stream, got, st.PublicKey)
		}
		if got := key.Public().ID().String(); got != st.KeyID {
			t.Errorf("%s: key id = %s, want %s", st.Stream, got, st.KeyID)
		}
		o := NewOpener(st.Stream, key)
		for _, f := range st.Fragments {
			if got := hex.EncodeToString(envelopeInfo(st.Stream, parseEpoch(t, f.Envelope))); got != f.EnvelopeInfo {
				t.Errorf("%s at %d: envelope info = %s, want %s", st.Stream, f.Timecode, got, f.EnvelopeInfo)
			}
			if err := o.BeginFragment(f.Timecode, unhex(t, f.Envelope)); err != nil {
				t.Fatalf("%s: BeginFragment(%d) = %v", st.Stream, f.Timecode, err)
			}
			for _, fr := range f.Frames {
				aad := appendFrameAADTail(frameAADPrefix(st.Stream), o.cur.epoch, f.Timecode, fr.Index, fr.Final)
				if got := hex.EncodeToString(aad); got != fr.AAD {
					t.Errorf("%s at %d frame %d: AAD = %s, want %s", st.Stream, f.Timecode, fr.Index, got, fr.AAD)
				}
				seq, frame, err := o.OpenFrame(nil, fr.Index, fr.Final, unhex(t, fr.Sealed))
				if err != nil || seq != fr.Seq || !bytes.Equal(frame, unhex(t, fr.Frame)) {
					t.Errorf("%s at %d: OpenFrame(index=%d, final=%t) = %d, %x, %v; want %d, %s", st.Stream, f.Timecode, fr.Index, fr.Final, seq, frame, err, fr.Seq, fr.Frame)
				}
			}
		}
	}
}

func parseEpoch(t *testing.T, envHex string) uint32 {
	t.Helper()
	e, err := parseEnvelope(unhex(t, envHex))
	if err != nil {
		t.Fatal(err)
	}
	return e.epoch
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeGolden(t *testing.T) {
	setGlobalCryptoRandom(t, 2026)
	g := goldenVectors{Comment: "camstorm E2EE format version 1 (docs/E2EE.md); all byte strings hex. Open each fragment with the stream's private key: BeginFragment(timecode_ms, envelope), then OpenFrame(index, final, sealed) gives seq and frame."}
	for i, kem := range []KEM{KEMX25519, KEMMLKEM768X25519} {
		key := testKey(t, kem, byte(200+i))
		stream := "golden-" + kem.String()
		s, err := NewSealer(SealerConfig{Stream: stream, Recipients: []PublicKey{key.Public()}, RotateFragments: 1, Rand: seeded(byte(210 + i))})
		if err != nil {
			t.Fatal(err)
		}
		priv, err := key.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		st := goldenStream{Stream: stream, KEM: uint16(kem), PrivateKey: hex.EncodeToString(priv),
			PublicKey: hex.EncodeToString(key.Public().Bytes()), KeyID: key.Public().ID().String()}
		seq := uint64(41)
		for f := range 2 {
			tc := int64(1_700_000_000_000 + f*2000)
			frames := [][]byte{[]byte("first frame"), {}, []byte("last frame of the fragment")}
			frag := sealFragment(t, s, tc, seq, frames)
			gf := goldenFragment{Timecode: tc, Envelope: hex.EncodeToString(frag.envelope), EnvelopeInfo: hex.EncodeToString(envelopeInfo(stream, s.epoch))}
			for j, sealed := range frag.frames {
				final := j == len(frames)-1
				gf.Frames = append(gf.Frames, goldenFrame{Index: uint32(j), Final: final, Seq: seq + uint64(j), Frame: hex.EncodeToString(frames[j]),
					AAD:    hex.EncodeToString(appendFrameAADTail(frameAADPrefix(stream), s.epoch, tc, uint32(j), final)),
					Sealed: hex.EncodeToString(sealed)})
			}
			seq += uint64(len(frames))
			st.Fragments = append(st.Fragments, gf)
		}
		g.Streams = append(g.Streams, st)
	}
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenPath, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
