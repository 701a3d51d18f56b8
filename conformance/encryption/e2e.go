package encryption

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
)

// The shape of the end-to-end encrypted media the E2E cases write: a few
// small fragments are enough to place a fault in the middle of one.
const (
	e2eFragments = 3
	e2eFrames    = 4
	e2eFrameSize = 400
)

// The fragment and frame the detection cases damage: the middle of the
// stream, so that damage is not confused with an edge.
const (
	hitFragment = 1
	hitFrame    = 2
)

func e2eCases() []*conformance.Case {
	readBack := "Write " + fmt.Sprint(e2eFragments) + " end-to-end encrypted fragments of " + fmt.Sprint(e2eFrames) +
		" frames (AES-256-GCM per frame under an epoch key wrapped with HPKE for one consumer, envelope on a key track), " +
		"read them all back with GetMediaForFragmentList, and open them as the consumer"
	readBackOK := "What the target returns authenticates completely: every envelope unwraps, every frame opens, " +
		"and the frames' sealed sequence numbers run on without a gap, repeat or step back"
	return []*conformance.Case{
		{
			ID: "ENC-E2E-001", Title: "the ingest returns and stores only the producer's ciphertext", Requirement: "R-E2E-1",
			Stimulus: "Write " + fmt.Sprint(e2eFragments) + " end-to-end encrypted fragments; read them back with " +
				"GetMediaForFragmentList; if the target shows its storage, read every stored file.",
			Expected: "No plaintext frame (nor its first 32 bytes) is in the response or at rest; every block returned is " +
				"byte for byte the sealed frame or envelope the producer sent.",
			Parallel: true, Timeout: caseTimeout, Run: runCiphertextOnly,
		},
		{
			ID: "ENC-E2E-002", Title: "every fragment decrypts on its own", Requirement: "R-E2E-1",
			Source: "KVS E2E security overview: each fragment must be decryptable by an authorised consumer without the others.",
			Stimulus: "Write " + fmt.Sprint(e2eFragments) + " end-to-end encrypted fragments; read each back alone " +
				"(GetMediaForFragmentList of one fragment number) and open it with a consumer that has seen nothing else.",
			Expected: "Each fragment's envelope unwraps and all its frames open to exactly the frames the producer filmed.",
			Parallel: true, Timeout: caseTimeout, Run: runEachFragmentAlone,
		},
		{
			ID: "ENC-E2E-003", Title: "only the consumers an epoch was wrapped for can decrypt it", Requirement: "R-E2E-5",
			Stimulus: "Write 2 fragments wrapped for consumer A, then change the recipients to consumer B (A revoked) and " +
				"write a third; read all back and open them as A, as B, and as consumer C who was never a recipient.",
			Expected: "A opens the first two and not the third, B the third and not the first two, C none " +
				"(not a recipient: nothing to unwrap); no refused consumer gets any frame.",
			Parallel: true, Timeout: caseTimeout, Run: runOnlyRecipients,
		},
		{
			ID: "ENC-E2E-004", Title: "a modified frame or envelope is detected", Requirement: "R-E2E-2",
			Stimulus: readBack + "; then flip one bit in frame " + fmt.Sprint(hitFrame) + " of fragment " + fmt.Sprint(hitFragment) +
				", and separately one bit in the envelope of the last fragment, and open again.",
			Expected: readBackOK + ". With the bit flipped in the frame, exactly that frame is refused (frames before it open); " +
				"with the bit flipped in the envelope, that fragment is refused; the other fragments still open.",
			Parallel: true, Timeout: caseTimeout, Run: runDetectTamper,
		},
		{
			ID: "ENC-E2E-005", Title: "reordered frames or fragments are detected", Requirement: "R-E2E-2",
			Stimulus: readBack + "; then swap frames 1 and 2 of fragment " + fmt.Sprint(hitFragment) +
				", and separately swap the first two fragments, and open again.",
			Expected: readBackOK + ". With the frames swapped, the first moved frame (1) is refused; with the fragments " +
				"swapped, each opens but the sequence steps back at the first of them.",
			Parallel: true, Timeout: caseTimeout, Run: runDetectReorder,
		},
		{
			ID: "ENC-E2E-006", Title: "duplicated frames or fragments are detected", Requirement: "R-E2E-2",
			Stimulus: readBack + "; then repeat frame 1 of fragment " + fmt.Sprint(hitFragment) + " right after itself, and " +
				"separately repeat fragment " + fmt.Sprint(hitFragment) + ", and open again.",
			Expected: readBackOK + ". The repeated frame (at position 2) is refused; the repeated fragment opens but the " +
				"sequence repeats there.",
			Parallel: true, Timeout: caseTimeout, Run: runDetectDuplicate,
		},
		{
			ID: "ENC-E2E-007", Title: "truncated fragments and frames are detected", Requirement: "R-E2E-2",
			Stimulus: readBack + "; then drop the final frame of fragment " + fmt.Sprint(hitFragment) +
				", and separately cut the last byte off frame 0 of the last fragment, and open again.",
			Expected: readBackOK + ". Without its final frame, the fragment's new last frame is refused (it was not sealed as " +
				"final); the shortened frame is refused.",
			Parallel: true, Timeout: caseTimeout, Run: runDetectTruncation,
		},
		{
			ID: "ENC-E2E-008", Title: "media spliced in from another stream is detected", Requirement: "R-E2E-2",
			Stimulus: readBack + ", and the same for a second stream with the same timecodes and the same consumer; then put " +
				"fragment " + fmt.Sprint(hitFragment) + " of the second stream in place of the first stream's, and separately " +
				"frame " + fmt.Sprint(hitFrame) + " of it in place of the first stream's frame, and open as the first stream.",
			Expected: readBackOK + ", for both streams. The spliced fragment is refused at its envelope; the spliced frame " +
				"is refused, the frames before it open.",
			Parallel: true, Timeout: caseTimeout, Run: runDetectSplice,
		},
		{
			ID: "ENC-E2E-009", Title: "media read with GetMedia authenticates in sequence", Requirement: "R-E2E-2",
			Stimulus: "Write 4 end-to-end encrypted fragments, read the stream with GetMedia from the earliest fragment " +
				"(at most 5 s) and open the first 3 fragments as the consumer, in the order they arrive.",
			Expected: "They are the first 3 fragments written: every envelope unwraps, every frame opens to the frame filmed, " +
				"and the sealed sequence numbers run on from the first frame without a gap, repeat or step back.",
			Parallel: true, Timeout: caseTimeout, Run: runGetMediaAuthenticates,
		},
		{
			ID: "ENC-E2E-010", Title: "post-quantum envelopes for several consumers travel intact", Requirement: "R-E2E-6",
			Stimulus: "Write " + fmt.Sprint(e2eFragments) + " end-to-end encrypted fragments whose epoch key is wrapped for " +
				fmt.Sprint(hybridConsumers) + " consumers with the ML-KEM-768+X25519 hybrid KEM (an envelope of about 4.7 KiB on " +
				"the key track), read them back and open them as each consumer.",
			Expected: "Every fragment is accepted and returned; every consumer unwraps every envelope and opens every frame " +
				"to the frame filmed, in sequence.",
			Parallel: true, Timeout: caseTimeout, Run: runHybridEnvelopes,
		},
	}
}

