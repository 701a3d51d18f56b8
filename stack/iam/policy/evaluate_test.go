package policy

import (
	"strings"
	"testing"
)

const acct = "111122223333"

func mustParse(t testing.TB, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse(%s): %v", doc, err)
	}
	return p
}

var (
	userAlice = Principal{ARN: "arn:aws:iam::" + acct + ":user/alice", ID: "AIDAALICE"}
	camSess   = Principal{ARN: "arn:aws:sts::" + acct + ":assumed-role/camera/cam-1", Account: acct}
	root      = Principal{ARN: "arn:aws:iam::" + acct + ":root"}
	stranger  = Principal{ARN: "arn:aws:iam::444455556666:user/eve"}
	iotSvc    = Principal{Service: "credentials.iot.amazonaws.com"}
	anonymous = Principal{}
)

func TestPrincipalMatching(t *testing.T) {
	for _, tc := range []struct {
		principal string
		caller    Principal
		want      bool
	}{
		{`"*"`, anonymous, true},
		{`{"AWS":"*"}`, stranger, true},
		{`{"AWS":"arn:aws:iam::111122223333:root"}`, userAlice, true}, // the account: any principal in it
		{`{"AWS":"arn:aws:iam::111122223333:root"}`, camSess, true},
		{`{"AWS":"111122223333"}`, userAlice, true},
		{`{"AWS":"111122223333"}`, stranger, false},
		{`{"AWS":"arn:aws:iam::111122223333:root"}`, anonymous, false},
		{`{"AWS":"arn:aws:iam::111122223333:user/alice"}`, userAlice, true},
		{`{"AWS":"arn:aws:iam::111122223333:user/Alice"}`, userAlice, false},
		{`{"AWS":"arn:aws:iam::111122223333:role/camera"}`, camSess, true}, // a session of the role
		{`{"AWS":"arn:aws:iam::111122223333:role/devices/camera"}`, camSess, true},
		{`{"AWS":"arn:aws:iam::444455556666:role/camera"}`, camSess, false},
		{`{"AWS":"arn:aws:iam::111122223333:role/camera2"}`, camSess, false},
		{`{"AWS":"arn:aws:sts::111122223333:assumed-role/camera/cam-1"}`, camSess, true},
		{`{"AWS":"arn:aws:sts::111122223333:assumed-role/camera/cam-2"}`, camSess, false},
		{`{"AWS":"AIDAALICE"}`, userAlice, true},
		{`{"AWS":"AIDAALICE"}`, anonymous, false},
		{`{"Service":"credentials.iot.amazonaws.com"}`, iotSvc, true},
		{`{"Service":"credentials.iot.amazonaws.com"}`, userAlice, false},
		{`{"AWS":["arn:aws:iam::444455556666:root","arn:aws:iam::111122223333:user/alice"]}`, userAlice, true},
	} {
		doc := `{"Statement":{"Effect":"Allow","Principal":` + tc.principal + `,"Action":"kinesisvideo:PutMedia","Resource":"*"}}`
		got := Evaluate(Request{Principal: tc.caller, Action: "kinesisvideo:PutMedia", Resource: "arn:aws:kinesisvideo:r:" + acct + ":stream/s/1"}, nil, mustParse(t, doc)).Allowed()
		if got != tc.want {
			t.Errorf("Principal %s, caller %+v: allowed = %v, want %v", tc.principal, tc.caller, got, tc.want)
		}
		// NotPrincipal is the complement.
		doc = strings.Replace(doc, `"Principal"`, `"NotPrincipal"`, 1)
		if got := Evaluate(Request{Principal: tc.caller, Action: "kinesisvideo:PutMedia"}, nil, mustParse(t, doc)).Allowed(); got == tc.want {
			t.Errorf("NotPrincipal %s, caller %+v: allowed = %v, want %v", tc.principal, tc.caller, got, !tc.want)
		}
	}
}

