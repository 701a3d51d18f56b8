package access

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
)

// Least privilege: a principal may do only what its role grants, even on
// its own resources.

var privCameraReads = &conformance.Case{
	ID:          "ACC-PRIV-001",
	Title:       "A camera cannot read, list or delete even its own stream",
	Requirement: "R-IAM-2",
	Source:      "the KVS producer role grants DescribeStream, CreateStream, GetDataEndpoint, PutMedia and TagStream on its stream only",
	Stimulus: "A camera creates its own stream and writes one fragment (control: its granted actions work). It then calls, on " +
		"its own stream: ListFragments, GetMediaForFragmentList of that fragment, GetMedia, DeleteStream, and ListStreams " +
		"filtered to its name.",
	Expected: "All 5 calls are refused with HTTP 403 AccessDeniedException and audited with the camera's key; the stream still " +
		"exists with its fragment.",
	Needs:    needPrincipals,
	Parallel: true,
	Timeout:  30 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		name := t.Name("cam")
		cam := camera(ctx, t, name)
		c := probe.New(t.Target, cam.Credentials)
		info := createStream(ctx, t, c, name, "")
		putPersisted(ctx, t, c, name, fragment(caseBase(), name, 0))
		numbers := fragmentNumbers(ctx, t, name)
		ref := kvsapi.StreamRef{StreamName: name}
		listEP := dataEndpoint(ctx, t, name, probe.APIListFragments)
		readEP := dataEndpoint(ctx, t, name, probe.APIGetMediaForFragmentList)
		mediaEP := dataEndpoint(ctx, t, name, probe.APIGetMedia)
		expectForbidden(ctx, t, cam, []forbidden{
			{"ListFragments of its own stream", "ListFragments", name, func() error {
				return call(ctx, c, listEP, kvsapi.PathListFragments, kvsapi.ListFragmentsInput{StreamRef: ref}, nil)
			}},
			{"GetMediaForFragmentList of its own fragment", "GetMediaForFragmentList", name, func() error {
				return call(ctx, c, readEP, kvsapi.PathGetMediaForFragmentList, kvsapi.GetMediaForFragmentListInput{StreamRef: ref, Fragments: numbers}, nil)
			}},
			{"GetMedia of its own stream", "GetMedia", name, func() error { return getMediaAt(ctx, c, mediaEP, name) }},
			{"DeleteStream of its own stream", "DeleteStream", name, func() error {
				return call(ctx, c, t.Target.ControlPlaneURL, kvsapi.PathDeleteStream, kvsapi.DeleteStreamInput{StreamARN: info.StreamARN}, nil)
			}},
			{"ListStreams filtered to its name", "ListStreams", name, func() error {
				in := kvsapi.ListStreamsInput{}
				in.StreamNameCondition = &struct {
					ComparisonOperator string `json:"ComparisonOperator,omitempty"`
					ComparisonValue    string `json:"ComparisonValue,omitempty"`
				}{"BEGINS_WITH", name}
				return call(ctx, c, t.Target.ControlPlaneURL, kvsapi.PathListStreams, in, nil)
			}},
		})
		if n := fragmentNumbers(ctx, t, name); len(n) != len(numbers) {
			t.Fail("the camera's stream holds %d fragments after the refused calls; want %d", len(n), len(numbers))
		}
	},
}

