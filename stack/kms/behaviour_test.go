package kms_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/camstorm/camstorm/stack/kms"
)

func newKey(t *testing.T, c *awskms.Client) string {
	t.Helper()
	out, err := c.CreateKey(context.Background(), &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return aws.ToString(out.KeyMetadata.KeyId)
}

// Fifty goroutines generate and decrypt data keys while the key is rotated on
// demand again and again; every data key, old or new, must decrypt.
func TestDataKeysDecryptAcrossConcurrentOnDemandRotations(t *testing.T) {
	ctx := context.Background()
	e := start(t, t.TempDir(), newFakeClock())
	c := e.client("AKIDLOAD")
	keyID := newKey(t, c)
	encCtx := map[string]string{"stream": "load"}

	const workers, perWorker, rotations = 50, 20, 10
	type wrapped struct{ blob, plain []byte }
	results := make([][]wrapped, workers)
	errs := make(chan error, workers+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range perWorker {
				dk, err := c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: encCtx})
				if err != nil {
					errs <- err
					return
				}
				dec, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: encCtx})
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(dec.Plaintext, dk.Plaintext) {
					errs <- errors.New("decrypted data key differs")
					return
				}
				results[w] = append(results[w], wrapped{dk.CiphertextBlob, dk.Plaintext})
			}
		})
	}
	wg.Go(func() {
		for range rotations {
			if _, err := c.RotateKeyOnDemand(ctx, &awskms.RotateKeyOnDemandInput{KeyId: aws.String(keyID)}); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rots, err := c.ListKeyRotations(ctx, &awskms.ListKeyRotationsInput{KeyId: aws.String(keyID)})
	if err != nil || len(rots.Rotations) != rotations {
		t.Fatalf("ListKeyRotations = %v, %v; want %d rotations", rots, err, rotations)
	}
	// Every data key made during the run still decrypts after the last rotation.
	materials := map[string]bool{}
	for _, rs := range results {
		for _, r := range rs {
			dec, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: r.blob, EncryptionContext: encCtx})
			if err != nil || !bytes.Equal(dec.Plaintext, r.plain) {
				t.Fatalf("Decrypt after rotations: %v", err)
			}
			materials[aws.ToString(dec.KeyMaterialId)] = true
		}
	}
	t.Logf("%d data keys under %d key versions", workers*perWorker, len(materials))
}

func TestEncryptionContextEncodingIsUnambiguous(t *testing.T) {
	ctx := context.Background()
	e := start(t, t.TempDir(), newFakeClock())
	c := e.client("AKIDCTX")
	keyID := newKey(t, c)
	enc, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("secret"), EncryptionContext: map[string]string{"ab": "c"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []map[string]string{{"a": "bc"}, {"ab": "C"}, {"ab": "c", "x": ""}, nil} {
		_, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: other})
		wantCode(t, fmt.Sprintf("Decrypt with context %q", other), err, "InvalidCiphertextException")
	}
	if _, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"ab": "c"}}); err != nil {
		t.Fatalf("Decrypt with the same context: %v", err)
	}
}