// sealedStream is end-to-end encrypted media a case wrote.
type sealedStream struct {
	name   string
	plain  []probe.Fragment // as filmed
	sealed []probe.Fragment // as sent
	first  uint64           // sequence number of the first frame
}

// newConsumerKey makes a consumer key pair (X25519).
func newConsumerKey(t *conformance.T) *e2ee.PrivateKey {
	k, err := e2ee.GenerateKey(e2ee.KEMX25519, nil)
	t.Must(err, "generating a consumer key")
	return k
}

// writeSealed creates a stream and writes e2eFragments sealed fragments
// starting at base for the recipients; before fragment i, recipientsAt[i]
// (if set) replaces the recipients.
func writeSealed(ctx context.Context, t *conformance.T, suffix string, base int64, recipients []e2ee.PublicKey,
	recipientsAt map[int][]e2ee.PublicKey) *sealedStream {
	return writeSealedN(ctx, t, suffix, base, e2eFragments, recipients, recipientsAt)
}

// writeSealedN is writeSealed for n fragments.
func writeSealedN(ctx context.Context, t *conformance.T, suffix string, base int64, n int, recipients []e2ee.PublicKey,
	recipientsAt map[int][]e2ee.PublicKey) *sealedStream {
	name, _ := newStream(ctx, t, suffix, "")
	s, err := probe.NewSealer(e2ee.SealerConfig{Stream: name, Recipients: recipients})
	t.Must(err, "making the producer's sealer")
	ss := &sealedStream{name: name, plain: plainFragments(name, base, n, e2eFrames, e2eFrameSize), first: s.NextSeq()}
	for i, f := range ss.plain {
		if r, ok := recipientsAt[i]; ok {
			t.Must(s.E2EE().SetRecipients(r), "changing the recipients")
		}
		sf, err := s.Seal(f)
		t.Must(err, "sealing a fragment")
		ss.sealed = append(ss.sealed, sf)
	}
	put(ctx, t, admin(t), name, probe.SealedHeader(), ss.sealed)
	// Every caller judges a listing or a read of what it wrote; on an
	// eventually consistent target the listing may lag PERSISTED.
	var timecodes []int64
	for _, f := range ss.sealed {
		timecodes = append(timecodes, f.Timecode)
	}
	admin(t).AwaitListed(ctx, name, timecodes)
	return ss
}

