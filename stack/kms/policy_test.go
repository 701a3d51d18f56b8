package kms

import (
	"strings"
	"testing"

	iampolicy "github.com/camstorm/camstorm/stack/iam/policy"
)

func TestPolicyEvaluation(t *testing.T) {
	const account = "123456789012"
	doc := `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"},
	 {"Effect":"Deny","Principal":{"AWS":"AKIDA"},"Action":"kms:Decrypt","Resource":"*"},
	 {"Effect":"Deny","Principal":"*","Action":"kms:ScheduleKey?eletion","Resource":"*"},
	 {"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:user/AKIDE"},"Action":"kms:Encrypt","Resource":"*"},
	 {"Effect":"Deny","NotPrincipal":{"AWS":["AKIDADMIN","AKIDA"]},"Action":"kms:PutKeyPolicy","Resource":"*"},
	 {"Effect":"Deny","Principal":"*","Action":"kms:ReEncrypt*","Resource":"*","Condition":{"StringNotEquals":{"kms:CallerAccount":"444455556666"}}}]}`
	p, err := parsePolicy(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		principal, action string
		want              bool
	}{
		{"AKIDA", "kms:Decrypt", false},
		{"AKIDA", "kms:decrypt", false},
		{"AKIDA", "kms:Encrypt", true},
		{"AKIDB", "kms:Decrypt", true},
		{anonymousPrincipal, "kms:Decrypt", true}, // unsigned callers are still members of the account
		{"AKIDB", "kms:ScheduleKeyDeletion", false},
		{"AKIDE", "kms:Encrypt", false}, // named by a user ARN in the account
		{"AKIDB", "kms:PutKeyPolicy", false},
		{"AKIDADMIN", "kms:PutKeyPolicy", true},
		{"AKIDB", "kms:ReEncryptFrom", false}, // conditions are honoured
	} {
		if got := p.allows(standInCaller(account, tc.principal), account, tc.action, "*", nil); got != tc.want {
			t.Errorf("allows(%s, %s) = %v, want %v", tc.principal, tc.action, got, tc.want)
		}
	}
	only, err := parsePolicy(`{"Statement":{"Effect":"Allow","Principal":{"AWS":["AKIDC"]},"Action":["kms:Encrypt","kms:Describe*"]}}`)
	if err != nil {
		t.Fatal(err)
	}
	allows := func(akid, action string) bool {
		return only.allows(standInCaller(account, akid), account, action, "*", nil)
	}
	if !allows("AKIDC", "kms:DescribeKey") || allows("AKIDC", "kms:Decrypt") || allows("AKIDD", "kms:Encrypt") {
		t.Error("an Allow must name the principal and the action; anything else is denied")
	}
	for _, tc := range []struct{ doc, want string }{
		{``, "empty"},
		{`{}`, "Statement: is required"},
		{`{"Statement":[]}`, "Statement"},
		{`{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*"}]}`, "Effect"},
		{`{"Statement":[{"Effect":"Allow","Action":"kms:*"}]}`, "needs Principal or NotPrincipal"},
		{`{"Statement":[{"Effect":"Allow","Principal":"someone","Action":"kms:*"}]}`, "Principal"},
		{`{"Statement":[{"Effect":"Allow","Principal":"*"}]}`, "Action"},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":7}]}`, "Action"},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Condition":{"StringEqualsMaybe":{"k":"v"}}}]}`, "unknown condition operator"},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*"}]}` + strings.Repeat(" ", iampolicy.MaxDocumentSize), "at most"},
	} {
		if _, err := parsePolicy(tc.doc); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parsePolicy(%.100s) = %v, want an error containing %q", tc.doc, err, tc.want)
		}
	}
}

// The key's ARN in Resource and the encryption context in
// kms:EncryptionContext:<k> conditions.
func TestPolicyDecideWithKeyAndEncryptionContext(t *testing.T) {
	const account = "123456789012"
	keyARN := "arn:aws:kms:us-east-1:123456789012:key/k1"
	p, err := parsePolicy(`{"Version":"2012-10-17","Statement":[
	 {"Sid":"Ingest","Effect":"Allow","Principal":{"AWS":"camstorm-ingest"},"Action":"kms:GenerateDataKey","Resource":"arn:aws:kms:*:123456789012:key/k1",
	  "Condition":{"StringLike":{"kms:EncryptionContext:aws:kinesisvideo:arn":"arn:aws:kinesisvideo:*:123456789012:stream/*"}}},
	 {"Sid":"ContextRequired","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"Null":{"kms:EncryptionContextKeys":"true"}}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	streamCtx := map[string]string{"aws:kinesisvideo:arn": "arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam-1/1"}
	type keyRequest struct {
		account, principal, action, keyARN string
		ec                                 map[string]string
	}
	decide := func(r keyRequest) iampolicy.Decision {
		return p.decide(standInCaller(r.account, r.principal), r.account, r.action, r.keyARN, r.ec)
	}
	for _, tc := range []struct {
		name string
		req  keyRequest
		want bool
	}{
		{"stream context on the key", keyRequest{account, "camstorm-ingest", "kms:GenerateDataKey", keyARN, streamCtx}, true},
		{"another key", keyRequest{account, "camstorm-ingest", "kms:GenerateDataKey", keyARN + "x", streamCtx}, false},
		{"no encryption context", keyRequest{account, "camstorm-ingest", "kms:GenerateDataKey", keyARN, nil}, false},
		{"another caller", keyRequest{account, "AKIDX", "kms:GenerateDataKey", keyARN, streamCtx}, false},
		{"decrypt with a context is not denied (nor allowed)", keyRequest{account, "camstorm-ingest", "kms:Decrypt", keyARN, streamCtx}, false},
	} {
		if got := decide(tc.req); got.Allowed() != tc.want {
			t.Errorf("%s: decide(%+v) = %v, want allowed %v", tc.name, tc.req, got, tc.want)
		}
	}
	if d := decide(keyRequest{account, "camstorm-ingest", "kms:Decrypt", keyARN, nil}); d.Sid != "ContextRequired" {
		t.Errorf("Decrypt without a context = %v, want the ContextRequired deny", d)
	}
}

func TestDefaultPolicyAdmitsTheAccount(t *testing.T) {
	p, err := parsePolicy(defaultPolicy("123456789012"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.allows(standInCaller("123456789012", "AKIDANY"), "123456789012", "kms:ScheduleKeyDeletion", "*", nil) {
		t.Error("the default key policy must let the account's callers administer the key")
	}
}

// BenchmarkAuthorize is what every KMS call pays for its key policy:
// the (cached) parse and the evaluation.
func BenchmarkAuthorize(b *testing.B) {
	doc := defaultPolicy("123456789012")
	c := standInCaller("123456789012", "camstorm-ingest")
	b.ReportAllocs()
	for b.Loop() {
		p, err := parsePolicy(doc)
		if err != nil || !p.allows(c, "123456789012", "kms:GenerateDataKey", "arn:aws:kms:us-east-1:123456789012:key/k", nil) {
			b.Fatal("denied")
		}
	}
}