var privConsumerWrites = &conformance.Case{
	ID:          "ACC-PRIV-002",
	Title:       "A consumer cannot write, create, tag or delete streams",
	Requirement: "R-IAM-2",
	Stimulus: "The admin creates a stream and writes one fragment. A consumer identity reads it with DescribeStream and " +
		"ListFragments (control: its granted actions work), then opens PutMedia on the stream (and, if accepted, sends a " +
		"fragment), calls CreateStream of a new name, TagStream and DeleteStream of the stream.",
	Expected: "The 4 calls are refused with HTTP 403 AccessDeniedException and audited with the consumer's key; the stream still " +
		"holds only the admin's fragment and the new name does not exist.",
	Needs:    needPrincipals,
	Parallel: true,
	Timeout:  30 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		name, other := t.Name("s"), t.Name("new")
		info := createStream(ctx, t, admin(t), name, "")
		base := caseBase()
		putPersisted(ctx, t, admin(t), name, fragment(base, name, 0))
		admin(t).AwaitListed(ctx, name, []int64{base})
		viewer := consumer(ctx, t, t.Name("viewer"))
		c := probe.New(t.Target, viewer.Credentials)
		if _, err := c.DescribeStream(ctx, name); err != nil {
			t.Harnessf("the control, the consumer's DescribeStream, failed: %v", err)
		}
		if frags, err := c.ListFragments(ctx, name); err != nil || len(frags) != 1 {
			t.Harnessf("the control, the consumer's ListFragments, gave %d fragments, %v; want 1", len(frags), err)
		}
		ref := kvsapi.StreamRef{StreamName: name}
		putEP := dataEndpoint(ctx, t, name, probe.APIPutMedia)
		cp := t.Target.ControlPlaneURL
		expectForbidden(ctx, t, viewer, []forbidden{
			{"PutMedia", "PutMedia", name, func() error { return putOneAt(ctx, t, c, putEP, name, fragment(base, name, 1)) }},
			{"CreateStream", "CreateStream", other, func() error {
				return call(ctx, c, cp, kvsapi.PathCreateStream, kvsapi.CreateStreamInput{StreamName: other, DataRetentionInHours: 24}, nil)
			}},
			{"TagStream", "TagStream", name, func() error {
				return call(ctx, c, cp, kvsapi.PathTagStream, kvsapi.TagStreamInput{StreamRef: ref, Tags: map[string]string{"by": viewer.Name}}, nil)
			}},
			{"DeleteStream", "DeleteStream", name, func() error {
				return call(ctx, c, cp, kvsapi.PathDeleteStream, kvsapi.DeleteStreamInput{StreamARN: info.StreamARN}, nil)
			}},
		})
		if n := fragmentNumbers(ctx, t, name); len(n) != 1 {
			t.Fail("the stream holds %d fragments (%s) after the consumer's refused calls; want the admin's 1", len(n), joinNames(n))
		}
		if created, err := admin(t).DescribeStream(ctx, other); err == nil {
			t.Cleanup(func(ctx context.Context) {
				_ = admin(t).Call(ctx, kvsapi.PathDeleteStream, kvsapi.DeleteStreamInput{StreamARN: created.StreamARN}, nil)
			})
			t.Fail("the consumer's CreateStream created %s", created.StreamARN)
		}
	},
}

// kmsClient is the target's KMS acting with creds, one attempt per call.
func kmsClient(tg *conformance.Target, creds aws.CredentialsProvider) *kms.Client {
	return probe.KMS(tg, creds, probe.NoRetries)
}

// kmsDenied is the AWS KMS error code of a refused call.
const kmsDenied = "AccessDeniedException"

// defaultKVSKey is the AWS-managed key KVS encrypts with by default.
const defaultKVSKey = "alias/aws/kinesisvideo"

