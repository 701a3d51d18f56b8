// Package rotation is the conformance suite for key rotation: KMS master
// keys rotated on demand and on schedule, disabled, cut off and scheduled
// for deletion, end-to-end encryption epochs rotated on schedule and on
// consumer revocation, and both kinds of rotation under load.
package rotation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
)

// Suite returns the rotation suite.
func Suite() *conformance.Suite {
	var cases []*conformance.Case
	cases = append(cases, kmsCases()...)
	cases = append(cases, keyStateCases()...)
	cases = append(cases, e2eeCases()...)
	cases = append(cases, loadCases()...)
	return &conformance.Suite{Name: "rotation", Title: "Key rotation: KMS master keys and end-to-end encryption epochs", Cases: cases}
}

// streamARNContext is the encryption-context key KVS binds a stream's data
// keys to (the stream's ARN), so a suite can unwrap a stored data key
// through the KMS as the ingest does.
const streamARNContext = "aws:kinesisvideo:arn"

// kmsClient is the target's KMS as its admin.
func kmsClient(tg *conformance.Target) *kms.Client { return probe.KMS(tg, tg.Admin) }

// customerKey is a customer-managed KMS key a case made for itself.
type customerKey struct {
	ARN, ID string
}

// newKey creates a symmetric customer-managed key and schedules its
// deletion (the shortest window) after the case.
func newKey(ctx context.Context, t *conformance.T, kc *kms.Client) customerKey {
	out, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("camstorm conformance " + t.Name("key"))})
	t.Must(err, "creating a customer-managed KMS key")
	k := customerKey{ARN: aws.ToString(out.KeyMetadata.Arn), ID: aws.ToString(out.KeyMetadata.KeyId)}
	t.Evidence("kms", "customer key %s", k.ARN)
	t.Cleanup(func(ctx context.Context) {
		_, _ = kc.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(k.ARN), PendingWindowInDays: aws.Int32(7)})
	})
	return k
}

// kmsErrorCode is the KMS error type of err ("" when err is not an API
// error).
func kmsErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// admin is a probe client acting as the target's admin.
func admin(t *conformance.T) *probe.Client { return probe.New(t.Target, t.Target.Admin) }

// newStream creates a stream under kmsKey (empty: the target's default) and
// deletes it after the case.
func newStream(ctx context.Context, t *conformance.T, c *probe.Client, suffix, kmsKey string) kvsapi.StreamInfo {
	name := t.Name(suffix)
	info, err := c.CreateStream(ctx, name, kmsKey)
	t.Must(err, "creating stream "+name)
	t.Cleanup(func(ctx context.Context) {
		_ = c.Call(ctx, kvsapi.PathDeleteStream, kvsapi.DeleteStreamInput{StreamARN: info.StreamARN}, nil)
	})
	return info
}

// framesPerFragment and frameBytes keep fragments small: the suite checks
// keys, not throughput.
const (
	framesPerFragment = 3
	frameBytes        = 300
	fragmentSpacingMs = 1000
)

// baseTimecode is a producer timecode a minute in the past, so fragments
// 1 s apart stay behind the target's clock.
func baseTimecode() int64 { return time.Now().Add(-time.Minute).UnixMilli() }

// fragments returns n fragments of distinct pseudo-random frames starting
// at base, fragmentSpacingMs apart; label and first make the payloads
// unique.
func fragments(label string, base int64, first, n int) []probe.Fragment {
	out := make([]probe.Fragment, n)
	for i := range n {
		f := probe.Fragment{Timecode: base + int64(first+i)*fragmentSpacingMs}
		for j := range framesPerFragment {
			f.Frames = append(f.Frames, probe.Frame{Data: probe.Payload(label, (first+i)*framesPerFragment+j, frameBytes)})
		}
		out[i] = f
	}
	return out
}

// put uploads frags over one connection; every one must be PERSISTED. A
// refusal is the target's failure, recorded with the ACKs.
func put(ctx context.Context, t *conformance.T, c *probe.Client, stream string, frags []probe.Fragment) bool {
	acks, err := c.Put(ctx, stream, frags...)
	if err != nil {
		t.Fail("uploading %d fragments to %s: %v (ACKs: %s)", len(frags), stream, err, ackLines(acks))
		return false
	}
	t.Logf("%s: %d fragments PERSISTED", stream, len(frags))
	awaitListed(ctx, c, stream, frags)
	return true
}

// awaitListed waits (up to probe.ListingGrace) until frags are listed:
// ListFragments is eventually consistent on KVS, and the cases judge
// listings taken after PERSISTED.
func awaitListed(ctx context.Context, c *probe.Client, stream string, frags []probe.Fragment) {
	timecodes := make([]int64, len(frags))
	for i, f := range frags {
		timecodes[i] = f.Timecode
	}
	c.AwaitListed(ctx, stream, timecodes)
}

// ackLines formats ACKs for a failure message.
func ackLines(acks []probe.TimedAck) string {
	if len(acks) == 0 {
		return "none"
	}
	parts := make([]string, len(acks))
	for i, a := range acks {
		parts[i] = a.String()
	}
	return strings.Join(parts, "; ")
}

