package encryption

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
)

func kmsCases() []*conformance.Case {
	return []*conformance.Case{
		{
			ID: "ENC-KMS-001", Title: "data keys come from the stream's KMS key, bound to the stream", Requirement: "R-REST-4",
			Source: "KVS: data is encrypted with a data key from GenerateDataKey under the stream's KMS key; CloudTrail records each use.",
			Stimulus: "Create a customer-managed KMS key, create a stream under it, write 2 fragments and wait for PERSISTED, " +
				"then read the audit trail.",
			Expected: "DescribeStream names the key; the trail holds a successful kms GenerateDataKey naming the stream's key whose encryption context " +
				"has the stream's ARN as a value (KVS: aws:kinesisvideo:arn).",
			Needs:    []conformance.Capability{conformance.NeedKMS, conformance.NeedAudit},
			Parallel: true, Timeout: caseTimeout, Run: runDataKeysAudited,
		},
		{
			ID: "ENC-KMS-002", Title: "KMS Decrypt checks the encryption context", Requirement: "R-REST-4",
			Stimulus: "As the admin, create a customer-managed KMS key and GenerateDataKey under it with the encryption context " +
				"{aws:kinesisvideo:arn: stream A}; Decrypt the blob with that context, with stream B's ARN, with no context, " +
				"and decrypt a blob made under {\"a\":\"bc\"} with {\"ab\":\"c\"}.",
			Expected: "Only the Decrypt with the context the key was generated under succeeds and returns the same plaintext key; " +
				"every other is refused with InvalidCiphertextException (as AWS KMS does).",
			Needs:    []conformance.Capability{conformance.NeedKMS},
			Parallel: true, Timeout: caseTimeout, Run: runEncryptionContextChecked,
		},
		{
			ID: "ENC-KMS-003", Title: "every use of a KMS key is audited, refusals included", Requirement: "R-KEY-3",
			Stimulus: "Create a customer-managed KMS key whose policy denies the consumer role kms:Decrypt; as the admin " +
				"GenerateDataKey and Decrypt under it, as a consumer Decrypt the same blob (refused by the policy), and Decrypt it with the admin's access key " +
				"but a wrong secret (refused: bad signature); then read the audit trail.",
			Expected: "The trail holds all four attempts, each naming the key, the access key used and the outcome: the admin's two " +
				"without an error and with the admin's identity, the consumer's with its identity and an access-denied error code, " +
				"the forged one with an error code.",
			Needs:    []conformance.Capability{conformance.NeedKMS, conformance.NeedAudit, conformance.NeedPrincipals},
			Parallel: true, Timeout: caseTimeout, Run: runKeyUseAudited,
		},
	}
}

// kmsClient is the target's KMS acting with creds, one attempt per call.
func kmsClient(tg *conformance.Target, creds aws.CredentialsProvider) *kms.Client {
	return probe.KMS(tg, creds, probe.NoRetries)
}

// newKey creates a customer-managed key for the case (policy empty: the
// KMS's default) and schedules its deletion after the case.
func newKey(ctx context.Context, t *conformance.T, policy string) *kmstypes.KeyMetadata {
	kc := kmsClient(t.Target, t.Target.Admin)
	in := &kms.CreateKeyInput{Description: aws.String("camstorm conformance " + t.Name("key"))}
	if policy != "" {
		in.Policy = aws.String(policy)
	}
	out, err := kc.CreateKey(ctx, in)
	t.Must(err, "creating a KMS key")
	t.Cleanup(func(ctx context.Context) {
		_, _ = kc.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: out.KeyMetadata.KeyId, PendingWindowInDays: aws.Int32(7)})
	})
	return out.KeyMetadata
}