// readAll reads every fragment of the stream back in the order listed.
func readAll(ctx context.Context, t *conformance.T, stream string) []probe.Chunk {
	list, chunks, err := admin(t).ReadAll(ctx, stream)
	if err != nil {
		t.Fatal("reading %s back: %v", stream, err)
	}
	var numbers []string
	for _, f := range list {
		numbers = append(numbers, f.FragmentNumber)
	}
	t.Logf("%s: %d fragments listed %v, %d chunks read", stream, len(list), numbers, len(chunks))
	return chunks
}

// sentAt returns the index of the fragment of ss sent at the chunk's
// producer timestamp, or -1.
func (ss *sealedStream) sentAt(ch probe.Chunk) int {
	for i, f := range ss.sealed {
		if f.Timecode == ch.ProducerTimestamp() || f.Timecode == ch.Timecode {
			return i
		}
	}
	return -1
}

// authenticates judges media read back: it must open completely, in
// sequence, to the frames filmed. It reports whether it did.
func authenticates(t *conformance.T, ss *sealedStream, key *e2ee.PrivateKey, chunks []probe.Chunk) bool {
	ok := t.Check(len(chunks) == len(ss.sealed), "%s: %d fragments read back, %d written", ss.name, len(chunks), len(ss.sealed))
	opened := probe.OpenChunks(ss.name, key, chunks)
	if err := probe.CheckSequence(opened, ss.first); err != nil {
		t.Fail("%s as read back does not authenticate: %v", ss.name, err)
		t.Evidence("fragment", "%s: %v", ss.name, err)
		return false
	}
	for i, of := range opened {
		if i >= len(ss.plain) {
			break
		}
		for j, fr := range of.Frames {
			if j >= len(ss.plain[i].Frames) || !bytes.Equal(fr.Data, ss.plain[i].Frames[j].Data) {
				t.Fail("%s fragment %s frame %d opens to other bytes than were filmed", ss.name, of.Number, j)
				return false
			}
		}
		ok = ok && t.Check(len(of.Frames) == len(ss.plain[i].Frames), "%s fragment %s has %d frames, %d were filmed",
			ss.name, of.Number, len(of.Frames), len(ss.plain[i].Frames))
	}
	if ok {
		t.Evidence("fragment", "%s: %d fragments read back open in sequence, frames %d to %d", ss.name, len(opened),
			ss.first, ss.first+uint64(len(ss.plain)*e2eFrames)-1)
	}
	return ok
}

