package rotation

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
)

const e2eeSource = "AWS IoT blog, Amazon Kinesis Video Streams Privacy and E2E Security Overview: endpoint keys are stored and rotated locally; a revoked consumer cannot decrypt media produced after its revocation. camstorm's format: docs/E2EE.md §7 (rotation)."

func e2eeCases() []*conformance.Case {
	return []*conformance.Case{
		{
			ID: "ROT-E2E-001", Requirement: "R-E2E-5", Parallel: true,
			Title:    "E2EE epochs rotate on schedule and every fragment read back names its epoch",
			Source:   e2eeSource,
			Stimulus: "A producer seals 6 one-second fragments for one consumer with a 3-second epoch age limit (epochs 1,1,1,2,2,2) and uploads them; read every fragment back and open it as the consumer.",
			Expected: "Each fragment comes back in order with one envelope whose epoch equals the epoch of all its sealed frames and the epoch it was sealed under; the second epoch starts at the fourth fragment; the consumer opens every frame, byte-identical, with consecutive sequence numbers.",
			Run:      runScheduledEpochs,
		},
		{
			ID: "ROT-E2E-002", Requirement: "R-E2E-5", Parallel: true,
			Title:    "A revoked consumer opens what came before its revocation and nothing after",
			Source:   e2eeSource,
			Stimulus: "A producer seals 3 fragments for consumers alice and bob, removes bob from its recipients (a new epoch), seals 3 more, and uploads all 6; read everything back and open it as each consumer.",
			Expected: "Envelopes before the revocation name both consumers' key ids, envelopes after it only alice's; bob opens exactly the 3 earlier fragments and gets 'not a recipient' for the 3 later ones; alice opens all 6 in order with consecutive sequence numbers.",
			Run:      runRevocation,
		},
		{
			ID: "ROT-E2E-003", Requirement: "R-E2E-5", Parallel: true,
			Title:    "Revocation at a reconnect: the fragment cut and resent is stored once under the new epoch",
			Source:   e2eeSource,
			Stimulus: "A producer uploads 2 fragments for alice and bob, revokes bob, starts the third fragment (new epoch), is cut off mid-fragment after its BUFFERING ACK, reconnects and resends the third fragment whole, then a fourth; each fragment is then read back on its own (GetMediaForFragmentList of one fragment) and opened by both consumers.",
			Expected: "4 fragments are listed and PERSISTED; read one at a time, bob opens the first 2 and neither of the last 2; alice opens all 4 with consecutive sequence numbers.",
			Run:      runRevocationAtReconnect,
		},
		{
			ID: "ROT-E2E-004", Requirement: "R-E2E-3", Parallel: true,
			Title:    "Across epochs the target carries only the wrapped keys the producer sent",
			Source:   "AWS IoT blog, Amazon Kinesis Video Streams Privacy and E2E Security Overview: the service carries only encrypted content and wrapped keys.",
			Stimulus: "A producer seals 4 fragments for alice and bob over 2 epochs (bob revoked before the third), recording every content key it draws, and uploads them; read them back (and, where the target shows its storage, scan it).",
			Expected: "Every fragment comes back in order with its envelope and sealed frames byte-identical to what was sent; each envelope lists exactly the consumers' key ids; no content key, private key or plaintext frame appears in what the target returns or stores.",
			Run:      runOnlyWrappedKeys,
		},
	}
}

// consumers are two consumer key pairs, alice and bob.
type consumers struct{ alice, bob *e2ee.PrivateKey }

func newConsumers(t *conformance.T) consumers {
	a, err := e2ee.GenerateKey(e2ee.KEMX25519, nil)
	t.Must(err, "generating a consumer key")
	b, err := e2ee.GenerateKey(e2ee.KEMX25519, nil)
	t.Must(err, "generating a consumer key")
	return consumers{a, b}
}

// sealedRun is what a producer sent: plaintext and sealed fragments, and
// the epoch each was sealed under.
type sealedRun struct {
	plain, sealed []probe.Fragment
	epochs        []uint32
}

// seal seals frags with s, appending to r.
func (r *sealedRun) seal(t *conformance.T, s *probe.Sealer, frags []probe.Fragment) []probe.Fragment {
	var out []probe.Fragment
	for _, f := range frags {
		sf, err := s.Seal(f)
		t.Must(err, fmt.Sprintf("sealing the fragment at %d", f.Timecode))
		r.plain = append(r.plain, f)
		r.sealed = append(r.sealed, sf)
		r.epochs = append(r.epochs, s.E2EE().Epoch())
		out = append(out, sf)
	}
	return out
}

