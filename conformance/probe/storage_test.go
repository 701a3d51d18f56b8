package probe

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestKeyVersionAndWrappedDataKeys(t *testing.T) {
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
		v, ok := KeyVersion(tc.blob, tc.key)
		if v != tc.want || ok != tc.ok {
			t.Errorf("%s: KeyVersion = %d, %v; want %d, %v", tc.name, v, ok, tc.want, tc.ok)
		}
	}
	// In a stored payload the blob follows its one-byte length.
	stored := append(append([]byte("K\x02"), byte(len(blob))), blob...)
	got := WrappedDataKeys(map[string][]byte{"seg": append(stored, stored...)}, keyID)
	if len(got) != 1 || !bytes.Equal(got[0], blob) {
		t.Errorf("WrappedDataKeys found %d blobs, want the one blob (stored twice)", len(got))
	}
}

// FuzzStoredKeyParsers: stored bytes never panic the blob parsers, and
// what WrappedDataKeys returns is in the documented layout.
func FuzzStoredKeyParsers(f *testing.F) {
	f.Add([]byte{0x31, 0x01, 0x0f, 0x1e})
	f.Fuzz(func(t *testing.T, b []byte) {
		const keyID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
		KeyVersion(b, keyID)
		for _, blob := range WrappedDataKeys(map[string][]byte{"f": b}, keyID) {
			if len(blob) < 21 || blob[0] != 0x01 {
				t.Fatalf("WrappedDataKeys returned %x", blob)
			}
		}
	})
}

// FuzzParseChunks: whatever a target sends as media never panics the
// parser, and counting chunk starts piece by piece, as GetMedia reads,
// agrees with counting them at once.
func FuzzParseChunks(f *testing.F) {
	f.Add(Header(), 7)
	f.Add(append(Header(), Fragment{Timecode: 1000, Frames: []Frame{{Data: []byte("frame")}}}.Encode()...), 3)
	f.Add([]byte{0x1A, 0x45, 0xDF, 0xA3, 0x80, 0x42, 0x86}, 1)
	f.Fuzz(func(t *testing.T, body []byte, step int) {
		_, _ = ParseChunks(body)
		if step < 1 {
			step = 1
		}
		starts, scanned := 0, 0
		for end := step; ; end += step {
			end = min(end, len(body))
			starts, scanned = countChunkStarts(body[:end], starts, scanned)
			if end == len(body) {
				break
			}
		}
		if want := len(chunkStarts(body)); starts != want {
			t.Fatalf("counted %d chunk starts in steps of %d, %d at once", starts, step, want)
		}
	})
}