func TestStatementMatching(t *testing.T) {
	stream := "arn:aws:kinesisvideo:us-east-1:" + acct + ":stream/front-door/1700000000000"
	for _, tc := range []struct {
		statement, action, resource string
		want                        bool
	}{
		{`"Action":"kinesisvideo:PutMedia","Resource":"*"`, "kinesisvideo:PutMedia", stream, true},
		{`"Action":"kinesisvideo:PutMedia","Resource":"*"`, "KinesisVideo:putmedia", stream, true}, // actions are case-insensitive
		{`"Action":"kinesisvideo:PutMedia","Resource":"*"`, "kinesisvideo:GetMedia", stream, false},
		{`"Action":"kinesisvideo:Get*","Resource":"*"`, "kinesisvideo:GetDataEndpoint", stream, true},
		{`"Action":["kinesisvideo:Describe*","kinesisvideo:Get*"],"Resource":"*"`, "kinesisvideo:PutMedia", stream, false},
		{`"Action":"*","Resource":"*"`, "kms:Decrypt", "", true},
		{`"NotAction":"kinesisvideo:DeleteStream","Resource":"*"`, "kinesisvideo:PutMedia", stream, true},
		{`"NotAction":"kinesisvideo:DeleteStream","Resource":"*"`, "kinesisvideo:deletestream", stream, false},
		{`"NotAction":["kinesisvideo:Delete*","kms:*"],"Resource":"*"`, "kms:Decrypt", stream, false},
		{`"Action":"kinesisvideo:*","Resource":"arn:aws:kinesisvideo:*:*:stream/front-door/*"`, "kinesisvideo:PutMedia", stream, true},
		{`"Action":"kinesisvideo:*","Resource":"arn:aws:kinesisvideo:*:*:stream/Front-Door/*"`, "kinesisvideo:PutMedia", stream, false}, // ARNs are case-sensitive
		{`"Action":"kinesisvideo:*","Resource":"arn:aws:kinesisvideo:*:*:stream/back-door/*"`, "kinesisvideo:PutMedia", stream, false},
		{`"Action":"kinesisvideo:*","Resource":["arn:aws:kinesisvideo:*:*:stream/back-door/*","arn:aws:kinesisvideo:us-east-1:*:stream/*"]`, "kinesisvideo:PutMedia", stream, true},
		{`"Action":"kinesisvideo:*","NotResource":"arn:aws:kinesisvideo:*:*:stream/back-door/*"`, "kinesisvideo:PutMedia", stream, true},
		{`"Action":"kinesisvideo:*","NotResource":"arn:aws:kinesisvideo:*:*:stream/front-door/*"`, "kinesisvideo:PutMedia", stream, false},
		{`"Action":"kinesisvideo:*","Resource":"arn:aws:kinesisvideo:us-east-1:` + acct + `:stream/front-door/1700000000000"`, "kinesisvideo:PutMedia", stream, true},
	} {
		doc := `{"Version":"2012-10-17","Statement":{"Effect":"Allow",` + tc.statement + `}}`
		got := Evaluate(Request{Principal: userAlice, Action: tc.action, Resource: tc.resource}, []*Policy{mustParse(t, doc)}, nil).Allowed()
		if got != tc.want {
			t.Errorf("statement {%s}, %s on %q: allowed = %v, want %v", tc.statement, tc.action, tc.resource, got, tc.want)
		}
	}
}

// The least-privilege camera policy of the KVS developer guide: a camera
// whose credentials came from the IoT credential provider for thing T may
// use only the stream named T.
func TestCameraPolicyAllowsOnlyItsOwnStream(t *testing.T) {
	camera := mustParse(t, awsDocExamples["kvs camera (iot)"])
	own := Request{Principal: camSess, Action: "kinesisvideo:PutMedia",
		Resource: "arn:aws:kinesisvideo:us-east-1:" + acct + ":stream/cam-1/1700000000000",
		Context:  map[string][]string{"credentials-iot:ThingName": {"cam-1"}}}
	for _, tc := range []struct {
		name string
		edit func(r *Request)
		want bool
	}{
		{"own stream", func(*Request) {}, true},
		{"own stream, DescribeStream", func(r *Request) { r.Action = "kinesisvideo:DescribeStream" }, true},
		{"other stream", func(r *Request) { r.Resource = strings.Replace(r.Resource, "cam-1", "cam-2", 1) }, false},
		{"stream name with the thing as prefix", func(r *Request) { r.Resource = strings.Replace(r.Resource, "cam-1", "cam-10", 1) }, false},
		{"not an allowed action", func(r *Request) { r.Action = "kinesisvideo:DeleteStream" }, false},
		{"GetMedia of own stream", func(r *Request) { r.Action = "kinesisvideo:GetMedia" }, false},
		{"no thing name in the session", func(r *Request) { r.Context = nil }, false},
		{"thing name with a wildcard", func(r *Request) {
			r.Context = map[string][]string{"credentials-iot:ThingName": {"*"}}
		}, false},
	} {
		r := own
		tc.edit(&r)
		if got := Evaluate(r, []*Policy{camera}, nil); got.Allowed() != tc.want {
			t.Errorf("%s: %s on %s with %v = %v, want allowed %v", tc.name, r.Action, r.Resource, r.Context, got, tc.want)
		}
	}
}

