package probe

import (
	"bytes"
	"errors"
	"testing"

	"github.com/camstorm/camstorm/internal/e2ee"
)

// TestSealedRoundTrip seals fragments, encodes them as the wire carries
// them, parses them back with ebml-go and opens them; a flipped bit fails
// exactly its frame and an outsider's key opens nothing.
func TestSealedRoundTrip(t *testing.T) {
	key, err := e2ee.GenerateKey(e2ee.KEMX25519, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(e2ee.SealerConfig{Stream: "sealed-rt", Recipients: []e2ee.PublicKey{key.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	var wire []byte
	var plain [][]byte
	for f := range 2 {
		frag := Fragment{Timecode: 1_700_000_000_000 + int64(f)*1000}
		for i := range 3 {
			p := Payload("sealed-rt", f*3+i, 200)
			plain = append(plain, p)
			frag.Frames = append(frag.Frames, Frame{Data: p})
		}
		sealed, err := s.Seal(frag)
		if err != nil {
			t.Fatal(err)
		}
		wire = append(wire, SealedHeader()...)
		wire = append(wire, sealed.Encode()...)
	}
	chunks, err := ParseChunks(wire)
	if err != nil || len(chunks) != 2 {
		t.Fatalf("ParseChunks: %d chunks, %v; want 2", len(chunks), err)
	}
	opened := OpenChunks("sealed-rt", key, chunks)
	if err := CheckSequence(opened, 0); err != nil {
		t.Fatalf("CheckSequence: %v", err)
	}
	for f, of := range opened {
		for i, fr := range of.Frames {
			if !bytes.Equal(fr.Data, plain[f*3+i]) {
				t.Errorf("fragment %d frame %d: plaintext differs", f, i)
			}
		}
	}
	if err := CheckSequence([]OpenedFragment{opened[1], opened[0]}, 0); err == nil {
		t.Error("CheckSequence accepted swapped fragments")
	}

	blocks := append([]Block(nil), chunks[1].Blocks...)
	blocks[2].Data = bytes.Clone(blocks[2].Data) // block 0 is the envelope: frame 1
	blocks[2].Data[len(blocks[2].Data)-1] ^= 1
	bad := chunks[1]
	bad.Blocks = blocks
	got := OpenChunk(e2ee.NewOpener("sealed-rt", key), bad)
	if got.FailedAt() != 1 || !errors.Is(got.Frames[1].Err, e2ee.ErrAuth) || got.Frames[0].Err != nil {
		t.Errorf("flipped frame 1: failed at %d (%v), want frame 1 with ErrAuth", got.FailedAt(), got.FirstFailure())
	}

	other, err := e2ee.GenerateKey(e2ee.KEMX25519, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, of := range OpenChunks("sealed-rt", other, chunks) {
		if !errors.Is(of.Err, e2ee.ErrNotRecipient) {
			t.Errorf("outsider: %v, want ErrNotRecipient", of.Err)
		}
	}
}
