package access

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
)

// Key policies: KVS uses a stream's KMS key on the caller's behalf, so a
// caller the key's policy refuses gets no media in or out, even where its
// IAM role would allow the stream action.

// denyingKeyPolicy is a key policy that delegates to the account's IAM
// policies (so the admin and the ingest may use the key) but denies
// principal the actions.
func denyingKeyPolicy(account, principal string, actions ...string) string {
	quoted := ""
	for i, a := range actions {
		if i > 0 {
			quoted += ","
		}
		quoted += strconv.Quote(a)
	}
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[`+
		`{"Sid":"AccountIAM","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"},`+
		`{"Sid":"NotThisPrincipal","Effect":"Deny","Principal":{"AWS":%q},"Action":[%s],"Resource":"*"}]}`, account, principal, quoted)
}

// needKeyCases are what the key-policy cases need.
var needKeyCases = []conformance.Capability{conformance.NeedPrincipals, conformance.NeedKMS}

var keyConsumerRead = &conformance.Case{
	ID:          "ACC-KEY-001",
	Title:       "A consumer the stream's key policy denies gets error chunks 4500, not media",
	Requirement: "R-REST-4",
	Source:      "KVS GetMediaForFragmentList: error chunk 4500 KMS_KEY_ACCESS_DENIED when the caller may not use the stream's KMS key",
	Stimulus: "The admin creates a customer key whose policy allows the account's IAM policies but denies the consumer role " +
		"kms:Decrypt, creates a stream under it and writes 3 fragments. A consumer (whose role allows GetMediaForFragmentList and " +
		"kms:Decrypt) reads the 3 fragments with GetMediaForFragmentList; the admin reads them too (control).",
	Expected: "The consumer's answer has one error chunk with AWS_KINESISVIDEO_ERROR_ID 4500 per fragment and none of the " +
		"fragments' frame bytes; the admin gets the 3 fragments' frames.",
	Needs:    needKeyCases,
	Parallel: true,
	Timeout:  30 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		if t.Target.AccountID == "" {
			t.Skip("the target's account id is unknown, so no key policy can name its principals")
		}
		viewer := consumer(ctx, t, t.Name("viewer"))
		keyARN := createKey(ctx, t, kmsClient(t.Target, t.Target.Admin), denyingKeyPolicy(t.Target.AccountID, viewer.ARN, "kms:Decrypt"), t.Name("key"))
		stream := t.Name("private")
		createStream(ctx, t, admin(t), stream, aws.ToString(keyARN))
		base := caseBase()
		frags := []probe.Fragment{fragment(base, stream, 0), fragment(base, stream, 1), fragment(base, stream, 2)}
		putPersisted(ctx, t, admin(t), stream, frags...)
		numbers := fragmentNumbers(ctx, t, stream)
		if len(numbers) != len(frags) {
			t.Harnessf("the admin lists %d fragments after writing %d", len(numbers), len(frags))
		}

		chunks, _, err := admin(t).ReadFragments(ctx, stream, numbers)
		if err != nil || framesIn(chunks, frags) != len(frags) {
			t.Harnessf("the control: the admin, whom the key policy allows, read %d of %d fragments' frames (%v)", framesIn(chunks, frags), len(frags), err)
		}
		chunks, body, err := probe.New(t.Target, viewer.Credentials).ReadFragments(ctx, stream, numbers)
		if err != nil {
			t.Fatal("the consumer's GetMediaForFragmentList failed: %v; want an answer of error chunks 4500", err)
		}
		if n := framesIn(chunks, frags); n > 0 {
			t.Fail("the consumer, denied kms:Decrypt by the key policy, got the frames of %d of %d fragments", n, len(frags))
		}
		for i, f := range frags {
			if at := bytes.Index(body, f.Frames[0].Data); at >= 0 {
				t.Fail("fragment %d's frame bytes are in the consumer's answer at byte %d", i, at)
			}
		}
		denied := 0
		for _, ch := range chunks {
			if ch.ErrorID() == strconv.Itoa(int(kvsapi.ErrKMSKeyAccessDenied)) {
				denied++
				t.Evidence("fragment", "chunk at byte %d: error %s for fragment %s", ch.Offset, ch.ErrorID(), ch.FragmentNumber())
			}
		}
		t.Check(denied == len(frags), "the consumer's answer has %d error chunks 4500 in %d chunks; want one per fragment (%d)",
			denied, len(chunks), len(frags))
	},
}

// framesIn counts the fragments whose first frame came back intact.
func framesIn(chunks []probe.Chunk, frags []probe.Fragment) int {
	n := 0
	for _, f := range frags {
		for _, ch := range chunks {
			if len(ch.Blocks) > 0 && bytes.Equal(ch.Blocks[0].Data, f.Frames[0].Data) {
				n++
				break
			}
		}
	}
	return n
}

var keyCameraWrite = &conformance.Case{
	ID:          "ACC-KEY-002",
	Title:       "A camera the stream's key policy denies cannot write media",
	Requirement: "R-REST-4",
	Source:      "KVS PutMedia: ERROR ACK 4500 KMS_KEY_ACCESS_DENIED when the caller may not use the stream's KMS key",
	Stimulus: "The admin creates a customer key whose policy allows the account's IAM policies but denies the camera role " +
		"kms:GenerateDataKey, creates the camera's stream under it and writes one fragment (control: the key works). The camera " +
		"then writes one fragment with PutMedia.",
	Expected: "The camera's fragment gets an ERROR ACK with ErrorId 4500 and no PERSISTED; the admin lists only its own fragment.",
	Needs:    needKeyCases,
	Parallel: true,
	Timeout:  30 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		if t.Target.AccountID == "" {
			t.Skip("the target's account id is unknown, so no key policy can name its principals")
		}
		name := t.Name("cam")
		cam := camera(ctx, t, name)
		policy := denyingKeyPolicy(t.Target.AccountID, cam.ARN, "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:Encrypt")
		keyARN := createKey(ctx, t, kmsClient(t.Target, t.Target.Admin), policy, t.Name("key"))
		createStream(ctx, t, admin(t), name, aws.ToString(keyARN))
		base := caseBase()
		putPersisted(ctx, t, admin(t), name, fragment(base, name, 0))

		acks, err := probe.New(t.Target, cam.Credentials).Put(ctx, name, fragment(base, name, 1))
		var ackErr *probe.AckError
		switch {
		case err == nil:
			t.Fail("the camera's fragment was PERSISTED: %v", acks)
		case errors.As(err, &ackErr) && ackErr.Ack.ErrorID == kvsapi.ErrKMSKeyAccessDenied:
			t.Evidence("ack", "the camera's fragment: %s", ackErr.Ack)
		case errors.As(err, &ackErr):
			t.Fail("the camera's fragment got %s; want ERROR %d %s", ackErr.Ack, kvsapi.ErrKMSKeyAccessDenied, kvsapi.ErrKMSKeyAccessDenied.Code())
		default:
			t.Fail("the camera's PutMedia failed with %v (ACKs %v); want an ERROR ACK %d", err, acks, kvsapi.ErrKMSKeyAccessDenied)
		}
		if n := fragmentNumbers(ctx, t, name); len(n) != 1 {
			t.Fail("the stream holds %d fragments (%s); want only the admin's", len(n), joinNames(n))
		}
	},
}