func TestKeyMaterialSurvivesRestartAndIsPrivate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := newFakeClock()
	e := start(t, dir, clock)
	c := e.client("AKIDRESTART")
	keyID := newKey(t, c)
	if _, err := c.CreateAlias(ctx, &awskms.CreateAliasInput{AliasName: aws.String("alias/restart"), TargetKeyId: aws.String(keyID)}); err != nil {
		t.Fatal(err)
	}
	before, err := c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: aws.String("alias/restart"), NumberOfBytes: aws.Int32(32)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RotateKeyOnDemand(ctx, &awskms.RotateKeyOnDemandInput{KeyId: aws.String(keyID)}); err != nil {
		t.Fatal(err)
	}
	after, err := c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: aws.String("alias/restart"), NumberOfBytes: aws.Int32(32)})
	if err != nil {
		t.Fatal(err)
	}
	e.server.Close()
	if _, err := c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(keyID)}); err == nil {
		t.Fatal("a closed server still answers")
	}

	for _, name := range []string{kms.RootKeyFile, kms.StateFile} {
		fi, err := os.Stat(filepath.Join(dir, "kms", name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	state, err := os.ReadFile(filepath.Join(dir, "kms", kms.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(state, before.Plaintext) || !bytes.Contains(state, []byte(keyID)) {
		t.Fatal("state file must name the key and must not hold data keys")
	}

	e2 := start(t, dir, clock)
	c2 := e2.client("AKIDRESTART")
	for i, dk := range []*awskms.GenerateDataKeyOutput{before, after} {
		dec, err := c2.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
		if err != nil || !bytes.Equal(dec.Plaintext, dk.Plaintext) {
			t.Fatalf("data key %d after restart: %v", i, err)
		}
	}
	if _, err := c2.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String("alias/restart")}); err != nil {
		t.Fatalf("alias after restart: %v", err)
	}
	keys, err := c2.ListKeys(ctx, &awskms.ListKeysInput{})
	if err != nil || len(keys.Keys) != 2 {
		t.Fatalf("ListKeys after restart = %v, %v; want the managed key and ours, no second managed key", keys, err)
	}
}

func TestAutomaticRotationFollowsTheInjectedClock(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	e := start(t, t.TempDir(), clock)
	c := e.client("AKIDCLOCK")
	keyID := newKey(t, c)
	old, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("v0")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.EnableKeyRotation(ctx, &awskms.EnableKeyRotationInput{KeyId: aws.String(keyID), RotationPeriodInDays: aws.Int32(100)}); err != nil {
		t.Fatal(err)
	}
	countRotations := func() []types.RotationsListEntry {
		out, err := c.ListKeyRotations(ctx, &awskms.ListKeyRotationsInput{KeyId: aws.String(keyID)})
		if err != nil {
			t.Fatal(err)
		}
		return out.Rotations
	}
	clock.Advance(99 * 24 * time.Hour)
	if n := len(countRotations()); n != 0 {
		t.Fatalf("%d rotations after 99 of 100 days", n)
	}
	clock.Advance(24 * time.Hour)
	rots := countRotations()
	if len(rots) != 1 || rots[0].RotationType != types.RotationTypeAutomatic || !rots[0].RotationDate.Equal(clock.Now()) {
		t.Fatalf("after 100 days rotations = %+v", rots)
	}
	clock.Advance(250 * 24 * time.Hour) // two more periods elapse (day 200 and day 300)
	if n := len(countRotations()); n != 3 {
		t.Fatalf("after 350 days %d rotations, want 3", n)
	}
	st, err := c.GetKeyRotationStatus(ctx, &awskms.GetKeyRotationStatusInput{KeyId: aws.String(keyID)})
	if err != nil || !st.NextRotationDate.Equal(newFakeClock().Now().AddDate(0, 0, 400)) {
		t.Fatalf("NextRotationDate = %v, %v; want day 400", st.NextRotationDate, err)
	}
	dec, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: old.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "v0" {
		t.Fatalf("version-0 ciphertext after automatic rotations: %v", err)
	}
}

func TestKeyPolicyDenyIsEnforced(t *testing.T) {
	ctx := context.Background()
	e := start(t, t.TempDir(), newFakeClock())
	admin := e.client("AKIDADMIN")
	reader := e.client("AKIDREADER")
	keyID := newKey(t, admin)
	enc, err := admin.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("p")})
	if err != nil {
		t.Fatal(err)
	}
	policy := `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"},
	 {"Effect":"Deny","Principal":{"AWS":["AKIDREADER"]},"Action":["kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*"},
	 {"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:user/AKIDNOBODY"},"Action":"kms:*","Resource":"*"}]}`
	if _, err := admin.PutKeyPolicy(ctx, &awskms.PutKeyPolicyInput{KeyId: aws.String(keyID), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	_, err = reader.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, "Decrypt by denied principal", err, "AccessDeniedException")
	_, err = reader.GenerateDataKeyWithoutPlaintext(ctx, &awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes128})
	wantCode(t, "GenerateDataKeyWithoutPlaintext by denied principal (wildcard)", err, "AccessDeniedException")
	if _, err := reader.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("p")}); err != nil {
		t.Fatalf("Encrypt is not denied: %v", err)
	}
	if _, err := admin.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Fatalf("Decrypt by the account: %v", err)
	}
	_, err = e.client("AKIDNOBODY").DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(keyID)})
	wantCode(t, "DescribeKey by principal denied kms:* through a user ARN", err, "AccessDeniedException")
	if !e.log.contains("op=Decrypt key=" + keyID + " principal=arn:aws:iam::123456789012:user/AKIDREADER access_key=AKIDREADER outcome=AccessDeniedException") {
		t.Fatalf("no audit line for the denied Decrypt in %q", e.log.lines)
	}

	// A policy that would lock the caller out is refused unless bypassed.
	lockout := `{"Statement":{"Effect":"Allow","Principal":{"AWS":"AKIDSOMEONE"},"Action":"kms:*"}}`
	_, err = admin.PutKeyPolicy(ctx, &awskms.PutKeyPolicyInput{KeyId: aws.String(keyID), Policy: aws.String(lockout)})
	wantCode(t, "PutKeyPolicy lockout", err, "MalformedPolicyDocumentException")
	if _, err := admin.PutKeyPolicy(ctx, &awskms.PutKeyPolicyInput{KeyId: aws.String(keyID), Policy: aws.String(lockout), BypassPolicyLockoutSafetyCheck: true}); err != nil {
		t.Fatal(err)
	}
	// The anonymous caller (no SigV4) is neither AKIDSOMEONE nor allowed.
	resp := rawCall(t, e, "DescribeKey", `{"KeyId":"`+keyID+`"}`)
	if resp.errType != "AccessDeniedException" {
		t.Fatalf("anonymous DescribeKey = %+v", resp)
	}
}

type rawResponse struct {
	status    int
	requestID string
	errType   string
	body      string
}

// rawCall posts a JSON 1.1 request without SigV4.
func rawCall(t *testing.T, e *env, op, body string) rawResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if op != "" {
		req.Header.Set("X-Amz-Target", "TrentService."+op)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: e.ca.ClientTLS()}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResponse{resp.StatusCode, resp.Header.Get("x-amzn-RequestId"), resp.Header.Get("X-Amzn-ErrorType"), string(b)}
}

