package stack_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/audit"
	"github.com/camstorm/camstorm/stack/iam"
	"github.com/camstorm/camstorm/stack/ingest"
	"github.com/camstorm/camstorm/stack/stacktest"
)

// defectProbe looks for one defect's flaw with real clients against a
// running stack: each observation is true when the flaw shows. A clean
// stack shows none of them; the stack started with the defect shows all.
type defectProbe func(t *testing.T, st *stack.Stack) []bool

// TestEveryDefectChangesBehaviour starts the stack with each deliberate
// defect and shows, against the clean stack, that its flaw is real: the
// same probe finds nothing on the clean stack and the flaw on the
// defective one. Every defect has a probe.
func TestEveryDefectChangesBehaviour(t *testing.T) {
	probes := map[stack.Defect]defectProbe{
		stack.DefectPlaintextAtRest:          probePlaintextAtRest,
		stack.DefectSkipSignatureCheck:       probeWrongSignature,
		stack.DefectAcceptExpiredCredentials: probeExpiredCredentials,
		stack.DefectIgnoreStreamOwnership:    probeOtherCamerasStream,
		stack.DefectIgnoreKeyPolicy:          probeConsumerWithoutKeyGrant,
		stack.DefectNoAuditOnDenial:          probeDenialAudited,
		stack.DefectReuseNonce:               probeNonceReuse,
		stack.DefectDropResentFragment:       probeResendAfterCut,
		stack.DefectDuplicateResentFragment:  probeResentStoredTwice,
		stack.DefectPersistedBeforeDurable:   probePersistedThenCrash,
		stack.DefectForgetOldKeyVersions:     probeOldVersionAfterRotation,
		stack.DefectStaleKeyVersion:          probeDataKeyVersionAfterRotation,
		stack.DefectIgnoreEncryptionContext:  probeWrongEncryptionContext,
		stack.DefectPlainHTTP:                probePlainHTTP,
		stack.DefectWeakTLS:                  probeTLS11,
		stack.DefectTamperMedia:              probeMediaIntact,
		stack.DefectReorderFragments:         probeFragmentOrder,
		stack.DefectWrongErrorAck:            probeDisabledKeyAck,
		stack.DefectIgnoreRevocation:         probeRevokedCertificate,
		stack.DefectOverbroadRoles:           probeLeastPrivilege,
		stack.DefectPlaintextDataKeys:        probePlaintextDataKeys,
	}
	require.Len(t, probes, len(stack.Defects()), "every defect has a probe")
	clean, err := stacktest.Start(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = clean.Close(context.Background()) })

	for _, d := range stack.Defects() {
		probe := probes[d]
		require.NotNil(t, probe, "no probe for %s", d)
		t.Run(string(d), func(t *testing.T) {
			for i, flaw := range probe(t, clean) {
				require.False(t, flaw, "observation %d: the clean stack shows the flaw of %s", i, d)
			}
			st, err := stacktest.Start(context.Background(), d)
			require.NoError(t, err)
			defer st.Close(context.Background())
			for i, flaw := range probe(t, st) {
				require.True(t, flaw, "observation %d: the stack with %s does not show it: %s", i, d, d.Describe())
			}
		})
	}
}

func TestParseDefect(t *testing.T) {
	for _, d := range stack.Defects() {
		got, err := stack.ParseDefect(string(d))
		require.NoError(t, err)
		require.Equal(t, d, got)
		require.NotEqual(t, "not a defect of the reference stack", d.Describe())
	}
	_, err := stack.ParseDefect("no-such-defect")
	require.ErrorContains(t, err, "plaintext-at-rest")
	require.ErrorContains(t, err, "ignore-revocation")
	_, err = stacktest.Start(context.Background(), "no-such-defect")
	require.ErrorContains(t, err, "valid defects are")
}

// uniqueName is a stream (or thing) name no other probe on the same stack uses.
func uniqueName(prefix string) string {
	return prefix + "-" + strings.ReplaceAll(time.Now().Format("150405.000000000"), ".", "")
}

func createStream(t *testing.T, st *stack.Stack, name, kmsKey string) {
	t.Helper()
	require.NoError(t, kvsclient.Call(context.Background(), st.AdminClient(), st.ControlPlaneURL, kvsapi.PathCreateStream,
		kvsapi.CreateStreamInput{StreamName: name, DataRetentionInHours: 1, KmsKeyID: kmsKey}, nil))
}

