package stack_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/device"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/audit"
	"github.com/camstorm/camstorm/stack/containers"
	"github.com/camstorm/camstorm/stack/iam"
)

// Access control end to end: real enrollment, the mutual-TLS credential
// provider, SigV4 on every request, the policies, and the audit log.

// camera enrols thing and returns a client signing with its temporary
// credentials from the credential provider, and its identity.
func camera(t *testing.T, st *stack.Stack, thing string) (*http.Client, device.Identity) {
	t.Helper()
	ctx := context.Background()
	id, err := device.Enroll(ctx, st.HTTPClient(), st.EnrollURL, st.EnrollmentToken, thing, rand.Reader)
	require.NoError(t, err)
	tr := st.HTTPClient().Transport.(*http.Transport)
	creds := device.NewCredentialsCache(&device.IoTCredentials{Identity: id, Transport: tr})
	return &http.Client{Transport: &kvsclient.SigningTransport{Base: tr, Credentials: creds, Region: st.Region}}, id
}

// signedAs is a client signing with fixed credentials.
func signedAs(st *stack.Stack, creds aws.CredentialsProvider, clock func() time.Time) *http.Client {
	return &http.Client{Transport: &kvsclient.SigningTransport{Base: st.HTTPClient().Transport, Credentials: creds, Region: st.Region, Clock: clock}}
}

// putOne sends one fragment of stream and returns the ACKs until its
// PERSISTED (or an error), or the refusal.
func putOne(ctx context.Context, hc *http.Client, st *stack.Stack, stream string) ([]kvsapi.Ack, error) {
	pm, err := kvsclient.StartPutMedia(ctx, hc, st.DataPlaneURL, kvsclient.PutMediaOptions{StreamName: stream})
	if err != nil {
		return nil, err
	}
	defer pm.Close()
	w := mkv.NewWriter(pm)
	tc := time.Now().Add(-time.Second).UnixMilli()
	track := mkv.TrackSpec{Number: 1, UID: 1, Type: mkv.TrackVideo, CodecID: "V_MPEG4/ISO/AVC", Width: 64, Height: 64}
	if err := w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{track}}); err != nil {
		return nil, err
	}
	if err := w.StartCluster(tc); err != nil {
		return nil, err
	}
	if err := w.WriteFrame(1, tc, true, marker); err != nil {
		return nil, err
	}
	if err := w.EndFragment(); err != nil {
		return nil, err
	}
	var acks []kvsapi.Ack
	for {
		a, err := pm.NextAck()
		if err != nil {
			return acks, err
		}
		acks = append(acks, a)
		if a.EventType == kvsapi.EventPersisted || a.EventType == kvsapi.EventError {
			return acks, nil
		}
	}
}

// auditRecords returns the records of the stack's audit logs (every
// process's) that filter matches, waiting up to 5 s for at least min of
// them: in containers mode records reach the files within a flush
// interval.
func auditRecords(t *testing.T, st *stack.Stack, f audit.Filter, min ...int) []audit.Record {
	t.Helper()
	want := 1
	if len(min) > 0 {
		want = min[0]
	}
	var out []audit.Record
	deadline := time.Now().Add(5 * time.Second)
	for {
		logs, err := st.AuditLogs(context.Background())
		require.NoError(t, err)
		out = out[:0]
		for _, b := range logs {
			require.NoError(t, audit.Query(bytes.NewReader(b), f, func(r audit.Record) error { out = append(out, r); return nil }))
		}
		if len(out) >= want || time.Now().After(deadline) {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// forEachStack runs body against the embedded stack and against the stack
// as containers (skipped, with the reason, without a Docker engine): the
// same test body for both modes.
func forEachStack(t *testing.T, body func(t *testing.T, st *stack.Stack)) {
	forEachStackWith(t, stack.Options{}, body)
}

// forEachStackWith is forEachStack with options (of which containers
// mode takes Hosts and Ingest.DataKeyMaxAge).
func forEachStackWith(t *testing.T, o stack.Options, body func(t *testing.T, st *stack.Stack)) {
	t.Run("embedded", func(t *testing.T) {
		o := o
		o.DataDir = t.TempDir()
		st, err := stack.StartEmbedded(context.Background(), o)
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close(context.Background()) })
		body(t, st)
	})
	t.Run("containers", func(t *testing.T) {
		containers.SkipIfNoDocker(t)
		st, err := stack.StartContainers(context.Background(), o, stack.ContainersOptions{})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, st.Close(context.Background())) })
		body(t, st)
	})
}

