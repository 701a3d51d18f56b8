package access

import (
	"context"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
)

// invalidator is a credentials cache that can be told to fetch anew (the
// AWS SDK's aws.CredentialsCache is one).
type invalidator interface{ Invalidate() }

var certRevoked = &conformance.Case{
	ID:          "ACC-CERT-001",
	Title:       "A camera whose certificate is revoked gets no more credentials",
	Requirement: "R-TLS-3",
	Source:      "AWS IoT credential provider: only an ACTIVE certificate attached to the thing is exchanged for credentials",
	Stimulus: "A camera is enrolled, creates its stream and writes one fragment (control). Its certificate is then revoked, the " +
		"camera's cached credentials are dropped, and it asks the credential provider for new ones and tries to write a second fragment.",
	Expected: "The credential request is refused and audited (the record names the thing); no credentials are issued, the second " +
		"write never reaches the stream, and the admin lists only the control's fragment.",
	Needs:    needPrincipals,
	Parallel: true,
	Timeout:  30 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		name := t.Name("cam")
		cam := camera(ctx, t, name)
		if cam.Revoke == nil {
			t.Skip("the target cannot revoke a camera's certificate")
		}
		cache, ok := cam.Credentials.(invalidator)
		if !ok {
			t.Skip("the camera's credentials (%T) cannot be made to renew, so a revocation cannot be observed", cam.Credentials)
		}
		c := probe.New(t.Target, cam.Credentials)
		createStream(ctx, t, c, name, "")
		base := caseBase()
		putPersisted(ctx, t, c, name, fragment(base, name, 0))

		t.Must(cam.Revoke(ctx), "revoking the camera's certificate")
		cache.Invalidate()
		creds, err := cam.Credentials.Retrieve(ctx)
		if err == nil {
			t.Fail("the revoked certificate was exchanged for new credentials %s (expiring %s)", creds.AccessKeyID,
				creds.Expires.UTC().Format(time.RFC3339))
		} else {
			t.Evidence("http", "credential request with the revoked certificate: %s", clipText(err.Error(), 300))
			expectAudited(ctx, t, refusal{What: "credential request with the revoked certificate", Marker: name})
		}
		acks, err := c.Put(ctx, name, fragment(base, name, 1))
		if err == nil {
			t.Fail("the camera wrote a fragment after its certificate was revoked: %v", acks)
		} else {
			t.Evidence("ack", "write after the revocation: %s", clipText(err.Error(), 300))
		}
		if n := fragmentNumbers(ctx, t, name); len(n) != 1 {
			t.Fail("the stream holds %d fragments (%s); want only the one written before the revocation", len(n), joinNames(n))
		}
	},
}