// putSealed uploads sealed fragments; all must be PERSISTED.
func putSealed(ctx context.Context, t *conformance.T, c *probe.Client, stream string, frags []probe.Fragment) bool {
	acks, err := c.PutWithHeader(ctx, stream, probe.SealedHeader(), frags...)
	if err != nil {
		t.Fail("uploading %d sealed fragments to %s: %v (ACKs: %s)", len(frags), stream, err, ackLines(acks))
		return false
	}
	awaitListed(ctx, c, stream, frags)
	return true
}

// keyTrackOf is the chunk's E2EE key track number (0: none).
func keyTrackOf(ch probe.Chunk) uint64 {
	for _, tr := range ch.Tracks {
		if tr.CodecID == e2ee.CodecID {
			return tr.Number
		}
	}
	return 0
}

// envelopeOf returns the chunk's single envelope, or nil.
func envelopeOf(ch probe.Chunk) []byte {
	kt := keyTrackOf(ch)
	if kt == 0 {
		return nil
	}
	envs := ch.FramesOf(kt)
	if len(envs) != 1 {
		return nil
	}
	return envs[0]
}

// envelopeEpoch reads an envelope's epoch (docs/E2EE.md §4).
func envelopeEpoch(env []byte) (uint32, bool) {
	if len(env) < 16 || string(env[:4]) != "CSE1" {
		return 0, false
	}
	return binary.BigEndian.Uint32(env[5:9]), true
}

// envelopeKeyIDs lists the key ids an envelope wraps the epoch key for
// (docs/E2EE.md §4); ok is false when it does not parse exactly.
func envelopeKeyIDs(env []byte) (ids []e2ee.KeyID, ok bool) {
	if _, ok := envelopeEpoch(env); !ok {
		return nil, false
	}
	off := 16
	for range int(env[15]) {
		if len(env) < off+10 {
			return nil, false
		}
		var id e2ee.KeyID
		copy(id[:], env[off:off+8])
		nenc := int(binary.BigEndian.Uint16(env[off+8:]))
		off += 10 + nenc
		if len(env) < off+2 {
			return nil, false
		}
		nct := int(binary.BigEndian.Uint16(env[off:]))
		off += 2 + nct
		if len(env) < off {
			return nil, false
		}
		ids = append(ids, id)
	}
	return ids, off == len(env)
}

// frameEpoch reads a sealed frame's epoch (docs/E2EE.md §5).
func frameEpoch(sealed []byte) (uint32, bool) {
	if len(sealed) < 5 {
		return 0, false
	}
	return binary.BigEndian.Uint32(sealed[1:5]), true
}

// readSealed reads the stream back; a failure to read is recorded.
func readSealed(ctx context.Context, t *conformance.T, c *probe.Client, stream string, want int) ([]probe.Chunk, bool) {
	listed, chunks, err := c.ReadAll(ctx, stream)
	if err != nil {
		t.Fail("reading %s back: %v", stream, err)
		return chunks, false
	}
	ok := t.Check(len(listed) == want, "ListFragments lists %d fragments of %s, want the %d uploaded", len(listed), stream, want)
	return chunks, t.Check(len(chunks) == want, "GetMediaForFragmentList returned %d chunks of %s, want %d", len(chunks), stream, want) && ok
}

// indexByTimecode maps a chunk to the sent fragment with its producer
// timestamp (-1: none).
func indexByTimecode(ch probe.Chunk, sent []probe.Fragment) int {
	pt := ch.ProducerTimestamp()
	for i, f := range sent {
		if f.Timecode == pt {
			return i
		}
	}
	return -1
}

// checkOpensAll opens chunks as key and checks every frame opens to the
// plaintext sent, with consecutive sequence numbers from 0.
func checkOpensAll(t *conformance.T, stream, who string, key *e2ee.PrivateKey, chunks []probe.Chunk, run *sealedRun) {
	opened := probe.OpenChunks(stream, key, chunks)
	if err := probe.CheckSequence(opened, 0); err != nil {
		t.Fail("%s opening %s in the order served: %v", who, stream, err)
		return
	}
	for i, of := range opened {
		j := indexByTimecode(chunks[i], run.plain)
		if j < 0 {
			t.Fail("%s: chunk %d (fragment %s) has producer timestamp %d, which was never sent", who, i, of.Number, chunks[i].ProducerTimestamp())
			continue
		}
		for k, fr := range of.Frames {
			if k >= len(run.plain[j].Frames) || !bytes.Equal(fr.Data, run.plain[j].Frames[k].Data) {
				t.Fail("%s: fragment %s frame %d opens to bytes other than those sealed", who, of.Number, k)
				break
			}
		}
	}
	t.Evidence("e2ee", "%s opened all %d fragments of %s, sequence numbers consecutive", who, len(opened), stream)
}

