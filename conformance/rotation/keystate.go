package rotation

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
)

const kvsKMSErrors = "KVS PutMedia API reference: ERROR ACKs 4500-4506 (KMS_KEY_ACCESS_DENIED, KMS_KEY_DISABLED, KMS_KEY_VALIDATION_ERROR, KMS_KEY_UNAVAILABLE, KMS_KEY_INVALID_USAGE, KMS_KEY_INVALID_STATE, KMS_KEY_NOT_FOUND); GetMedia sends the same ids in error chunks."

func keyStateCases() []*conformance.Case {
	return []*conformance.Case{
		{
			ID: "ROT-KEY-001", Requirement: "R-KEY-4", Parallel: true,
			Title:    "A disabled key stops ingest with ERROR 4501 and EnableKey restores it, losing nothing",
			Source:   kvsKMSErrors,
			Stimulus: "Create a customer key, stream A under it with 2 fragments, and stream B under it (never written, so no data key of it can be cached); DisableKey; DescribeKey; PutMedia a fragment to B; EnableKey; resend that fragment and one more to B (as a producer retries); read A and B back.",
			Expected: "DescribeKey shows Disabled; B's fragment gets ERROR ACK 4501 KMS_KEY_DISABLED; after EnableKey both of B's fragments are PERSISTED, and A's 2 and B's 2 fragments read back byte-identical, each once.",
			Needs:    []conformance.Capability{conformance.NeedKMS},
			Run:      runDisabledKeyStopsIngest,
		},
		{
			ID: "ROT-KEY-002", Requirement: "R-KEY-4",
			Title:    "A disabled key stops reads with error chunk 4501 and EnableKey restores them",
			Source:   kvsKMSErrors,
			Stimulus: "Create a customer key and a stream under it with 3 fragments; DisableKey; restart the ingest (so it holds no unwrapped data key: a target may keep one for a bounded time); GetMediaForFragmentList and GetMedia of the stream; PutMedia a fragment; EnableKey; resend that fragment; read everything back.",
			Expected: "While disabled, each fragment comes back as an error chunk with AWS_KINESISVIDEO_ERROR_ID 4501, GetMedia's first chunk is error 4501, and PutMedia gets ERROR ACK 4501; after EnableKey all 4 fragments read back byte-identical.",
			Needs:    []conformance.Capability{conformance.NeedKMS, conformance.NeedRestart},
			Timeout:  60 * time.Second,
			Run:      runDisabledKeyStopsReads,
		},
		{
			ID: "ROT-KEY-003", Requirement: "R-KEY-4",
			Title:    "An unreachable KMS gives ERROR 4503 and ingest recovers when it is back",
			Source:   kvsKMSErrors,
			Stimulus: "Create a customer key, stream A with 2 fragments and stream B (never written); cut the ingest off from its KMS; PutMedia a fragment to B; heal the link; resend that fragment and one more to B (retrying for up to 5 s as a producer would); read A and B back.",
			Expected: "During the cut B's fragment gets ERROR ACK 4503 KMS_KEY_UNAVAILABLE; after the heal both are PERSISTED; all 4 fragments read back byte-identical, each once.",
			Needs:    []conformance.Capability{conformance.NeedKMS, conformance.NeedKMSPartition},
			Timeout:  60 * time.Second,
			Run:      runKMSCut,
		},
		{
			ID: "ROT-KEY-004", Requirement: "R-KEY-1", Parallel: true,
			Title:    "Scheduled deletion and its cancellation move the key through PendingDeletion and Disabled",
			Source:   "AWS KMS developer guide, Key states: a key pending deletion cannot be used (KMSInvalidStateException); CancelKeyDeletion leaves it Disabled.",
			Stimulus: "Create a customer key, stream A with 1 fragment and stream B (never written); ScheduleKeyDeletion with a 7-day window; DescribeKey; GenerateDataKey; PutMedia a fragment to B; CancelKeyDeletion; DescribeKey; resend the fragment to B; EnableKey; resend it again with one more; read A and B back.",
			Expected: "PendingDeletion with a deletion date 7 days after creation; GenerateDataKey fails with KMSInvalidStateException; B gets ERROR ACK 4505 KMS_KEY_INVALID_STATE; after the cancellation the key is Disabled and B gets ERROR ACK 4501; after EnableKey both of B's fragments are PERSISTED and everything reads back.",
			Needs:    []conformance.Capability{conformance.NeedKMS},
			Run:      runDeletionStates,
		},
	}
}