func TestDecisions(t *testing.T) {
	allowAll := mustParse(t, `{"Statement":[{"Sid":"All","Effect":"Allow","Action":"kinesisvideo:*","Resource":"*"}]}`)
	denyDelete := mustParse(t, `{"Id":"guard","Statement":[{"Sid":"Other","Effect":"Deny","Action":"kms:*","Resource":"*"},{"Sid":"NoDelete","Effect":"Deny","Action":"kinesisvideo:Delete*","Resource":"*"}]}`)
	denyDelete.Name = "guardrail"
	streamPolicy := mustParse(t, `{"Statement":[{"Sid":"Readers","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kinesisvideo:GetMedia","Resource":"*"},
		{"Sid":"NoDeleteByAnyone","Effect":"Deny","Principal":"*","Action":"kinesisvideo:DeleteStream","Resource":"*"}]}`)
	req := func(action string) Request {
		return Request{Principal: userAlice, Action: action, Resource: "arn:aws:kinesisvideo:r:" + acct + ":stream/s/1"}
	}
	for _, tc := range []struct {
		name     string
		req      Request
		identity []*Policy
		resource *Policy
		want     Decision
		text     string
	}{
		{"implicit deny with no policies", req("kinesisvideo:PutMedia"), nil, nil,
			Decision{Outcome: ImplicitDeny}, "implicit deny: no policy allows the action"},
		{"identity allow", req("kinesisvideo:PutMedia"), []*Policy{allowAll}, nil,
			Decision{Outcome: Allow, Source: SourceIdentity, Policy: allowAll, Sid: "All"}, `allow by statement 0 (Sid "All") of the identity-based policy 0`},
		{"deny beats allow, in a later policy", req("kinesisvideo:DeleteStream"), []*Policy{allowAll, denyDelete}, nil,
			Decision{Outcome: ExplicitDeny, Source: SourceIdentity, Policy: denyDelete, PolicyIndex: 1, Statement: 1, Sid: "NoDelete"}, `explicit deny by statement 1 (Sid "NoDelete") of the identity-based policy 1 "guardrail"`},
		{"resource policy allows alone", req("kinesisvideo:GetMedia"), nil, streamPolicy,
			Decision{Outcome: Allow, Source: SourceResource, Policy: streamPolicy, Sid: "Readers"}, `allow by statement 0 (Sid "Readers") of the resource-based policy`},
		{"resource policy deny beats identity allow", req("kinesisvideo:DeleteStream"), []*Policy{allowAll}, streamPolicy,
			Decision{Outcome: ExplicitDeny, Source: SourceResource, Policy: streamPolicy, Statement: 1, Sid: "NoDeleteByAnyone"}, "explicit deny"},
		{"neither allows", req("kinesisvideo:PutMedia"), []*Policy{denyDelete}, streamPolicy,
			Decision{Outcome: ImplicitDeny}, "implicit deny"},
		{"nil policies are skipped", req("kinesisvideo:PutMedia"), []*Policy{nil, allowAll}, nil,
			Decision{Outcome: Allow, Source: SourceIdentity, Policy: allowAll, PolicyIndex: 1, Sid: "All"}, "allow"},
	} {
		got := Evaluate(tc.req, tc.identity, tc.resource)
		if got != tc.want || !strings.HasPrefix(got.String(), tc.text) {
			t.Errorf("%s: Evaluate(%s) = %+v (%q), want %+v (%q…)", tc.name, tc.req.Action, got, got, tc.want, tc.text)
		}
	}
}

