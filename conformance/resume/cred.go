package resume

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
)

// KVS-style cameras get one-hour session tokens (IoT role alias default,
// kvs-protocol.md §5.2). Taking one with the identity clock set back by
// slightly less than that gives a token that expires tokenLeft from now:
// the case streams with it, lets it expire, and reconnects.
const (
	tokenLifetime = time.Hour
	tokenLeft     = 2 * time.Second
)

func credentialCases() []*conformance.Case {
	return []*conformance.Case{
		{
			ID: "RES-CRED-001", Requirement: "R-IAM-1",
			Needs:    []conformance.Capability{conformance.NeedClock, conformance.NeedPrincipals},
			Source:   "kvs-protocol.md §1.4 (401: token expired), §4.7 and §5.2: cameras sign with temporary IoT credentials and refresh them.",
			Title:    "Credentials expiring while streaming: the expired token is refused, refreshed ones resume without loss",
			Stimulus: "A camera is enrolled and takes its one-hour session token with the identity clock set back 59 min 58 s, so the token expires 2 s later. With it the camera creates its stream and sends fragment 0 (PERSISTED) and half of fragment 1; the token expires, then the connection drops. The camera reconnects presenting the expired token; then its credential provider fetches a new token and the camera resends fragment 1, then fragment 2.",
			Expected: "PutMedia signed with the expired token is refused (HTTP 400, 401 or 403); with the refreshed token fragments 1 and 2 are PERSISTED; the stream holds fragments 0-2 exactly once each, in order.",
			Run:      runExpiredCredentials,
		},
	}
}

func runExpiredCredentials(ctx context.Context, t *conformance.T) {
	clock := t.Target.Clock
	back := tokenLifetime - tokenLeft
	shifted := false
	t.Cleanup(func(ctx context.Context) {
		if shifted {
			_ = clock.ShiftClock(ctx, conformance.ClockIdentity, back)
		}
	})
	t.Must(clock.ShiftClock(ctx, conformance.ClockIdentity, -back), "setting the identity clock back")
	shifted = true
	stream := t.Name("cam")
	cam, err := t.Target.Principals.Camera(ctx, stream)
	t.Must(err, "enrolling the camera")
	issued := time.Now()
	token, err := cam.Credentials.Retrieve(ctx)
	t.Must(err, "taking the camera's first credentials")
	t.Must(clock.ShiftClock(ctx, conformance.ClockIdentity, back), "setting the identity clock forward again")
	shifted = false
	// The token's lifetime as the camera was told (possibly shortened, as
	// the SDK shortens it by up to 20 %) must be the one this case assumes.
	told := token.Expires.Sub(issued.Add(-back))
	if !token.CanExpire || told > tokenLifetime+time.Minute || told < tokenLifetime*3/4 {
		t.Harnessf("the camera's session token lasts %v, not the %v this case assumes", told, tokenLifetime)
	}
	expiry := issued.Add(tokenLeft)
	t.Evidence("note", "camera %s's token (access key %s) taken with the identity clock %v back: it expires about %s",
		stream, token.AccessKeyID, back, expiry.UTC().Format(time.RFC3339Nano))
	held := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return token, nil })

	// The camera streams with the token it holds.
	r := newRigOn(ctx, t, stream, held)
	a := r.open(ctx, "A", true)
	a.send(r.frag(0))
	a.persist(ctx, r.frag(0))
	b1 := r.frag(1).Encode()
	a.write(b1[:len(b1)/2], "half of fragment 1")
	a.await(ctx, r.tc(1), kvsapi.EventBuffering)
	ep, err := r.c.DataEndpoint(ctx, stream, probe.APIPutMedia)
	t.Must(err, "GetDataEndpoint with the camera's token")
	if time.Now().After(expiry) {
		t.Harnessf("streaming fragment 0 took until after the token expired (%s)", expiry.UTC().Format(time.RFC3339Nano))
	}
	// The token expires; then the connection drops.
	select {
	case <-ctx.Done():
		t.Harness(ctx.Err())
	case <-time.After(time.Until(expiry) + 500*time.Millisecond):
	}
	a.cut()

	status, errType, msg, err := putMediaOnce(ctx, t.Target, token, ep, stream, probe.Header())
	switch {
	case err != nil:
		t.Harnessf("PutMedia with the expired token got no HTTP answer: %v", err)
	case status == http.StatusOK:
		t.Fail("PutMedia signed with a session token that expired at about %s was accepted (HTTP 200)", expiry.UTC().Format(time.RFC3339Nano))
	default:
		t.Evidence("http", "PutMedia with the expired token: HTTP %d %s: %s", status, errType, msg)
		t.Check(slices.Contains([]int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden}, status),
			"PutMedia with the expired token answered HTTP %d %s, want 400, 401 or 403", status, errType)
	}

	// The camera's credential provider refreshes, and the camera resumes.
	fresh, err := cam.Credentials.Retrieve(ctx)
	t.Must(err, "refreshing the camera's credentials")
	t.Evidence("note", "refreshed token: access key %s, expires %s", fresh.AccessKeyID, fresh.Expires.UTC().Format(time.RFC3339))
	r.c = probe.New(t.Target, cam.Credentials)
	b := r.open(ctx, "B", false)
	b.send(r.frags(1, 2)...)
	b.persist(ctx, r.frags(1, 2)...)
	b.finish(ctx)
	r.verifyStoredWith(ctx, probe.New(t.Target, t.Target.Admin), r.frags(0, 2))
}

// putMediaOnce sends one PutMedia whose body is complete when the request
// goes out (the MKV header, as a curl-based producer sends it at once),
// SigV4-signed with creds and the empty-payload hash as streaming
// producers sign it, and returns the answer's status and error type.
func putMediaOnce(ctx context.Context, tg *conformance.Target, creds aws.Credentials, endpoint, stream string, body []byte) (int, string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+kvsapi.PathPutMedia, bytes.NewReader(body))
	if err != nil {
		return 0, "", "", err
	}
	req.Header.Set(kvsapi.HeaderStreamName, stream)
	req.Header.Set(kvsapi.HeaderFragmentTimecodeType, kvsapi.TimecodeTypeAbsolute)
	req.Header.Set(kvsapi.HeaderProducerStartTime, fmt.Sprintf("%.3f", float64(time.Now().UnixMilli())/1000))
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, kvsclient.EmptyPayloadHash, "kinesisvideo", tg.Region, time.Now()); err != nil {
		return 0, "", "", fmt.Errorf("signing: %w", err)
	}
	hc := tg.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, resp.Header.Get(kvsapi.HeaderErrorType), strings.TrimSpace(string(msg)), nil
}
