package probe

import (
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/camstorm/camstorm/conformance"
)

// KMS is the AWS SDK's KMS client of the target's KMS (Target.KMSURL),
// acting with creds, trusting what Target.HTTP trusts.
func KMS(tg *conformance.Target, creds aws.CredentialsProvider, optFns ...func(*kms.Options)) *kms.Client {
	// A nil *http.Client in the interface would be a non-nil HTTPClient
	// that panics on use; the SDK only defaults a nil interface.
	var hc kms.HTTPClient = http.DefaultClient
	if tg.HTTP != nil {
		hc = tg.HTTP
	}
	return kms.New(kms.Options{Region: tg.Region, HTTPClient: hc, Credentials: creds, BaseEndpoint: aws.String(tg.KMSURL)}, optFns...)
}

// NoRetries makes a KMS client try each call once: a refusal is a
// verdict, not something to retry.
func NoRetries(o *kms.Options) { o.RetryMaxAttempts = 1 }