// describeStatus sends a DescribeStream of stream "target" signed by sign
// and returns the status.
func describeStatus(t *testing.T, st *stack.Stack, sign func(r *http.Request, payloadHash string)) int {
	t.Helper()
	r := describeRequest(t, st)
	sign(r, hexSHA256(describeBody))
	resp, err := st.HTTPClient().Do(r)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func ensureTarget(t *testing.T, st *stack.Stack) {
	t.Helper()
	err := kvsclient.Call(context.Background(), st.AdminClient(), st.ControlPlaneURL, kvsapi.PathCreateStream,
		kvsapi.CreateStreamInput{StreamName: "target", DataRetentionInHours: 1}, nil)
	if err != nil && !kvsclient.IsException(err, kvsapi.ExcResourceInUse) {
		require.NoError(t, err)
	}
}

func probePlaintextAtRest(t *testing.T, st *stack.Stack) []bool {
	require.Equal(t, 2, persistedCount(pushMarked(t, st, uniqueName("rest"), "", time.Now().Add(-time.Minute).UnixMilli(), 2)))
	files, err := st.StoredFiles(context.Background())
	require.NoError(t, err)
	inClear := false
	for _, b := range files {
		inClear = inClear || bytes.Contains(b, marker[:64])
	}
	return []bool{inClear}
}

func probeWrongSignature(t *testing.T, st *stack.Stack) []bool {
	ensureTarget(t, st)
	admin, err := st.AdminCredentials().Retrieve(context.Background())
	require.NoError(t, err)
	wrong := describeStatus(t, st, func(r *http.Request, h string) {
		sigV4(t, st, r, aws.Credentials{AccessKeyID: admin.AccessKeyID, SecretAccessKey: "not-the-secret"}, h, time.Now())
	})
	unsigned := describeStatus(t, st, func(*http.Request, string) {})
	require.Equal(t, http.StatusForbidden, unsigned, "an unsigned request is refused either way")
	return []bool{wrong == http.StatusOK}
}

func probeExpiredCredentials(t *testing.T, st *stack.Stack) []bool {
	ctx := context.Background()
	ensureTarget(t, st)
	// Credentials issued three hours ago, for one hour.
	require.NoError(t, st.ShiftClock(ctx, stack.ClockIdentity, -3*time.Hour))
	expired, err := st.AssumeRole(st.AdminRoleARN, uniqueName("old")).Retrieve(ctx)
	require.NoError(t, st.ShiftClock(ctx, stack.ClockIdentity, 3*time.Hour))
	require.NoError(t, err)
	admin, err := st.AdminCredentials().Retrieve(ctx)
	require.NoError(t, err)
	withExpired := describeStatus(t, st, func(r *http.Request, h string) { sigV4(t, st, r, expired, h, time.Now()) })
	outsideWindow := describeStatus(t, st, func(r *http.Request, h string) { sigV4(t, st, r, admin, h, time.Now().Add(-20*time.Minute)) })
	return []bool{withExpired == http.StatusOK, outsideWindow == http.StatusOK}
}

func probeOtherCamerasStream(t *testing.T, st *stack.Stack) []bool {
	ctx := context.Background()
	thing, other := uniqueName("cam-a"), uniqueName("cam-b")
	cam, _ := camera(t, st, thing)
	createStream(t, st, other, "")
	err := kvsclient.Call(ctx, cam, st.ControlPlaneURL, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamName: other}, nil)
	_, putErr := putOne(ctx, cam, st, other)
	return []bool{err == nil, putErr == nil && len(fragmentsOf(t, st, other)) == 1}
}

