package stack_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/stack"
	"github.com/camstorm/camstorm/stack/ingest"
)

// marker is the plaintext pattern the tests stream and then look for.
var marker = bytes.Repeat([]byte("CAMSTORM-PLAINTEXT-MARKER."), 40)

// pushMarked creates stream (with kmsKey, if set) and sends n one-frame
// fragments whose payload is the marker, returning the ACKs it got until
// n PERSISTED or an ERROR.
func pushMarked(t *testing.T, st *stack.Stack, stream, kmsKey string, base int64, n int) []kvsapi.Ack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hc := st.AdminClient()
	err := kvsclient.Call(ctx, hc, st.ControlPlaneURL, kvsapi.PathCreateStream,
		kvsapi.CreateStreamInput{StreamName: stream, DataRetentionInHours: 1, KmsKeyID: kmsKey}, nil)
	if err != nil && !kvsclient.IsException(err, kvsapi.ExcResourceInUse) {
		require.NoError(t, err)
	}
	pm, err := kvsclient.StartPutMedia(ctx, hc, st.DataPlaneURL, kvsclient.PutMediaOptions{StreamName: stream})
	require.NoError(t, err)
	defer pm.Close()
	track := mkv.TrackSpec{Number: 1, UID: 1, Type: mkv.TrackVideo, CodecID: "V_MPEG4/ISO/AVC", Width: 64, Height: 64}
	w := mkv.NewWriter(pm)
	require.NoError(t, w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{track}}))
	// A write may fail once the ingest has answered ERROR and closed the
	// connection; the ACKs say what happened.
	var werr error
	for i := range n {
		tc := base + int64(i)*100
		if werr = w.StartCluster(tc); werr == nil {
			werr = w.WriteFrame(1, tc, true, marker)
		}
		if werr != nil {
			break
		}
	}
	if werr == nil {
		werr = w.EndFragment()
	}
	var acks []kvsapi.Ack
	persisted := 0
	for persisted < n {
		a, err := pm.NextAck()
		if errors.Is(err, io.EOF) || (err != nil && werr != nil) {
			break
		}
		require.NoError(t, err)
		acks = append(acks, a)
		switch a.EventType {
		case kvsapi.EventPersisted:
			persisted++
		case kvsapi.EventError:
			return acks
		}
	}
	require.NoError(t, werr, "writing failed and no ERROR ACK says why; ACKs %v", acks)
	return acks
}

func persistedCount(acks []kvsapi.Ack) int {
	n := 0
	for _, a := range acks {
		if a.EventType == kvsapi.EventPersisted {
			n++
		}
	}
	return n
}

// filesContain reports whether any file under dir holds pattern.
func filesContain(t *testing.T, dir string, pattern []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, pattern) {
			found = true
		}
		return nil
	})
	require.NoError(t, err)
	return found
}

// TestNoPlaintextAtRest streams a known plaintext pattern, stops the
// stack and scans its data directory: the pattern (the frame payload) is
// nowhere on disk, nor is any MKV structure (EBML header, Cluster), nor
// any of the plaintext data keys, which the test gets by unwrapping the
// stored wrapped keys through KMS; and the same scans find the pattern and
// the structure when encryption at rest is off, so the scans work. The
// fragments read back after a restart.
func TestNoPlaintextAtRest(t *testing.T) {
	base := time.Now().Add(-time.Minute).UnixMilli()
	ebmlMagic, clusterID := []byte{0x1A, 0x45, 0xDF, 0xA3}, []byte{0x1F, 0x43, 0xB6, 0x75}
	for _, plaintext := range []bool{false, true} {
		dir := t.TempDir()
		st, err := stack.StartEmbedded(context.Background(), stack.Options{DataDir: dir, PlaintextAtRest: plaintext,
			Ingest: ingest.Config{DataKeyMaxAge: time.Nanosecond}}) // a data key per fragment
		require.NoError(t, err)
		kc := operatorKMS(st)
		key, err := kc.CreateKey(context.Background(), &kms.CreateKeyInput{})
		require.NoError(t, err)
		acks := pushMarked(t, st, "marked", aws.ToString(key.KeyMetadata.Arn), base, 5)
		require.Equal(t, 5, persistedCount(acks), "%v", acks)
		var dataKeys [][]byte
		if !plaintext {
			dataKeys = unwrapStoredDataKeys(t, st, kc, dir, "marked", aws.ToString(key.KeyMetadata.KeyId))
			require.Len(t, dataKeys, 5, "one stored data key per fragment")
		}
		require.NoError(t, st.Close(context.Background()))
		require.Equal(t, plaintext, filesContain(t, dir, marker[:64]),
			"plaintext at rest = %v: the frame payload on disk", plaintext)
		fragments := filepath.Join(dir, "fragments")
		require.Equal(t, plaintext, filesContain(t, fragments, ebmlMagic) || filesContain(t, fragments, clusterID),
			"plaintext at rest = %v: MKV structure in the fragment store", plaintext)
		for _, k := range dataKeys {
			require.False(t, filesContain(t, dir, k), "a plaintext data key is on disk")
		}
		if plaintext {
			continue
		}
		st = startStack(t, dir)
		media := getMediaForAll(t, st, "marked")
		require.Equal(t, 5, bytes.Count(media, marker), "every fragment decrypts after a restart")
	}
}