// accountOf is the stack's account, from a role ARN it announces.
func accountOf(st *stack.Stack) string { return strings.Split(st.ConsumerRoleARN, ":")[4] }

// TestCamerasMayUseOnlyTheirOwnStream: broken object level authorisation.
// A camera's credentials (role camstorm-camera, scoped to
// stream/${credentials-iot:ThingName}/*) create, describe and write its own
// stream; every call on another camera's stream is refused with 403
// AccessDeniedException, whether that stream exists or not, stores
// nothing, and is in the audit log with the camera's identity.
func TestCamerasMayUseOnlyTheirOwnStream(t *testing.T) {
	forEachStack(t, func(t *testing.T, st *stack.Stack) {
		ctx := context.Background()
		camA, idA := camera(t, st, "cam-a")
		camB, _ := camera(t, st, "cam-b")

		for _, c := range []struct {
			hc     *http.Client
			stream string
		}{{camA, "cam-a"}, {camB, "cam-b"}} {
			require.NoError(t, kvsclient.Call(ctx, c.hc, st.ControlPlaneURL, kvsapi.PathCreateStream,
				kvsapi.CreateStreamInput{StreamName: c.stream, DataRetentionInHours: 1}, nil))
			require.NoError(t, kvsclient.Call(ctx, c.hc, st.ControlPlaneURL, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamName: c.stream}, nil))
			acks, err := putOne(ctx, c.hc, st, c.stream)
			require.NoError(t, err)
			require.Equal(t, kvsapi.EventPersisted, acks[len(acks)-1].EventType, "%v", acks)
		}

		var info kvsapi.DescribeStreamOutput
		require.NoError(t, kvsclient.Call(ctx, st.AdminClient(), st.ControlPlaneURL, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamName: "cam-b"}, &info))
		before := fragmentsOf(t, st, "cam-b")
		denied := []struct {
			name string
			call func() error
		}{
			{"DescribeStream", func() error {
				return kvsclient.Call(ctx, camA, st.ControlPlaneURL, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamName: "cam-b"}, nil)
			}},
			{"DescribeStream by ARN", func() error {
				return kvsclient.Call(ctx, camA, st.ControlPlaneURL, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamARN: info.StreamInfo.StreamARN}, nil)
			}},
			{"DescribeStream of a stream that does not exist", func() error {
				return kvsclient.Call(ctx, camA, st.ControlPlaneURL, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamName: "cam-c"}, nil)
			}},
			{"CreateStream", func() error {
				return kvsclient.Call(ctx, camA, st.ControlPlaneURL, kvsapi.PathCreateStream, kvsapi.CreateStreamInput{StreamName: "cam-c", DataRetentionInHours: 1}, nil)
			}},
			{"GetDataEndpoint", func() error {
				return kvsclient.Call(ctx, camA, st.ControlPlaneURL, kvsapi.PathGetDataEndpoint,
					kvsapi.GetDataEndpointInput{StreamRef: kvsapi.StreamRef{StreamName: "cam-b"}, APIName: "PUT_MEDIA"}, nil)
			}},
			{"TagStream", func() error {
				return kvsclient.Call(ctx, camA, st.ControlPlaneURL, kvsapi.PathTagStream,
					kvsapi.TagStreamInput{StreamRef: kvsapi.StreamRef{StreamName: "cam-b"}, Tags: map[string]string{"owner": "cam-a"}}, nil)
			}},
			{"DeleteStream", func() error {
				return kvsclient.Call(ctx, camA, st.ControlPlaneURL, kvsapi.PathDeleteStream, kvsapi.DeleteStreamInput{StreamARN: info.StreamInfo.StreamARN}, nil)
			}},
			{"ListStreams", func() error {
				return kvsclient.Call(ctx, camA, st.ControlPlaneURL, kvsapi.PathListStreams, kvsapi.ListStreamsInput{}, nil)
			}},
			{"PutMedia", func() error { _, err := putOne(ctx, camA, st, "cam-b"); return err }},
			{"GetMediaForFragmentList", func() error {
				return kvsclient.Call(ctx, camA, st.DataPlaneURL, kvsapi.PathGetMediaForFragmentList,
					kvsapi.GetMediaForFragmentListInput{StreamRef: kvsapi.StreamRef{StreamName: "cam-b"}, Fragments: before}, nil)
			}},
			{"ListFragments", func() error {
				return kvsclient.Call(ctx, camA, st.DataPlaneURL, kvsapi.PathListFragments,
					kvsapi.ListFragmentsInput{StreamRef: kvsapi.StreamRef{StreamName: "cam-b"}}, nil)
			}},
		}
		for _, d := range denied {
			err := d.call()
			var e *kvsapi.Exception
			require.ErrorAs(t, err, &e, d.name)
			require.Equal(t, http.StatusForbidden, e.Status, "%s: %v", d.name, err)
			require.Equal(t, "AccessDeniedException", e.Type, "%s: %v", d.name, err)
			require.Contains(t, e.Message, "assumed-role/camstorm-camera/cam-a is not authorized", d.name)
		}
		require.Equal(t, before, fragmentsOf(t, st, "cam-b"), "cam-a's PutMedia stored nothing in cam-b")

		recs := auditRecords(t, st, audit.Filter{Principal: "arn:aws:sts::123456789012:assumed-role/camstorm-camera/cam-a", Denied: true}, len(denied))
		require.Len(t, recs, len(denied), "every refusal is audited once: %+v", recs)
		for i, r := range recs {
			require.Equal(t, "AccessDeniedException", r.ErrorCode)
			require.Equal(t, audit.SourceKinesisVideo, r.EventSource)
			require.Equal(t, idA.ThingName, strings.TrimPrefix(r.UserIdentity.PrincipalID, "camstorm-camera:"), "record %d", i)
			require.NotEmpty(t, r.UserIdentity.AccessKeyID)
			require.NotNil(t, net.ParseIP(r.SourceIPAddress), "the caller's address as the service saw it (a container sees Docker's gateway): %q", r.SourceIPAddress)
		}
		allowed := auditRecords(t, st, audit.Filter{Principal: "arn:aws:sts::123456789012:assumed-role/camstorm-camera/cam-a", EventNames: []string{"PutMedia"}}, 2)
		require.Len(t, allowed, 2, "cam-a's own PutMedia and the refused one")
	})
}

