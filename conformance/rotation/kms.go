package rotation

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
)

const kmsSource = "AWS KMS developer guide, Rotating AWS KMS keys: \"AWS KMS retains all previous versions of the key material, so it can decrypt any data encrypted by that KMS key\" and \"new key material is used to encrypt\" after a rotation."

func kmsCases() []*conformance.Case {
	return []*conformance.Case{
		{
			ID: "ROT-KMS-001", Requirement: "R-KEY-2", Parallel: true,
			Title:    "Ciphertexts from before on-demand rotations still decrypt",
			Source:   kmsSource,
			Stimulus: "Create a customer key; Encrypt a payload and GenerateDataKey (each with an encryption context); RotateKeyOnDemand; Encrypt and GenerateDataKey again; RotateKeyOnDemand again; Decrypt all four ciphertexts.",
			Expected: "Both rotations succeed, every ciphertext decrypts to its plaintext under its encryption context, and Decrypt names the customer key.",
			Needs:    []conformance.Capability{conformance.NeedKMS},
			Run:      runOldCiphertextsDecrypt,
		},
		{
			ID: "ROT-KMS-002", Requirement: "R-KEY-2", Parallel: true,
			Title:    "After on-demand rotation new data keys come from the new key version",
			Source:   kmsSource,
			Stimulus: "Create a customer key; GenerateDataKey; RotateKeyOnDemand; ListKeyRotations; GenerateDataKey and Encrypt; rotate again; ListKeyRotations; GenerateDataKey. The key version is read from each ciphertext blob's header (camstorm's documented blob layout; the case skips for KMSs whose blobs are opaque).",
			Expected: "ListKeyRotations lists one ON_DEMAND rotation, then two; every data key generated after a rotation is wrapped under a later key version than every one before it.",
			Needs:    []conformance.Capability{conformance.NeedKMS},
			Run:      runNewDataKeysFromNewVersion,
		},
		{
			ID: "ROT-KMS-003", Requirement: "R-KEY-2", Parallel: true,
			Title:    "Stream data keys at rest: old ones still unwrap, a new stream's come from the new version",
			Source:   kmsSource,
			Stimulus: "Create a customer key and stream A under it; PutMedia 3 fragments; RotateKeyOnDemand; 3 more fragments to A; create stream B under the key and PutMedia 3 fragments; read both back; find every wrapped data key under the key in the target's storage and Decrypt each with its stream's encryption context.",
			Expected: "All 9 fragments read back byte-identical; every stored data key unwraps under exactly one of the streams' encryption contexts (A's or B's); B's data keys come from a key version later than the first.",
			Needs:    []conformance.Capability{conformance.NeedKMS, conformance.NeedStorage},
			Run:      runStoredDataKeysAcrossRotation,
		},
		{
			ID: "ROT-KMS-004", Requirement: "R-KEY-2",
			Title:    "Fragments from before a rotation read back after an ingest restart",
			Source:   kmsSource,
			Stimulus: "Create a customer key and a stream under it; PutMedia 3 fragments; RotateKeyOnDemand; 3 more fragments; restart the ingest (so that it holds no unwrapped data key and must ask the KMS again); read every fragment back; PutMedia 2 more and read all back.",
			Expected: "All fragments, from before and after the rotation and the restart, read back byte-identical and in order.",
			Needs:    []conformance.Capability{conformance.NeedKMS, conformance.NeedRestart},
			Timeout:  60 * time.Second,
			Run:      runRotationThenRestart,
		},
		{
			ID: "ROT-KMS-005", Requirement: "R-KEY-2",
			Title:    "Automatic rotation after its period keeps old data readable and moves new data keys",
			Source:   kmsSource,
			Stimulus: "Create a customer key; EnableKeyRotation with a 90-day period; GetKeyRotationStatus; Encrypt and GenerateDataKey; create stream A and PutMedia 2 fragments; move the KMS's clock 91 days ahead (and back after the case); create stream B and PutMedia 2 fragments; ListKeyRotations; Decrypt the earlier ciphertexts; GenerateDataKey; read A and B back.",
			Expected: "Rotation status shows enabled with 90 days; ListKeyRotations lists exactly one AUTOMATIC rotation after the shift; earlier ciphertexts decrypt; the new data key has a later key version (where the blob layout shows it); all fragments read back.",
			Needs:    []conformance.Capability{conformance.NeedKMS, conformance.NeedClock},
			Run:      runAutomaticRotation,
		},
	}
}

// sample is a ciphertext made under the key and what it must decrypt to.
type sample struct {
	what  string
	blob  []byte
	plain []byte
}