// unwrapStoredDataKeys finds the data keys stored with stream's fragments
// under the KMS key keyID (each a blob whose one-byte length precedes it,
// docs/INGEST.md) and unwraps them with the operator's KMS client.
func unwrapStoredDataKeys(t *testing.T, st *stack.Stack, kc *kms.Client, dir, stream, keyID string) [][]byte {
	t.Helper()
	var info kvsapi.DescribeStreamOutput
	require.NoError(t, kvsclient.Call(context.Background(), st.AdminClient(), st.ControlPlaneURL, kvsapi.PathDescribeStream,
		kvsapi.StreamRef{StreamName: stream}, &info))
	var keys [][]byte
	for _, blob := range storedBlobs(t, dir, keyID) {
		out, err := kc.Decrypt(context.Background(), &kms.DecryptInput{CiphertextBlob: blob,
			EncryptionContext: map[string]string{ingest.StreamARNContext: info.StreamInfo.StreamARN}})
		require.NoError(t, err)
		require.Len(t, out.Plaintext, 32)
		keys = append(keys, out.Plaintext)
	}
	return keys
}

// TestDisabledKMSKeyStopsIngestAndReads: with the stream's KMS key
// disabled, PutMedia gets ERROR 4501 and reads get error chunk 4501;
// enabled again, both work and nothing stored is lost.
func TestDisabledKMSKeyStopsIngestAndReads(t *testing.T) {
	forEachStackWith(t, stack.Options{Ingest: ingest.Config{DataKeyMaxAge: time.Nanosecond}}, func(t *testing.T, st *stack.Stack) {
		ctx := context.Background()
		kc := operatorKMS(st)
		key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("camera keys")})
		require.NoError(t, err)
		keyARN := aws.ToString(key.KeyMetadata.Arn)
		base := time.Now().Add(-time.Minute).UnixMilli()

		require.Equal(t, 3, persistedCount(pushMarked(t, st, "cmk", keyARN, base, 3)))
		_, err = kc.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(keyARN)})
		require.NoError(t, err)
		acks := pushMarked(t, st, "cmk", keyARN, base+10_000, 2)
		last := acks[len(acks)-1]
		require.Equal(t, kvsapi.EventError, last.EventType, "%v", acks)
		require.Equal(t, kvsapi.ErrKMSKeyDisabled, last.ErrorID)
		media := getMediaForAll(t, st, "cmk")
		require.Contains(t, string(media), "4501", "reads fail with the KMS error id while the key is disabled")

		_, err = kc.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(keyARN)})
		require.NoError(t, err)
		require.Equal(t, 2, persistedCount(pushMarked(t, st, "cmk", keyARN, base+20_000, 2)))
		media = getMediaForAll(t, st, "cmk")
		require.Equal(t, 5, bytes.Count(media, marker), "nothing stored was lost")
	})
}