func runScheduledEpochs(ctx context.Context, t *conformance.T) {
	c := admin(t)
	cs := newConsumers(t)
	s := newStream(ctx, t, c, "epochs", "")
	sealer, err := probe.NewSealer(e2ee.SealerConfig{Stream: s.StreamName, Recipients: []e2ee.PublicKey{cs.alice.Public()}, RotateAfter: 3 * time.Second})
	t.Must(err, "making the producer's sealer")
	var run sealedRun
	sent := run.seal(t, sealer, fragments("rot-e2e-001", baseTimecode(), 0, 6))
	if slices.Equal(run.epochs, []uint32{1, 1, 1, 1, 1, 1}) {
		t.Harnessf("the sealer did not rotate on its 3 s schedule (epochs %v)", run.epochs)
	}
	if !putSealed(ctx, t, c, s.StreamName, sent) {
		return
	}
	chunks, _ := readSealed(ctx, t, c, s.StreamName, len(sent))
	var served []uint32
	for i, ch := range chunks {
		env := envelopeOf(ch)
		ep, ok := envelopeEpoch(env)
		if !ok {
			t.Fail("chunk %d (fragment %s) carries no readable envelope on its key track (%d bytes)", i, ch.FragmentNumber(), len(env))
			continue
		}
		served = append(served, ep)
		for k, fr := range ch.FramesOf(1) {
			if fe, ok := frameEpoch(fr); !ok || fe != ep {
				t.Fail("fragment %s names epoch %d in its envelope but frame %d is sealed under epoch %d", ch.FragmentNumber(), ep, k, fe)
				break
			}
		}
		if i < len(run.epochs) {
			t.Check(ep == run.epochs[i], "chunk %d (fragment %s, producer timestamp %d) is under epoch %d; the fragment sent in that place was sealed under epoch %d", i, ch.FragmentNumber(), ch.ProducerTimestamp(), ep, run.epochs[i])
		}
	}
	t.Evidence("e2ee", "epochs sealed %v, epochs as served %v", run.epochs, served)
	checkOpensAll(t, s.StreamName, "the consumer", cs.alice, chunks, &run)
}

func runRevocation(ctx context.Context, t *conformance.T) {
	c := admin(t)
	cs := newConsumers(t)
	s := newStream(ctx, t, c, "revoked", "")
	sealer, err := probe.NewSealer(e2ee.SealerConfig{Stream: s.StreamName, Recipients: []e2ee.PublicKey{cs.alice.Public(), cs.bob.Public()}})
	t.Must(err, "making the producer's sealer")
	var run sealedRun
	frags := fragments("rot-e2e-002", baseTimecode(), 0, 6)
	run.seal(t, sealer, frags[:3])
	t.Must(sealer.E2EE().SetRecipients([]e2ee.PublicKey{cs.alice.Public()}), "revoking bob at the producer")
	run.seal(t, sealer, frags[3:])
	t.Evidence("e2ee", "epochs sealed %v; bob revoked before fragment 4", run.epochs)
	if !putSealed(ctx, t, c, s.StreamName, run.sealed) {
		return
	}
	chunks, _ := readSealed(ctx, t, c, s.StreamName, len(run.sealed))
	checkRevocation(t, s.StreamName, cs, chunks, &run, 3)
	checkOpensAll(t, s.StreamName, "alice", cs.alice, chunks, &run)
}

