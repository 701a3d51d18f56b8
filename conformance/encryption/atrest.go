package encryption

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/maphash"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
)

func atRestCases() []*conformance.Case {
	return []*conformance.Case{
		{
			ID: "ENC-REST-001", Title: "streamed frames are not stored in plaintext", Requirement: "R-REST-1",
			Stimulus: "Write 3 fragments of 3 frames (1,500 random bytes each, unique to the case) and wait for PERSISTED; " +
				"then read every file the target stores.",
			Expected: "At least the frames' bytes were stored since the write began, and no frame, and no 32-byte piece " +
				"of a frame (start, middle, end), appears in any stored file.",
			Needs:    []conformance.Capability{conformance.NeedStorage},
			Parallel: true, Timeout: caseTimeout, Run: runNoPlaintextAtRest,
		},
		{
			ID: "ENC-REST-002", Title: "no Matroska structure is stored in plaintext", Requirement: "R-REST-1",
			Stimulus: "Write 3 fragments and wait for PERSISTED; then read every file the target stores and look for " +
				"Matroska structure: an EBML header, a Cluster element, the track's CodecID \"" + videoCodec + "\".",
			Expected: "At least the frames' bytes were stored since the write began, and none is found: headers, " +
				"clusters and block headers are encrypted with the media.",
			Needs:    []conformance.Capability{conformance.NeedStorage},
			Parallel: true, Timeout: caseTimeout, Run: runNoStructureAtRest,
		},
		{
			ID: "ENC-REST-003", Title: "identical frames do not give identical stored ciphertext (no nonce reuse)", Requirement: "R-REST-1",
			Stimulus: "Read the stored files, then write 2 fragments in one session whose frames are identical " +
				"(2 frames of 4 KiB of random bytes, the same in both fragments), wait for PERSISTED, and read the stored files again.",
			Expected: "The bytes stored since the first read contain no run of 1 KiB or more of random-looking bytes twice: " +
				"each fragment is sealed with its own nonce (or key), so equal plaintext gives unrelated ciphertext.",
			Needs:    []conformance.Capability{conformance.NeedStorage},
			Parallel: true, Timeout: caseTimeout, Run: runNoNonceReuse,
		},
		{
			ID: "ENC-REST-004", Title: "plaintext data keys never reach storage", Requirement: "R-REST-3",
			Stimulus: "Create a customer-managed key, a stream under it, write 3 fragments and wait for PERSISTED; " +
				"find the wrapped data keys stored beside the fragments, unwrap each through KMS Decrypt (as the key's admin, " +
				"with the stream's encryption context) and search every stored file for the 32-byte plaintext keys.",
			Expected: "At least one wrapped data key is stored under the stream's key, every one unwraps, and no plaintext data key " +
				"appears in any stored file.",
			Source:   "KVS: data keys are encrypted under the KMS key and only the encrypted data key is stored with the media",
			Needs:    []conformance.Capability{conformance.NeedStorage, conformance.NeedKMS},
			Parallel: true, Timeout: caseTimeout, Run: runNoPlaintextDataKeys,
		},
	}
}

