package policy_test

import (
	"fmt"

	"github.com/camstorm/camstorm/stack/iam/policy"
)

// A camera's session from the IoT credential provider may put media only
// into the stream named like its thing.
func ExampleEvaluate() {
	camera, err := policy.ParseKind([]byte(`{"Version":"2012-10-17","Statement":[{"Sid":"OwnStream","Effect":"Allow",
		"Action":["kinesisvideo:DescribeStream","kinesisvideo:PutMedia","kinesisvideo:GetDataEndpoint"],
		"Resource":"arn:aws:kinesisvideo:*:*:stream/${credentials-iot:ThingName}/*"}]}`), policy.IdentityKind)
	if err != nil {
		fmt.Println(err)
		return
	}
	camera.Name = "role/camera inline"
	req := policy.Request{
		Principal: policy.Principal{ARN: "arn:aws:sts::111122223333:assumed-role/camera/cam-1"},
		Action:    "kinesisvideo:PutMedia",
		Resource:  "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/1700000000000",
		Context:   map[string][]string{"credentials-iot:ThingName": {"cam-1"}},
	}
	fmt.Println(policy.Evaluate(req, []*policy.Policy{camera}, nil))
	req.Resource = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-2/1700000000000"
	fmt.Println(policy.Evaluate(req, []*policy.Policy{camera}, nil))
	// Output:
	// allow by statement 0 (Sid "OwnStream") of the identity-based policy 0 "role/camera inline"
	// implicit deny: no policy allows the action
}

// A key policy that delegates to the account lets IAM policies decide for
// the account's roles.
func ExampleEvaluateKey() {
	key, _ := policy.ParseKind([]byte(`{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions",
		"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`), policy.ResourceKind)
	ingest, _ := policy.ParseKind([]byte(`{"Statement":{"Sid":"DataKeys","Effect":"Allow","Action":"kms:GenerateDataKey","Resource":"*"}}`), policy.IdentityKind)
	req := policy.Request{
		Principal: policy.Principal{ARN: "arn:aws:sts::111122223333:assumed-role/ingest/i-1"},
		Action:    "kms:GenerateDataKey",
		Resource:  "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
	}
	fmt.Println(policy.EvaluateKey(req, key, nil))
	d := policy.EvaluateKey(req, key, []*policy.Policy{ingest})
	fmt.Println(d, d.Delegated)
	// Output:
	// implicit deny: the key policy delegates to IAM and no identity-based policy allows the action
	// allow by statement 0 (Sid "DataKeys") of the identity-based policy 0 true
}
