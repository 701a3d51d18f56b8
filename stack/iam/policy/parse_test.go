package policy

import (
	"errors"
	"strings"
	"testing"
)

// Documents from the AWS documentation (IAM user guide, KMS developer guide,
// KVS developer guide), lightly adapted to one account.
var awsDocExamples = map[string]string{
	"kms default key policy": `{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`,
	"kms key users": `{"Version":"2012-10-17","Statement":[
		{"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/ExampleRole","arn:aws:iam::111122223333:user/ExampleUser"]},
		 "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"},
		{"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/ExampleRole"},
		 "Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}`,
	"kms encryption context": `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/RoleForExampleApp"},
		"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}}}`,
	"kms via service": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/ExampleUser"},
		"Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*",
		"Condition":{"StringEquals":{"kms:ViaService":["ec2.us-west-2.amazonaws.com","rds.us-west-2.amazonaws.com"]}}}]}`,
	"iam source ip deny": `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*",
		"Condition":{"NotIpAddress":{"aws:SourceIp":["192.0.2.0/24","203.0.113.0/24"]},"Bool":{"aws:ViaAWSService":"false"}}}}`,
	"iam date range": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*",
		"Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-04-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2020-06-30T23:59:59Z"}}}]}`,
	"iam secure transport": `{"Version":"2012-10-17","Statement":[{"Sid":"DenyInsecure","Effect":"Deny","Action":"s3:*","Resource":["arn:aws:s3:::amzn-s3-demo-bucket","arn:aws:s3:::amzn-s3-demo-bucket/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`,
	"iam home folder": `{"Version":"2012-10-17","Statement":[{"Action":["s3:ListBucket"],"Effect":"Allow","Resource":["arn:aws:s3:::amzn-s3-demo-bucket"],
		"Condition":{"StringLike":{"s3:prefix":["${aws:username}/*"]}}},{"Action":["s3:GetObject","s3:PutObject"],"Effect":"Allow","Resource":["arn:aws:s3:::amzn-s3-demo-bucket/${aws:username}/*"]}]}`,
	"iam mfa": `{"Version":"2012-10-17","Statement":[{"Sid":"BlockMostAccessUnlessSignedInWithMFA","Effect":"Deny","NotAction":["iam:ChangePassword","iam:GetUser","sts:GetSessionToken"],"Resource":"*",
		"Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}`,
	"iam tag keys": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*",
		"Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["environment","cost-center"]},"ForAnyValue:StringEquals":{"aws:TagKeys":"environment"}}}]}`,
	"iam null": `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Null":{"aws:TokenIssueTime":"true"}}}]}`,
	"kvs camera (iot)": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kinesisvideo:DescribeStream","kinesisvideo:PutMedia","kinesisvideo:TagStream","kinesisvideo:GetDataEndpoint"],
		"Resource":"arn:aws:kinesisvideo:*:*:stream/${credentials-iot:ThingName}/*"}]}`,
	"trust policy":         `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"credentials.iot.amazonaws.com"},"Action":"sts:AssumeRole"}}`,
	"not principal":        `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::444455556666:user/Bob","arn:aws:iam::444455556666:root"]},"Action":"s3:*","Resource":["arn:aws:s3:::BUCKETNAME","arn:aws:s3:::BUCKETNAME/*"]}]}`,
	"default variable":     `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/${aws:PrincipalTag/team, 'company-wide'}/*"}]}`,
	"numbers and booleans": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateKey","Resource":"*","Condition":{"NumericLessThanEquals":{"kms:RotationPeriodInDays":365},"Bool":{"aws:SecureTransport":true}}}]}`,
	"legacy version":       `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${literal}"}]}`,
}

func TestParseAcceptsAWSDocumentationExamples(t *testing.T) {
	for name, doc := range awsDocExamples {
		if _, err := Parse([]byte(doc)); err != nil {
			t.Errorf("%s: Parse(%s) = %v, want no error", name, doc, err)
		}
	}
}

func TestParseRejectsMalformedDocuments(t *testing.T) {
	ok := `"Effect":"Allow","Action":"kms:*","Resource":"*"`
	for _, tc := range []struct {
		doc  string
		want []string // substrings of the error, all of them
	}{
		{``, []string{"empty"}},
		{`{`, []string{"not valid JSON"}},
		{`[]`, []string{"must be a JSON object"}},
		{`{}`, []string{"Statement: is required"}},
		{`{"Statement":[]}`, []string{"non-empty list"}},
		{`{"Statement":"x"}`, []string{"Statement: must be an object"}},
		{`{"Version":"2020-01-01","Statement":{` + ok + `}}`, []string{"Version: must be"}},
		{`{"Statement":{` + ok + `},"Extra":1}`, []string{`Extra: is not an element`}},
		{`{"Statement":{` + ok + `,"Effect":"Deny"}}`, []string{`"Effect" twice`}},
		{`{"Statement":{"Effect":"allow","Action":"kms:*"}}`, []string{`statement 0: Effect: must be "Allow" or "Deny"`}},
		{`{"Statement":{"Action":"kms:*"}}`, []string{`Effect: is required`}},
		{`{"Statement":{"Effect":"Allow"}}`, []string{`Action: a statement needs Action or NotAction`}},
		{`{"Statement":{"Effect":"Allow","Action":"kms:*","NotAction":"kms:Decrypt"}}`, []string{`not both`}},
		{`{"Statement":{"Effect":"Allow","Action":"Decrypt"}}`, []string{`"Decrypt" must be "*" or service:Action`}},
		{`{"Statement":{"Effect":"Allow","Action":"km*:Decrypt"}}`, []string{`wildcard in the service prefix`}},
		{`{"Statement":{"Effect":"Allow","Action":7}}`, []string{`Action: must be a string or a list`}},
		{`{"Statement":{"Effect":"Allow","Action":[]}}`, []string{`Action: must not be an empty list`}},
		{`{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"bucket"}}`, []string{`"bucket" must be an ARN or *`}},
		{`{"Statement":{"Effect":"Allow","Principal":"someone","Action":"kms:*"}}`, []string{`Principal: must be "*" or an object`}},
		{`{"Statement":{"Effect":"Allow","Principal":{"Person":"x"},"Action":"kms:*"}}`, []string{`"Person" is not a principal type`}},
		{`{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/*"},"Action":"kms:*"}}`, []string{`cannot have wildcards`}},
		{`{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:bad"},"Action":"kms:*"}}`, []string{`is not an ARN`}},
		{`{"Statement":{"Effect":"Allow","Principal":"*","NotPrincipal":{"AWS":"x"},"Action":"kms:*"}}`, []string{`Principal or NotPrincipal, not both`}},
		{`{"Statement":{"Effect":"Allow","Action":"kms:*","Condition":{"StringEqualz":{"k":"v"}}}}`, []string{`unknown condition operator "StringEqualz"`}},
		{`{"Statement":{"Effect":"Allow","Action":"kms:*","Condition":{"NullIfExists":{"k":"true"}}}}`, []string{`Null takes neither`}},
		{`{"Statement":{"Effect":"Allow","Action":"kms:*","Condition":{"NumericEquals":{"k":"ten"}}}}`, []string{`Condition.NumericEquals.k: "ten" is not a number`}},
		{`{"Statement":{"Effect":"Allow","Action":"kms:*","Condition":{"DateLessThan":{"k":"yesterday"}}}}`, []string{`"yesterday" is not a date`}},
		{`{"Statement":{"Effect":"Allow","Action":"kms:*","Condition":{"Bool":{"k":"yes"}}}}`, []string{`"yes" is not true or false`}},
		{`{"Statement":{"Effect":"Allow","Action":"kms:*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}}`, []string{`"10.0.0.0/33" is not an IP address`}},
		{`{"Statement":{"Effect":"Allow","Action":"kms:*","Condition":{"StringEquals":{"k":{"nested":1}}}}}`, []string{`values must be strings, numbers or booleans`}},
		{`{"Statement":{"Effect":"Allow","Action":"kms:*","Condition":{"StringEquals":"k"}}}`, []string{`Condition.StringEquals: must be a JSON object`}},
		{`{"Statement":{"Effect":"Allow","Action":"kms:*","Condition":{"StringEquals":{}}}}`, []string{`names no condition key`}},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username"}}`, []string{`no closing '}'`}},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username, nobody}"}}`, []string{`single quotes`}},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${}"}}`, []string{`names no context key`}},
		{`{"Statement":[{"Sid":"A",` + ok + `},{"Sid":"A",` + ok + `}]}`, []string{`statement 1 (Sid "A"): Sid: statement 0 has the same Sid`}},
		{`{"Statement":[{"Sid":"S0","Effect":"Maybe","Action":"x"},{"Sid":"S1","Effect":"Allow","Action":"kms:*","Unknown":1}]}`,
			[]string{`statement 0 (Sid "S0"): Effect`, `statement 0 (Sid "S0"): Action: "x"`, `statement 1 (Sid "S1"): Unknown: is not an element`}},
		{strings.Repeat(" ", MaxDocumentSize) + `{}`, []string{"at most 32768"}},
	} {
		_, err := Parse([]byte(tc.doc))
		if err == nil {
			t.Errorf("Parse(%.200s) accepted a malformed document, want an error containing %q", tc.doc, tc.want)
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%.200s) = %v, which is not ErrMalformed", tc.doc, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Parse(%.200s) = %v, want it to contain %q", tc.doc, err, w)
			}
		}
	}
}

func TestParseKindRules(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		doc  string
		want string // "" for valid
	}{
		{IdentityKind, `{"Statement":{"Effect":"Allow","Action":"kinesisvideo:*","Resource":"*"}}`, ""},
		{IdentityKind, `{"Statement":{"Effect":"Allow","Action":"kinesisvideo:*"}}`, "needs Resource or NotResource"},
		{IdentityKind, `{"Statement":{"Effect":"Allow","Principal":"*","Action":"kinesisvideo:*","Resource":"*"}}`, "must not name a principal"},
		{ResourceKind, `{"Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*"}}`, ""},
		{ResourceKind, `{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}`, "needs Principal or NotPrincipal"},
		{AnyKind, `{"Statement":{"Effect":"Allow","Action":"kms:*"}}`, ""},
	} {
		_, err := ParseKind([]byte(tc.doc), tc.kind)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("ParseKind(%s, %d) = %v, want no error", tc.doc, tc.kind, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("ParseKind(%s, %d) = %v, want an error containing %q", tc.doc, tc.kind, err, tc.want)
		}
	}
}

func TestMalformedErrorListsEveryProblem(t *testing.T) {
	doc := `{"Statement":[` + strings.Repeat(`{"Effect":"Nope","Action":"x"},`, 200) + `{"Effect":"Allow","Action":"kms:*"}]}`
	_, err := Parse([]byte(doc))
	var me *MalformedError
	if !errors.As(err, &me) {
		t.Fatalf("Parse = %v, want a *MalformedError", err)
	}
	if len(me.Problems) != maxProblems+1 || !strings.Contains(me.Problems[maxProblems].Message, "more problems") {
		t.Fatalf("got %d problems (last %v), want %d listed and a note that more were left out", len(me.Problems), me.Problems[len(me.Problems)-1], maxProblems)
	}
}

func TestMalformedErrorStaysSmall(t *testing.T) {
	// DEL is one byte in JSON and four (\x7f) when an error quotes it.
	long := strings.Repeat("\x7f", 800)
	doc := `{"Statement":[` + strings.Repeat(`{"Effect":"Allow","Action":"kms:*","Resource":"`+long+`"},`, 30) + `{}]}`
	_, err := Parse([]byte(doc))
	if err == nil || len(err.Error()) > 20000 {
		t.Fatalf("Parse of a %d-byte document with long bad values gave a %d-byte error", len(doc), len(err.Error()))
	}
}

func TestParseKeepsHeaderFields(t *testing.T) {
	p, err := Parse([]byte(awsDocExamples["kms default key policy"]))
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != Version2012 || p.ID != "key-default-1" || len(p.Statements) != 1 ||
		p.Statements[0].Sid != "Enable IAM User Permissions" || p.Statements[0].Effect != EffectAllow || !p.Statements[0].HasPrincipal() {
		t.Fatalf("Parse(default key policy) = %+v", p)
	}
}