// encryptSamples makes one Encrypt and one GenerateDataKey ciphertext
// under key with ectx.
func encryptSamples(ctx context.Context, t *conformance.T, kc *kms.Client, key customerKey, ectx map[string]string, label string) []sample {
	plain := probe.Payload(label, 0, 64)
	enc, err := kc.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(key.ARN), Plaintext: plain, EncryptionContext: ectx})
	if err != nil {
		t.Fatal("Encrypt under %s (%s): %s", key.ARN, label, describeErr(err))
	}
	dk, err := kc.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(key.ARN), KeySpec: kmstypes.DataKeySpecAes256, EncryptionContext: ectx})
	if err != nil {
		t.Fatal("GenerateDataKey under %s (%s): %s", key.ARN, label, describeErr(err))
	}
	return []sample{{"Encrypt " + label, enc.CiphertextBlob, plain}, {"GenerateDataKey " + label, dk.CiphertextBlob, dk.Plaintext}}
}

// checkDecrypts decrypts every sample and checks plaintext and key.
func checkDecrypts(ctx context.Context, t *conformance.T, kc *kms.Client, key customerKey, ectx map[string]string, samples []sample) {
	for _, s := range samples {
		out, err := kc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: s.blob, EncryptionContext: ectx})
		if err != nil {
			v, _ := probe.KeyVersion(s.blob, key.ID)
			t.Fail("the ciphertext of %s (key version %d) no longer decrypts after the rotation: %s", s.what, v, describeErr(err))
			continue
		}
		t.Check(bytes.Equal(out.Plaintext, s.plain), "the ciphertext of %s decrypts to different bytes after the rotation", s.what)
		t.Check(aws.ToString(out.KeyId) == key.ARN, "Decrypt of %s names key %q, want %s", s.what, aws.ToString(out.KeyId), key.ARN)
		t.Evidence("kms", "after the rotation, Decrypt of the %s ciphertext: ok, KeyId %s", s.what, aws.ToString(out.KeyId))
	}
}

// rotateOnDemand rotates key; a refusal is the target's failure.
func rotateOnDemand(ctx context.Context, t *conformance.T, kc *kms.Client, key customerKey) {
	if _, err := kc.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: aws.String(key.ARN)}); err != nil {
		t.Fatal("RotateKeyOnDemand %s: %s", key.ARN, describeErr(err))
	}
	t.Evidence("kms", "RotateKeyOnDemand %s: ok", key.ARN)
}

func runOldCiphertextsDecrypt(ctx context.Context, t *conformance.T) {
	kc := kmsClient(t.Target)
	key := newKey(ctx, t, kc)
	ectx := map[string]string{"camstorm:case": "ROT-KMS-001"}
	samples := encryptSamples(ctx, t, kc, key, ectx, "before the first rotation")
	rotateOnDemand(ctx, t, kc, key)
	samples = append(samples, encryptSamples(ctx, t, kc, key, ectx, "between the rotations")...)
	rotateOnDemand(ctx, t, kc, key)
	checkDecrypts(ctx, t, kc, key, ectx, samples)
}

// listRotations returns the key's rotations; a refusal is a failure.
func listRotations(ctx context.Context, t *conformance.T, kc *kms.Client, key customerKey) []kmstypes.RotationsListEntry {
	out, err := kc.ListKeyRotations(ctx, &kms.ListKeyRotationsInput{KeyId: aws.String(key.ARN)})
	if err != nil {
		t.Fatal("ListKeyRotations %s: %s", key.ARN, describeErr(err))
	}
	for _, r := range out.Rotations {
		t.Evidence("kms", "ListKeyRotations: %s rotation at %v", r.RotationType, aws.ToTime(r.RotationDate).UTC().Format(time.RFC3339))
	}
	return out.Rotations
}

// checkRotations checks that the key lists exactly n rotations of kind.
func checkRotations(ctx context.Context, t *conformance.T, kc *kms.Client, key customerKey, n int, kind kmstypes.RotationType) {
	rs := listRotations(ctx, t, kc, key)
	if !t.Check(len(rs) == n, "ListKeyRotations lists %d rotations of %s, want %d", len(rs), key.ARN, n) {
		return
	}
	for i, r := range rs {
		t.Check(r.RotationType == kind, "rotation %d of %s is %q, want %q", i, key.ARN, r.RotationType, kind)
		t.Check(r.RotationDate != nil, "rotation %d of %s has no RotationDate", i, key.ARN)
	}
}

func generateDataKey(ctx context.Context, t *conformance.T, kc *kms.Client, key customerKey, ectx map[string]string) []byte {
	dk, err := kc.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(key.ARN), KeySpec: kmstypes.DataKeySpecAes256, EncryptionContext: ectx})
	if err != nil {
		t.Fatal("GenerateDataKey under %s: %s", key.ARN, describeErr(err))
	}
	return dk.CiphertextBlob
}

