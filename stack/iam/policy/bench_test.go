package policy

import "testing"

// BenchmarkEvaluate measures the two requests the stack evaluates per call:
// a camera's PutMedia against its role's identity policy, and an ingest
// GenerateDataKey against a key policy delegating to IAM.
func BenchmarkEvaluate(b *testing.B) {
	camera := mustParse(b, `{"Version":"2012-10-17","Statement":[
		{"Sid":"Stream","Effect":"Allow","Action":["kinesisvideo:DescribeStream","kinesisvideo:PutMedia","kinesisvideo:TagStream","kinesisvideo:GetDataEndpoint"],
		 "Resource":"arn:aws:kinesisvideo:*:*:stream/${credentials-iot:ThingName}/*"},
		{"Sid":"OnlyTLS","Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}},
		{"Sid":"Network","Effect":"Deny","Action":"kinesisvideo:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16","2001:db8::/32"]}}}]}`)
	cameraReq := Request{Principal: camSess, Action: "kinesisvideo:PutMedia",
		Resource: "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-000042/1700000000000",
		Context: map[string][]string{"credentials-iot:ThingName": {"cam-000042"}, "aws:SecureTransport": {"true"},
			"aws:SourceIp": {"10.1.2.3"}, "aws:username": {"cam-000042"}, "aws:CurrentTime": {"2026-11-27T05:00:00Z"}}}
	key := mustParse(b, `{"Version":"2012-10-17","Id":"key-consolepolicy-3","Statement":[
		{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
		{"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/ingest"},
		 "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*",
		 "Condition":{"StringLike":{"kms:EncryptionContext:aws:kinesisvideo:arn":"arn:aws:kinesisvideo:*:111122223333:stream/*"}}},
		{"Sid":"NoDeletion","Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion","Resource":"*"}]}`)
	keyReq := Request{Principal: Principal{ARN: "arn:aws:sts::111122223333:assumed-role/ingest/i-1"}, Action: "kms:GenerateDataKey",
		Resource: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		Context: map[string][]string{"kms:EncryptionContext:aws:kinesisvideo:arn": {"arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-000042/1700000000000"},
			"kms:CallerAccount": {"111122223333"}, "kms:ViaService": {"kinesisvideo.us-east-1.amazonaws.com"}}}
	identity := []*Policy{camera}
	b.Run("camera-identity", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !Evaluate(cameraReq, identity, nil).Allowed() {
				b.Fatal("camera denied")
			}
		}
	})
	b.Run("kms-key-policy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !EvaluateKey(keyReq, key, nil).Allowed() {
				b.Fatal("ingest denied")
			}
		}
	})
}