func TestMalformedAndInvalidRequests(t *testing.T) {
	e := start(t, t.TempDir(), newFakeClock())
	keyID := newKey(t, e.client("AKIDV"))
	big := `{"KeyId":"` + keyID + `","Plaintext":"` + strings.Repeat("QUFB", 400<<10/4) + `"}`
	p4097 := `{"KeyId":"` + keyID + `","Plaintext":"` + strings.Repeat("QUFB", 1366)[:5464] + `"}` // 4098 bytes
	for _, tc := range []struct{ op, body, want string }{
		{"Encrypt", `{"KeyId":`, "SerializationException"},
		{"Encrypt", `[]`, "SerializationException"},
		{"Encrypt", `{"KeyId":5}`, "SerializationException"},
		{"Encrypt", big, "SerializationException"},
		{"Encrypt", p4097, "ValidationException"},
		{"Encrypt", `{"KeyId":"` + keyID + `"}`, "ValidationException"},
		{"Nonsense", `{}`, "UnknownOperationException"},
		{"", `{}`, "UnknownOperationException"},
		{"GenerateDataKey", `{"KeyId":"` + keyID + `","NumberOfBytes":0}`, "ValidationException"},
		{"GenerateDataKey", `{"KeyId":"` + keyID + `","NumberOfBytes":1025}`, "ValidationException"},
		{"GenerateDataKey", `{"KeyId":"` + keyID + `","KeySpec":"AES_512"}`, "ValidationException"},
		{"GenerateDataKey", `{"KeyId":"` + keyID + `"}`, "ValidationException"},
		{"GenerateDataKey", `{"KeyId":"` + keyID + `","KeySpec":"AES_256","NumberOfBytes":32}`, "ValidationException"},
		{"GenerateDataKey", `{"KeyId":"alias/none","KeySpec":"AES_256"}`, "NotFoundException"},
		{"GenerateDataKey", `{"KeyId":"` + keyID + `","KeySpec":"AES_256","DryRun":true}`, "DryRunOperationException"},
		{"Decrypt", `{}`, "ValidationException"},
		{"Decrypt", `{"CiphertextBlob":"AAAA"}`, "InvalidCiphertextException"},
		{"Decrypt", `{"CiphertextBlob":"not base64!"}`, "SerializationException"},
		{"CreateAlias", `{"AliasName":"alias/aws/mine","TargetKeyId":"` + keyID + `"}`, "ValidationException"},
		{"CreateAlias", `{"AliasName":"nope","TargetKeyId":"` + keyID + `"}`, "ValidationException"},
		{"ScheduleKeyDeletion", `{"KeyId":"` + keyID + `","PendingWindowInDays":6}`, "ValidationException"},
		{"ListKeys", `{"Limit":0}`, "ValidationException"},
		{"ListKeys", `{"Marker":"zz"}`, "ValidationException"},
		{"CreateKey", `{"KeySpec":"RSA_2048"}`, "UnsupportedOperationException"},
		{"CancelKeyDeletion", `{"KeyId":"` + keyID + `"}`, "KMSInvalidStateException"},
	} {
		got := rawCall(t, e, tc.op, tc.body)
		if got.errType != tc.want || !strings.Contains(got.body, `"__type":"`+tc.want+`"`) || got.requestID == "" {
			short := tc.body
			if len(short) > 80 {
				short = short[:80] + "..."
			}
			t.Errorf("%s %s = %d %s %s, want %s with a request id", tc.op, short, got.status, got.errType, got.body, tc.want)
		}
	}
}

func TestRequestIDsAndAuditLines(t *testing.T) {
	e := start(t, t.TempDir(), newFakeClock())
	keyID := newKey(t, e.client("AKIDAUDIT"))
	a := rawCall(t, e, "DescribeKey", `{"KeyId":"`+keyID+`"}`)
	b := rawCall(t, e, "DescribeKey", `{"KeyId":"`+keyID+`"}`)
	if a.status != 200 || a.requestID == "" || a.requestID == b.requestID {
		t.Fatalf("request ids %q and %q (status %d)", a.requestID, b.requestID, a.status)
	}
	if !e.log.contains("request=" + a.requestID + " op=DescribeKey key=" + keyID + " principal=arn:aws:iam::123456789012:user/anonymous access_key=anonymous outcome=ok") {
		t.Fatalf("no audit line for request %s in %q", a.requestID, e.log.lines)
	}
	if !e.log.contains("op=CreateKey key=" + keyID + " principal=arn:aws:iam::123456789012:user/AKIDAUDIT access_key=AKIDAUDIT outcome=ok") {
		t.Fatalf("no audit line for CreateKey in %q", e.log.lines)
	}
}

func TestConfigReportsEveryProblem(t *testing.T) {
	_, err := kms.New(kms.Config{Region: "Mars", Account: "12", Rand: rand.Reader})
	if !errors.Is(err, kms.ErrInvalidConfig) {
		t.Fatalf("New = %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"DataDir", "Region", "Account"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