func runNewDataKeysFromNewVersion(ctx context.Context, t *conformance.T) {
	kc := kmsClient(t.Target)
	key := newKey(ctx, t, kc)
	ectx := map[string]string{"camstorm:case": "ROT-KMS-002"}
	before := generateDataKey(ctx, t, kc, key, ectx)
	rotateOnDemand(ctx, t, kc, key)
	checkRotations(ctx, t, kc, key, 1, kmstypes.RotationTypeOnDemand)
	after1 := generateDataKey(ctx, t, kc, key, ectx)
	enc, err := kc.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(key.ARN), Plaintext: []byte("rot-kms-002"), EncryptionContext: ectx})
	if err != nil {
		t.Fatal("Encrypt under %s after the rotation: %s", key.ARN, describeErr(err))
	}
	rotateOnDemand(ctx, t, kc, key)
	checkRotations(ctx, t, kc, key, 2, kmstypes.RotationTypeOnDemand)
	after2 := generateDataKey(ctx, t, kc, key, ectx)

	v0, ok0 := probe.KeyVersion(before, key.ID)
	v1, ok1 := probe.KeyVersion(after1, key.ID)
	ve, oke := probe.KeyVersion(enc.CiphertextBlob, key.ID)
	v2, ok2 := probe.KeyVersion(after2, key.ID)
	if !ok0 || !ok1 || !oke || !ok2 {
		t.Skip("the KMS's ciphertext blobs are not in camstorm's documented layout (docs/KMS.md), so the key version that wrapped a data key is not observable")
	}
	t.Evidence("kms", "key versions in the blobs: data key before rotation v%d, after the first v%d (Encrypt v%d), after the second v%d", v0, v1, ve, v2)
	t.Check(v1 > v0, "GenerateDataKey after the first rotation wrapped under key version %d, not later than version %d before it", v1, v0)
	t.Check(ve > v0, "Encrypt after the first rotation used key version %d, not later than version %d before it", ve, v0)
	t.Check(v2 > v1, "GenerateDataKey after the second rotation wrapped under key version %d, not later than version %d after the first", v2, v1)
}

func runStoredDataKeysAcrossRotation(ctx context.Context, t *conformance.T) {
	kc := kmsClient(t.Target)
	c := admin(t)
	key := newKey(ctx, t, kc)
	a := newStream(ctx, t, c, "a", key.ARN)
	base := baseTimecode()
	fa := fragments("rot-kms-003-a", base, 0, 6)
	if !put(ctx, t, c, a.StreamName, fa[:3]) {
		return
	}
	rotateOnDemand(ctx, t, kc, key)
	if !put(ctx, t, c, a.StreamName, fa[3:]) {
		return
	}
	b := newStream(ctx, t, c, "b", key.ARN)
	fb := fragments("rot-kms-003-b", base, 0, 3)
	if !put(ctx, t, c, b.StreamName, fb) {
		return
	}
	checkReadBack(ctx, t, c, a.StreamName, "stream A (written across the rotation)", fa)
	checkReadBack(ctx, t, c, b.StreamName, "stream B (created after the rotation)", fb)

	files := storedFiles(ctx, t)
	blobs := probe.WrappedDataKeys(files, key.ID)
	if len(blobs) == 0 {
		t.Fatal("no wrapped data key under %s found in %d stored files: the fragments' data keys are not stored in the documented layout (or not wrapped at all)", key.ID, len(files))
	}
	byStream := map[string][]uint32{}
	for i, blob := range blobs {
		v, _ := probe.KeyVersion(blob, key.ID)
		owners, lastErr := unwrapOwners(ctx, kc, blob, map[string]string{"A": a.StreamARN, "B": b.StreamARN})
		switch len(owners) {
		case 0:
			t.Fail("stored data key %d of %d (key version %d) does not unwrap under stream A's or B's encryption context: %s", i+1, len(blobs), v, describeErr(lastErr))
		case 1:
			byStream[owners[0]] = append(byStream[owners[0]], v)
		default:
			t.Fail("stored data key %d of %d (key version %d) unwraps under the encryption contexts of streams %v: it is not bound to its stream", i+1, len(blobs), v, owners)
		}
	}
	t.Evidence("kms", "stored data keys by stream and key version: A %v, B %v", byStream["A"], byStream["B"])
	t.Check(len(byStream["A"]) > 0, "no stored data key of stream A unwraps")
	t.Check(len(byStream["B"]) > 0, "no stored data key of stream B unwraps")
	for _, v := range byStream["B"] {
		t.Check(v > 0, "stream B, created after the rotation, stores a data key wrapped under key version %d (the first version): new data keys do not come from the new key material", v)
	}
}