// probePlaintextDataKeys unwraps the data keys stored beside the fragments
// (through KMS, as the key's admin) and looks for them in the clear.
func probePlaintextDataKeys(t *testing.T, st *stack.Stack) []bool {
	ctx := context.Background()
	kc := operatorKMS(st)
	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{})
	require.NoError(t, err)
	stream := uniqueName("dk")
	require.Equal(t, 2, persistedCount(pushMarked(t, st, stream, aws.ToString(key.KeyMetadata.Arn), time.Now().Add(-time.Minute).UnixMilli(), 2)))
	var info kvsapi.DescribeStreamOutput
	require.NoError(t, kvsclient.Call(ctx, st.AdminClient(), st.ControlPlaneURL, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamName: stream}, &info))
	files, err := st.StoredFiles(ctx)
	require.NoError(t, err)
	blobs := blobsIn(t, files, aws.ToString(key.KeyMetadata.KeyId))
	require.NotEmpty(t, blobs)
	inClear := false
	for _, blob := range blobs {
		out, err := kc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob,
			EncryptionContext: map[string]string{ingest.StreamARNContext: info.StreamInfo.StreamARN}})
		require.NoError(t, err)
		for _, b := range files {
			inClear = inClear || bytes.Contains(b, out.Plaintext)
		}
	}
	return []bool{inClear}
}

// probeLeastPrivilege: a camera lists the fragments of its own stream (its
// role grants no reads) and a consumer creates a stream (its role grants
// no writes).
func probeLeastPrivilege(t *testing.T, st *stack.Stack) []bool {
	ctx := context.Background()
	thing := uniqueName("cam-lp")
	cam, _ := camera(t, st, thing)
	createStream(t, st, thing, "")
	camErr := kvsclient.Call(ctx, cam, st.DataPlaneURL, kvsapi.PathListFragments,
		kvsapi.ListFragmentsInput{StreamRef: kvsapi.StreamRef{StreamName: thing}}, nil)
	consumer := signedAs(st, st.AssumeRole(st.ConsumerRoleARN, "lp-reader"), nil)
	conErr := kvsclient.Call(ctx, consumer, st.ControlPlaneURL, kvsapi.PathCreateStream,
		kvsapi.CreateStreamInput{StreamName: uniqueName("lp-made"), DataRetentionInHours: 1}, nil)
	return []bool{camErr == nil, conErr == nil}
}