func runNoPlaintextDataKeys(ctx context.Context, t *conformance.T) {
	key := newKey(ctx, t, "")
	keyID := aws.ToString(key.KeyId)
	name, arn := newStream(ctx, t, "dk", aws.ToString(key.Arn))
	put(ctx, t, admin(t), name, probe.Header(), plainFragments(t.Name("dk-payload"), baseTimecode(), 3, 2, 800))
	files := storedFiles(ctx, t)
	blobs := probe.WrappedDataKeys(files, keyID)
	if len(blobs) == 0 {
		t.Fatal("no wrapped data key under %s is stored beside the fragments of %s (in the reference at-rest layout, docs/INGEST.md): "+
			"the media is not envelope-encrypted under the stream's key, or its keys are kept in a layout this case cannot read", keyID, name)
	}
	kc := kmsClient(t.Target, t.Target.Admin)
	for i, blob := range blobs {
		out, err := kc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"aws:kinesisvideo:arn": arn}})
		if err != nil {
			t.Fail("stored wrapped data key %d of %d does not unwrap under the stream's encryption context: %v", i+1, len(blobs), err)
			continue
		}
		for _, p := range sortedPaths(files) {
			if off := bytes.Index(files[p], out.Plaintext); off >= 0 {
				t.Fail("the plaintext of stored data key %d of %d is stored in the clear in %s at byte %d", i+1, len(blobs), p, off)
				t.Evidence("bytes", "%s offset %d: a 32-byte plaintext data key of stream %s", p, off, name)
			}
		}
	}
	t.Evidence("kms", "%d wrapped data keys under %s stored for stream %s, unwrapped and searched for in %d files", len(blobs), keyID, name, len(files))
}

// videoCodec is the CodecID of the probe's video track.
var videoCodec = probe.VideoTrack.CodecID

// storedFiles reads the target's stored files; a read that keeps failing
// is a harness error.
func storedFiles(ctx context.Context, t *conformance.T) map[string][]byte {
	files, err := probe.ReadStorage(ctx, t.Target)
	t.Must(err, "reading the target's stored files")
	return files
}