// checkReadBack reads every fragment of the stream back and checks that
// exactly want comes back, in order, with every frame byte-identical.
// what names the stream's role in failure messages.
func checkReadBack(ctx context.Context, t *conformance.T, c *probe.Client, stream, what string, want []probe.Fragment) bool {
	awaitListed(ctx, c, stream, want)
	listed, chunks, err := c.ReadAll(ctx, stream)
	if err != nil {
		t.Fail("%s: reading %s back: %v", what, stream, err)
		return false
	}
	return compareChunks(t, stream, what, listed, chunks, want)
}

// compareChunks judges chunks read back against the fragments sent.
func compareChunks(t *conformance.T, stream, what string, listed []kvsapi.Fragment, chunks []probe.Chunk, want []probe.Fragment) bool {
	ok := t.Check(len(listed) == len(want), "%s: ListFragments lists %d fragments of %s, want the %d uploaded", what, len(listed), stream, len(want))
	ok = t.Check(len(chunks) == len(want), "%s: GetMediaForFragmentList returned %d chunks for %s, want %d", what, len(chunks), stream, len(want)) && ok
	for i := range min(len(chunks), len(want)) {
		ch, w := chunks[i], want[i]
		if id := ch.ErrorID(); id != "" {
			t.Fail("%s: %s fragment %s (chunk %d at byte %d): error chunk %s instead of media", what, stream, ch.FragmentNumber(), i, ch.Offset, id)
			t.Evidence("fragment", "%s chunk %d fragment %s error id %s", stream, i, ch.FragmentNumber(), id)
			ok = false
			continue
		}
		if pt := ch.ProducerTimestamp(); pt != w.Timecode {
			t.Fail("%s: %s chunk %d (fragment %s) has producer timestamp %d ms, want %d (fragments out of order or missing)", what, stream, i, ch.FragmentNumber(), pt, w.Timecode)
			ok = false
			continue
		}
		got := ch.FramesOf(1)
		if len(got) != len(w.Frames) {
			t.Fail("%s: %s fragment %s has %d video frames, want %d", what, stream, ch.FragmentNumber(), len(got), len(w.Frames))
			ok = false
			continue
		}
		for j := range got {
			if !bytes.Equal(got[j], w.Frames[j].Data) {
				t.Fail("%s: %s fragment %s frame %d differs from what was uploaded (chunk at byte %d)", what, stream, ch.FragmentNumber(), j, ch.Offset)
				t.Evidence("bytes", "%s fragment %s frame %d: %d bytes read, first difference at byte %d", stream, ch.FragmentNumber(), j, len(got[j]), firstDiff(got[j], w.Frames[j].Data))
				ok = false
				break
			}
		}
	}
	if ok {
		t.Evidence("fragment", "%s: %s: all %d fragments read back byte-identical, in order", what, stream, len(want))
	}
	return ok
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// expectErrorAck uploads frags over one connection and expects an ERROR
// ACK with id, before any PERSISTED; it returns whether that happened.
func expectErrorAck(ctx context.Context, t *conformance.T, c *probe.Client, stream string, id kvsapi.ErrorID, why string, frags ...probe.Fragment) bool {
	u, err := c.StartUpload(ctx, stream, probe.Header())
	if err != nil {
		t.Fail("%s: PutMedia to %s was refused before the body: %v; want ERROR ACK %s", why, stream, err, id)
		return false
	}
	for _, f := range frags {
		if err := u.Send(f); err != nil {
			break // the target may close after its ERROR ACK
		}
	}
	a, err := u.Await(ctx, 15*time.Second, func(a probe.TimedAck) bool {
		return a.EventType == kvsapi.EventError || a.EventType == kvsapi.EventPersisted
	})
	acks := u.Finish(ctx, 5*time.Second)
	switch {
	case err != nil:
		t.Fail("%s: PutMedia to %s: no ERROR ACK (%v); want ERROR %s. ACKs: %s", why, stream, err, id, ackLines(acks))
		return false
	case a.EventType == kvsapi.EventPersisted:
		t.Fail("%s: PutMedia to %s: fragment %d was PERSISTED; want ERROR %s. ACKs: %s", why, stream, a.FragmentTimecode, id, ackLines(acks))
		return false
	case a.ErrorID != id:
		t.Fail("%s: PutMedia to %s answered ERROR %d %s; want %s. ACKs: %s", why, stream, a.ErrorID, a.ErrorCode, id, ackLines(acks))
		return false
	}
	t.Evidence("ack", "%s: %s: %s", why, stream, a)
	return true
}

// describeErr names the KMS error type of err, when it has one, before
// the error itself.
func describeErr(err error) string {
	if code := kmsErrorCode(err); code != "" {
		return fmt.Sprintf("%s (%v)", code, err)
	}
	return err.Error()
}

// storedFiles reads the target's stored files; a read that keeps failing
// is a harness error.
func storedFiles(ctx context.Context, t *conformance.T) map[string][]byte {
	files, err := probe.ReadStorage(ctx, t.Target)
	t.Must(err, "reading the target's stored files")
	return files
}