func probeConsumerWithoutKeyGrant(t *testing.T, st *stack.Stack) []bool {
	ctx := context.Background()
	kc := operatorKMS(st)
	policy := `{"Version":"2012-10-17","Statement":[
		{"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + accountOf(st) + `:user/` + iam.AdminUserName + `"},"Action":"kms:*","Resource":"*"},
		{"Sid":"Ingest","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + accountOf(st) + `:role/` + stack.IngestRoleName + `"},"Action":["kms:GenerateDataKey","kms:Decrypt"],"Resource":"*"}]}`
	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(policy)})
	require.NoError(t, err)
	stream := uniqueName("private")
	require.Equal(t, 1, persistedCount(pushMarked(t, st, stream, aws.ToString(key.KeyMetadata.Arn), time.Now().Add(-time.Minute).UnixMilli(), 1)))
	consumer := signedAs(st, st.AssumeRole(st.ConsumerRoleARN, "reader"), nil)
	body := jsonBody(t, kvsapi.GetMediaForFragmentListInput{StreamRef: kvsapi.StreamRef{StreamName: stream}, Fragments: fragmentsOf(t, st, stream)})
	resp, err := consumer.Post(st.DataPlaneURL+kvsapi.PathGetMediaForFragmentList, kvsapi.JSONContentType, body)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return []bool{countMarker(readAll(t, resp.Body)) == 1}
}

func probeDenialAudited(t *testing.T, st *stack.Stack) []bool {
	count := func() int {
		require.NoError(t, st.FlushAudit())
		logs, err := st.AuditLogs(context.Background())
		require.NoError(t, err)
		n := 0
		for _, b := range logs {
			require.NoError(t, audit.Query(bytes.NewReader(b), audit.Filter{Denied: true, EventNames: []string{"ListStreams"}},
				func(audit.Record) error { n++; return nil }))
		}
		return n
	}
	before := count()
	req, err := http.NewRequest(http.MethodPost, st.ControlPlaneURL+kvsapi.PathListStreams, strings.NewReader(`{}`))
	require.NoError(t, err)
	resp, err := st.HTTPClient().Do(req) // unsigned: refused
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	// The record is appended once the handler returned, maybe after the
	// client read the answer.
	deadline := time.Now().Add(2 * time.Second)
	for count() == before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	return []bool{count() == before}
}

func probeNonceReuse(t *testing.T, st *stack.Stack) []bool {
	ctx := context.Background()
	kc := operatorKMS(st)
	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{})
	require.NoError(t, err)
	require.Equal(t, 3, persistedCount(pushMarked(t, st, uniqueName("nonce"), aws.ToString(key.KeyMetadata.Arn), time.Now().Add(-time.Minute).UnixMilli(), 3)))
	files, err := st.StoredFiles(ctx)
	require.NoError(t, err)
	id, err := hex.DecodeString(strings.ReplaceAll(aws.ToString(key.KeyMetadata.KeyId), "-", ""))
	require.NoError(t, err)
	head := append([]byte{0x01}, id...)
	// A sealed payload is the wrapped key (its one-byte length before it),
	// then the 12-byte nonce (docs/INGEST.md).
	var nonces []string
	for _, b := range files {
		for off := 0; ; {
			i := bytes.Index(b[off:], head)
			if i < 0 {
				break
			}
			i += off
			n := int(b[i-1])
			require.LessOrEqual(t, i+n+12, len(b))
			nonces = append(nonces, string(b[i+n:i+n+12]))
			off = i + n
		}
	}
	require.Len(t, nonces, 3, "one sealed payload per fragment")
	// Sent within milliseconds, at least two share a data key (stacktest's
	// keys last a second).
	return []bool{nonces[0] == nonces[1] || nonces[1] == nonces[2] || nonces[0] == nonces[2]}
}

func probeResendAfterCut(t *testing.T, st *stack.Stack) []bool {
	ctx := context.Background()
	stream := uniqueName("cut")
	createStream(t, st, stream, "")
	tc := time.Now().Add(-time.Minute).UnixMilli()
	pm, err := kvsclient.StartPutMedia(ctx, st.AdminClient(), st.DataPlaneURL, kvsclient.PutMediaOptions{StreamName: stream})
	require.NoError(t, err)
	w := mkv.NewWriter(pm)
	track := mkv.TrackSpec{Number: 1, UID: 1, Type: mkv.TrackVideo, CodecID: "V_MPEG4/ISO/AVC", Width: 64, Height: 64}
	require.NoError(t, w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{track}}))
	require.NoError(t, w.StartCluster(tc))
	require.NoError(t, w.WriteFrame(1, tc, true, marker))
	for i := 0; ; i++ { // the fragment is open on the ingest's side
		a, err := pm.NextAck()
		require.NoError(t, err)
		if a.EventType == kvsapi.EventBuffering {
			break
		}
		require.Less(t, i, 5, "no BUFFERING for the fragment")
	}
	require.NoError(t, pm.Close()) // cut mid-fragment, without its end
	acks := pushMarked(t, st, stream, "", tc, 1)
	require.Equal(t, 1, persistedCount(acks), "the resent fragment is acknowledged PERSISTED: %v", acks)
	return []bool{len(fragmentsOf(t, st, stream)) == 0}
}

func probeResentStoredTwice(t *testing.T, st *stack.Stack) []bool {
	stream := uniqueName("resent")
	base := time.Now().Add(-time.Minute).UnixMilli()
	require.Equal(t, 2, persistedCount(pushMarked(t, st, stream, "", base, 2)))
	require.Equal(t, 2, persistedCount(pushMarked(t, st, stream, "", base, 2)), "resent")
	return []bool{len(fragmentsOf(t, st, stream)) == 4}
}

func probePersistedThenCrash(t *testing.T, st *stack.Stack) []bool {
	stream := uniqueName("crash")
	require.Equal(t, 2, persistedCount(pushMarked(t, st, stream, "", time.Now().Add(-time.Minute).UnixMilli(), 2)))
	require.NoError(t, st.CrashIngest(context.Background()))
	return []bool{len(fragmentsOf(t, st, stream)) < 2}
}

// rotatedKey creates a key, generates a data key under it (context
// stream=a), rotates the key on demand and returns the key and the blob.
func rotatedKey(t *testing.T, st *stack.Stack) (*kms.Client, string, []byte) {
	ctx := context.Background()
	kc := operatorKMS(st)
	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{})
	require.NoError(t, err)
	arn := aws.ToString(key.KeyMetadata.Arn)
	dk, err := kc.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(arn), NumberOfBytes: aws.Int32(32),
		EncryptionContext: map[string]string{"stream": "a"}})
	require.NoError(t, err)
	_, err = kc.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: aws.String(arn)})
	require.NoError(t, err)
	return kc, arn, dk.CiphertextBlob
}

func probeOldVersionAfterRotation(t *testing.T, st *stack.Stack) []bool {
	kc, _, blob := rotatedKey(t, st)
	_, err := kc.Decrypt(context.Background(), &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"stream": "a"}})
	return []bool{err != nil}
}

func probeDataKeyVersionAfterRotation(t *testing.T, st *stack.Stack) []bool {
	kc, arn, _ := rotatedKey(t, st)
	dk, err := kc.GenerateDataKey(context.Background(), &kms.GenerateDataKeyInput{KeyId: aws.String(arn), NumberOfBytes: aws.Int32(32)})
	require.NoError(t, err)
	// The blob's header names the key version (docs/KMS.md).
	return []bool{binary.BigEndian.Uint32(dk.CiphertextBlob[17:21]) == 0}
}

func probeWrongEncryptionContext(t *testing.T, st *stack.Stack) []bool {
	ctx := context.Background()
	kc := operatorKMS(st)
	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{})
	require.NoError(t, err)
	dk, err := kc.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: key.KeyMetadata.Arn, NumberOfBytes: aws.Int32(32),
		EncryptionContext: map[string]string{"stream": "a"}})
	require.NoError(t, err)
	out, err := kc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: map[string]string{"stream": "a"}})
	require.NoError(t, err, "the right context decrypts either way")
	require.Equal(t, dk.Plaintext, out.Plaintext)
	_, err = kc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: map[string]string{"stream": "b"}})
	return []bool{err == nil}
}

func probePlainHTTP(t *testing.T, st *stack.Stack) []bool {
	ensureTarget(t, st)
	plainAdmin := &http.Client{Transport: &kvsclient.SigningTransport{Base: &http.Transport{}, Credentials: st.AdminCredentials(), Region: st.Region}}
	var served []bool
	for _, u := range []string{st.ControlPlaneURL, st.DataPlaneURL} {
		plain := "http://" + strings.TrimPrefix(u, "https://")
		var err error
		if u == st.ControlPlaneURL {
			err = kvsclient.Call(context.Background(), plainAdmin, plain, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamName: "target"}, nil)
		} else {
			err = kvsclient.Call(context.Background(), plainAdmin, plain, kvsapi.PathListFragments,
				kvsapi.ListFragmentsInput{StreamRef: kvsapi.StreamRef{StreamName: "target"}}, nil)
		}
		served = append(served, err == nil)
	}
	// TLS keeps working either way.
	require.NoError(t, kvsclient.Call(context.Background(), st.AdminClient(), st.ControlPlaneURL, kvsapi.PathDescribeStream,
		kvsapi.StreamRef{StreamName: "target"}, nil))
	return served
}

func probeTLS11(t *testing.T, st *stack.Stack) []bool {
	var accepted []bool
	for _, u := range []string{st.ControlPlaneURL, st.DataPlaneURL, st.KMSURL, st.STSURL} {
		cfg := st.CA().ClientTLS()
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		d := &net.Dialer{Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", strings.TrimPrefix(u, "https://"), cfg)
		if err == nil {
			require.LessOrEqual(t, c.ConnectionState().Version, uint16(tls.VersionTLS11))
			c.Close()
		}
		accepted = append(accepted, err == nil)
	}
	return accepted
}

func probeMediaIntact(t *testing.T, st *stack.Stack) []bool {
	stream := uniqueName("tamper")
	require.Equal(t, 2, persistedCount(pushMarked(t, st, stream, "", time.Now().Add(-time.Minute).UnixMilli(), 2)))
	media := getMediaForAll(t, st, stream)
	require.Equal(t, 2, bytes.Count(media, marker[:len(marker)-1]), "the frames are served")
	live := getMediaUntil(t, st, stream, func(b []byte) bool { return bytes.Count(b, marker[:len(marker)-1]) == 2 })
	return []bool{countMarker(media) == 0, countMarker(live) == 0}
}

// getMediaUntil reads stream with GetMedia from the earliest fragment
// until done says the bytes so far suffice (at most 10 s).
func getMediaUntil(t *testing.T, st *stack.Stack, stream string, done func([]byte) bool) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.DataPlaneURL+kvsapi.PathGetMedia,
		jsonBody(t, kvsapi.GetMediaInput{StreamRef: kvsapi.StreamRef{StreamName: stream}, StartSelector: kvsapi.StartSelector{StartSelectorType: kvsapi.StartEarliest}}))
	require.NoError(t, err)
	req.Header.Set("Content-Type", kvsapi.JSONContentType)
	resp, err := st.AdminClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got []byte
	buf := make([]byte, 32<<10)
	for !done(got) {
		n, err := resp.Body.Read(buf)
		got = append(got, buf[:n]...)
		require.NoError(t, err, "GetMedia ended before the fragments were served")
	}
	return got
}

func probeFragmentOrder(t *testing.T, st *stack.Stack) []bool {
	stream := uniqueName("order")
	require.Equal(t, 2, persistedCount(pushMarked(t, st, stream, "", time.Now().Add(-time.Minute).UnixMilli(), 2)))
	numbers := fragmentsOf(t, st, stream)
	require.Len(t, numbers, 2)
	swapped := func(media []byte) bool {
		first, second := bytes.Index(media, []byte(numbers[0])), bytes.Index(media, []byte(numbers[1]))
		require.True(t, first >= 0 && second >= 0, "both fragments are served")
		return second < first
	}
	live := getMediaUntil(t, st, stream, func(b []byte) bool {
		return bytes.Contains(b, []byte(numbers[0])) && bytes.Contains(b, []byte(numbers[1]))
	})
	return []bool{swapped(getMediaForAll(t, st, stream)), swapped(live)}
}

func probeDisabledKeyAck(t *testing.T, st *stack.Stack) []bool {
	ctx := context.Background()
	kc := operatorKMS(st)
	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{})
	require.NoError(t, err)
	stream, base := uniqueName("disabled"), time.Now().Add(-time.Minute).UnixMilli()
	require.Equal(t, 1, persistedCount(pushMarked(t, st, stream, aws.ToString(key.KeyMetadata.Arn), base, 1)))
	_, err = kc.DisableKey(ctx, &kms.DisableKeyInput{KeyId: key.KeyMetadata.Arn})
	require.NoError(t, err)
	time.Sleep(stacktest.DataKeyMaxAge + 100*time.Millisecond) // the ingest's cached keys expire
	acks := pushMarked(t, st, stream, aws.ToString(key.KeyMetadata.Arn), base+10_000, 1)
	last := acks[len(acks)-1]
	require.Equal(t, kvsapi.EventError, last.EventType, "%v", acks)
	media := getMediaForAll(t, st, stream)
	require.Zero(t, countMarker(media), "no media while the key is disabled")
	return []bool{last.ErrorID == kvsapi.ErrKMSKeyUnavailable,
		bytes.Contains(media, []byte("4503")) && !bytes.Contains(media, []byte("4501"))}
}

func probeRevokedCertificate(t *testing.T, st *stack.Stack) []bool {
	ctx := context.Background()
	thing := uniqueName("cam-rev")
	createStream(t, st, thing, "")
	cam, id := camera(t, st, thing)
	iotAdmin := &http.Client{Transport: &kvsclient.SigningTransport{Base: st.HTTPClient().Transport, Credentials: st.AdminCredentials(), Region: st.Region, Service: "iot"}}
	req, err := http.NewRequest(http.MethodPut, st.STSURL+"/certificates/"+id.CertificateID+"?newStatus=REVOKED", nil)
	require.NoError(t, err)
	resp, err := iotAdmin.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	err = kvsclient.Call(ctx, cam, st.ControlPlaneURL, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamName: thing}, nil)
	return []bool{err == nil}
}

// TestDefectsAreDocumented: docs/DEFECTS.md has a row for every defect,
// with the sentence Describe gives.
func TestDefectsAreDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "DEFECTS.md"))
	require.NoError(t, err)
	for _, d := range stack.Defects() {
		require.Contains(t, string(doc), "| `"+string(d)+"` | "+d.Describe()+" |", "docs/DEFECTS.md lacks %s", d)
	}
}