// getMediaForAll reads every fragment of stream with
// GetMediaForFragmentList and returns the raw response (MKV chunks, or
// error chunks).
func getMediaForAll(t *testing.T, st *stack.Stack, stream string) []byte {
	t.Helper()
	ctx := context.Background()
	hc := st.AdminClient()
	ref := kvsapi.StreamRef{StreamName: stream}
	var list kvsapi.ListFragmentsOutput
	require.NoError(t, kvsclient.Call(ctx, hc, st.DataPlaneURL, kvsapi.PathListFragments,
		kvsapi.ListFragmentsInput{StreamRef: ref, MaxResults: 1000}, &list))
	var numbers []string
	for _, f := range list.Fragments {
		numbers = append(numbers, f.FragmentNumber)
	}
	require.NotEmpty(t, numbers)
	body, err := json.Marshal(kvsapi.GetMediaForFragmentListInput{StreamRef: ref, Fragments: numbers})
	require.NoError(t, err)
	resp, err := hc.Post(st.DataPlaneURL+kvsapi.PathGetMediaForFragmentList, kvsapi.JSONContentType, bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	media, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return media
}

// TestKMSKeyRotationKeepsFragmentsReadable: after the stream's KMS key is
// rotated, on demand or automatically when its rotation period has passed,
// every earlier fragment still reads back, ListKeyRotations shows the
// rotation, and the data keys stored with later fragments come from the
// new key version (the version is in the wrapped key's header, docs/KMS.md).
func TestKMSKeyRotationKeepsFragmentsReadable(t *testing.T) {
	onDemand := stack.Options{Ingest: ingest.Config{DataKeyMaxAge: time.Nanosecond}} // a data key per fragment
	t.Run(string(kmstypes.RotationTypeOnDemand), func(t *testing.T) {
		forEachStackWith(t, onDemand, func(t *testing.T, st *stack.Stack) {
			rotationKeepsFragmentsReadable(t, st, kmstypes.RotationTypeOnDemand, func(kc *kms.Client, keyARN string) {
				_, err := kc.RotateKeyOnDemand(context.Background(), &kms.RotateKeyOnDemandInput{KeyId: aws.String(keyARN)})
				require.NoError(t, err)
			})
		})
	})
	// Automatic rotation: the KMS's clock is moved past the period.
	t.Run(string(kmstypes.RotationTypeAutomatic), func(t *testing.T) {
		o := onDemand
		o.ClockControl = true
		forEachStackWith(t, o, func(t *testing.T, st *stack.Stack) {
			rotationKeepsFragmentsReadable(t, st, kmstypes.RotationTypeAutomatic, func(kc *kms.Client, keyARN string) {
				_, err := kc.EnableKeyRotation(context.Background(), &kms.EnableKeyRotationInput{KeyId: aws.String(keyARN), RotationPeriodInDays: aws.Int32(90)})
				require.NoError(t, err)
				require.NoError(t, st.ShiftClock(context.Background(), stack.ClockKMS, 91*24*time.Hour))
			})
		})
	})
}

// rotationKeepsFragmentsReadable streams 3 fragments under a new key,
// rotates it, streams 3 more, and checks the rotation's record, that all
// 6 read back, and which key versions wrapped the stored data keys.
func rotationKeepsFragmentsReadable(t *testing.T, st *stack.Stack, kind kmstypes.RotationType, rotate func(kc *kms.Client, keyARN string)) {
	t.Helper()
	ctx := context.Background()
	kc := operatorKMS(st)
	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{})
	require.NoError(t, err)
	keyARN, keyID := aws.ToString(key.KeyMetadata.Arn), aws.ToString(key.KeyMetadata.KeyId)
	base := time.Now().Add(-time.Minute).UnixMilli()

	require.Equal(t, 3, persistedCount(pushMarked(t, st, "rotating", keyARN, base, 3)))
	rotate(kc, keyARN)
	require.Equal(t, 3, persistedCount(pushMarked(t, st, "rotating", keyARN, base+10_000, 3)))
	rot, err := kc.ListKeyRotations(ctx, &kms.ListKeyRotationsInput{KeyId: aws.String(keyARN)})
	require.NoError(t, err)
	require.Len(t, rot.Rotations, 1)
	require.Equal(t, kind, rot.Rotations[0].RotationType)
	require.Equal(t, 6, bytes.Count(getMediaForAll(t, st, "rotating"), marker), "every fragment reads back across the rotation")
	files, err := st.StoredFiles(ctx)
	require.NoError(t, err)
	versions := map[uint32]int{}
	for _, blob := range blobsIn(t, files, keyID) {
		versions[binary.BigEndian.Uint32(blob[17:])]++
	}
	require.Equal(t, map[uint32]int{0: 3, 1: 3}, versions, "3 data keys under the first key version, 3 under the rotated one")
}

// storedBlobs finds the wrapped data keys under keyID in the fragment
// store's files under dir.
func storedBlobs(t *testing.T, dir, keyID string) [][]byte {
	t.Helper()
	files := map[string][]byte{}
	require.NoError(t, filepath.WalkDir(filepath.Join(dir, "fragments"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		files[path] = b
		return err
	}))
	return blobsIn(t, files, keyID)
}

