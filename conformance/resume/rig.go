package resume

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
)

// Shape of the fragments the probe-level cases send: short, small, and far
// enough apart that no two overlap (4004 would be a different case).
const (
	framesPerFragment = 3
	frameBytes        = 600
	frameSpacingMs    = 40
	fragmentGapMs     = 500
	// ackTimeout bounds the wait for one ACK from a healthy target.
	ackTimeout = 10 * time.Second
	// closeTimeout bounds the wait for the target to end an ACK stream.
	closeTimeout = 5 * time.Second
)

// rig is one stream of a case and the client that writes and reads it as
// the target's admin.
type rig struct {
	t      *conformance.T
	c      *probe.Client
	stream string
	// base is fragment 0's timecode: a little in the past, as a producer
	// catching up would send, and never in the future (4007).
	base int64
}

// newRig creates a fresh stream for the case.
func newRig(ctx context.Context, t *conformance.T, suffix string) *rig {
	return newRigOn(ctx, t, t.Name(suffix), t.Target.Admin)
}

// newRigOn creates the stream named stream acting with creds.
func newRigOn(ctx context.Context, t *conformance.T, stream string, creds aws.CredentialsProvider) *rig {
	c := probe.New(t.Target, creds)
	createStream(ctx, t, c, stream)
	r := &rig{t: t, c: c, stream: stream, base: time.Now().Add(-30 * time.Second).UnixMilli()}
	t.Logf("stream %s, fragment 0 at timecode %d", stream, r.base)
	return r
}

// createStream creates stream as c and deletes it as the admin after the
// case, so a run leaves nothing on a remote target.
func createStream(ctx context.Context, t *conformance.T, c *probe.Client, stream string) {
	info, err := c.CreateStream(ctx, stream, "")
	t.Must(err, "creating stream "+stream)
	t.Cleanup(func(ctx context.Context) {
		_ = probe.New(t.Target, t.Target.Admin).Call(ctx, kvsapi.PathDeleteStream, kvsapi.DeleteStreamInput{StreamARN: info.StreamARN}, nil)
	})
}

// frag is fragment i of the case: three frames of unique bytes.
func (r *rig) frag(i int) probe.Fragment {
	f := probe.Fragment{Timecode: r.tc(i), FrameSpacing: frameSpacingMs}
	for j := range framesPerFragment {
		f.Frames = append(f.Frames, probe.Frame{Data: probe.Payload(r.stream, i*framesPerFragment+j, frameBytes)})
	}
	return f
}

// tc is fragment i's cluster timecode.
func (r *rig) tc(i int) int64 { return r.base + int64(i)*fragmentGapMs }

// frags returns fragments first..last.
func (r *rig) frags(first, last int) []probe.Fragment {
	var out []probe.Fragment
	for i := first; i <= last; i++ {
		out = append(out, r.frag(i))
	}
	return out
}

// clusterOnly is the fragment's Cluster without the END_OF_FRAGMENT tags
// that close it, so the target cannot know the fragment is complete.
func clusterOnly(f probe.Fragment) []byte {
	b := f.Encode()
	tags := []byte{0x12, 0x54, 0xC3, 0x67}
	if i := bytes.LastIndex(b, tags); i > 0 {
		return b[:i]
	}
	return b
}

// open starts a PutMedia session with a full header, as every producer
// connection does. The first connection of a case is set-up (a refusal is
// a harness error); a reconnect refused is the target's failure.
func (r *rig) open(ctx context.Context, label string, setup bool) *upload {
	u, err := r.c.StartUpload(ctx, r.stream, probe.Header())
	if err != nil {
		if setup {
			r.t.Harness(fmt.Errorf("opening PutMedia (connection %s): %w", label, err))
		}
		r.t.Fatal("connection %s: PutMedia refused: %v", label, err)
	}
	r.t.Cleanup(func(context.Context) { u.Cut() })
	return &upload{Upload: u, r: r, label: label}
}

// upload is one PutMedia connection of a case, named for the evidence.
type upload struct {
	*probe.Upload
	r     *rig
	label string
}

// send writes whole fragments; a write error means the target dropped the
// connection.
func (u *upload) send(fs ...probe.Fragment) {
	for _, f := range fs {
		if err := u.Send(f); err != nil {
			u.r.t.Fatal("connection %s: sending fragment %d failed: %v (ACKs so far: %s)", u.label, f.Timecode, err, ackList(u.Acks()))
		}
	}
}

// write sends raw bytes.
func (u *upload) write(b []byte, what string) {
	if err := u.Write(b); err != nil {
		u.r.t.Fatal("connection %s: sending %s failed: %v (ACKs so far: %s)", u.label, what, err, ackList(u.Acks()))
	}
}

// await waits for the ACK of type typ for the fragment at tc; anything
// else (an ERROR, silence, a closed stream) fails the case.
func (u *upload) await(ctx context.Context, tc int64, typ kvsapi.EventType) probe.TimedAck {
	a, err := u.AwaitAck(ctx, ackTimeout, tc, typ)
	if err != nil {
		u.r.t.Fatal("connection %s: no %s for fragment %d: %v (ACKs: %s)", u.label, typ, tc, err, ackList(u.Acks()))
	}
	return a
}

// persist waits for the PERSISTED of each fragment.
func (u *upload) persist(ctx context.Context, fs ...probe.Fragment) {
	for _, f := range fs {
		u.await(ctx, f.Timecode, kvsapi.EventPersisted)
	}
}