// baseline returns the chunks the suite damages itself: those read back
// when they authenticated, otherwise the fragments as sent (so the
// detection half of a case does not depend on the target's own damage).
func baseline(t *conformance.T, ss *sealedStream, readBack []probe.Chunk, ok bool) []probe.Chunk {
	if ok {
		return readBack
	}
	t.Logf("%s: damaging the fragments as sent, since those read back did not authenticate", ss.name)
	var wire []byte
	for _, f := range ss.sealed {
		wire = append(wire, probe.SealedHeader()...)
		wire = append(wire, f.Encode()...)
	}
	chunks, err := probe.ParseChunks(wire)
	t.Must(err, "parsing the fragments as sent")
	return chunks
}

// cloneChunk copies a chunk deeply enough to damage its blocks.
func cloneChunk(ch probe.Chunk) probe.Chunk {
	out := ch
	out.Blocks = make([]probe.Block, len(ch.Blocks))
	for i, b := range ch.Blocks {
		b.Data = bytes.Clone(b.Data)
		out.Blocks[i] = b
	}
	return out
}

// keyTrackOf is the chunk's key track number (0: none).
func keyTrackOf(ch probe.Chunk) uint64 {
	for _, tr := range ch.Tracks {
		if tr.CodecID == e2ee.CodecID {
			return tr.Number
		}
	}
	return 0
}

// videoBlocks returns the indexes in ch.Blocks of the video frames.
func videoBlocks(ch probe.Chunk) []int {
	key := keyTrackOf(ch)
	var idx []int
	for i, b := range ch.Blocks {
		if b.Track != key {
			idx = append(idx, i)
		}
	}
	return idx
}

// envelopeBlock returns the index in ch.Blocks of the envelope, or -1.
func envelopeBlock(ch probe.Chunk) int {
	key := keyTrackOf(ch)
	for i, b := range ch.Blocks {
		if key != 0 && b.Track == key {
			return i
		}
	}
	return -1
}

// expectRefused opens chunks (in order) as the consumer of stream after the
// suite damaged fragment at; the fragment must fail exactly at frame
// failAt (-1: as a whole) with an authentication failure, and every other
// fragment must open.
func expectRefused(t *conformance.T, what, stream string, key *e2ee.PrivateKey, chunks []probe.Chunk, at, failAt int) {
	opened := probe.OpenChunks(stream, key, chunks)
	for i, of := range opened {
		got := of.FailedAt()
		switch {
		case i != at && got != len(of.Frames):
			t.Fail("%s: fragment %d, which was not damaged, no longer opens: %v", what, i, of.FirstFailure())
		case i == at && got == len(of.Frames):
			t.Fail("%s: the damaged fragment %d opened completely: the consumer did not detect the damage", what, i)
		case i == at && got != failAt:
			t.Fail("%s: the damaged fragment %d was refused at frame %d, want frame %d (-1: the envelope): %v", what, i, got, failAt, of.FirstFailure())
		case i == at:
			err := of.FirstFailure()
			if !errors.Is(err, e2ee.ErrAuth) {
				t.Fail("%s: fragment %d was refused, but not as an authentication failure: %v", what, i, err)
			} else {
				t.Evidence("fragment", "%s: refused as expected: %v", what, err)
			}
		}
	}
}

// expectOutOfSequence opens chunks and expects every fragment to open but
// the sequence check to fail.
func expectOutOfSequence(t *conformance.T, what, stream string, ss *sealedStream, key *e2ee.PrivateKey, chunks []probe.Chunk) {
	opened := probe.OpenChunks(stream, key, chunks)
	for i, of := range opened {
		if !of.OK() {
			t.Fail("%s: fragment %d does not open on its own: %v", what, i, of.FirstFailure())
			return
		}
	}
	err := probe.CheckSequence(opened, ss.first)
	if err == nil {
		t.Fail("%s: every fragment opens and the sequence looks whole: the consumer did not detect it", what)
		return
	}
	t.Evidence("fragment", "%s: detected: %v", what, err)
}

