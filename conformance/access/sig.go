package access

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
)

// Authentication: every request is signed with SigV4, and a request whose
// signature is forged, made with the wrong secret, altered after signing,
// missing, too old or too new, or made with expired temporary credentials
// is refused before it reaches any data.

// Error codes of refused authentication, as KVS answers them.
const (
	codeBadSignature = "InvalidSignatureException"
	codeUnsigned     = "MissingAuthenticationTokenException"
	codeUnknownKey   = "UnrecognizedClientException"
	codeExpiredToken = "ExpiredTokenException"
)

// sigTarget is a stream the admin created for a signature case, with its
// PutMedia endpoint and the admin's own credentials to sign with.
type sigTarget struct {
	stream   string
	endpoint string
	admin    aws.Credentials
	base     int64
}

// newSigTarget creates the stream and proves the control: a DescribeStream
// and a one-fragment PutMedia signed correctly, now, by the admin are
// accepted (else the case is a harness error: the refusals to come would
// say nothing). The stream then holds that one fragment.
func newSigTarget(ctx context.Context, t *conformance.T, suffix string) sigTarget {
	st := sigTarget{stream: t.Name(suffix), admin: credentialsOf(ctx, t, t.Target.Admin, "the admin"), base: caseBase()}
	createStream(ctx, t, admin(t), st.stream, "")
	st.endpoint = dataEndpoint(ctx, t, st.stream, probe.APIPutMedia)
	if o := signedSend(ctx, t, describeRequest(t.Target, st.stream), st.admin, time.Now(), nil); !o.accepted() {
		t.Harnessf("the control, DescribeStream signed correctly by the admin, was refused: %s", o)
	}
	if o := signedSend(ctx, t, st.putMedia(0), st.admin, time.Now(), nil); !o.persisted() {
		t.Harnessf("the control, PutMedia signed correctly by the admin, was not persisted: %s", o)
	}
	return st
}

func (st sigTarget) putMedia(i int) rawRequest {
	return putMediaRequest(st.endpoint, st.stream, st.base+int64(i)*1000)
}

// expectOnlyControl checks that the stream holds only the control's
// fragment: no refused PutMedia stored anything.
func (st sigTarget) expectOnlyControl(ctx context.Context, t *conformance.T) {
	numbers := fragmentNumbers(ctx, t, st.stream)
	if len(numbers) != 1 {
		t.Fail("stream %s holds %d fragments (%s); want only the control's one: a refused PutMedia stored media",
			st.stream, len(numbers), joinNames(numbers))
		return
	}
	t.Evidence("fragment", "stream %s holds only the control fragment %s", st.stream, numbers[0])
}

// badRequests sends a DescribeStream and a PutMedia signed as creds at
// the given time and changed by damage, expects both refused with code,
// and returns the refusals their audit records must show (under the
// access key the requests claimed).
func (st sigTarget) badRequests(ctx context.Context, t *conformance.T, what string, creds aws.Credentials, at time.Time,
	damage func(*http.Request), code string, put int) []refusal {
	return st.badScopedRequests(ctx, t, what, creds, at, scope{}, damage, code, put)
}

// badScopedRequests is badRequests signed for a chosen credential scope.
func (st sigTarget) badScopedRequests(ctx context.Context, t *conformance.T, what string, creds aws.Credentials, at time.Time,
	sc scope, damage func(*http.Request), code string, put int) []refusal {
	var refusals []refusal
	for _, r := range []rawRequest{describeRequest(t.Target, st.stream), st.putMedia(put)} {
		o := scopedSend(ctx, t, r, creds, at, sc, damage)
		desc := fmt.Sprintf("%s %s", what, r.Action)
		if expectRefusedWith(t, desc, o, http.StatusForbidden, code) {
			refusals = append(refusals, refusal{What: desc, Action: r.Action, Code: code, Marker: r.Stream, AccessKeyID: creds.AccessKeyID})
		}
	}
	return refusals
}

// finish checks that the refusals are audited and that none stored media.
func (st sigTarget) finish(ctx context.Context, t *conformance.T, refusals ...refusal) {
	expectAudited(ctx, t, refusals...)
	st.expectOnlyControl(ctx, t)
}

