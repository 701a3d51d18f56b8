package policy

import (
	"slices"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, doc := range awsDocExamples {
		f.Add([]byte(doc))
	}
	for _, doc := range []string{`{"Statement":{"Effect":"Allow","Action":"kms:*"}}`, `{"Statement":[{"Sid":"x","Effect":"Deny","NotAction":"a:b","NotResource":"arn:*",
		"Condition":{"ForAllValues:StringLikeIfExists":{"k":["${a, 'b'}${*}?"]},"Null":{"n":true},"NumericLessThan":{"x":1e3}}}]}`, `{"Statement":{}}`, `[`, `{"Statement":[1]}`} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := Parse(doc)
		if err != nil {
			if p != nil {
				t.Fatalf("Parse returned a policy and an error %v", err)
			}
			if len(err.Error()) > 64*1024 {
				t.Fatalf("error message is %d bytes", len(err.Error()))
			}
			return
		}
		if len(p.Statements) == 0 {
			t.Fatalf("Parse(%q) accepted a policy without statements", doc)
		}
		req := Request{Principal: camSess, Action: "kinesisvideo:PutMedia", Resource: "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/1",
			Context: map[string][]string{"credentials-iot:ThingName": {"cam-1"}, "aws:SourceIp": {"10.0.0.1"}}}
		Evaluate(req, []*Policy{p}, p)
		EvaluateKey(req, p, []*Policy{p})
	})
}

func FuzzEvaluate(f *testing.F) {
	f.Add(awsDocExamples["kvs camera (iot)"], "arn:aws:sts::111122223333:assumed-role/camera/cam-1", "kinesisvideo:PutMedia",
		"arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/1", "credentials-iot:ThingName", "cam-1")
	f.Add(awsDocExamples["kms key users"], "arn:aws:iam::111122223333:user/ExampleUser", "kms:Decrypt", "arn:aws:kms:r:111122223333:key/k", "kms:GrantIsForAWSResource", "true")
	f.Add(awsDocExamples["iam source ip deny"], "", "s3:GetObject", "arn:aws:s3:::b/k", "aws:SourceIp", "192.0.2.1")
	f.Add(awsDocExamples["iam mfa"], "arn:aws:iam::111122223333:root", "iam:GetUser", "*", "aws:MultiFactorAuthPresent", "false")
	f.Add(awsDocExamples["not principal"], "arn:aws:iam::444455556666:user/Bob", "s3:PutObject", "arn:aws:s3:::BUCKETNAME/x", "", "")
	f.Add(awsDocExamples["iam tag keys"], "AIDA", "ec2:CreateTags", "arn:aws:ec2:r:1:instance/i", "aws:TagKeys", "environment")
	allowAll, err := Parse([]byte(`{"Statement":{"Sid":"AllowEverything","Effect":"Allow","Principal":"*","Action":"*"}}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc, principal, action, resource, key, value string) {
		p, err := Parse([]byte(doc))
		if err != nil {
			return
		}
		req := Request{Principal: Principal{ARN: principal, ID: principal}, Action: action, Resource: resource,
			Context: map[string][]string{key: {value}, "aws:username": {value}}}
		widened := &Policy{Version: p.Version, Statements: append(slices.Clone(p.Statements), allowAll.Statements[0])}
		for _, tc := range []struct {
			name string
			eval func(*Policy) Decision
		}{
			{"Evaluate identity", func(q *Policy) Decision { return Evaluate(req, []*Policy{q}, nil) }},
			{"Evaluate resource", func(q *Policy) Decision { return Evaluate(req, nil, q) }},
			{"EvaluateKey", func(q *Policy) Decision { return EvaluateKey(req, q, []*Policy{q}) }},
		} {
			d := tc.eval(p)
			if d.Policy != nil {
				st := d.Policy.Statements[d.Statement]
				if (st.Effect == EffectDeny) != (d.Outcome == ExplicitDeny) || st.Sid != d.Sid {
					t.Fatalf("%s: decision %v names statement %+v", tc.name, d, st)
				}
			} else if d.Outcome != ImplicitDeny {
				t.Fatalf("%s: %v names no statement", tc.name, d)
			}
			w := tc.eval(widened)
			switch {
			case d.Outcome == ExplicitDeny && w.Outcome != ExplicitDeny:
				t.Fatalf("%s: appending an Allow statement turned %v into %v", tc.name, d, w)
			case d.Outcome != ExplicitDeny && w.Outcome != Allow:
				t.Fatalf("%s: with an allow-everything statement appended, %v became %v", tc.name, d, w)
			}
		}
		// An allow-everything identity policy beside it changes no deny either.
		if d := Evaluate(req, []*Policy{p}, nil); d.Outcome == ExplicitDeny {
			if w := Evaluate(req, []*Policy{allowAll, p}, allowAll); w.Outcome != ExplicitDeny {
				t.Fatalf("an allowing policy beside %v turned it into %v", d, w)
			}
		}
	})
}
