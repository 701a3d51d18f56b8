package kms_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/camstorm/camstorm/stack/kms"
	"github.com/camstorm/camstorm/stack/pki"
)

// fakeClock is a settable clock for rotation and deletion tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// auditLog collects the server's Logf lines.
type auditLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *auditLog) Logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *auditLog) contains(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, sub) {
			return true
		}
	}
	return false
}

type env struct {
	t      *testing.T
	dir    string
	url    string
	ca     *pki.CA
	server *kms.Server
	clock  *fakeClock
	log    *auditLog
}

// start serves a kms.Server over real TLS on 127.0.0.1:0 with data in dir.
func start(t *testing.T, dir string, clock *fakeClock) *env {
	t.Helper()
	e := &env{t: t, dir: dir, clock: clock, log: &auditLog{}}
	var err error
	e.server, err = kms.New(kms.Config{DataDir: filepath.Join(dir, "kms"), Region: "eu-west-2", Account: "123456789012",
		Clock: clock.Now, Rand: rand.Reader, Logf: e.log.Logf})
	if err != nil {
		t.Fatal(err)
	}
	e.ca, err = pki.LoadOrCreate(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := e.ca.ServerCertificate([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: e.server.Handler(), TLSConfig: pki.ServerTLS(cert)}
	go hs.ServeTLS(ln, "", "")
	e.url = "https://" + ln.Addr().String()
	t.Cleanup(func() {
		hs.Close()
		e.server.Close()
	})
	return e
}

// client is an unmodified SDK v2 KMS client; only the endpoint is overridden.
func (e *env) client(akid string) *awskms.Client {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: e.ca.ClientTLS()}}
	e.t.Cleanup(hc.CloseIdleConnections)
	return awskms.New(awskms.Options{
		Region:           "eu-west-2",
		Credentials:      credentials.NewStaticCredentialsProvider(akid, "secret-"+akid, ""),
		HTTPClient:       hc,
		RetryMaxAttempts: 1,
	}, func(o *awskms.Options) { o.BaseEndpoint = aws.String(e.url) })
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "non-API error: " + err.Error()
	}
	return ""
}

func wantCode(t *testing.T, call string, err error, want string) {
	t.Helper()
	if got := errCode(err); got != want {
		t.Fatalf("%s: error %q (%v), want %s", call, got, err, want)
	}
}

func must[T any](t *testing.T, call string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", call, err)
		}
		return v
	}
}