func runRotationThenRestart(ctx context.Context, t *conformance.T) {
	kc := kmsClient(t.Target)
	c := admin(t)
	key := newKey(ctx, t, kc)
	s := newStream(ctx, t, c, "restarted", key.ARN)
	fs := fragments("rot-kms-004", baseTimecode(), 0, 8)
	if !put(ctx, t, c, s.StreamName, fs[:3]) {
		return
	}
	rotateOnDemand(ctx, t, kc, key)
	if !put(ctx, t, c, s.StreamName, fs[3:6]) {
		return
	}
	t.Must(t.Target.Ingest.RestartIngest(ctx), "restarting the ingest")
	t.Evidence("note", "ingest restarted after the rotation")
	if !checkReadBack(ctx, t, c, s.StreamName, "after the rotation and the restart", fs[:6]) {
		return
	}
	if put(ctx, t, c, s.StreamName, fs[6:]) {
		checkReadBack(ctx, t, c, s.StreamName, "after writing again", fs)
	}
}

func runAutomaticRotation(ctx context.Context, t *conformance.T) {
	kc := kmsClient(t.Target)
	c := admin(t)
	key := newKey(ctx, t, kc)
	if _, err := kc.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: aws.String(key.ARN), RotationPeriodInDays: aws.Int32(90)}); err != nil {
		t.Fatal("EnableKeyRotation %s with a 90-day period: %s", key.ARN, describeErr(err))
	}
	st, err := kc.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(key.ARN)})
	if err != nil {
		t.Fatal("GetKeyRotationStatus %s: %s", key.ARN, describeErr(err))
	}
	t.Evidence("kms", "GetKeyRotationStatus: enabled=%v period=%d days next=%v", st.KeyRotationEnabled, aws.ToInt32(st.RotationPeriodInDays), aws.ToTime(st.NextRotationDate).UTC().Format(time.RFC3339))
	t.Check(st.KeyRotationEnabled, "GetKeyRotationStatus says rotation is disabled after EnableKeyRotation")
	t.Check(aws.ToInt32(st.RotationPeriodInDays) == 90, "GetKeyRotationStatus gives a %d-day period, want 90", aws.ToInt32(st.RotationPeriodInDays))
	checkRotations(ctx, t, kc, key, 0, kmstypes.RotationTypeAutomatic)

	ectx := map[string]string{"camstorm:case": "ROT-KMS-005"}
	samples := encryptSamples(ctx, t, kc, key, ectx, "before the period passed")
	a := newStream(ctx, t, c, "a", key.ARN)
	base := baseTimecode()
	fa := fragments("rot-kms-005-a", base, 0, 2)
	if !put(ctx, t, c, a.StreamName, fa) {
		return
	}
	t.Must(t.Target.Clock.ShiftClock(ctx, conformance.ClockKMS, 91*24*time.Hour), "moving the KMS clock 91 days ahead")
	// Other cases should find the KMS clock where it was.
	t.Cleanup(func(ctx context.Context) { _ = t.Target.Clock.ShiftClock(ctx, conformance.ClockKMS, -91*24*time.Hour) })
	t.Evidence("note", "KMS clock moved 91 days ahead")
	b := newStream(ctx, t, c, "b", key.ARN)
	fb := fragments("rot-kms-005-b", base, 0, 2)
	put(ctx, t, c, b.StreamName, fb)
	checkRotations(ctx, t, kc, key, 1, kmstypes.RotationTypeAutomatic)
	checkDecrypts(ctx, t, kc, key, ectx, samples)
	after := generateDataKey(ctx, t, kc, key, ectx)
	v0, ok0 := probe.KeyVersion(samples[1].blob, key.ID)
	v1, ok1 := probe.KeyVersion(after, key.ID)
	if ok0 && ok1 {
		t.Evidence("kms", "data key versions: before v%d, after v%d", v0, v1)
		t.Check(v1 > v0, "GenerateDataKey after the automatic rotation wrapped under key version %d, not later than version %d before it", v1, v0)
	} else {
		t.Logf("the KMS's blobs are opaque: which key version wraps new data keys is not checked")
	}
	checkReadBack(ctx, t, c, a.StreamName, "stream A (written before the rotation)", fa)
	checkReadBack(ctx, t, c, b.StreamName, "stream B (written after the rotation)", fb)
}

// unwrapOwners decrypts a stored data key under each stream's encryption
// context (name to stream ARN) and returns the names it unwraps for, in
// order, and the last refusal.
func unwrapOwners(ctx context.Context, kc *kms.Client, blob []byte, streams map[string]string) ([]string, error) {
	names := make([]string, 0, len(streams))
	for name := range streams {
		names = append(names, name)
	}
	slices.Sort(names)
	var owners []string
	var lastErr error
	for _, name := range names {
		_, err := kc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{streamARNContext: streams[name]}})
		if err != nil {
			lastErr = err
			continue
		}
		owners = append(owners, name)
	}
	return owners, lastErr
}