// blobsIn finds the wrapped data keys under keyID in files: a KMS blob
// starts with format 0x01, the key's 16-byte id and the 4-byte version
// (docs/KMS.md), and the stored payload puts the blob's length, a one-byte
// uvarint here, just before it (docs/INGEST.md).
func blobsIn(t *testing.T, files map[string][]byte, keyID string) [][]byte {
	t.Helper()
	id, err := hex.DecodeString(strings.ReplaceAll(keyID, "-", ""))
	require.NoError(t, err)
	head := append([]byte{0x01}, id...)
	var blobs [][]byte
	for _, b := range files {
		for off := 0; ; {
			i := bytes.Index(b[off:], head)
			if i < 0 {
				break
			}
			i += off
			require.Positive(t, i, "a blob has its length before it")
			n := int(b[i-1])
			require.Less(t, n, 0x80, "a one-byte uvarint length")
			require.LessOrEqual(t, i+n, len(b))
			blobs = append(blobs, b[i:i+n])
			off = i + n
		}
	}
	return blobs
}

// TestNothingInTheClearInStorage: in both modes, after streaming a known
// pattern under a customer key, no file the stack keeps (in containers
// mode: every volume) holds the frame payload, any MKV structure, or any
// of the plaintext data keys (unwrapped from the stored blobs through
// KMS), while every fragment reads back. TestNoPlaintextAtRest shows the
// same scan finds all of it with encryption at rest off.
func TestNothingInTheClearInStorage(t *testing.T) {
	forEachStackWith(t, stack.Options{Ingest: ingest.Config{DataKeyMaxAge: time.Nanosecond}}, func(t *testing.T, st *stack.Stack) {
		ctx := context.Background()
		kc := operatorKMS(st)
		key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{})
		require.NoError(t, err)
		require.Equal(t, 4, persistedCount(pushMarked(t, st, "inspected", aws.ToString(key.KeyMetadata.Arn), time.Now().Add(-time.Minute).UnixMilli(), 4)))
		require.Equal(t, 4, bytes.Count(getMediaForAll(t, st, "inspected"), marker), "every fragment reads back")

		files, err := st.StoredFiles(ctx)
		require.NoError(t, err)
		var info kvsapi.DescribeStreamOutput
		require.NoError(t, kvsclient.Call(ctx, st.AdminClient(), st.ControlPlaneURL, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamName: "inspected"}, &info))
		blobs := blobsIn(t, files, aws.ToString(key.KeyMetadata.KeyId))
		require.Len(t, blobs, 4, "one wrapped data key stored per fragment")
		for path, b := range files {
			require.False(t, bytes.Contains(b, marker[:64]), "the frame payload in the clear in %s", path)
			require.False(t, bytes.Contains(b, []byte{0x1A, 0x45, 0xDF, 0xA3}) && strings.Contains(path, "fragments"), "an EBML header in %s", path)
		}
		for _, blob := range blobs {
			out, err := kc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob,
				EncryptionContext: map[string]string{ingest.StreamARNContext: info.StreamInfo.StreamARN}})
			require.NoError(t, err)
			for path, b := range files {
				require.False(t, bytes.Contains(b, out.Plaintext), "a plaintext data key in %s", path)
			}
		}
	})
}

// TestKMSKeyPolicyDenyingTheIngest: a key policy that denies the ingest's
// principal GenerateDataKey makes PutMedia answer ERROR 4500
// (KMS_KEY_ACCESS_DENIED), while the key's owner keeps using it.
func TestKMSKeyPolicyDenyingTheIngest(t *testing.T) {
	forEachStackWith(t, stack.Options{}, func(t *testing.T, st *stack.Stack) {
		ctx := context.Background()
		kc := operatorKMS(st)
		key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{})
		require.NoError(t, err)
		keyARN := aws.ToString(key.KeyMetadata.Arn)
		policy := `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"},
			{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:role/camstorm-ingest"},"Action":"kms:GenerateDataKey*","Resource":"*"}]}`
		_, err = kc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyARN), Policy: aws.String(policy)})
		require.NoError(t, err)

		acks := pushMarked(t, st, "denied", keyARN, time.Now().Add(-time.Minute).UnixMilli(), 1)
		last := acks[len(acks)-1]
		require.Equal(t, kvsapi.EventError, last.EventType, "%v", acks)
		require.Equal(t, kvsapi.ErrKMSKeyAccessDenied, last.ErrorID)
		_, err = kc.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(keyARN), NumberOfBytes: aws.Int32(32)})
		require.NoError(t, err, "the operator is not denied")
	})
}

// operatorKMS is the AWS SDK's KMS client for the stack's KMS, as the
// bootstrap admin: only the endpoint and the CA changed.
func operatorKMS(st *stack.Stack) *kms.Client {
	cfg := aws.Config{Region: st.Region, HTTPClient: st.HTTPClient(), Credentials: st.AdminCredentials()}
	return kms.NewFromConfig(cfg, func(o *kms.Options) { o.BaseEndpoint = aws.String(st.KMSURL) })
}