var sigForged = &conformance.Case{
	ID:          "ACC-SIG-001",
	Title:       "A request whose signature was forged is refused",
	Requirement: "R-IAM-3",
	Stimulus: "The admin's correctly signed DescribeStream and one-fragment PutMedia are accepted (control). Then the same two " +
		"requests are signed by the admin and one hex digit of the Authorization header's Signature is changed.",
	Expected: "Both forged requests are refused with HTTP 403 InvalidSignatureException, are audited with the access key they " +
		"claimed, and the stream holds only the control's fragment.",
	Parallel: true,
	Timeout:  30 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		st := newSigTarget(ctx, t, "forged")
		st.finish(ctx, t, st.badRequests(ctx, t, "forged", st.admin, time.Now(), flipSignatureDigit, codeBadSignature, 1)...)
	},
}

// flipSignatureDigit changes the last hex digit of the signature.
func flipSignatureDigit(r *http.Request) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return
	}
	last := auth[len(auth)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	r.Header.Set("Authorization", auth[:len(auth)-1]+string(repl))
}

var sigWrongSecret = &conformance.Case{
	ID:          "ACC-SIG-002",
	Title:       "A request signed with the right access key but the wrong secret is refused",
	Requirement: "R-IAM-3",
	Stimulus: "After the control (the admin's correctly signed DescribeStream and PutMedia are accepted), the same requests are " +
		"signed with the admin's access key id and a made-up secret access key.",
	Expected: "Both are refused with HTTP 403 InvalidSignatureException and audited with the admin's access key id; the stream " +
		"holds only the control's fragment.",
	Parallel: true,
	Timeout:  30 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		st := newSigTarget(ctx, t, "secret")
		wrong := st.admin
		wrong.SecretAccessKey = "camstormWrongSecret/" + randomText(20)
		st.finish(ctx, t, st.badRequests(ctx, t, "wrong-secret", wrong, time.Now(), nil, codeBadSignature, 1)...)
	},
}

var sigTampered = &conformance.Case{
	ID:          "ACC-SIG-003",
	Title:       "A signed request altered in transit is refused",
	Requirement: "R-IAM-3",
	Stimulus: "The admin creates streams X and Y and writes one fragment to X (control). It signs a DescribeStream of X and " +
		"changes the body to name Y after signing; it signs a PutMedia of X and changes the signed x-amzn-stream-name header to Y.",
	Expected: "Both altered requests are refused with HTTP 403 InvalidSignatureException and audited; stream Y stays empty.",
	Parallel: true,
	Timeout:  30 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		st := newSigTarget(ctx, t, "x")
		other := t.Name("y")
		createStream(ctx, t, admin(t), other, "")
		var refusals []refusal

		describe := describeRequest(t.Target, st.stream)
		retarget, _ := json.Marshal(kvsapi.StreamRef{StreamName: other})
		o := signedSend(ctx, t, describe, st.admin, time.Now(), func(r *http.Request) {
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(retarget)), int64(len(retarget))
		})
		if expectRefusedWith(t, "DescribeStream with its body changed after signing", o, http.StatusForbidden, codeBadSignature) {
			refusals = append(refusals, refusal{What: "altered DescribeStream", Action: "DescribeStream", Code: codeBadSignature,
				Marker: other, AccessKeyID: st.admin.AccessKeyID})
		}
		put := st.putMedia(1)
		o = signedSend(ctx, t, put, st.admin, time.Now(), func(r *http.Request) {
			if !strings.Contains(strings.ToLower(r.Header.Get("Authorization")), kvsapi.HeaderStreamName) {
				t.Harnessf("the SigV4 signer did not sign %s, so changing it proves nothing", kvsapi.HeaderStreamName)
			}
			r.Header.Set(kvsapi.HeaderStreamName, other)
		})
		if expectRefusedWith(t, "PutMedia with its signed stream-name header changed", o, http.StatusForbidden, codeBadSignature) {
			refusals = append(refusals, refusal{What: "altered PutMedia", Action: "PutMedia", Code: codeBadSignature,
				Marker: other, AccessKeyID: st.admin.AccessKeyID})
		}
		expectAudited(ctx, t, refusals...)
		if n := fragmentNumbers(ctx, t, other); len(n) > 0 {
			t.Fail("stream Y (%s) holds %d fragment(s) (%s) from the altered PutMedia", other, len(n), joinNames(n))
		} else {
			t.Evidence("fragment", "stream Y (%s) is empty", other)
		}
		st.expectOnlyControl(ctx, t)
	},
}