// setEnabled disables or enables key; a refusal is the target's failure.
func setEnabled(ctx context.Context, t *conformance.T, kc *kms.Client, key customerKey, enabled bool) {
	var err error
	op := "DisableKey"
	if enabled {
		op = "EnableKey"
		_, err = kc.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(key.ARN)})
	} else {
		_, err = kc.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(key.ARN)})
	}
	if err != nil {
		t.Fatal("%s %s: %s", op, key.ARN, describeErr(err))
	}
	t.Evidence("kms", "%s %s: ok", op, key.ARN)
}

// checkKeyState describes key and checks its state.
func checkKeyState(ctx context.Context, t *conformance.T, kc *kms.Client, key customerKey, want kmstypes.KeyState) *kmstypes.KeyMetadata {
	out, err := kc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(key.ARN)})
	if err != nil {
		t.Fatal("DescribeKey %s: %s", key.ARN, describeErr(err))
	}
	m := out.KeyMetadata
	t.Evidence("kms", "DescribeKey %s: KeyState %s Enabled %v", key.ID, m.KeyState, m.Enabled)
	t.Check(m.KeyState == want, "DescribeKey says %s is %s, want %s", key.ARN, m.KeyState, want)
	t.Check(m.Enabled == (want == kmstypes.KeyStateEnabled), "DescribeKey says Enabled=%v for a key in state %s", m.Enabled, m.KeyState)
	return m
}

func runDisabledKeyStopsIngest(ctx context.Context, t *conformance.T) {
	kc := kmsClient(t.Target)
	c := admin(t)
	key := newKey(ctx, t, kc)
	a := newStream(ctx, t, c, "a", key.ARN)
	base := baseTimecode()
	fa := fragments("rot-key-001-a", base, 0, 2)
	if !put(ctx, t, c, a.StreamName, fa) {
		return
	}
	b := newStream(ctx, t, c, "b", key.ARN)
	fb := fragments("rot-key-001-b", base, 0, 2)
	setEnabled(ctx, t, kc, key, false)
	t.Cleanup(func(ctx context.Context) {
		_, _ = kc.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(key.ARN)})
	})
	checkKeyState(ctx, t, kc, key, kmstypes.KeyStateDisabled)
	expectErrorAck(ctx, t, c, b.StreamName, kvsapi.ErrKMSKeyDisabled, "key disabled", fb[0])
	setEnabled(ctx, t, kc, key, true)
	if put(ctx, t, c, b.StreamName, fb) {
		checkReadBack(ctx, t, c, b.StreamName, "stream B (refused while disabled, resent after EnableKey)", fb)
	}
	checkReadBack(ctx, t, c, a.StreamName, "stream A (stored before DisableKey)", fa)
}