var privCameraKMS = &conformance.Case{
	ID:          "ACC-PRIV-003",
	Title:       "A camera cannot use the KMS directly",
	Requirement: "R-IAM-2",
	Source:      "AWS KMS: the KVS-managed key may be used only through KVS (kms:ViaService); the producer role grants no KMS action",
	Stimulus: "The admin creates a customer key with the default key policy and encrypts a secret under it (control). A camera, " +
		"with its own credentials and the AWS SDK's KMS client, calls CreateKey, Decrypt of the admin's ciphertext, GenerateDataKey " +
		"under the admin's key and GenerateDataKey under " + defaultKVSKey + ".",
	Expected: "All 4 calls are refused with AccessDeniedException and audited with the camera's key; no key is created and no " +
		"plaintext or data key is returned.",
	Needs:    []conformance.Capability{conformance.NeedPrincipals, conformance.NeedKMS},
	Parallel: true,
	Timeout:  30 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		adminKMS := kmsClient(t.Target, t.Target.Admin)
		keyARN := createKey(ctx, t, adminKMS, "", t.Name("key"))
		secret := probe.Payload(t.Name("secret"), 0, 32)
		enc, err := adminKMS.Encrypt(ctx, &kms.EncryptInput{KeyId: keyARN, Plaintext: secret})
		t.Must(err, "the control: encrypting as the admin")

		name := t.Name("cam")
		cam := camera(ctx, t, name)
		creds := credentialsOf(ctx, t, cam.Credentials, name)
		camKMS := kmsClient(t.Target, cam.Credentials)
		type kmsCall struct {
			what, action string
			call         func() (leaked string, err error)
		}
		var refusals []refusal
		for _, c := range []kmsCall{
			{"CreateKey", "CreateKey", func() (string, error) {
				out, err := camKMS.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String(name)})
				if err == nil {
					scheduleDeletion(t, adminKMS, out.KeyMetadata.Arn)
					return "created key " + aws.ToString(out.KeyMetadata.Arn), nil
				}
				return "", err
			}},
			{"Decrypt of the admin's ciphertext", "Decrypt", func() (string, error) {
				out, err := camKMS.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: keyARN})
				if err == nil {
					return "the plaintext came back (" + boolText(string(out.Plaintext) == string(secret), "the secret", "other bytes") + ")", nil
				}
				return "", err
			}},
			{"GenerateDataKey under the admin's key", "GenerateDataKey", func() (string, error) {
				_, err := camKMS.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: keyARN, NumberOfBytes: aws.Int32(32)})
				return "a data key came back", err
			}},
			{"GenerateDataKey under " + defaultKVSKey, "GenerateDataKey", func() (string, error) {
				_, err := camKMS.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(defaultKVSKey), NumberOfBytes: aws.Int32(32)})
				return "a data key came back", err
			}},
		} {
			leaked, err := c.call()
			var api smithy.APIError
			switch {
			case err == nil:
				t.Fail("the camera's %s was accepted: %s; want %s", c.what, leaked, kmsDenied)
			case errors.As(err, &api) && api.ErrorCode() == kmsDenied:
				t.Evidence("kms", "the camera's %s: %s: %s", c.what, api.ErrorCode(), clipText(api.ErrorMessage(), 200))
				refusals = append(refusals, refusal{What: "the camera's " + c.what, Action: c.action, Code: kmsDenied,
					Marker: creds.AccessKeyID, AccessKeyID: creds.AccessKeyID})
			default:
				t.Fail("the camera's %s failed with %v; want %s", c.what, err, kmsDenied)
			}
		}
		expectAudited(ctx, t, refusals...)
	},
}

func boolText(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// createKey creates a symmetric customer key as the admin with the given
// key policy (empty: KMS's default, which delegates to the account's IAM
// policies) and schedules its deletion after the case.
func createKey(ctx context.Context, t *conformance.T, c *kms.Client, policy, description string) *string {
	in := &kms.CreateKeyInput{Description: aws.String(description)}
	if policy != "" {
		in.Policy = aws.String(policy)
	}
	out, err := c.CreateKey(ctx, in)
	t.Must(err, "creating a customer key as the admin")
	scheduleDeletion(t, c, out.KeyMetadata.Arn)
	return out.KeyMetadata.Arn
}

// scheduleDeletion removes a key the case made, after the case.
func scheduleDeletion(t *conformance.T, c *kms.Client, arn *string) {
	t.Cleanup(func(ctx context.Context) {
		_, _ = c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: arn, PendingWindowInDays: aws.Int32(7)})
	})
}