var sigMissing = &conformance.Case{
	ID:          "ACC-SIG-004",
	Title:       "Unsigned requests and requests signed with an unknown access key are refused",
	Requirement: "R-IAM-3",
	Stimulus: "After the control (the admin's correctly signed DescribeStream and PutMedia are accepted), DescribeStream and " +
		"PutMedia are sent with no signature at all, then signed with an access key id the target never issued.",
	Expected: "Unsigned: HTTP 403 MissingAuthenticationTokenException; unknown key: HTTP 403 UnrecognizedClientException. Each " +
		"of the 4 refusals is audited (the unknown key's records name the key it claimed); the stream holds only the control's fragment.",
	Parallel: true,
	Timeout:  30 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		st := newSigTarget(ctx, t, "unsigned")
		var refusals []refusal
		for _, r := range []rawRequest{describeRequest(t.Target, st.stream), st.putMedia(1)} {
			req, err := r.build(ctx)
			t.Must(err, "building "+r.Action)
			o, err := send(ctx, t.Target, req)
			t.Must(err, "sending "+r.Action)
			if expectRefusedWith(t, "unsigned "+r.Action, o, http.StatusForbidden, codeUnsigned) {
				refusals = append(refusals, refusal{What: "unsigned " + r.Action, Action: r.Action, Code: codeUnsigned, Marker: r.Stream})
			}
		}
		unknown := aws.Credentials{AccessKeyID: "AKIA" + strings.ToUpper(randomText(16)), SecretAccessKey: randomText(40)}
		refusals = append(refusals, st.badRequests(ctx, t, "unknown-key", unknown, time.Now(), nil, codeUnknownKey, 2)...)
		st.finish(ctx, t, refusals...)
	},
}

// randomText is n random letters and digits.
func randomText(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// skew is how far outside the ±15 min window the replayed requests are.
const skew = 20 * time.Minute

var sigOutsideWindow = &conformance.Case{
	ID:          "ACC-SIG-005",
	Title:       "A request signed more than 15 minutes ago, or ahead, is refused (replay)",
	Requirement: "R-IAM-3",
	Source:      "AWS SigV4: a signed request is valid within 15 minutes of its X-Amz-Date",
	Stimulus: "After the control (the admin's correctly signed DescribeStream and PutMedia are accepted), the same requests are " +
		"signed correctly by the admin with an X-Amz-Date 20 minutes in the past (a captured request replayed later) and 20 " +
		"minutes in the future.",
	Expected: "All 4 are refused with HTTP 403 InvalidSignatureException (\"Signature expired\") and audited; the stream holds " +
		"only the control's fragment.",
	Parallel: true,
	Timeout:  30 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		st := newSigTarget(ctx, t, "replay")
		refusals := st.badRequests(ctx, t, "replayed (signed 20 min ago)", st.admin, time.Now().Add(-skew), nil, codeBadSignature, 1)
		refusals = append(refusals, st.badRequests(ctx, t, "signed 20 min ahead", st.admin, time.Now().Add(skew), nil, codeBadSignature, 2)...)
		st.finish(ctx, t, refusals...)
	},
}