// detectionCase writes a stream, checks what comes back, and returns the
// chunks the case damages itself.
func detectionCase(ctx context.Context, t *conformance.T) (*sealedStream, *e2ee.PrivateKey, []probe.Chunk) {
	key := newConsumerKey(t)
	ss := writeSealed(ctx, t, "e2e", baseTimecode(), []e2ee.PublicKey{key.Public()}, nil)
	got := readAll(ctx, t, ss.name)
	ok := authenticates(t, ss, key, got)
	return ss, key, baseline(t, ss, got, ok)
}

// damaged returns a copy of chunks with fragment at changed by f.
func damaged(chunks []probe.Chunk, at int, f func(*probe.Chunk)) []probe.Chunk {
	out := append([]probe.Chunk(nil), chunks...)
	ch := cloneChunk(out[at])
	f(&ch)
	out[at] = ch
	return out
}

func runDetectTamper(ctx context.Context, t *conformance.T) {
	ss, key, base := detectionCase(ctx, t)
	frameFlip := damaged(base, hitFragment, func(ch *probe.Chunk) {
		b := ch.Blocks[videoBlocks(*ch)[hitFrame]].Data
		b[len(b)/2] ^= 0x10
	})
	expectRefused(t, fmt.Sprintf("bit flipped in frame %d of fragment %d", hitFrame, hitFragment), ss.name, key, frameFlip, hitFragment, hitFrame)
	last := len(base) - 1
	envFlip := damaged(base, last, func(ch *probe.Chunk) {
		b := ch.Blocks[envelopeBlock(*ch)].Data
		b[len(b)-1] ^= 0x01
	})
	expectRefused(t, fmt.Sprintf("bit flipped in the envelope of fragment %d", last), ss.name, key, envFlip, last, -1)
}

func runDetectReorder(ctx context.Context, t *conformance.T) {
	ss, key, base := detectionCase(ctx, t)
	swapped := damaged(base, hitFragment, func(ch *probe.Chunk) {
		v := videoBlocks(*ch)
		ch.Blocks[v[1]].Data, ch.Blocks[v[2]].Data = ch.Blocks[v[2]].Data, ch.Blocks[v[1]].Data
	})
	expectRefused(t, fmt.Sprintf("frames 1 and 2 of fragment %d swapped", hitFragment), ss.name, key, swapped, hitFragment, 1)
	frags := append([]probe.Chunk(nil), base...)
	frags[0], frags[1] = frags[1], frags[0]
	expectOutOfSequence(t, "fragments 0 and 1 swapped", ss.name, ss, key, frags)
}

func runDetectDuplicate(ctx context.Context, t *conformance.T) {
	ss, key, base := detectionCase(ctx, t)
	dup := damaged(base, hitFragment, func(ch *probe.Chunk) {
		v := videoBlocks(*ch)
		b := ch.Blocks[v[1]]
		b.Data = bytes.Clone(b.Data)
		ch.Blocks = append(ch.Blocks[:v[1]+1], append([]probe.Block{b}, ch.Blocks[v[1]+1:]...)...)
	})
	expectRefused(t, fmt.Sprintf("frame 1 of fragment %d repeated", hitFragment), ss.name, key, dup, hitFragment, 2)
	frags := append(append(append([]probe.Chunk(nil), base[:hitFragment+1]...), base[hitFragment]), base[hitFragment+1:]...)
	expectOutOfSequence(t, fmt.Sprintf("fragment %d repeated", hitFragment), ss.name, ss, key, frags)
}