// checkRevocation checks that bob opens exactly the fragments sent before
// index revokedAt and that later envelopes do not name him.
func checkRevocation(t *conformance.T, stream string, cs consumers, chunks []probe.Chunk, run *sealedRun, revokedAt int) {
	bobID, aliceID := cs.bob.Public().ID(), cs.alice.Public().ID()
	bob := probe.OpenChunks(stream, cs.bob, chunks)
	opened, refused := 0, 0
	for i, of := range bob {
		j := indexByTimecode(chunks[i], run.plain)
		if j < 0 {
			t.Fail("chunk %d (fragment %s) has producer timestamp %d, which was never sent", i, of.Number, chunks[i].ProducerTimestamp())
			continue
		}
		ids, ok := envelopeKeyIDs(envelopeOf(chunks[i]))
		if !ok {
			t.Fail("fragment %s (sent %d) carries an envelope that does not parse", of.Number, j+1)
		} else if j < revokedAt {
			t.Check(slices.Contains(ids, bobID) && slices.Contains(ids, aliceID), "fragment %s (sent %d, before the revocation) has an envelope for key ids %v, want alice's %v and bob's %v", of.Number, j+1, ids, aliceID, bobID)
		} else {
			t.Check(!slices.Contains(ids, bobID), "fragment %s (sent %d, after the revocation) still wraps its key for bob (%v)", of.Number, j+1, bobID)
		}
		if j < revokedAt {
			if err := of.FirstFailure(); err != nil {
				t.Fail("bob cannot open fragment %s (sent %d, before his revocation): %v", of.Number, j+1, err)
				continue
			}
			opened++
			continue
		}
		switch {
		case of.Err == nil:
			t.Fail("bob, revoked, opened fragment %s (sent %d, after his revocation)", of.Number, j+1)
		case !errors.Is(of.Err, e2ee.ErrNotRecipient):
			t.Fail("bob's opening of fragment %s (sent %d, after his revocation) failed with %v, want 'not a recipient' (the envelope was altered?)", of.Number, j+1, of.Err)
		default:
			refused++
			if refused == 1 {
				t.Evidence("e2ee", "bob, revoked: fragment %s (sent %d): %v", of.Number, j+1, of.Err)
			}
		}
	}
	t.Evidence("e2ee", "%s: bob opened %d fragments from before his revocation and was refused %d from after it", stream, opened, refused)
}

// awaitAck waits for an ACK of typ for the fragment at tc.
func awaitAck(ctx context.Context, u *probe.Upload, tc int64, typ kvsapi.EventType) error {
	_, err := u.AwaitAck(ctx, 15*time.Second, tc, typ)
	return err
}

func runRevocationAtReconnect(ctx context.Context, t *conformance.T) {
	c := admin(t)
	cs := newConsumers(t)
	s := newStream(ctx, t, c, "reconnect", "")
	sealer, err := probe.NewSealer(e2ee.SealerConfig{Stream: s.StreamName, Recipients: []e2ee.PublicKey{cs.alice.Public(), cs.bob.Public()}})
	t.Must(err, "making the producer's sealer")
	var run sealedRun
	frags := fragments("rot-e2e-003", baseTimecode(), 0, 4)
	first := run.seal(t, sealer, frags[:2])
	if !putSealed(ctx, t, c, s.StreamName, first) {
		return
	}
	t.Must(sealer.E2EE().SetRecipients([]e2ee.PublicKey{cs.alice.Public()}), "revoking bob at the producer")
	rest := run.seal(t, sealer, frags[2:])

	u, err := c.StartUpload(ctx, s.StreamName, probe.SealedHeader())
	if err != nil {
		t.Fail("PutMedia to %s refused: %v", s.StreamName, err)
		return
	}
	enc := rest[0].Encode()
	if err := u.Write(enc[:len(enc)/2]); err != nil {
		t.Fail("sending half of the third fragment: %v", err)
	}
	if err := awaitAck(ctx, u, rest[0].Timecode, kvsapi.EventBuffering); err != nil {
		t.Fail("no BUFFERING ACK for the third fragment's first half: %v", err)
	}
	u.Cut()
	t.Evidence("note", "upload cut after %d of the third fragment's %d bytes (ACKs: %s)", len(enc)/2, len(enc), ackLines(u.Acks()))
	if !putSealed(ctx, t, c, s.StreamName, rest) {
		return
	}

	listed, err := c.ListFragments(ctx, s.StreamName)
	if err != nil {
		t.Fail("ListFragments %s: %v", s.StreamName, err)
		return
	}
	t.Check(len(listed) == 4, "ListFragments lists %d fragments of %s, want 4 (2, then the cut one resent, then 1)", len(listed), s.StreamName)
	var chunks []probe.Chunk
	for _, f := range listed {
		got, _, err := c.ReadFragments(ctx, s.StreamName, []string{f.FragmentNumber})
		if err != nil || len(got) != 1 {
			t.Fail("GetMediaForFragmentList of fragment %s alone: %d chunks, %v", f.FragmentNumber, len(got), err)
			continue
		}
		chunks = append(chunks, got[0])
	}
	checkRevocation(t, s.StreamName, cs, chunks, &run, 2)
	checkOpensAll(t, s.StreamName, "alice", cs.alice, chunks, &run)
	t.Check(len(chunks) == len(run.plain), "alice could read %d fragments, want %d", len(chunks), len(run.plain))
}

// recordingRand passes crypto/rand through and keeps every read of 16
// bytes or more: the content keys a Sealer draws.
type recordingRand struct {
	mu    sync.Mutex
	drawn [][]byte
}