func TestSDKDrivesEveryOperation(t *testing.T) {
	ctx := context.Background()
	e := start(t, t.TempDir(), newFakeClock())
	c := e.client("AKIDADMIN")

	created := must[*awskms.CreateKeyOutput](t, "CreateKey")(c.CreateKey(ctx, &awskms.CreateKeyInput{
		Description: aws.String("fragments of camera-1"),
		Tags:        []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("video")}},
		Policy:      aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"}]}`),
	}))
	md := created.KeyMetadata
	keyID := aws.ToString(md.KeyId)
	if md.KeyState != types.KeyStateEnabled || !md.Enabled || aws.ToString(md.Description) != "fragments of camera-1" ||
		aws.ToString(md.Arn) != "arn:aws:kms:eu-west-2:123456789012:key/"+keyID || md.KeyManager != types.KeyManagerTypeCustomer {
		t.Fatalf("CreateKey metadata = %+v", md)
	}

	desc := must[*awskms.DescribeKeyOutput](t, "DescribeKey")(c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: md.Arn}))
	if aws.ToString(desc.KeyMetadata.KeyId) != keyID || !desc.KeyMetadata.CreationDate.Equal(e.clock.Now()) {
		t.Fatalf("DescribeKey = %+v", desc.KeyMetadata)
	}

	keys := must[*awskms.ListKeysOutput](t, "ListKeys")(c.ListKeys(ctx, &awskms.ListKeysInput{}))
	if len(keys.Keys) != 2 { // the managed kinesisvideo key and ours
		t.Fatalf("ListKeys = %d keys, want 2", len(keys.Keys))
	}
	page1 := must[*awskms.ListKeysOutput](t, "ListKeys Limit 1")(c.ListKeys(ctx, &awskms.ListKeysInput{Limit: aws.Int32(1)}))
	page2 := must[*awskms.ListKeysOutput](t, "ListKeys Marker")(c.ListKeys(ctx, &awskms.ListKeysInput{Limit: aws.Int32(1), Marker: page1.NextMarker}))
	if !page1.Truncated || page2.Truncated || aws.ToString(page1.Keys[0].KeyId) == aws.ToString(page2.Keys[0].KeyId) {
		t.Fatalf("ListKeys paging: %+v then %+v", page1, page2)
	}

	must[*awskms.CreateAliasOutput](t, "CreateAlias")(c.CreateAlias(ctx, &awskms.CreateAliasInput{AliasName: aws.String("alias/camera-1"), TargetKeyId: aws.String(keyID)}))
	_, err := c.CreateAlias(ctx, &awskms.CreateAliasInput{AliasName: aws.String("alias/camera-1"), TargetKeyId: aws.String(keyID)})
	wantCode(t, "CreateAlias twice", err, "AlreadyExistsException")
	aliases := must[*awskms.ListAliasesOutput](t, "ListAliases")(c.ListAliases(ctx, &awskms.ListAliasesInput{}))
	names := map[string]string{}
	for _, a := range aliases.Aliases {
		names[aws.ToString(a.AliasName)] = aws.ToString(a.TargetKeyId)
	}
	if names["alias/camera-1"] != keyID || names[kms.ManagedKinesisVideoAlias] == "" {
		t.Fatalf("ListAliases = %v", names)
	}

	// The AWS-managed default key works through its alias.
	managed := must[*awskms.DescribeKeyOutput](t, "DescribeKey managed")(c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(kms.ManagedKinesisVideoAlias)}))
	if managed.KeyMetadata.KeyManager != types.KeyManagerTypeAws {
		t.Fatalf("managed key manager = %s", managed.KeyMetadata.KeyManager)
	}
	// Its key policy (AWS's) grants the account no administration, and its
	// use only through Kinesis Video Streams.
	_, err = c.DisableKey(ctx, &awskms.DisableKeyInput{KeyId: managed.KeyMetadata.KeyId})
	wantCode(t, "DisableKey managed", err, "AccessDeniedException")
	_, err = c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: aws.String(kms.ManagedKinesisVideoAlias), KeySpec: types.DataKeySpecAes256})
	wantCode(t, "GenerateDataKey managed, not via KVS", err, "AccessDeniedException")
	other := must[*awskms.CreateKeyOutput](t, "CreateKey other")(c.CreateKey(ctx, &awskms.CreateKeyInput{Description: aws.String("another key")}))

	encCtx := map[string]string{"stream": "camera-1"}
	dk := must[*awskms.GenerateDataKeyOutput](t, "GenerateDataKey")(c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{
		KeyId: aws.String("alias/camera-1"), KeySpec: types.DataKeySpecAes256, EncryptionContext: encCtx}))
	if len(dk.Plaintext) != 32 || aws.ToString(dk.KeyId) != aws.ToString(md.Arn) || aws.ToString(dk.KeyMaterialId) == "" {
		t.Fatalf("GenerateDataKey = %d bytes, key %s", len(dk.Plaintext), aws.ToString(dk.KeyId))
	}
	dec := must[*awskms.DecryptOutput](t, "Decrypt")(c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: encCtx}))
	if !bytes.Equal(dec.Plaintext, dk.Plaintext) || dec.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Fatal("Decrypt did not return the data key")
	}
	_, err = c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
	wantCode(t, "Decrypt without context", err, "InvalidCiphertextException")
	_, err = c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: encCtx, KeyId: other.KeyMetadata.KeyId})
	wantCode(t, "Decrypt naming another key", err, "IncorrectKeyException")

	nk := must[*awskms.GenerateDataKeyWithoutPlaintextOutput](t, "GenerateDataKeyWithoutPlaintext")(c.GenerateDataKeyWithoutPlaintext(ctx,
		&awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(keyID), NumberOfBytes: aws.Int32(7)}))
	dec = must[*awskms.DecryptOutput](t, "Decrypt WithoutPlaintext key")(c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: nk.CiphertextBlob, KeyId: aws.String(keyID)}))
	if len(dec.Plaintext) != 7 {
		t.Fatalf("data key of NumberOfBytes 7 has %d bytes", len(dec.Plaintext))
	}

	enc := must[*awskms.EncryptOutput](t, "Encrypt")(c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("hello")}))
	re := must[*awskms.ReEncryptOutput](t, "ReEncrypt")(c.ReEncrypt(ctx, &awskms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob,
		DestinationKeyId: other.KeyMetadata.Arn, DestinationEncryptionContext: encCtx}))
	if aws.ToString(re.SourceKeyId) != aws.ToString(md.Arn) || aws.ToString(re.KeyId) != aws.ToString(other.KeyMetadata.Arn) {
		t.Fatalf("ReEncrypt keys %s -> %s", aws.ToString(re.SourceKeyId), aws.ToString(re.KeyId))
	}
	dec = must[*awskms.DecryptOutput](t, "Decrypt re-encrypted")(c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: re.CiphertextBlob, EncryptionContext: encCtx}))
	if string(dec.Plaintext) != "hello" {
		t.Fatalf("re-encrypted plaintext = %q", dec.Plaintext)
	}

	must[*awskms.DisableKeyOutput](t, "DisableKey")(c.DisableKey(ctx, &awskms.DisableKeyInput{KeyId: aws.String(keyID)}))
	_, err = c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")})
	wantCode(t, "Encrypt under disabled key", err, "DisabledException")
	_, err = c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, "Decrypt under disabled key", err, "DisabledException")
	must[*awskms.EnableKeyOutput](t, "EnableKey")(c.EnableKey(ctx, &awskms.EnableKeyInput{KeyId: aws.String(keyID)}))

	must[*awskms.EnableKeyRotationOutput](t, "EnableKeyRotation")(c.EnableKeyRotation(ctx, &awskms.EnableKeyRotationInput{KeyId: aws.String(keyID), RotationPeriodInDays: aws.Int32(90)}))
	st := must[*awskms.GetKeyRotationStatusOutput](t, "GetKeyRotationStatus")(c.GetKeyRotationStatus(ctx, &awskms.GetKeyRotationStatusInput{KeyId: aws.String(keyID)}))
	if !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 90 || !st.NextRotationDate.Equal(e.clock.Now().AddDate(0, 0, 90)) {
		t.Fatalf("GetKeyRotationStatus = %+v", st)
	}
	_, err = c.EnableKeyRotation(ctx, &awskms.EnableKeyRotationInput{KeyId: aws.String(keyID), RotationPeriodInDays: aws.Int32(89)})
	wantCode(t, "EnableKeyRotation 89 days", err, "ValidationException")
	must[*awskms.RotateKeyOnDemandOutput](t, "RotateKeyOnDemand")(c.RotateKeyOnDemand(ctx, &awskms.RotateKeyOnDemandInput{KeyId: aws.String(keyID)}))
	rots := must[*awskms.ListKeyRotationsOutput](t, "ListKeyRotations")(c.ListKeyRotations(ctx, &awskms.ListKeyRotationsInput{KeyId: aws.String(keyID)}))
	if len(rots.Rotations) != 1 || rots.Rotations[0].RotationType != types.RotationTypeOnDemand {
		t.Fatalf("ListKeyRotations = %+v", rots.Rotations)
	}
	dec = must[*awskms.DecryptOutput](t, "Decrypt after rotation")(c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}))
	if string(dec.Plaintext) != "hello" || aws.ToString(dec.KeyMaterialId) == aws.ToString(rots.Rotations[0].KeyMaterialId) {
		t.Fatal("pre-rotation ciphertext must decrypt with the original material")
	}
	must[*awskms.DisableKeyRotationOutput](t, "DisableKeyRotation")(c.DisableKeyRotation(ctx, &awskms.DisableKeyRotationInput{KeyId: aws.String(keyID)}))
	st = must[*awskms.GetKeyRotationStatusOutput](t, "GetKeyRotationStatus")(c.GetKeyRotationStatus(ctx, &awskms.GetKeyRotationStatusInput{KeyId: aws.String(keyID)}))
	if st.KeyRotationEnabled {
		t.Fatal("rotation still enabled after DisableKeyRotation")
	}

	pol := must[*awskms.GetKeyPolicyOutput](t, "GetKeyPolicy")(c.GetKeyPolicy(ctx, &awskms.GetKeyPolicyInput{KeyId: aws.String(keyID)}))
	if !strings.Contains(aws.ToString(pol.Policy), "kms:*") {
		t.Fatalf("GetKeyPolicy = %s", aws.ToString(pol.Policy))
	}
	_, err = c.PutKeyPolicy(ctx, &awskms.PutKeyPolicyInput{KeyId: aws.String(keyID), Policy: aws.String("{not json")})
	wantCode(t, "PutKeyPolicy malformed", err, "MalformedPolicyDocumentException")
	newPolicy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"AKIDADMIN"},"Action":["kms:*"],"Resource":"*"}]}`
	must[*awskms.PutKeyPolicyOutput](t, "PutKeyPolicy")(c.PutKeyPolicy(ctx, &awskms.PutKeyPolicyInput{KeyId: aws.String(keyID), Policy: aws.String(newPolicy)}))
	pol = must[*awskms.GetKeyPolicyOutput](t, "GetKeyPolicy")(c.GetKeyPolicy(ctx, &awskms.GetKeyPolicyInput{KeyId: aws.String(keyID)}))
	if aws.ToString(pol.Policy) != newPolicy {
		t.Fatalf("GetKeyPolicy after Put = %s", aws.ToString(pol.Policy))
	}

	must[*awskms.CreateKeyOutput](t, "CreateKey second")(c.CreateKey(ctx, &awskms.CreateKeyInput{}))
	second := must[*awskms.CreateKeyOutput](t, "CreateKey third")(c.CreateKey(ctx, &awskms.CreateKeyInput{}))
	must[*awskms.UpdateAliasOutput](t, "UpdateAlias")(c.UpdateAlias(ctx, &awskms.UpdateAliasInput{AliasName: aws.String("alias/camera-1"), TargetKeyId: second.KeyMetadata.KeyId}))
	moved := must[*awskms.DescribeKeyOutput](t, "DescribeKey alias")(c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String("alias/camera-1")}))
	if aws.ToString(moved.KeyMetadata.KeyId) != aws.ToString(second.KeyMetadata.KeyId) {
		t.Fatal("UpdateAlias did not move the alias")
	}
	must[*awskms.DeleteAliasOutput](t, "DeleteAlias")(c.DeleteAlias(ctx, &awskms.DeleteAliasInput{AliasName: aws.String("alias/camera-1")}))
	_, err = c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String("alias/camera-1")})
	wantCode(t, "DescribeKey deleted alias", err, "NotFoundException")

	sched := must[*awskms.ScheduleKeyDeletionOutput](t, "ScheduleKeyDeletion")(c.ScheduleKeyDeletion(ctx, &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(keyID), PendingWindowInDays: aws.Int32(7)}))
	if sched.KeyState != types.KeyStatePendingDeletion || !sched.DeletionDate.Equal(e.clock.Now().AddDate(0, 0, 7)) {
		t.Fatalf("ScheduleKeyDeletion = %+v", sched)
	}
	_, err = c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, "Decrypt pending deletion", err, "KMSInvalidStateException")
	must[*awskms.CancelKeyDeletionOutput](t, "CancelKeyDeletion")(c.CancelKeyDeletion(ctx, &awskms.CancelKeyDeletionInput{KeyId: aws.String(keyID)}))
	desc = must[*awskms.DescribeKeyOutput](t, "DescribeKey after cancel")(c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(keyID)}))
	if desc.KeyMetadata.KeyState != types.KeyStateDisabled {
		t.Fatalf("state after CancelKeyDeletion = %s, want Disabled", desc.KeyMetadata.KeyState)
	}
	must[*awskms.ScheduleKeyDeletionOutput](t, "ScheduleKeyDeletion again")(c.ScheduleKeyDeletion(ctx, &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(keyID), PendingWindowInDays: aws.Int32(7)}))
	e.clock.Advance(7 * 24 * time.Hour)
	_, err = c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(keyID)})
	wantCode(t, "DescribeKey after the waiting period", err, "NotFoundException")
}

// BenchmarkGenerateDataKeyAndDecrypt measures one envelope round trip (a
// GenerateDataKey and a Decrypt) through the SDK over TLS on loopback.
func BenchmarkGenerateDataKeyAndDecrypt(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	s, err := kms.New(kms.Config{DataDir: filepath.Join(dir, "kms"), Rand: rand.Reader})
	if err != nil {
		b.Fatal(err)
	}
	ca, err := pki.LoadOrCreate(filepath.Join(dir, "pki"))
	if err != nil {
		b.Fatal(err)
	}
	cert, err := ca.ServerCertificate([]string{"127.0.0.1"})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: s.Handler(), TLSConfig: pki.ServerTLS(cert)}
	go hs.ServeTLS(ln, "", "")
	defer hs.Close()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientTLS()}}
	defer hc.CloseIdleConnections()
	c := awskms.New(awskms.Options{Region: kms.DefaultRegion, HTTPClient: hc, RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDBENCH", "secret", "")},
		func(o *awskms.Options) { o.BaseEndpoint = aws.String("https://" + ln.Addr().String()) })
	encCtx := map[string]string{"stream": "bench"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		dk, err := c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: aws.String(kms.ManagedKinesisVideoAlias), KeySpec: types.DataKeySpecAes256, EncryptionContext: encCtx})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: encCtx}); err != nil {
			b.Fatal(err)
		}
	}
}