func runDetectTruncation(ctx context.Context, t *conformance.T) {
	ss, key, base := detectionCase(ctx, t)
	dropped := damaged(base, hitFragment, func(ch *probe.Chunk) {
		v := videoBlocks(*ch)
		last := v[len(v)-1]
		ch.Blocks = append(ch.Blocks[:last], ch.Blocks[last+1:]...)
	})
	expectRefused(t, fmt.Sprintf("final frame of fragment %d dropped", hitFragment), ss.name, key, dropped, hitFragment, e2eFrames-2)
	last := len(base) - 1
	cut := damaged(base, last, func(ch *probe.Chunk) {
		i := videoBlocks(*ch)[0]
		ch.Blocks[i].Data = ch.Blocks[i].Data[:len(ch.Blocks[i].Data)-1]
	})
	expectRefused(t, fmt.Sprintf("last byte of frame 0 of fragment %d cut off", last), ss.name, key, cut, last, 0)
}

func runDetectSplice(ctx context.Context, t *conformance.T) {
	key := newConsumerKey(t)
	base := baseTimecode()
	a := writeSealed(ctx, t, "a", base, []e2ee.PublicKey{key.Public()}, nil)
	b := writeSealed(ctx, t, "b", base, []e2ee.PublicKey{key.Public()}, nil)
	gotA, gotB := readAll(ctx, t, a.name), readAll(ctx, t, b.name)
	okA := authenticates(t, a, key, gotA)
	okB := authenticates(t, b, key, gotB)
	baseA, baseB := baseline(t, a, gotA, okA), baseline(t, b, gotB, okB)
	if len(baseA) <= hitFragment || len(baseB) <= hitFragment {
		t.Fatal("too few fragments to splice: %d and %d", len(baseA), len(baseB))
	}
	whole := append([]probe.Chunk(nil), baseA...)
	whole[hitFragment] = baseB[hitFragment]
	expectRefused(t, fmt.Sprintf("fragment %d of %s in place of %s's", hitFragment, b.name, a.name), a.name, key, whole, hitFragment, -1)
	frame := damaged(baseA, hitFragment, func(ch *probe.Chunk) {
		src := baseB[hitFragment]
		ch.Blocks[videoBlocks(*ch)[hitFrame]].Data = bytes.Clone(src.Blocks[videoBlocks(src)[hitFrame]].Data)
	})
	expectRefused(t, fmt.Sprintf("frame %d of %s's fragment %d in place of %s's", hitFrame, b.name, hitFragment, a.name),
		a.name, key, frame, hitFragment, hitFrame)
}