// auditRecord is what the suite reads of a CloudTrail-shaped record.
type auditRecord struct {
	EventTime    time.Time `json:"eventTime"`
	EventSource  string    `json:"eventSource"`
	EventName    string    `json:"eventName"`
	ErrorCode    string    `json:"errorCode"`
	UserIdentity struct {
		Type        string `json:"type"`
		ARN         string `json:"arn"`
		AccessKeyID string `json:"accessKeyId"`
	} `json:"userIdentity"`
	RequestParameters map[string]any `json:"requestParameters"`
	Resources         []struct {
		ARN string `json:"ARN"`
	} `json:"resources"`
	raw string
}

func (r auditRecord) String() string {
	s := r.raw
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}

// param is a request parameter by name, whatever its case (CloudTrail
// writes keyId, the wire KeyId).
func (r auditRecord) param(name string) any {
	for k, v := range r.RequestParameters {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// names reports whether the record's parameters or resources mention s.
func (r auditRecord) names(s string) bool {
	if s == "" {
		return false
	}
	for _, res := range r.Resources {
		if strings.Contains(res.ARN, s) {
			return true
		}
	}
	b, _ := json.Marshal(r.RequestParameters)
	return bytes.Contains(b, []byte(s))
}

// auditRecords reads and parses every audit log of the target. Lines that
// are not JSON objects are skipped (a log may end with a torn line).
func auditRecords(ctx context.Context, t *conformance.T) []auditRecord {
	logs, err := t.Target.Audit.AuditLogs(ctx)
	t.Must(err, "reading the audit logs")
	var out []auditRecord
	for name, b := range logs {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			var r auditRecord
			if json.Unmarshal(sc.Bytes(), &r) == nil && r.EventName != "" {
				r.raw = sc.Text()
				out = append(out, r)
			}
		}
		// A line over the buffer ends the scan: the rest of the log would
		// go unread, and records missing from it could fail the case.
		t.Must(sc.Err(), "reading audit log "+name)
	}
	return out
}

const kmsEventSource = "kms.amazonaws.com"

func runDataKeysAudited(ctx context.Context, t *conformance.T) {
	key := newKey(ctx, t, "")
	name, arn := newStream(ctx, t, "keyed", aws.ToString(key.Arn))
	info, err := admin(t).DescribeStream(ctx, name)
	t.Must(err, "describing the stream")
	t.Evidence("http", "DescribeStream %s: KmsKeyId %q", name, info.KmsKeyID)
	t.Check(strings.Contains(info.KmsKeyID, aws.ToString(key.KeyId)),
		"DescribeStream names KMS key %q, not the key %s the stream was created under", info.KmsKeyID, aws.ToString(key.Arn))
	put(ctx, t, admin(t), name, probe.Header(), plainFragments(t.Name("p"), baseTimecode(), 2, 2, 300))
	var underKey []auditRecord
	for _, r := range auditRecords(ctx, t) {
		if r.EventSource == kmsEventSource && r.EventName == "GenerateDataKey" && r.names(aws.ToString(key.KeyId)) {
			underKey = append(underKey, r)
		}
	}
	if len(underKey) == 0 {
		t.Fail("no GenerateDataKey under the stream's key %s is in the audit trail after 2 fragments were persisted "+
			"(the fragments were not envelope-encrypted under it, or the use was not audited)", aws.ToString(key.Arn))
		return
	}
	for _, r := range underKey {
		ec, _ := r.param("encryptionContext").(map[string]any)
		bound := false
		for _, v := range ec {
			bound = bound || v == arn
		}
		if bound && r.ErrorCode == "" {
			t.Evidence("audit", "%s", r)
			return
		}
		t.Evidence("audit", "%s", r)
	}
	t.Fail("%d GenerateDataKey records under key %s, none successful with an encryption context naming stream %s",
		len(underKey), aws.ToString(key.KeyId), arn)
}

func runEncryptionContextChecked(ctx context.Context, t *conformance.T) {
	key := newKey(ctx, t, "")
	kc := kmsClient(t.Target, t.Target.Admin)
	account := t.Target.AccountID
	if account == "" {
		account = "123456789012" // only makes the contexts look like real stream ARNs
	}
	arnA := fmt.Sprintf("arn:aws:kinesisvideo:%s:%s:stream/%s/1", t.Target.Region, account, t.Name("a"))
	arnB := fmt.Sprintf("arn:aws:kinesisvideo:%s:%s:stream/%s/1", t.Target.Region, account, t.Name("b"))
	gen := func(ec map[string]string) *kms.GenerateDataKeyOutput {
		out, err := kc.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: key.KeyId, KeySpec: kmstypes.DataKeySpecAes256, EncryptionContext: ec})
		t.Must(err, "GenerateDataKey")
		return out
	}
	dk := gen(map[string]string{"aws:kinesisvideo:arn": arnA})
	out, err := kc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: map[string]string{"aws:kinesisvideo:arn": arnA}})
	if t.Check(err == nil, "Decrypt with the context the key was generated under failed: %v", err) {
		t.Check(bytes.Equal(out.Plaintext, dk.Plaintext), "Decrypt with the right context returned a different data key")
		t.Evidence("kms", "Decrypt with {aws:kinesisvideo:arn: stream A}: ok")
	}
	split := gen(map[string]string{"a": "bc"})
	for _, c := range []struct {
		what string
		blob []byte
		ec   map[string]string
	}{
		{"stream B's ARN", dk.CiphertextBlob, map[string]string{"aws:kinesisvideo:arn": arnB}},
		{"no encryption context", dk.CiphertextBlob, nil},
		{"the context of another key name", dk.CiphertextBlob, map[string]string{"aws:kinesisvideo:stream": arnA}},
		{`{"ab":"c"} for a blob made under {"a":"bc"}`, split.CiphertextBlob, map[string]string{"ab": "c"}},
	} {
		_, err := kc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: c.blob, EncryptionContext: c.ec})
		if err == nil {
			t.Fail("Decrypt with %s succeeded: the KMS ignores the encryption context", c.what)
			t.Evidence("kms", "Decrypt with %s: ok (want refused)", c.what)
			continue
		}
		if refusedWith(t, "Decrypt with "+c.what, err, "InvalidCiphertextException") {
			t.Evidence("kms", "Decrypt with %s: refused, %s", c.what, apiErrorCode(err))
		}
	}
}