func (r *recordingRand) Read(p []byte) (int, error) {
	n, err := io.ReadFull(crand.Reader, p)
	if n >= 16 {
		r.mu.Lock()
		r.drawn = append(r.drawn, bytes.Clone(p[:n]))
		r.mu.Unlock()
	}
	return n, err
}

func runOnlyWrappedKeys(ctx context.Context, t *conformance.T) {
	c := admin(t)
	cs := newConsumers(t)
	s := newStream(ctx, t, c, "wrapped", "")
	rnd := &recordingRand{}
	sealer, err := probe.NewSealer(e2ee.SealerConfig{Stream: s.StreamName, Recipients: []e2ee.PublicKey{cs.alice.Public(), cs.bob.Public()},
		RotateFragments: 2, Rand: rnd})
	t.Must(err, "making the producer's sealer")
	var run sealedRun
	frags := fragments("rot-e2e-004", baseTimecode(), 0, 4)
	run.seal(t, sealer, frags[:2])
	t.Must(sealer.E2EE().SetRecipients([]e2ee.PublicKey{cs.alice.Public()}), "revoking bob at the producer")
	run.seal(t, sealer, frags[2:])
	if len(rnd.drawn) < 2 {
		t.Harnessf("the sealer drew %d content keys for 2 epochs; cannot tell what to look for", len(rnd.drawn))
	}
	if !putSealed(ctx, t, c, s.StreamName, run.sealed) {
		return
	}
	listed, err := c.ListFragments(ctx, s.StreamName)
	if err != nil {
		t.Fail("ListFragments %s: %v", s.StreamName, err)
		return
	}
	var numbers []string
	for _, f := range listed {
		numbers = append(numbers, f.FragmentNumber)
	}
	chunks, body, err := c.ReadFragments(ctx, s.StreamName, numbers)
	if err != nil {
		t.Fail("GetMediaForFragmentList %s: %v", s.StreamName, err)
	}
	t.Check(len(chunks) == len(run.sealed), "GetMediaForFragmentList returned %d chunks, want %d", len(chunks), len(run.sealed))
	for i := range min(len(chunks), len(run.sealed)) {
		ch, sent := chunks[i], run.sealed[i]
		env := envelopeOf(ch)
		if !bytes.Equal(env, sent.Frames[0].Data) {
			t.Fail("chunk %d (fragment %s): the envelope on the key track is not the one sent for the fragment in that place (%d bytes, first difference at byte %d)", i, ch.FragmentNumber(), len(env), firstDiff(env, sent.Frames[0].Data))
		}
		if ids, ok := envelopeKeyIDs(env); ok {
			t.Evidence("e2ee", "fragment %s: envelope of epoch %d for key ids %v", ch.FragmentNumber(), run.epochs[i], ids)
		}
		video := ch.FramesOf(1)
		t.Check(len(video) == len(sent.Frames)-1, "chunk %d (fragment %s) has %d sealed frames, want %d", i, ch.FragmentNumber(), len(video), len(sent.Frames)-1)
		for k := range min(len(video), len(sent.Frames)-1) {
			if !bytes.Equal(video[k], sent.Frames[k+1].Data) {
				t.Fail("chunk %d (fragment %s): sealed frame %d is not the one sent (first difference at byte %d)", i, ch.FragmentNumber(), k, firstDiff(video[k], sent.Frames[k+1].Data))
				break
			}
		}
	}
	secrets := map[string][]byte{}
	for i, k := range rnd.drawn {
		secrets[fmt.Sprintf("content key %d", i+1)] = k
	}
	for name, k := range map[string]*e2ee.PrivateKey{"alice's private key": cs.alice, "bob's private key": cs.bob} {
		b, err := k.Bytes()
		t.Must(err, "serialising a consumer key")
		secrets[name] = b
	}
	for i, f := range run.plain {
		for k, fr := range f.Frames {
			secrets[fmt.Sprintf("plaintext of fragment %d frame %d", i+1, k)] = fr.Data[:32]
		}
	}
	scan := func(where string, b []byte) {
		for name, secret := range secrets {
			if at := bytes.Index(b, secret); at >= 0 {
				t.Fail("the %s appears in %s at byte %d", name, where, at)
			}
		}
	}
	scan("the media the target returned", body)
	if t.Target.Storage != nil {
		files := storedFiles(ctx, t)
		for path, b := range files {
			scan("stored file "+path, b)
		}
		t.Evidence("bytes", "scanned %d stored files and %d returned bytes for %d secrets", len(files), len(body), len(secrets))
	} else {
		t.Evidence("bytes", "scanned %d returned bytes for %d secrets", len(body), len(secrets))
	}
}
