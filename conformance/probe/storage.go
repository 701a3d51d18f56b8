package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/camstorm/camstorm/conformance"
)

// ReadStorage reads every file the target stores (Target.Storage). A read
// can race a file the target is replacing at that moment, so a failed read
// is tried again a few times.
func ReadStorage(ctx context.Context, tg *conformance.Target) (map[string][]byte, error) {
	if tg.Storage == nil {
		return nil, errors.New("the target does not show its storage")
	}
	var err error
	for try := range 5 {
		var files map[string][]byte
		if files, err = tg.Storage.StoredFiles(ctx); err == nil {
			return files, nil
		}
		if try == 4 {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil, err
}

// KeyVersion reads the key version from a KMS ciphertext blob in the layout
// camstorm's KMS documents (docs/KMS.md: format 0x01, the key's 16-byte id,
// a 4-byte big-endian version). ok is false when the blob is not in that
// layout or names another key: AWS KMS blobs are opaque, and cases that
// need the version skip then.
func KeyVersion(blob []byte, keyID string) (version uint32, ok bool) {
	id, err := hex.DecodeString(strings.ReplaceAll(keyID, "-", ""))
	if err != nil || len(id) != 16 || len(blob) < 21 || blob[0] != 0x01 || !bytes.Equal(blob[1:17], id) {
		return 0, false
	}
	return binary.BigEndian.Uint32(blob[17:21]), true
}

// WrappedDataKeys finds the data keys wrapped under keyID in stored files,
// in the reference ingest's at-rest layout (docs/INGEST.md: the KMS blob,
// its length in the byte before it), each once.
func WrappedDataKeys(files map[string][]byte, keyID string) [][]byte {
	id, err := hex.DecodeString(strings.ReplaceAll(keyID, "-", ""))
	if err != nil || len(id) != 16 {
		return nil
	}
	head := append([]byte{0x01}, id...)
	seen := map[string]bool{}
	var blobs [][]byte
	for _, b := range files {
		for off := 0; off < len(b); {
			i := bytes.Index(b[off:], head)
			if i < 0 {
				break
			}
			i += off
			off = i + len(head)
			if i == 0 {
				continue
			}
			n := int(b[i-1])
			if n >= 0x80 || n < 21+12+16 || i+n > len(b) {
				continue
			}
			blob := b[i : i+n]
			if !seen[string(blob)] {
				seen[string(blob)] = true
				blobs = append(blobs, blob)
			}
		}
	}
	return blobs
}