// record puts the connection's ACKs into the evidence.
func (u *upload) record() {
	for _, a := range u.Acks() {
		u.r.t.Evidence("ack", "connection %s: %s", u.label, a)
	}
}

// finish closes the body cleanly, waits for the target to end the ACK
// stream, and records the ACKs.
func (u *upload) finish(ctx context.Context) {
	u.Finish(ctx, closeTimeout)
	u.record()
}

// cut drops the connection abruptly and records the ACKs seen.
func (u *upload) cut() {
	u.Cut()
	u.record()
}

func ackList(acks []probe.TimedAck) string {
	if len(acks) == 0 {
		return "none"
	}
	var s []string
	for _, a := range acks {
		s = append(s, a.String())
	}
	return strings.Join(s, "; ")
}

// verifyStored reads the whole stream back (ListFragments, then
// GetMediaForFragmentList parsed with ebml-go) and checks that it holds
// exactly want: each fragment once, nothing else, in producer-timecode
// order, with the frames sent.
func (r *rig) verifyStored(ctx context.Context, want []probe.Fragment) {
	r.verifyStoredWith(ctx, r.c, want)
}

func (r *rig) verifyStoredWith(ctx context.Context, c *probe.Client, want []probe.Fragment) {
	t := r.t
	awaitListed(ctx, c, r.stream, want)
	list, chunks, err := c.ReadAll(ctx, r.stream)
	if err != nil {
		t.Fail("reading stream %s back failed: %v", r.stream, err)
		return
	}
	byTC := map[int64]probe.Fragment{}
	for _, w := range want {
		byTC[w.Timecode] = w
	}
	listed := map[int64][]string{}
	for _, f := range list {
		ms := f.ProducerTimestamp.UnixMilli()
		listed[ms] = append(listed[ms], f.FragmentNumber)
		t.Evidence("fragment", "listed: producer timecode %d, fragment %s, %d bytes", ms, f.FragmentNumber, f.FragmentSizeInBytes)
	}
	for _, w := range want {
		switch n := listed[w.Timecode]; len(n) {
		case 0:
			t.Fail("fragment %d (%s) is missing from the stream: ListFragments lists %d fragments, none at that producer timecode",
				w.Timecode, r.name(w.Timecode), len(list))
		case 1:
		default:
			t.Fail("fragment %d (%s) is stored %d times, as fragments %s", w.Timecode, r.name(w.Timecode), len(n), strings.Join(n, ", "))
		}
	}
	var extra []string
	for ms, n := range listed {
		if _, ok := byTC[ms]; !ok {
			extra = append(extra, fmt.Sprintf("%d (fragments %s)", ms, strings.Join(n, ", ")))
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		t.Fail("the stream holds fragments that were never acknowledged or were rejected: producer timecodes %s", strings.Join(extra, "; "))
	}
	if len(chunks) != len(list) {
		t.Fail("GetMediaForFragmentList returned %d fragments for the %d listed", len(chunks), len(list))
	}
	r.checkChunks(chunks, byTC, "GetMediaForFragmentList")
}

// checkChunks checks chunks read back (by any API): no error chunks,
// strictly increasing producer timecodes, the frames that were sent.
func (r *rig) checkChunks(chunks []probe.Chunk, byTC map[int64]probe.Fragment, api string) {
	t := r.t
	prev := int64(-1)
	var order []string
	for i, ch := range chunks {
		if id := ch.ErrorID(); id != "" {
			t.Fail("%s chunk %d (fragment %s) is an error chunk: %s %s", api, i, ch.FragmentNumber(), id, ch.Tags[kvsapi.TagErrorCode])
			continue
		}
		pts := ch.ProducerTimestamp()
		order = append(order, fmt.Sprint(pts))
		if pts <= prev {
			t.Fail("%s serves fragment %d (number %s) after fragment %d: producer timecodes must increase", api, pts, ch.FragmentNumber(), prev)
		}
		prev = max(prev, pts)
		w, ok := byTC[pts]
		if !ok {
			continue
		}
		var got [][]byte
		for _, b := range ch.Blocks {
			got = append(got, b.Data)
		}
		if len(got) != len(w.Frames) {
			t.Fail("fragment %d read back with %d frames, %d were sent", pts, len(got), len(w.Frames))
			continue
		}
		for j, f := range w.Frames {
			if !bytes.Equal(got[j], f.Data) {
				t.Fail("fragment %d frame %d read back differs from what was sent (%d bytes, %d sent)", pts, j, len(got[j]), len(f.Data))
			}
		}
	}
	t.Evidence("fragment", "%s order of producer timecodes: %s", api, strings.Join(order, ", "))
}

// name says which fragment of the case a timecode is.
func (r *rig) name(tc int64) string {
	if d := tc - r.base; d >= 0 && d%fragmentGapMs == 0 {
		return fmt.Sprintf("fragment #%d of the case", d/fragmentGapMs)
	}
	return "a fragment of the case"
}

// ackClosed waits for the target to end the connection's ACK stream and
// reports whether it did in time.
func ackClosed(ctx context.Context, u *probe.Upload, timeout time.Duration) bool {
	_, _ = u.Await(ctx, timeout, func(probe.TimedAck) bool { return false })
	return u.Ended() != nil
}

// awaitListed waits until every fragment of want is listed, or the
// listing grace has passed; the caller then judges what is listed.
func awaitListed(ctx context.Context, c *probe.Client, stream string, want []probe.Fragment) {
	tcs := make([]int64, len(want))
	for i, w := range want {
		tcs[i] = w.Timecode
	}
	c.AwaitListed(ctx, stream, tcs)
}