// sortedPaths returns files' paths in order, for reproducible evidence.
func sortedPaths(files map[string][]byte) []string {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

func runNoPlaintextAtRest(ctx context.Context, t *conformance.T) {
	name, _ := newStream(ctx, t, "rest", "")
	label := t.Name("payload")
	frags := plainFragments(label, baseTimecode(), 3, 3, 1500)
	before := storedFiles(ctx, t)
	put(ctx, t, admin(t), name, probe.Header(), frags)
	files := storedFiles(ctx, t)
	t.Logf("%d stored files", len(files))
	if !storesWritten(t, before, files, frags) {
		return
	}
	found := 0
	for fi, f := range frags {
		for i, fr := range f.Frames {
			d := fr.Data
			for _, piece := range []struct {
				what string
				b    []byte
			}{{"start", d[:32]}, {"middle", d[len(d)/2 : len(d)/2+32]}, {"end", d[len(d)-32:]}} {
				for _, p := range sortedPaths(files) {
					if off := bytes.Index(files[p], piece.b); off >= 0 {
						found++
						t.Fail("the %s of frame %d of fragment %d (at %d ms) is stored in plaintext in %s at byte %d", piece.what, i, fi, f.Timecode, p, off)
						t.Evidence("bytes", "%s offset %d: 32 bytes of frame %d of fragment %d", p, off, i, fi)
						break
					}
				}
			}
		}
	}
	if found == 0 {
		t.Evidence("note", "none of %d frames found in %d stored files", 9, len(files))
	}
}

func runNoStructureAtRest(ctx context.Context, t *conformance.T) {
	name, _ := newStream(ctx, t, "rest", "")
	frags := plainFragments(t.Name("payload"), baseTimecode(), 3, 3, 800)
	before := storedFiles(ctx, t)
	put(ctx, t, admin(t), name, probe.Header(), frags)
	files := storedFiles(ctx, t)
	if !storesWritten(t, before, files, frags) {
		return
	}
	for _, p := range sortedPaths(files) {
		b := files[p]
		if off := ebmlHeaderAt(b); off >= 0 {
			t.Fail("%s holds a plaintext EBML header at byte %d", p, off)
			t.Evidence("bytes", "%s offset %d: % x", p, off, b[off:min(len(b), off+16)])
		}
		if off := bytes.Index(b, []byte(videoCodec)); off >= 0 {
			t.Fail("%s holds the track's CodecID %q in plaintext at byte %d", p, videoCodec, off)
			t.Evidence("bytes", "%s offset %d: %q", p, off, b[off:min(len(b), off+len(videoCodec))])
		}
		if off := clusterAt(b, frags); off >= 0 {
			t.Fail("%s holds a plaintext Cluster of a fragment the case wrote at byte %d", p, off)
			t.Evidence("bytes", "%s offset %d: % x", p, off, b[off:min(len(b), off+16)])
		}
	}
	if !t.Failed() {
		t.Evidence("note", "no EBML header, Cluster or CodecID in %d stored files", len(files))
	}
}

// ebmlHeaderAt finds an EBML header element (ID 1A45DFA3, a size, then
// EBMLVersion 4286) and returns its offset, or -1.
func ebmlHeaderAt(b []byte) int {
	magic := []byte{0x1A, 0x45, 0xDF, 0xA3}
	for off := 0; ; {
		i := bytes.Index(b[off:], magic)
		if i < 0 {
			return -1
		}
		at := off + i
		rest := b[at+4:]
		if len(rest) > 0 {
			w := 1
			for w <= 8 && rest[0]&(0x80>>(w-1)) == 0 {
				w++
			}
			if w <= 8 && len(rest) >= w+2 && rest[w] == 0x42 && rest[w+1] == 0x86 {
				return at
			}
		}
		off = at + 4
	}
}

// clusterAt finds a Cluster element whose Timecode element holds one of
// frags' timecodes, or returns -1.
func clusterAt(b []byte, frags []probe.Fragment) int {
	cluster := []byte{0x1F, 0x43, 0xB6, 0x75}
	for off := 0; ; {
		i := bytes.Index(b[off:], cluster)
		if i < 0 {
			return -1
		}
		at := off + i
		// The Timecode element (E7) follows within the first 16 bytes.
		win := b[at+4 : min(len(b), at+24)]
		for _, f := range frags {
			var tc [8]byte
			binary.BigEndian.PutUint64(tc[:], uint64(f.Timecode))
			if j := bytes.IndexByte(win, 0xE7); j >= 0 && bytes.Contains(win[j:], bytes.TrimLeft(tc[:], "\x00")) {
				return at
			}
		}
		off = at + 4
	}
}

func runNoNonceReuse(ctx context.Context, t *conformance.T) {
	name, _ := newStream(ctx, t, "nonce", "")
	before := storedFiles(ctx, t)
	label := t.Name("same")
	frames := []probe.Frame{{Data: probe.Payload(label, 0, 4096)}, {Data: probe.Payload(label, 1, 4096)}}
	base := baseTimecode()
	frags := []probe.Fragment{{Timecode: base, Frames: frames}, {Timecode: base + 1000, Frames: frames}}
	put(ctx, t, admin(t), name, probe.Header(), frags)
	after := storedFiles(ctx, t)
	regions := newBytes(before, after)
	total := 0
	for _, r := range regions {
		total += len(r.b)
	}
	t.Logf("%d bytes in %d files were stored since the first read", total, len(regions))
	if total < 2*4096 {
		t.Fail("only %d bytes were stored for 2 fragments of 8 KiB each: the fragments are not where the target says it stores data", total)
		return
	}
	if d, ok := repeatedRun(regions, 1024); ok {
		t.Fail("the same %d bytes of ciphertext are stored twice: %s at byte %d and %s at byte %d (identical frames sealed under one key and nonce)",
			d.length, d.a.path, d.aOff, d.b.path, d.bOff)
		t.Evidence("bytes", "%s offset %d and %s offset %d: %d equal bytes, starting % x", d.a.path, d.aOff, d.b.path, d.bOff, d.length,
			d.a.b[d.aRel:d.aRel+16])
		return
	}
	t.Evidence("note", "no run of 1 KiB or more repeats in the %d bytes stored for the two fragments", total)
}

// storesWritten fails the case unless at least the frame bytes of frags
// were stored between the before and after reads: a search of storage
// that does not hold the media would pass vacuously. Other cases writing
// at the same time only add bytes, so this is a lower bound.
func storesWritten(t *conformance.T, before, after map[string][]byte, frags []probe.Fragment) bool {
	written := 0
	for _, f := range frags {
		for _, fr := range f.Frames {
			written += len(fr.Data)
		}
	}
	stored, regions := 0, newBytes(before, after)
	for _, r := range regions {
		stored += len(r.b)
	}
	if stored < written {
		t.Fail("the target's storage does not show the written media: %d bytes in %d files were stored since the write began, "+
			"%d bytes of frames were written", stored, len(regions), written)
		return false
	}
	t.Logf("%d bytes in %d files stored since the write began (%d bytes of frames written)", stored, len(regions), written)
	return true
}

// region is bytes of a stored file that are new since a first read.
type region struct {
	path  string
	start int // offset of b in the file
	b     []byte
}

// newBytes returns what after holds that before did not: the appended
// tail of a file that grew, or the whole of a new or rewritten file.
func newBytes(before, after map[string][]byte) []region {
	var out []region
	for _, p := range sortedPaths(after) {
		b, old := after[p], before[p]
		switch {
		case len(old) > 0 && len(b) >= len(old) && bytes.Equal(b[:len(old)], old):
			if len(b) > len(old) {
				out = append(out, region{p, len(old), b[len(old):]})
			}
		case !bytes.Equal(b, old):
			out = append(out, region{p, 0, b})
		}
	}
	return out
}

// duplicate is a run of bytes found twice.
type duplicate struct {
	a, b       region
	aRel, bRel int // offsets within the regions
	aOff, bOff int // offsets within the files
	length     int
}

// runWindow is the granularity of the repeated-run search.
const runWindow = 64

// repeatedRun finds a run of at least minLen bytes that occurs twice in
// regions and looks random (most byte values occur in it), so that text
// such as log lines that repeat is not mistaken for reused ciphertext.
func repeatedRun(regions []region, minLen int) (duplicate, bool) {
	type loc struct{ r, off int }
	seed := maphash.MakeSeed()
	first := map[uint64]loc{}
	for r, rg := range regions {
		for off := 0; off+runWindow <= len(rg.b); off += runWindow {
			h := maphash.Bytes(seed, rg.b[off:off+runWindow])
			if _, ok := first[h]; !ok {
				first[h] = loc{r, off}
			}
		}
	}
	for r, rg := range regions {
		for p := 0; p+runWindow <= len(rg.b); p++ {
			l, ok := first[maphash.Bytes(seed, rg.b[p:p+runWindow])]
			if !ok || (l.r == r && l.off == p) {
				continue
			}
			a, b := regions[l.r].b, rg.b
			if !bytes.Equal(a[l.off:l.off+runWindow], b[p:p+runWindow]) {
				continue
			}
			// Extend the match both ways.
			s1, s2 := l.off, p
			for s1 > 0 && s2 > 0 && a[s1-1] == b[s2-1] {
				s1, s2 = s1-1, s2-1
			}
			e1, e2 := l.off+runWindow, p+runWindow
			for e1 < len(a) && e2 < len(b) && a[e1] == b[e2] {
				e1, e2 = e1+1, e2+1
			}
			n := e1 - s1
			// A run overlapping itself is a periodic pattern, not a copy.
			selfOverlap := l.r == r && s1 < s2+n && s2 < s1+n
			if !selfOverlap && n >= minLen && looksRandom(a[s1:s1+minLen]) {
				return duplicate{a: regions[l.r], b: rg, aRel: s1, bRel: s2, aOff: regions[l.r].start + s1,
					bOff: rg.start + s2, length: n}, true
			}
			p = e2 - 1 // skip the rest of this run
		}
	}
	return duplicate{}, false
}

// looksRandom reports whether b uses most byte values, as ciphertext or
// random data does (1 KiB of random bytes has about 250 distinct values;
// text and encodings have under 100).
func looksRandom(b []byte) bool {
	var seen [256]bool
	n := 0
	for _, c := range b {
		if !seen[c] {
			seen[c] = true
			n++
		}
	}
	return n >= 200
}