// fragmentsOf lists a stream's fragment numbers as the admin.
func fragmentsOf(t *testing.T, st *stack.Stack, stream string) []string {
	t.Helper()
	var out kvsapi.ListFragmentsOutput
	require.NoError(t, kvsclient.Call(context.Background(), st.AdminClient(), st.DataPlaneURL, kvsapi.PathListFragments,
		kvsapi.ListFragmentsInput{StreamRef: kvsapi.StreamRef{StreamName: stream}}, &out))
	var numbers []string
	for _, f := range out.Fragments {
		numbers = append(numbers, f.FragmentNumber)
	}
	return numbers
}

// TestBadCredentialsAreDeniedAndAudited: a forged signature, a wrong
// secret, an unknown key, an expired session token, a request signed
// outside the clock-skew window and an unsigned request are each refused,
// on the control plane and for PutMedia, reach no data (the stream stays
// empty), and are audited; a revoked device certificate gets no
// credentials, and that refusal is audited too.
func TestBadCredentialsAreDeniedAndAudited(t *testing.T) {
	forEachStackWith(t, stack.Options{ClockControl: true}, func(t *testing.T, st *stack.Stack) {
		ctx := context.Background()
		require.NoError(t, kvsclient.Call(ctx, st.AdminClient(), st.ControlPlaneURL, kvsapi.PathCreateStream,
			kvsapi.CreateStreamInput{StreamName: "target", DataRetentionInHours: 1}, nil))
		admin, err := st.AdminCredentials().Retrieve(ctx)
		require.NoError(t, err)
		// Credentials issued three hours ago, for one hour.
		require.NoError(t, st.ShiftClock(ctx, stack.ClockIdentity, -3*time.Hour))
		expired, err := st.AssumeRole(st.AdminRoleARN, "old").Retrieve(ctx)
		require.NoError(t, st.ShiftClock(ctx, stack.ClockIdentity, 3*time.Hour))
		require.NoError(t, err)

		now := time.Now()
		for _, tc := range []struct {
			name     string
			sign     func(r *http.Request, payloadHash string)
			wantCode string
			wantMsg  string
		}{
			{"forged signature", func(r *http.Request, h string) {
				sigV4(t, st, r, admin, h, now)
				auth := r.Header.Get("Authorization")
				last := auth[len(auth)-1]
				r.Header.Set("Authorization", auth[:len(auth)-1]+map[bool]string{true: "1", false: "0"}[last == '0'])
			}, "InvalidSignatureException", "signature we calculated does not match"},
			{"wrong secret", func(r *http.Request, h string) {
				sigV4(t, st, r, aws.Credentials{AccessKeyID: admin.AccessKeyID, SecretAccessKey: "not-the-secret"}, h, now)
			}, "InvalidSignatureException", "signature we calculated does not match"},
			{"unknown access key", func(r *http.Request, h string) {
				sigV4(t, st, r, aws.Credentials{AccessKeyID: "AKIANOSUCHKEY0000000", SecretAccessKey: "x"}, h, now)
			}, "UnrecognizedClientException", "security token included in the request is invalid"},
			{"expired token", func(r *http.Request, h string) { sigV4(t, st, r, expired, h, now) }, "ExpiredTokenException", "expired"},
			{"replayed outside the skew window", func(r *http.Request, h string) { sigV4(t, st, r, admin, h, now.Add(-20*time.Minute)) },
				"InvalidSignatureException", "Signature expired"},
			{"unsigned", func(*http.Request, string) {}, "MissingAuthenticationTokenException", "Missing Authentication Token"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, req := range []*http.Request{describeRequest(t, st), putMediaRequest(t, st)} {
					hash := kvsclient.EmptyPayloadHash
					if req.URL.Path == kvsapi.PathDescribeStream {
						hash = hexSHA256(describeBody)
					}
					tc.sign(req, hash)
					resp, err := st.HTTPClient().Do(req)
					require.NoError(t, err)
					msg, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					require.Equal(t, tc.wantCode, resp.Header.Get("x-amzn-ErrorType"), "%s: %s", req.URL.Path, msg)
					require.Contains(t, string(msg), tc.wantMsg, req.URL.Path)
					require.GreaterOrEqual(t, resp.StatusCode, 400)
				}
				for _, op := range []string{"DescribeStream", "PutMedia"} {
					recs := auditRecords(t, st, audit.Filter{ErrorCode: tc.wantCode, EventNames: []string{op}})
					require.NotEmpty(t, recs, "the refused %s is audited", op)
				}
			})
		}
		require.Empty(t, fragmentsOf(t, st, "target"), "no refused request stored anything")

		revoked, id := camera(t, st, "cam-revoked")
		iotAdmin := &http.Client{Transport: &kvsclient.SigningTransport{Base: st.HTTPClient().Transport, Credentials: st.AdminCredentials(), Region: st.Region, Service: "iot"}}
		req, err := http.NewRequest(http.MethodPut, st.STSURL+"/certificates/"+id.CertificateID+"?newStatus=REVOKED", nil)
		require.NoError(t, err)
		resp, err := iotAdmin.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		err = kvsclient.Call(ctx, revoked, st.ControlPlaneURL, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamName: "cam-revoked"}, nil)
		require.ErrorContains(t, err, "REVOKED")
		provider := auditRecords(t, st, audit.Filter{EventSources: []string{audit.SourceIoTCredentials}, Denied: true})
		require.NotEmpty(t, provider, "the credential provider's refusal of the revoked certificate is audited")
	})
}