// signatureRefusals are the AWS error codes that refuse a request whose
// signature does not verify.
var signatureRefusals = []string{"InvalidSignatureException", "SignatureDoesNotMatch", "IncompleteSignature",
	"IncompleteSignatureException", "UnrecognizedClientException", "AccessDeniedException"}

// refusedWith reports whether err is a KMS refusal with one of codes. Any
// other refusal fails the case; an error that is no answer from the KMS
// (a timeout, a 5xx) ends it as a harness error, since it says nothing
// about the check under test.
func refusedWith(t *conformance.T, what string, err error, codes ...string) bool {
	var ae smithy.APIError
	var status interface{ HTTPStatusCode() int }
	if !errors.As(err, &ae) || (errors.As(err, &status) && status.HTTPStatusCode() >= 500) {
		t.Harnessf("%s: no refusal from the KMS to judge: %v", what, err)
	}
	if !slices.Contains(codes, ae.ErrorCode()) {
		t.Fail("%s was refused with %s, not %s: %v", what, ae.ErrorCode(), strings.Join(codes, " or "), err)
		return false
	}
	return true
}

// apiErrorCode is the AWS error code of err, or its text.
func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return err.Error()
}

func runKeyUseAudited(ctx context.Context, t *conformance.T) {
	if t.Target.AccountID == "" {
		t.Skip("the target does not name its account, so no key policy naming its roles can be written")
	}
	viewer, err := t.Target.Principals.Consumer(ctx, t.Name("viewer"))
	t.Must(err, "making a consumer")
	viewerCreds, err := viewer.Credentials.Retrieve(ctx)
	t.Must(err, "fetching the consumer's credentials")
	adminCreds, err := t.Target.Admin.Retrieve(ctx)
	t.Must(err, "fetching the admin's credentials")
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
		{"Sid":"Account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"},
		{"Sid":"NoViewer","Effect":"Deny","Principal":{"AWS":%q},"Action":"kms:Decrypt","Resource":"*"}]}`,
		t.Target.AccountID, viewer.ARN)
	key := newKey(ctx, t, policy)
	keyID := aws.ToString(key.KeyId)
	ec := map[string]string{"camstorm:case": t.Name("ctx")}
	kc := kmsClient(t.Target, t.Target.Admin)
	dk, err := kc.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: key.KeyId, KeySpec: kmstypes.DataKeySpecAes256, EncryptionContext: ec})
	t.Must(err, "GenerateDataKey as the admin")
	_, err = kc.Decrypt(ctx, &kms.DecryptInput{KeyId: key.KeyId, CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ec})
	t.Must(err, "Decrypt as the admin")
	_, err = kmsClient(t.Target, viewer.Credentials).Decrypt(ctx, &kms.DecryptInput{KeyId: key.KeyId, CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ec})
	if err == nil {
		t.Fail("the consumer decrypted under key %s although its policy denies the consumer role kms:Decrypt", keyID)
	} else {
		t.Evidence("kms", "consumer Decrypt: refused, %s", apiErrorCode(err))
	}

	forged := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: adminCreds.AccessKeyID, SecretAccessKey: "not-the-secret-" + adminCreds.AccessKeyID}, nil
	})
	_, err = kmsClient(t.Target, forged).Decrypt(ctx, &kms.DecryptInput{KeyId: key.KeyId, CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ec})
	if err == nil {
		t.Fail("a Decrypt signed with a wrong secret for access key %s succeeded under key %s", adminCreds.AccessKeyID, keyID)
	} else if refusedWith(t, "a Decrypt with a forged signature", err, signatureRefusals...) {
		t.Evidence("kms", "Decrypt with a forged signature: refused, %s", apiErrorCode(err))
	}

	want := []struct {
		what, event, akid string
		denied, anonymous bool
	}{
		{"the admin's GenerateDataKey", "GenerateDataKey", adminCreds.AccessKeyID, false, false},
		{"the admin's Decrypt", "Decrypt", adminCreds.AccessKeyID, false, false},
		{"the consumer's Decrypt refused by the key policy", "Decrypt", viewerCreds.AccessKeyID, true, false},
		{"the Decrypt with a forged signature", "Decrypt", adminCreds.AccessKeyID, true, true},
	}
	records := auditRecords(ctx, t)
	for _, w := range want {
		i := slices.IndexFunc(records, func(r auditRecord) bool {
			return r.EventSource == kmsEventSource && r.EventName == w.event && r.UserIdentity.AccessKeyID == w.akid &&
				(r.ErrorCode != "") == w.denied && r.names(keyID)
		})
		if i < 0 {
			outcome := "successful"
			if w.denied {
				outcome = "refused"
			}
			t.Fail("%s under key %s is not in the audit trail (no %s %s record from access key %s naming the key)",
				w.what, keyID, outcome, w.event, w.akid)
			continue
		}
		r := records[i]
		t.Evidence("audit", "%s", r)
		switch {
		case r.EventTime.IsZero():
			t.Fail("the record of %s has no eventTime", w.what)
		case !w.anonymous && r.UserIdentity.ARN == "":
			t.Fail("the record of %s does not name the caller's identity (userIdentity.arn is empty)", w.what)
		case w.denied && !w.anonymous && !strings.Contains(strings.ToLower(r.ErrorCode), "denied"):
			t.Fail("the record of %s has errorCode %q, want an access-denied code", w.what, r.ErrorCode)
		}
	}
}