func runCiphertextOnly(ctx context.Context, t *conformance.T) {
	key := newConsumerKey(t)
	ss := writeSealed(ctx, t, "e2e", baseTimecode(), []e2ee.PublicKey{key.Public()}, nil)
	c := admin(t)
	list, err := c.ListFragments(ctx, ss.name)
	if err != nil {
		t.Fatal("ListFragments %s: %v", ss.name, err)
	}
	var numbers []string
	for _, f := range list {
		numbers = append(numbers, f.FragmentNumber)
	}
	chunks, body, err := c.ReadFragments(ctx, ss.name, numbers)
	if err != nil {
		t.Fatal("reading %s back: %v", ss.name, err)
	}
	t.Check(len(chunks) == len(ss.sealed), "%d fragments read back, %d written", len(chunks), len(ss.sealed))
	where := map[string][]byte{"the GetMediaForFragmentList response": body}
	if t.Target.Storage != nil {
		for p, b := range storedFiles(ctx, t) {
			where["stored file "+p] = b
		}
	}
	leaks := 0
	for fi, f := range ss.plain {
		for i, fr := range f.Frames {
			for w, b := range where {
				if off := bytes.Index(b, fr.Data[:32]); off >= 0 {
					leaks++
					t.Fail("plaintext of frame %d of fragment %d is in %s at byte %d", i, fi, w, off)
					t.Evidence("bytes", "%s offset %d: plaintext frame %d of fragment %d", w, off, i, fi)
				}
			}
		}
	}
	for _, ch := range chunks {
		i := ss.sentAt(ch)
		if i < 0 {
			t.Fail("fragment %s (producer timestamp %d) was not written by the case", ch.FragmentNumber(), ch.ProducerTimestamp())
			continue
		}
		sent := ss.sealed[i].Frames // the envelope, then the sealed frames
		env, video := envelopeBlock(ch), videoBlocks(ch)
		switch {
		case env < 0:
			t.Fail("fragment %s: no envelope (key track block) returned", ch.FragmentNumber())
		case !bytes.Equal(ch.Blocks[env].Data, sent[0].Data):
			got := ch.Blocks[env].Data
			t.Fail("fragment %s: the envelope returned is not the one the producer sent (first difference at byte %d of %d)",
				ch.FragmentNumber(), firstDiff(got, sent[0].Data), len(sent[0].Data))
			t.Evidence("fragment", "%s: envelope differs from the one sent at byte %d", ch.FragmentNumber(), firstDiff(got, sent[0].Data))
		}
		if len(video) != len(sent)-1 {
			t.Fail("fragment %s: %d frames returned, %d sent", ch.FragmentNumber(), len(video), len(sent)-1)
			continue
		}
		for j, bi := range video {
			if got := ch.Blocks[bi].Data; !bytes.Equal(got, sent[j+1].Data) {
				t.Fail("fragment %s frame %d: the bytes returned are not the sealed frame the producer sent (first difference at byte %d)",
					ch.FragmentNumber(), j, firstDiff(got, sent[j+1].Data))
			}
		}
	}
	if leaks == 0 {
		t.Evidence("note", "no plaintext frame in the response (%d bytes) or in %d stored files", len(body), len(where)-1)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func runEachFragmentAlone(ctx context.Context, t *conformance.T) {
	key := newConsumerKey(t)
	ss := writeSealed(ctx, t, "e2e", baseTimecode(), []e2ee.PublicKey{key.Public()}, nil)
	c := admin(t)
	list, err := c.ListFragments(ctx, ss.name)
	if err != nil {
		t.Fatal("ListFragments %s: %v", ss.name, err)
	}
	t.Check(len(list) == len(ss.sealed), "%d fragments listed, %d written", len(list), len(ss.sealed))
	for _, f := range list {
		chunks, _, err := c.ReadFragments(ctx, ss.name, []string{f.FragmentNumber})
		if err != nil || len(chunks) != 1 {
			t.Fail("GetMediaForFragmentList of fragment %s alone: %d chunks, %v; want 1", f.FragmentNumber, len(chunks), err)
			continue
		}
		of := probe.OpenChunk(e2ee.NewOpener(ss.name, key), chunks[0])
		if err := of.FirstFailure(); err != nil {
			t.Fail("fragment %s read alone does not open: %v", f.FragmentNumber, err)
			t.Evidence("fragment", "%s alone: %v", f.FragmentNumber, err)
			continue
		}
		i := ss.sentAt(chunks[0])
		if i < 0 || len(of.Frames) != len(ss.plain[i].Frames) {
			t.Fail("fragment %s read alone opens to %d frames that were not written as one fragment", f.FragmentNumber, len(of.Frames))
			continue
		}
		for j, fr := range of.Frames {
			if !bytes.Equal(fr.Data, ss.plain[i].Frames[j].Data) {
				t.Fail("fragment %s frame %d read alone opens to other bytes than were filmed", f.FragmentNumber, j)
			}
		}
		t.Evidence("fragment", "%s alone: %d frames open, sequence %d..%d", f.FragmentNumber, len(of.Frames),
			of.Frames[0].Seq, of.Frames[len(of.Frames)-1].Seq)
	}
}

func runOnlyRecipients(ctx context.Context, t *conformance.T) {
	a, b, c := newConsumerKey(t), newConsumerKey(t), newConsumerKey(t)
	ss := writeSealed(ctx, t, "e2e", baseTimecode(), []e2ee.PublicKey{a.Public()},
		map[int][]e2ee.PublicKey{2: {b.Public()}})
	chunks := readAll(ctx, t, ss.name)
	// Judging only what was read back would pass on a target that
	// returns nothing: every fragment written must be there.
	t.Check(len(chunks) == len(ss.sealed), "%d fragments read back, %d written", len(chunks), len(ss.sealed))
	seen := map[int]bool{}
	for _, ch := range chunks {
		if i := ss.sentAt(ch); i >= 0 {
			seen[i] = true
		}
	}
	for i, f := range ss.sealed {
		t.Check(seen[i], "fragment %d (producer timestamp %d), written and PERSISTED, was not read back", i, f.Timecode)
	}
	for _, who := range []struct {
		name  string
		key   *e2ee.PrivateKey
		opens func(i int) bool // by fragment index as written
	}{
		{"A (recipient of fragments 0 and 1, then revoked)", a, func(i int) bool { return i < 2 }},
		{"B (recipient from fragment 2)", b, func(i int) bool { return i >= 2 }},
		{"C (never a recipient)", c, func(int) bool { return false }},
	} {
		o := e2ee.NewOpener(ss.name, who.key)
		for _, ch := range chunks {
			i := ss.sentAt(ch)
			if i < 0 {
				t.Fail("fragment %s was not written by the case", ch.FragmentNumber())
				continue
			}
			of := probe.OpenChunk(o, ch)
			err := of.FirstFailure()
			opened := 0
			for _, fr := range of.Frames {
				if fr.Err == nil {
					opened++
				}
			}
			switch {
			case who.opens(i) && err != nil:
				t.Fail("consumer %s cannot open fragment %d (%s): %v", who.name, i, ch.FragmentNumber(), err)
				t.Evidence("fragment", "%s, fragment %d: %v", who.name, i, err)
			case !who.opens(i) && opened > 0:
				t.Fail("consumer %s opened %d frames of fragment %d (%s), whose epoch was not wrapped for it", who.name, opened, i, ch.FragmentNumber())
			case !who.opens(i) && !errors.Is(err, e2ee.ErrNotRecipient):
				t.Fail("consumer %s was refused fragment %d, but not as a non-recipient: %v", who.name, i, err)
			case !who.opens(i):
				t.Evidence("fragment", "%s, fragment %d: refused: %v", who.name, i, err)
			}
		}
	}
}

func runGetMediaAuthenticates(ctx context.Context, t *conformance.T) {
	key := newConsumerKey(t)
	ss := writeSealedN(ctx, t, "e2e", baseTimecode(), 4, []e2ee.PublicKey{key.Public()}, nil)
	// GetMedia follows a live stream: a fourth fragment tells the reader
	// that the third is whole without waiting out the window.
	chunks, err := admin(t).GetMedia(ctx, ss.name, kvsapi.StartSelector{StartSelectorType: kvsapi.StartEarliest}, 5*time.Second, 3)
	if err != nil {
		t.Fatal("GetMedia %s: %v", ss.name, err)
	}
	first3 := &sealedStream{name: ss.name, plain: ss.plain[:3], sealed: ss.sealed[:3], first: ss.first}
	authenticates(t, first3, key, chunks)
}

// hybridConsumers is how many ML-KEM hybrid consumers ENC-E2E-010 wraps
// each epoch for.
const hybridConsumers = 4

func runHybridEnvelopes(ctx context.Context, t *conformance.T) {
	var keys []*e2ee.PrivateKey
	var pubs []e2ee.PublicKey
	for range hybridConsumers {
		k, err := e2ee.GenerateKey(e2ee.KEMMLKEM768X25519, nil)
		t.Must(err, "generating an ML-KEM-768+X25519 consumer key")
		keys = append(keys, k)
		pubs = append(pubs, k.Public())
	}
	ss := writeSealed(ctx, t, "pq", baseTimecode(), pubs, nil)
	t.Evidence("note", "envelope of %d bytes on the key track of every fragment", len(ss.sealed[0].Frames[0].Data))
	chunks := readAll(ctx, t, ss.name)
	for i, k := range keys {
		t.Logf("opening as hybrid consumer %d (key %v)", i, k.Public().ID())
		authenticates(t, ss, k, chunks)
	}
}