var describeBody = []byte(`{"StreamName":"target"}`)

func describeRequest(t *testing.T, st *stack.Stack) *http.Request {
	r, err := http.NewRequest(http.MethodPost, st.ControlPlaneURL+kvsapi.PathDescribeStream, bytes.NewReader(describeBody))
	require.NoError(t, err)
	r.Header.Set("Content-Type", kvsapi.JSONContentType)
	return r
}

// putMediaRequest is a whole one-fragment PutMedia of stream "target".
func putMediaRequest(t *testing.T, st *stack.Stack) *http.Request {
	var body bytes.Buffer
	w := mkv.NewWriter(&body)
	tc := time.Now().Add(-time.Second).UnixMilli()
	track := mkv.TrackSpec{Number: 1, UID: 1, Type: mkv.TrackVideo, CodecID: "V_MPEG4/ISO/AVC", Width: 64, Height: 64}
	require.NoError(t, w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{track}}))
	require.NoError(t, w.StartCluster(tc))
	require.NoError(t, w.WriteFrame(1, tc, true, marker))
	require.NoError(t, w.EndFragment())
	r, err := http.NewRequest(http.MethodPost, st.DataPlaneURL+kvsapi.PathPutMedia, &body)
	require.NoError(t, err)
	r.Header.Set(kvsapi.HeaderStreamName, "target")
	r.Header.Set(kvsapi.HeaderFragmentTimecodeType, kvsapi.TimecodeTypeAbsolute)
	r.Header.Set(kvsapi.HeaderAckRequired, "1")
	return r
}

