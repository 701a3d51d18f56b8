package policy

import (
	"fmt"
	"testing"
)

type ctxMap = map[string][]string

// conditionHolds evaluates cond as the Condition of an Allow statement.
func conditionHolds(t *testing.T, cond string, ctx ctxMap) bool {
	t.Helper()
	doc := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"svc:Op","Resource":"*","Condition":` + cond + `}}`
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse(%s): %v", doc, err)
	}
	return Evaluate(Request{Action: "svc:Op", Resource: "arn:aws:svc:r:111122223333:thing/x", Context: ctx}, []*Policy{p}, nil).Allowed()
}

func TestConditionOperators(t *testing.T) {
	ip := func(v string) ctxMap { return ctxMap{"aws:SourceIp": {v}} }
	k := func(v ...string) ctxMap { return ctxMap{"k": v} }
	none := ctxMap{}
	for _, tc := range []struct {
		cond string
		ctx  ctxMap
		want bool
	}{
		// String
		{`{"StringEquals":{"k":"v"}}`, k("v"), true},
		{`{"StringEquals":{"k":"v"}}`, k("V"), false},
		{`{"StringEquals":{"k":["a","v"]}}`, k("v"), true}, // values of one key are ORed
		{`{"StringEquals":{"k":"v"}}`, none, false},
		{`{"StringEquals":{"k":"v*"}}`, k("vx"), false}, // no wildcards in Equals
		{`{"StringEquals":{"K":"v"}}`, k("v"), true},    // key names are case-insensitive
		{`{"StringNotEquals":{"k":"v"}}`, k("w"), true},
		{`{"StringNotEquals":{"k":"v"}}`, k("v"), false},
		{`{"StringNotEquals":{"k":["a","b"]}}`, k("b"), false},
		{`{"StringNotEquals":{"k":"v"}}`, none, true}, // negated operators hold for a missing key
		{`{"StringEqualsIgnoreCase":{"k":"Video"}}`, k("vIDEO"), true},
		{`{"StringEqualsIgnoreCase":{"k":"Video"}}`, k("audio"), false},
		{`{"StringNotEqualsIgnoreCase":{"k":"Video"}}`, k("VIDEO"), false},
		{`{"StringNotEqualsIgnoreCase":{"k":"Video"}}`, k("audio"), true},
		{`{"StringLike":{"k":"cam-*"}}`, k("cam-12"), true},
		{`{"StringLike":{"k":"cam-?"}}`, k("cam-12"), false},
		{`{"StringLike":{"k":"cam-*"}}`, k("Cam-1"), false},
		{`{"StringNotLike":{"k":"cam-*"}}`, k("door-1"), true},
		{`{"StringNotLike":{"k":"cam-*"}}`, k("cam-1"), false},
		// Numeric
		{`{"NumericEquals":{"k":"10"}}`, k("10.0"), true},
		{`{"NumericEquals":{"k":10}}`, k("11"), false},
		{`{"NumericNotEquals":{"k":10}}`, k("11"), true},
		{`{"NumericNotEquals":{"k":10}}`, k("10"), false},
		{`{"NumericLessThan":{"k":10}}`, k("9"), true},
		{`{"NumericLessThan":{"k":10}}`, k("10"), false},
		{`{"NumericLessThanEquals":{"k":10}}`, k("10"), true},
		{`{"NumericGreaterThan":{"k":10}}`, k("10"), false},
		{`{"NumericGreaterThan":{"k":10}}`, k("10.5"), true},
		{`{"NumericGreaterThanEquals":{"k":10}}`, k("10"), true},
		{`{"NumericGreaterThanEquals":{"k":10}}`, k("9.99"), false},
		{`{"NumericEquals":{"k":10}}`, k("ten"), false},
		{`{"NumericNotEquals":{"k":10}}`, k("ten"), false}, // not a number satisfies neither
		// Date
		{`{"DateEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}`, ctxMap{"aws:CurrentTime": {"2026-01-01T01:00:00+01:00"}}, true},
		{`{"DateNotEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}`, ctxMap{"aws:CurrentTime": {"2026-01-01T00:00:01Z"}}, true},
		{`{"DateLessThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}`, ctxMap{"aws:CurrentTime": {"2025-12-31T23:59:59Z"}}, true},
		{`{"DateLessThan":{"aws:CurrentTime":"2026-01-01"}}`, ctxMap{"aws:CurrentTime": {"2026-01-01T00:00:00Z"}}, false},
		{`{"DateLessThanEquals":{"aws:CurrentTime":"2026-01-01"}}`, ctxMap{"aws:CurrentTime": {"2026-01-01T00:00:00Z"}}, true},
		{`{"DateGreaterThan":{"aws:EpochTime":"1767225600"}}`, ctxMap{"aws:EpochTime": {"1767225601"}}, true},
		{`{"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}`, ctxMap{"aws:CurrentTime": {"2025-01-01T00:00:00Z"}}, false},
		{`{"DateGreaterThanEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}`, ctxMap{"aws:CurrentTime": {"2026-01-01T00:00:00Z"}}, true},
		{`{"DateLessThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}`, ctxMap{"aws:CurrentTime": {"soon"}}, false},
		// Bool
		{`{"Bool":{"aws:SecureTransport":"true"}}`, ctxMap{"aws:SecureTransport": {"true"}}, true},
		{`{"Bool":{"aws:SecureTransport":true}}`, ctxMap{"aws:SecureTransport": {"false"}}, false},
		{`{"Bool":{"aws:SecureTransport":"false"}}`, ctxMap{"aws:SecureTransport": {"FALSE"}}, true},
		{`{"Bool":{"aws:SecureTransport":"false"}}`, none, false},
		// IP
		{`{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ip("203.0.113.7"), true},
		{`{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ip("203.0.114.7"), false},
		{`{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}`, ip("203.0.113.7"), true},
		{`{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ip("::ffff:203.0.113.7"), true},
		{`{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`, ip("2001:db8:1::1"), true},
		{`{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`, ip("2001:db9::1"), false},
		{`{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}`, ip("10.1.2.3"), true},
		{`{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, ip("not-an-ip"), false},
		{`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, ip("192.0.2.1"), true},
		{`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, ip("10.0.0.1"), false},
		{`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, ip("not-an-ip"), false},
		// ARN
		{`{"ArnEquals":{"aws:SourceArn":"arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam/1"}}`, ctxMap{"aws:SourceArn": {"arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam/1"}}, true},
		{`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/cam-*"}}`, ctxMap{"aws:PrincipalArn": {"arn:aws:iam::111122223333:role/cam-ingest"}}, true},
		{`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/cam-*"}}`, ctxMap{"aws:PrincipalArn": {"arn:aws:iam::444455556666:role/cam-ingest"}}, false},
		{`{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/admin"}}`, ctxMap{"aws:PrincipalArn": {"arn:aws:iam::111122223333:role/cam"}}, true},
		{`{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/*"}}`, ctxMap{"aws:PrincipalArn": {"arn:aws:iam::111122223333:role/cam"}}, false},
		// Null
		{`{"Null":{"aws:TokenIssueTime":"true"}}`, none, true},
		{`{"Null":{"aws:TokenIssueTime":"true"}}`, ctxMap{"aws:TokenIssueTime": {"2026-01-01T00:00:00Z"}}, false},
		{`{"Null":{"aws:TokenIssueTime":"false"}}`, ctxMap{"aws:TokenIssueTime": {"2026-01-01T00:00:00Z"}}, true},
		{`{"Null":{"aws:TokenIssueTime":false}}`, none, false},
		{`{"Null":{"k":"true"}}`, ctxMap{"k": {}}, true}, // no values is absent
		// IfExists
		{`{"StringEqualsIfExists":{"k":"v"}}`, none, true},
		{`{"StringEqualsIfExists":{"k":"v"}}`, k("w"), false},
		{`{"StringEqualsIfExists":{"k":"v"}}`, k("v"), true},
		{`{"NumericLessThanIfExists":{"k":5}}`, none, true},
		{`{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}`, none, true},
		{`{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}`, ip("192.0.2.1"), false},
		{`{"StringNotLikeIfExists":{"k":"x*"}}`, none, true},
		// Set operators
		{`{"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}}`, ctxMap{"aws:TagKeys": {"owner", "team"}}, true},
		{`{"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}}`, ctxMap{"aws:TagKeys": {"owner"}}, false},
		{`{"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}}`, none, false},
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}`, ctxMap{"aws:TagKeys": {"env", "team"}}, true},
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}`, ctxMap{"aws:TagKeys": {"env", "owner"}}, false},
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}`, none, true}, // vacuously true, as in AWS
		{`{"ForAllValues:StringLike":{"aws:TagKeys":"cam-*"}}`, ctxMap{"aws:TagKeys": {"cam-a", "cam-b"}}, true},
		{`{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"env"}}`, ctxMap{"aws:TagKeys": {"env", "x"}}, true},
		{`{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"env"}}`, ctxMap{"aws:TagKeys": {"env"}}, false},
		{`{"ForAllValues:StringNotEquals":{"aws:TagKeys":"env"}}`, ctxMap{"aws:TagKeys": {"a", "b"}}, true},
		{`{"ForAllValues:StringNotEquals":{"aws:TagKeys":"env"}}`, ctxMap{"aws:TagKeys": {"a", "env"}}, false},
		{`{"ForAnyValue:StringEqualsIfExists":{"k":"v"}}`, none, true},
		{`{"StringEquals":{"k":"v"}}`, k("x", "v"), true}, // multivalued without a prefix: any value
		{`{"StringNotEquals":{"k":"v"}}`, k("x", "v"), false},
		// AND across operators and keys
		{`{"StringEquals":{"a":"1","b":"2"}}`, ctxMap{"a": {"1"}, "b": {"2"}}, true},
		{`{"StringEquals":{"a":"1","b":"2"}}`, ctxMap{"a": {"1"}, "b": {"3"}}, false},
		{`{"StringEquals":{"a":"1"},"Bool":{"b":"true"}}`, ctxMap{"a": {"1"}, "b": {"true"}}, true},
		{`{"StringEquals":{"a":"1"},"Bool":{"b":"true"}}`, ctxMap{"a": {"1"}, "b": {"false"}}, false},
		// Variables in condition values
		{`{"StringEquals":{"k":"${aws:username}"}}`, ctxMap{"k": {"alice"}, "aws:username": {"alice"}}, true},
		{`{"StringEquals":{"k":"${aws:username}"}}`, ctxMap{"k": {"bob"}, "aws:username": {"alice"}}, false},
		{`{"StringEquals":{"k":"${aws:username}"}}`, ctxMap{"k": {""}}, false}, // unresolved: no match
		{`{"StringNotEquals":{"k":"${aws:username}"}}`, ctxMap{"k": {"bob"}}, false},
		{`{"StringEquals":{"k":"${aws:username, 'guest'}"}}`, ctxMap{"k": {"guest"}}, true},
		{`{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}`, ctxMap{"s3:prefix": {"home/alice/a"}, "aws:username": {"alice"}}, true},
		{`{"StringEqualsIgnoreCase":{"k":"${aws:username}-x"}}`, ctxMap{"k": {"ALICE-X"}, "aws:username": {"alice"}}, true},
		{`{"ArnLike":{"aws:SourceArn":"arn:aws:kinesisvideo:*:*:stream/${credentials-iot:ThingName}/*"}}`,
			ctxMap{"aws:SourceArn": {"arn:aws:kinesisvideo:r:1:stream/cam-1/9"}, "credentials-iot:ThingName": {"cam-1"}}, true},
		{`{"StringEquals":{"kms:EncryptionContext:aws:kinesisvideo:arn":"${aws:SourceArn}"}}`,
			ctxMap{"kms:EncryptionContext:aws:kinesisvideo:arn": {"arn:x"}, "aws:SourceArn": {"arn:x"}}, true},
	} {
		if got := conditionHolds(t, tc.cond, tc.ctx); got != tc.want {
			t.Errorf("Condition %s with context %v holds = %v, want %v", tc.cond, tc.ctx, got, tc.want)
		}
	}
}

func TestVariablesAreLiteralBeforeVersion2012(t *testing.T) {
	for _, version := range []string{`"Version":"2008-10-17",`, ``} {
		doc := fmt.Sprintf(`{%s"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}}`, version)
		p, err := Parse([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		ctx := ctxMap{"aws:username": {"alice"}}
		for res, want := range map[string]bool{"arn:aws:s3:::b/alice/x": false, "arn:aws:s3:::b/${aws:username}/x": true} {
			if got := Evaluate(Request{Action: "s3:GetObject", Resource: res, Context: ctx}, []*Policy{p}, nil).Allowed(); got != want {
				t.Errorf("%s: access to %s = %v, want %v", doc, res, got, want)
			}
		}
	}
}