// expectErrorChunks reads the stream with GetMediaForFragmentList and
// GetMedia and expects an error chunk with id for every fragment.
func expectErrorChunks(ctx context.Context, t *conformance.T, c *probe.Client, stream string, id kvsapi.ErrorID, n int) {
	want := strconv.Itoa(int(id))
	listed, chunks, err := c.ReadAll(ctx, stream)
	switch {
	case err != nil:
		t.Fail("GetMediaForFragmentList of %s with the key disabled: %v; want %d error chunks with id %s", stream, err, n, want)
	case len(listed) != n || len(chunks) != n:
		t.Fail("with the key disabled, %s lists %d fragments and GetMediaForFragmentList returns %d chunks; want %d error chunks with id %s", stream, len(listed), len(chunks), n, want)
	}
	for i, ch := range chunks {
		got := ch.ErrorID()
		if got == "" {
			t.Fail("GetMediaForFragmentList chunk %d (fragment %s) carries media although the stream's key is disabled; want error chunk %s", i, ch.FragmentNumber(), want)
			continue
		}
		t.Check(got == want, "GetMediaForFragmentList chunk %d (fragment %s) has error id %s, want %s", i, ch.FragmentNumber(), got, want)
		t.Evidence("fragment", "GetMediaForFragmentList chunk %d at byte %d: fragment %s error id %s", i, ch.Offset, ch.FragmentNumber(), got)
	}
	gm, err := c.GetMedia(ctx, stream, kvsapi.StartSelector{StartSelectorType: kvsapi.StartEarliest}, 3*time.Second, 1)
	switch {
	case err != nil:
		t.Fail("GetMedia of %s with the key disabled: %v; want error chunks with id %s", stream, err, want)
	case len(gm) == 0:
		t.Fail("GetMedia of %s with the key disabled returned nothing in 3 s; want error chunks with id %s", stream, want)
	default:
		got := gm[0].ErrorID()
		t.Check(got == want, "GetMedia's first chunk of %s (fragment %s) has error id %q with the key disabled, want %s", stream, gm[0].FragmentNumber(), got, want)
		t.Evidence("fragment", "GetMedia chunk 0: fragment %s error id %q", gm[0].FragmentNumber(), got)
	}
}

func runDisabledKeyStopsReads(ctx context.Context, t *conformance.T) {
	kc := kmsClient(t.Target)
	c := admin(t)
	key := newKey(ctx, t, kc)
	s := newStream(ctx, t, c, "disabled", key.ARN)
	fs := fragments("rot-key-002", baseTimecode(), 0, 4)
	if !put(ctx, t, c, s.StreamName, fs[:3]) {
		return
	}
	setEnabled(ctx, t, kc, key, false)
	t.Cleanup(func(ctx context.Context) {
		_, _ = kc.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(key.ARN)})
	})
	t.Must(t.Target.Ingest.RestartIngest(ctx), "restarting the ingest")
	t.Evidence("note", "ingest restarted with the key disabled")
	expectErrorChunks(ctx, t, c, s.StreamName, kvsapi.ErrKMSKeyDisabled, 3)
	expectErrorAck(ctx, t, c, s.StreamName, kvsapi.ErrKMSKeyDisabled, "key disabled", fs[3])
	setEnabled(ctx, t, kc, key, true)
	if put(ctx, t, c, s.StreamName, fs[3:]) {
		checkReadBack(ctx, t, c, s.StreamName, "after EnableKey", fs)
	}
}