// sigV4 signs r with the AWS SDK's signer at a chosen time.
func sigV4(t *testing.T, st *stack.Stack, r *http.Request, c aws.Credentials, payloadHash string, at time.Time) {
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), c, r, payloadHash, kvsclient.SigningService, st.Region, at))
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestConsumerWithoutTheKeyGrantCannotRead: a stream encrypted at rest
// under a customer key whose policy lets only the admin and the ingest use
// it. The consumer role may call GetMediaForFragmentList (its identity
// policy allows kms:Decrypt too), but KVS uses the key on the caller's
// behalf and the key policy does not delegate to IAM, so every fragment
// comes back as error chunk 4500 and no media; the admin reads it all.
func TestConsumerWithoutTheKeyGrantCannotRead(t *testing.T) {
	forEachStack(t, func(t *testing.T, st *stack.Stack) {
		ctx := context.Background()
		kc := operatorKMS(st)
		adminARN := "arn:aws:iam::" + accountOf(st) + ":user/" + iam.AdminUserName
		policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
			{"Sid":"Admin","Effect":"Allow","Principal":{"AWS":%q},"Action":"kms:*","Resource":"*"},
			{"Sid":"Ingest","Effect":"Allow","Principal":{"AWS":%q},"Action":["kms:GenerateDataKey","kms:Decrypt"],"Resource":"*"}]}`,
			adminARN, "arn:aws:iam::"+accountOf(st)+":role/"+stack.IngestRoleName)
		key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(policy)})
		require.NoError(t, err)
		acks := pushMarked(t, st, "private", aws.ToString(key.KeyMetadata.Arn), time.Now().Add(-time.Minute).UnixMilli(), 3)
		require.Equal(t, 3, persistedCount(acks), "%v", acks)
		numbers := fragmentsOf(t, st, "private")

		read := func(hc *http.Client) []byte {
			body, err := json.Marshal(kvsapi.GetMediaForFragmentListInput{StreamRef: kvsapi.StreamRef{StreamName: "private"}, Fragments: numbers})
			require.NoError(t, err)
			resp, err := hc.Post(st.DataPlaneURL+kvsapi.PathGetMediaForFragmentList, kvsapi.JSONContentType, bytes.NewReader(body))
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			return b
		}
		consumer := signedAs(st, st.AssumeRole(st.ConsumerRoleARN, "reader"), nil)
		denied := read(consumer)
		require.Zero(t, bytes.Count(denied, marker), "no media for the consumer")
		require.Equal(t, 3, bytes.Count(denied, []byte("4500")), "an error chunk KMS_KEY_ACCESS_DENIED per fragment")
		require.Equal(t, 3, bytes.Count(read(st.AdminClient()), marker), "the admin, whom the key policy names, reads every fragment")

		// The same consumer reads a stream under the managed key, which KVS
		// may use on behalf of every principal of the account.
		require.Equal(t, 2, persistedCount(pushMarked(t, st, "shared", "", time.Now().Add(-time.Minute).UnixMilli(), 2)))
		numbers = fragmentsOf(t, st, "shared")
		body, err := json.Marshal(kvsapi.GetMediaForFragmentListInput{StreamRef: kvsapi.StreamRef{StreamName: "shared"}, Fragments: numbers})
		require.NoError(t, err)
		resp, err := consumer.Post(st.DataPlaneURL+kvsapi.PathGetMediaForFragmentList, kvsapi.JSONContentType, bytes.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, 2, bytes.Count(b, marker))
	})
}

// TestAuditLogTamperingIsFound: after real traffic, deleting one line of
// the stack's audit log, or editing one, makes verification fail and name
// the line.
func TestAuditLogTamperingIsFound(t *testing.T) {
	dir := t.TempDir()
	st := startStack(t, dir)
	ctx := context.Background()
	for i := range 5 {
		_ = kvsclient.Call(ctx, st.AdminClient(), st.ControlPlaneURL, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamName: fmt.Sprint("s", i)}, nil)
	}
	path := st.AuditLog
	require.NoError(t, st.Close(ctx))
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := bytes.SplitAfter(orig, []byte("\n"))
	require.GreaterOrEqual(t, len(lines), 5)
	rep, err := audit.Verify(bytes.NewReader(orig))
	require.NoError(t, err)
	require.True(t, rep.Intact())

	deleted := bytes.Join(append(append([][]byte{}, lines[:2]...), lines[3:]...), nil)
	_, err = audit.Verify(bytes.NewReader(deleted))
	var br *audit.Break
	require.True(t, errors.As(err, &br), "%v", err)
	require.Equal(t, 3, br.Line, "the line after the deleted one: %v", br)

	edited := bytes.Replace(orig, []byte(`"eventName":"DescribeStream"`), []byte(`"eventName":"ListStreams"   `), 1)
	require.NotEqual(t, orig, edited)
	_, err = audit.Verify(bytes.NewReader(edited))
	require.True(t, errors.As(err, &br), "%v", err)
	require.Positive(t, br.Line)
}

// TestSigV4FormsOfRealClients: PutMedia as the clients in the field sign
// it reaches the ingest and is stored — presigned in the query string with
// the empty-payload hash (the seqsense Go client), and header-signed with
// the session token sent but not signed (producer-c) — while the same
// requests with the token or the signature tampered are refused.
func TestSigV4FormsOfRealClients(t *testing.T) {
	forEachStack(t, func(t *testing.T, st *stack.Stack) {
		ctx := context.Background()
		require.NoError(t, kvsclient.Call(ctx, st.AdminClient(), st.ControlPlaneURL, kvsapi.PathCreateStream,
			kvsapi.CreateStreamInput{StreamName: "target", DataRetentionInHours: 1}, nil))
		creds, err := st.AssumeRole(st.AdminRoleARN, "field-client").Retrieve(ctx)
		require.NoError(t, err)
		send := func(r *http.Request) (int, string) {
			resp, err := st.HTTPClient().Do(r)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}

		// Presigned: everything in the query, nothing in the headers.
		r := putMediaRequest(t, st)
		r.URL.RawQuery = "X-Amz-Expires=300"
		u, _, err := v4.NewSigner().PresignHTTP(ctx, creds, r, kvsclient.EmptyPayloadHash, kvsclient.SigningService, st.Region, time.Now())
		require.NoError(t, err)
		presigned := putMediaRequest(t, st)
		presigned.URL, err = presigned.URL.Parse(u)
		require.NoError(t, err)
		require.Empty(t, presigned.Header.Get("Authorization"))
		status, body := send(presigned)
		require.Equal(t, http.StatusOK, status, body)
		require.Contains(t, body, `"EventType":"PERSISTED"`)

		tampered := putMediaRequest(t, st)
		tampered.URL, err = tampered.URL.Parse(strings.Replace(u, "X-Amz-Expires=300", "X-Amz-Expires=3000", 1))
		require.NoError(t, err)
		status, body = send(tampered)
		require.Equal(t, http.StatusForbidden, status, body)

		// Header-signed with the token left out of the signature, then added.
		unsignedToken := func(token string) *http.Request {
			r := putMediaRequest(t, st)
			signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableSessionToken = true })
			require.NoError(t, signer.SignHTTP(ctx, creds, r, kvsclient.EmptyPayloadHash, kvsclient.SigningService, st.Region, time.Now()))
			require.NotContains(t, r.Header.Get("Authorization"), "x-amz-security-token")
			r.Header.Set("X-Amz-Security-Token", token)
			return r
		}
		status, body = send(unsignedToken(creds.SessionToken))
		require.Equal(t, http.StatusOK, status, body)
		require.Contains(t, body, `"EventType":"PERSISTED"`)
		status, body = send(unsignedToken(creds.SessionToken[:len(creds.SessionToken)-4] + "AAAA"))
		require.Equal(t, http.StatusForbidden, status, body)
		require.Len(t, fragmentsOf(t, st, "target"), 2, "the two accepted PutMedia stored one fragment each")
	})
}

// TestKeyUseChecksAnswerOnlyTheIngest: the KMS answers the ingest's
// questions about a caller's use of a key (stack.PathKeyUse) only when
// the ingest's role asks; anyone else, even the admin, is refused, so no
// one can have the KMS vouch for a principal they name.
func TestKeyUseChecksAnswerOnlyTheIngest(t *testing.T) {
	forEachStack(t, func(t *testing.T, st *stack.Stack) {
		body := `{"KeyId":"alias/aws/kinesisvideo","Action":"kms:Decrypt","Principal":{"Type":"IAMUser","ARN":"arn:aws:iam::123456789012:user/camstorm-admin","Account":"123456789012"}}`
		for _, hc := range []*http.Client{
			{Transport: &kvsclient.SigningTransport{Base: st.HTTPClient().Transport, Credentials: st.AdminCredentials(), Region: st.Region, Service: "kms"}},
			{Transport: &kvsclient.SigningTransport{Base: st.HTTPClient().Transport, Credentials: st.AssumeRole(st.ConsumerRoleARN, "asker"), Region: st.Region, Service: "kms"}},
		} {
			resp, err := hc.Post(st.KMSURL+stack.PathKeyUse, "application/x-amz-json-1.1", strings.NewReader(body))
			require.NoError(t, err)
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s", msg)
			require.Contains(t, string(msg), "only the ingest's role")
		}
	})
}

func jsonBody(t *testing.T, v any) io.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return bytes.NewReader(b)
}

func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return b
}

func countMarker(b []byte) int { return bytes.Count(b, marker) }

// TestRevokeCertificateThroughTheIoTAPI: an operator revokes a device's
// certificate with AWS IoT's UpdateCertificate (PUT
// /certificates/ID?newStatus=REVOKED, SigV4 service iot) on the identity
// listener; a camera may not revoke another's; after the revocation the
// device gets no more credentials.
func TestRevokeCertificateThroughTheIoTAPI(t *testing.T) {
	forEachStack(t, func(t *testing.T, st *stack.Stack) {
		camA, _ := camera(t, st, "cam-a")
		_, idB := camera(t, st, "cam-b")
		camBClient, _ := camera(t, st, "cam-b")
		iotClient := func(creds aws.CredentialsProvider) *http.Client {
			return &http.Client{Transport: &kvsclient.SigningTransport{Base: st.HTTPClient().Transport, Credentials: creds, Region: st.Region, Service: "iot"}}
		}
		revoke := func(hc *http.Client, id, status string) (int, string) {
			req, err := http.NewRequest(http.MethodPut, st.STSURL+"/certificates/"+id+"?newStatus="+status, nil)
			require.NoError(t, err)
			resp, err := hc.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType") + " " + string(b)
		}
		camACreds := camA.Transport.(*kvsclient.SigningTransport).Credentials
		status, msg := revoke(iotClient(camACreds), idB.CertificateID, "REVOKED")
		require.Equal(t, http.StatusForbidden, status, msg)
		require.Contains(t, msg, "AccessDeniedException")
		admin := iotClient(st.AdminCredentials())
		status, msg = revoke(admin, idB.CertificateID, "ACTIVE")
		require.Equal(t, http.StatusBadRequest, status, msg)
		status, msg = revoke(admin, "0000", "REVOKED")
		require.Equal(t, http.StatusNotFound, status, msg)
		status, msg = revoke(admin, idB.CertificateID, "REVOKED")
		require.Equal(t, http.StatusOK, status, msg)

		// camBClient enrolled a second certificate for cam-b; revoke the first
		// and the second still works, then the first device is refused.
		err := kvsclient.Call(context.Background(), camBClient, st.ControlPlaneURL, kvsapi.PathListStreams, kvsapi.ListStreamsInput{}, nil)
		require.True(t, kvsclient.IsException(err, "AccessDeniedException"), "signed with its own live certificate's credentials: %v", err)
		tr := st.HTTPClient().Transport.(*http.Transport)
		_, err = device.NewCredentialsCache(&device.IoTCredentials{Identity: idB, Transport: tr}).Retrieve(context.Background())
		require.ErrorContains(t, err, "REVOKED")
		recs := auditRecords(t, st, audit.Filter{EventNames: []string{"UpdateCertificate"}}, 4)
		require.Len(t, recs, 4, "every UpdateCertificate call is audited")
	})
}