func TestEvaluateKeyDelegation(t *testing.T) {
	keyARN := "arn:aws:kms:us-east-1:" + acct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	defaultKey := mustParse(t, awsDocExamples["kms default key policy"])
	keyUsers := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Sid":"Admins","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":["kms:Describe*","kms:Put*"],"Resource":"*"},
		{"Sid":"Camera","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/camera"},"Action":"kms:GenerateDataKey","Resource":"*",
		 "Condition":{"StringEquals":{"kms:EncryptionContext:stream":"${credentials-iot:ThingName}"}}},
		{"Sid":"NoDecryptForEve","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/eve"},"Action":"kms:Decrypt","Resource":"*"}]}`)
	noDelegation := mustParse(t, `{"Statement":{"Sid":"OnlyAlice","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}}`)
	iamAllowKMS := mustParse(t, `{"Statement":{"Sid":"UseKeys","Effect":"Allow","Action":["kms:Decrypt","kms:DescribeKey","kms:GenerateDataKey"],"Resource":"arn:aws:kms:*:111122223333:key/*"}}`)
	iamDenyDecrypt := mustParse(t, `{"Statement":{"Sid":"NoDecrypt","Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}}`)
	eve := Principal{ARN: "arn:aws:iam::" + acct + ":user/eve"}
	kmsReq := func(p Principal, action string, ctx map[string][]string) Request {
		return Request{Principal: p, Action: action, Resource: keyARN, Context: ctx}
	}
	camCtx := map[string][]string{"credentials-iot:ThingName": {"cam-1"}, "kms:EncryptionContext:stream": {"cam-1"}}
	for _, tc := range []struct {
		name     string
		req      Request
		key      *Policy
		identity []*Policy
		want     Outcome
		sid      string
		text     string
	}{
		{"root is allowed by the default policy alone", kmsReq(root, "kms:Decrypt", nil), defaultKey, nil, Allow, "Enable IAM User Permissions", ""},
		{"a user needs an IAM allow when the key policy delegates", kmsReq(userAlice, "kms:Decrypt", nil), defaultKey, nil, ImplicitDeny, "", "the key policy delegates to IAM"},
		{"delegation plus IAM allow", kmsReq(userAlice, "kms:Decrypt", nil), defaultKey, []*Policy{iamAllowKMS}, Allow, "UseKeys", ""},
		{"IAM allow for another action than delegated", kmsReq(userAlice, "kms:Decrypt", nil), keyUsers, []*Policy{iamAllowKMS}, ImplicitDeny, "", ""},
		{"IAM allow for a delegated action", kmsReq(userAlice, "kms:DescribeKey", nil), keyUsers, []*Policy{iamAllowKMS}, Allow, "UseKeys", ""},
		{"IAM policies are ignored without delegation", kmsReq(camSess, "kms:Decrypt", nil), noDelegation, []*Policy{iamAllowKMS}, ImplicitDeny, "", "the key policy allows no such action"},
		{"the key policy allows a named principal directly", kmsReq(userAlice, "kms:Decrypt", nil), noDelegation, nil, Allow, "OnlyAlice", ""},
		{"an IAM deny beats a direct key-policy allow", kmsReq(userAlice, "kms:Decrypt", nil), noDelegation, []*Policy{iamDenyDecrypt}, ExplicitDeny, "NoDecrypt", ""},
		{"a key-policy deny beats delegation", kmsReq(eve, "kms:Decrypt", nil), keyUsers, []*Policy{iamAllowKMS}, ExplicitDeny, "NoDecryptForEve", ""},
		{"camera session, own encryption context", kmsReq(camSess, "kms:GenerateDataKey", camCtx), keyUsers, nil, Allow, "Camera", ""},
		{"camera session, another stream's context", kmsReq(camSess, "kms:GenerateDataKey",
			map[string][]string{"credentials-iot:ThingName": {"cam-1"}, "kms:EncryptionContext:stream": {"cam-2"}}), keyUsers, nil, ImplicitDeny, "", ""},
		{"another account's root", kmsReq(Principal{ARN: "arn:aws:iam::444455556666:root"}, "kms:Decrypt", nil), defaultKey, []*Policy{iamAllowKMS}, ImplicitDeny, "", ""},
		{"no key policy", kmsReq(root, "kms:Decrypt", nil), nil, []*Policy{iamAllowKMS}, ImplicitDeny, "", ""},
	} {
		got := EvaluateKey(tc.req, tc.key, tc.identity)
		if got.Outcome != tc.want || got.Sid != tc.sid || !strings.Contains(got.String(), tc.text) {
			t.Errorf("%s: EvaluateKey(%s by %s) = %v, Sid %q; want %v, Sid %q, text containing %q", tc.name, tc.req.Action, tc.req.Principal.ARN, got, got.Sid, tc.want, tc.sid, tc.text)
		}
	}
}

// Examples of the AWS documentation, evaluated as the documentation says.
func TestAWSDocumentationExamplesDecide(t *testing.T) {
	home := mustParse(t, awsDocExamples["iam home folder"])
	mfa := mustParse(t, awsDocExamples["iam mfa"])
	dates := mustParse(t, awsDocExamples["iam date range"])
	sourceIP := mustParse(t, awsDocExamples["iam source ip deny"])
	allowAll := mustParse(t, `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`)
	alice := map[string][]string{"aws:username": {"alice"}}
	for _, tc := range []struct {
		name     string
		req      Request
		identity []*Policy
		want     Outcome
	}{
		{"home folder: own object", Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/alice/notes.txt", Context: alice}, []*Policy{home}, Allow},
		{"home folder: someone else's", Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/bob/notes.txt", Context: alice}, []*Policy{home}, ImplicitDeny},
		{"home folder: list own prefix", Request{Action: "s3:ListBucket", Resource: "arn:aws:s3:::amzn-s3-demo-bucket",
			Context: map[string][]string{"aws:username": {"alice"}, "s3:prefix": {"alice/photos"}}}, []*Policy{home}, Allow},
		{"mfa: no MFA, not exempt", Request{Action: "ec2:RunInstances", Resource: "*", Context: map[string][]string{"aws:MultiFactorAuthPresent": {"false"}}}, []*Policy{allowAll, mfa}, ExplicitDeny},
		{"mfa: no MFA key at all (long-term keys)", Request{Action: "ec2:RunInstances", Resource: "*"}, []*Policy{allowAll, mfa}, ExplicitDeny},
		{"mfa: exempt action", Request{Action: "iam:ChangePassword", Resource: "*"}, []*Policy{allowAll, mfa}, Allow},
		{"mfa: with MFA", Request{Action: "ec2:RunInstances", Resource: "*", Context: map[string][]string{"aws:MultiFactorAuthPresent": {"true"}}}, []*Policy{allowAll, mfa}, Allow},
		{"date range: inside", Request{Action: "ec2:RunInstances", Resource: "*", Context: map[string][]string{"aws:CurrentTime": {"2020-05-01T12:00:00Z"}}}, []*Policy{dates}, Allow},
		{"date range: after", Request{Action: "ec2:RunInstances", Resource: "*", Context: map[string][]string{"aws:CurrentTime": {"2020-07-01T00:00:00Z"}}}, []*Policy{dates}, ImplicitDeny},
		{"source ip: outside", Request{Action: "s3:GetObject", Resource: "*", Context: map[string][]string{"aws:SourceIp": {"198.51.100.1"}, "aws:ViaAWSService": {"false"}}}, []*Policy{allowAll, sourceIP}, ExplicitDeny},
		{"source ip: inside", Request{Action: "s3:GetObject", Resource: "*", Context: map[string][]string{"aws:SourceIp": {"192.0.2.9"}, "aws:ViaAWSService": {"false"}}}, []*Policy{allowAll, sourceIP}, Allow},
		{"source ip: via a service", Request{Action: "s3:GetObject", Resource: "*", Context: map[string][]string{"aws:SourceIp": {"198.51.100.1"}, "aws:ViaAWSService": {"true"}}}, []*Policy{allowAll, sourceIP}, Allow},
	} {
		if got := Evaluate(tc.req, tc.identity, nil); got.Outcome != tc.want {
			t.Errorf("%s: %s on %s with %v = %v, want %v", tc.name, tc.req.Action, tc.req.Resource, tc.req.Context, got, tc.want)
		}
	}
}