func runKMSCut(ctx context.Context, t *conformance.T) {
	kc := kmsClient(t.Target)
	c := admin(t)
	key := newKey(ctx, t, kc)
	a := newStream(ctx, t, c, "a", key.ARN)
	base := baseTimecode()
	fa := fragments("rot-key-003-a", base, 0, 2)
	if !put(ctx, t, c, a.StreamName, fa) {
		return
	}
	b := newStream(ctx, t, c, "b", key.ARN)
	fb := fragments("rot-key-003-b", base, 0, 2)
	link := t.Target.KMSLink
	t.Must(link.SetKMSReachable(ctx, false), "cutting the ingest off from its KMS")
	t.Cleanup(func(ctx context.Context) { _ = link.SetKMSReachable(ctx, true) })
	t.Evidence("note", "KMS cut off from the ingest")
	expectErrorAck(ctx, t, c, b.StreamName, kvsapi.ErrKMSKeyUnavailable, "KMS unreachable", fb[0])
	t.Must(link.SetKMSReachable(ctx, true), "healing the link to the KMS")
	t.Evidence("note", "KMS link healed")
	// A producer retries; the reconnect to the KMS may take a moment.
	deadline := time.Now().Add(5 * time.Second)
	for attempt := 1; ; attempt++ {
		acks, err := c.Put(ctx, b.StreamName, fb...)
		if err == nil {
			t.Evidence("ack", "after the heal, attempt %d: %d fragments PERSISTED", attempt, len(fb))
			break
		}
		t.Logf("after the heal, attempt %d: %v (ACKs: %s)", attempt, err, ackLines(acks))
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fail("ingest did not recover within 5 s of the KMS link healing: %v (ACKs: %s)", err, ackLines(acks))
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	checkReadBack(ctx, t, c, b.StreamName, "stream B (refused during the cut, resent after)", fb)
	checkReadBack(ctx, t, c, a.StreamName, "stream A (stored before the cut)", fa)
}

func runDeletionStates(ctx context.Context, t *conformance.T) {
	kc := kmsClient(t.Target)
	c := admin(t)
	key := newKey(ctx, t, kc)
	a := newStream(ctx, t, c, "a", key.ARN)
	base := baseTimecode()
	fa := fragments("rot-key-004-a", base, 0, 1)
	if !put(ctx, t, c, a.StreamName, fa) {
		return
	}
	b := newStream(ctx, t, c, "b", key.ARN)
	fb := fragments("rot-key-004-b", base, 0, 2)

	sched, err := kc.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(key.ARN), PendingWindowInDays: aws.Int32(7)})
	if err != nil {
		t.Fatal("ScheduleKeyDeletion %s with a 7-day window: %s", key.ARN, describeErr(err))
	}
	t.Cleanup(func(ctx context.Context) {
		_, _ = kc.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: aws.String(key.ARN)})
	})
	t.Evidence("kms", "ScheduleKeyDeletion: state %s, deletion date %v", sched.KeyState, aws.ToTime(sched.DeletionDate).UTC().Format(time.RFC3339))
	m := checkKeyState(ctx, t, kc, key, kmstypes.KeyStatePendingDeletion)
	if m.DeletionDate == nil || m.CreationDate == nil {
		t.Fail("DescribeKey of a key pending deletion gives no DeletionDate (or no CreationDate)")
	} else {
		window := m.DeletionDate.Sub(*m.CreationDate)
		t.Check(window > 6*24*time.Hour && window < 8*24*time.Hour, "the key is to be deleted %v after its creation, want about 7 days", window)
	}
	_, err = kc.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(key.ARN), KeySpec: kmstypes.DataKeySpecAes256})
	if err == nil {
		t.Fail("GenerateDataKey under a key pending deletion succeeded; want KMSInvalidStateException")
	} else {
		t.Check(kmsErrorCode(err) == "KMSInvalidStateException", "GenerateDataKey under a key pending deletion failed with %s, want KMSInvalidStateException", describeErr(err))
	}
	expectErrorAck(ctx, t, c, b.StreamName, kvsapi.ErrKMSKeyInvalidState, "key pending deletion", fb[0])

	if _, err := kc.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: aws.String(key.ARN)}); err != nil {
		t.Fatal("CancelKeyDeletion %s: %s", key.ARN, describeErr(err))
	}
	checkKeyState(ctx, t, kc, key, kmstypes.KeyStateDisabled)
	expectErrorAck(ctx, t, c, b.StreamName, kvsapi.ErrKMSKeyDisabled, "deletion cancelled, key disabled", fb[0])
	setEnabled(ctx, t, kc, key, true)
	if put(ctx, t, c, b.StreamName, fb) {
		checkReadBack(ctx, t, c, b.StreamName, "stream B (refused twice, resent after EnableKey)", fb)
	}
	checkReadBack(ctx, t, c, a.StreamName, "stream A (stored before the deletion was scheduled)", fa)
}