var sigOtherScope = &conformance.Case{
	ID:          "ACC-SIG-007",
	Title:       "A request signed for another service or region is refused",
	Requirement: "R-IAM-3",
	Source:      "AWS SigV4: the credential scope names the date, region and service the signature is valid for",
	Stimulus: "After the control (the admin's correctly signed DescribeStream and PutMedia are accepted), the same requests are " +
		"signed correctly by the admin but for the KMS's signing name (kms) instead of kinesisvideo, then for another region.",
	Expected: "All 4 are refused with HTTP 403 InvalidSignatureException (a signature captured from one service or region " +
		"cannot be replayed to another) and audited; the stream holds only the control's fragment.",
	Parallel: true,
	Timeout:  30 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		st := newSigTarget(ctx, t, "scope")
		otherRegion := "eu-west-1"
		if t.Target.Region == otherRegion {
			otherRegion = "us-west-2"
		}
		refusals := st.badScopedRequests(ctx, t, "signed for service kms", st.admin, time.Now(), scope{Service: "kms"}, nil, codeBadSignature, 1)
		refusals = append(refusals, st.badScopedRequests(ctx, t, "signed for region "+otherRegion, st.admin, time.Now(),
			scope{Region: otherRegion}, nil, codeBadSignature, 2)...)
		st.finish(ctx, t, refusals...)
	},
}

// identityShift is how far back the identity clock goes to issue
// credentials that have expired by the time they are used.
const identityShift = 3 * time.Hour

var sigExpiredToken = &conformance.Case{
	ID:          "ACC-SIG-006",
	Title:       "Requests signed with expired temporary credentials are refused",
	Requirement: "R-IAM-1",
	Stimulus: "The admin creates a stream and writes one fragment. With the identity service's clock moved 3 h back, a consumer " +
		"identity gets temporary credentials (so they expired 2 h ago at the latest); the clock is moved forward again. The " +
		"consumer then calls DescribeStream and ListFragments on the stream, signed correctly with those credentials; a consumer " +
		"with fresh credentials makes the same calls (control).",
	Expected: "The control's calls are accepted; both calls with the expired credentials are refused with HTTP 403 " +
		"ExpiredTokenException and audited with the expired access key.",
	Needs:   []conformance.Capability{conformance.NeedPrincipals, conformance.NeedClock},
	Timeout: 30 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		stream := t.Name("expired")
		createStream(ctx, t, admin(t), stream, "")
		putPersisted(ctx, t, admin(t), stream, fragment(caseBase(), stream, 0))
		listEP := dataEndpoint(ctx, t, stream, probe.APIListFragments)

		t.Must(t.Target.Clock.ShiftClock(ctx, conformance.ClockIdentity, -identityShift), "moving the identity clock back")
		restored := false
		restore := func(ctx context.Context) error {
			if restored {
				return nil
			}
			restored = true
			return t.Target.Clock.ShiftClock(ctx, conformance.ClockIdentity, identityShift)
		}
		t.Cleanup(func(ctx context.Context) {
			if err := restore(ctx); err != nil {
				t.Logf("moving the identity clock forward again: %v", err)
			}
		})
		old := consumer(ctx, t, t.Name("old"))
		expired, err := old.Credentials.Retrieve(ctx)
		t.Must(restore(ctx), "moving the identity clock forward again")
		t.Must(err, "getting credentials for a consumer with the identity clock 3 h back")
		if !expired.CanExpire || time.Now().Before(expired.Expires) {
			t.Harnessf("credentials issued with the identity clock 3 h back expire at %s (can expire: %v); the case needs expired ones",
				expired.Expires.Format(time.RFC3339), expired.CanExpire)
		}
		t.Evidence("note", "credentials %s of %s expired at %s", expired.AccessKeyID, old.Name, expired.Expires.UTC().Format(time.RFC3339))

		fresh := credentialsOf(ctx, t, consumer(ctx, t, t.Name("fresh")).Credentials, "a fresh consumer")
		reqs := []rawRequest{describeRequest(t.Target, stream), listFragmentsRequest(listEP, stream)}
		for _, r := range reqs {
			if o := signedSend(ctx, t, r, fresh, time.Now(), nil); !o.accepted() {
				t.Harnessf("the control, %s signed by a consumer with fresh credentials, was refused: %s", r.Action, o)
			}
		}
		var refusals []refusal
		for _, r := range reqs {
			o := signedSend(ctx, t, r, expired, time.Now(), nil)
			what := r.Action + " with expired credentials"
			if expectRefusedWith(t, what, o, http.StatusForbidden, codeExpiredToken) {
				refusals = append(refusals, refusal{What: what, Action: r.Action, Code: codeExpiredToken, Marker: stream, AccessKeyID: expired.AccessKeyID})
			}
		}
		expectAudited(ctx, t, refusals...)
	},
}
