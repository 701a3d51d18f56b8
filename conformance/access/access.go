// Package access is the conformance suite for access control: object
// ownership (BOLA), SigV4 authentication of every request, revoked device
// certificates, least privilege, KMS key policies, and the audit trail of
// every refusal.
//
// Every case that has requests refused also checks, when the target shows
// its audit trail, that each refusal has its own audit record naming the
// caller, the action and the error: a refusal that leaves no trace fails
// the case that made it.
package access

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
)

// Suite returns the access-control suite.
func Suite() *conformance.Suite {
	return &conformance.Suite{
		Name:  "access",
		Title: "Access control: ownership, signatures, revocation, least privilege, key policies, audit",
		// The cases that run alone (a shifted clock, a quiet audit log)
		// come last, so the parallel ones are not held up behind them.
		Cases: []*conformance.Case{
			bolaControlPlane, bolaPutMedia, bolaUnknownStream,
			sigForged, sigWrongSecret, sigTampered, sigMissing, sigOutsideWindow, sigOtherScope,
			certRevoked,
			privCameraReads, privConsumerWrites, privCameraKMS,
			keyConsumerRead, keyCameraWrite,
			audDenials,
			sigExpiredToken, audChain,
		},
	}
}

// The Needs of most cases: identities of both kinds.
var needPrincipals = []conformance.Capability{conformance.NeedPrincipals}

// accessDenied is the error type of a policy refusal on KVS.
const accessDenied = "AccessDeniedException"

// admin is a client acting with the target's admin credentials.
func admin(t *conformance.T) *probe.Client { return probe.New(t.Target, t.Target.Admin) }

// credentialsOf retrieves a principal's current credentials (for its
// access key id in audit records, or to sign by hand).
func credentialsOf(ctx context.Context, t *conformance.T, p aws.CredentialsProvider, who string) aws.Credentials {
	c, err := p.Retrieve(ctx)
	t.Must(err, "getting the credentials of "+who)
	return c
}

// camera enrols a camera allowed only the stream named stream.
func camera(ctx context.Context, t *conformance.T, stream string) conformance.Principal {
	p, err := t.Target.Principals.Camera(ctx, stream)
	t.Must(err, "enrolling camera "+stream)
	return p
}

// consumer makes a viewer identity.
func consumer(ctx context.Context, t *conformance.T, name string) conformance.Principal {
	p, err := t.Target.Principals.Consumer(ctx, name)
	t.Must(err, "making consumer "+name)
	return p
}

// createStream creates stream as c (the admin, or a camera for its own
// stream) under kmsKey (empty: the default key) and deletes it as the
// admin after the case.
func createStream(ctx context.Context, t *conformance.T, c *probe.Client, stream, kmsKey string) kvsapi.StreamInfo {
	info, err := c.CreateStream(ctx, stream, kmsKey)
	t.Must(err, "creating stream "+stream)
	t.Cleanup(func(ctx context.Context) {
		_ = admin(t).Call(ctx, kvsapi.PathDeleteStream, kvsapi.DeleteStreamInput{StreamARN: info.StreamARN}, nil)
	})
	return info
}

// fragment is a small one-frame fragment of the case: i-th second after
// base, payload unique to (label, i).
func fragment(base int64, label string, i int) probe.Fragment {
	return probe.Fragment{Timecode: base + int64(i)*1000, Frames: []probe.Frame{{Data: probe.Payload(label, i, 600)}}}
}

// caseBase is a producer timecode in the recent past for a case's
// fragments (ABSOLUTE timecodes, ms).
func caseBase() int64 { return time.Now().Add(-time.Minute).UnixMilli() }

// putPersisted writes fragments as c and ends the case with a harness
// error unless every one is PERSISTED: the set-up of cases whose stimulus
// comes later.
func putPersisted(ctx context.Context, t *conformance.T, c *probe.Client, stream string, frags ...probe.Fragment) {
	acks, err := c.Put(ctx, stream, frags...)
	if err != nil {
		t.Harnessf("writing %d set-up fragments to %s: %v (ACKs %v)", len(frags), stream, err, acks)
	}
}

// fragmentNumbers lists a stream's fragments as the admin.
func fragmentNumbers(ctx context.Context, t *conformance.T, stream string) []string {
	frags, err := admin(t).ListFragments(ctx, stream)
	t.Must(err, "listing the fragments of "+stream+" as the admin")
	out := make([]string, 0, len(frags))
	for _, f := range frags {
		out = append(out, f.FragmentNumber)
	}
	return out
}

// dataEndpoint asks, as the admin, where api is served for stream (a
// refused caller cannot ask itself).
func dataEndpoint(ctx context.Context, t *conformance.T, stream, api string) string {
	ep, err := admin(t).DataEndpoint(ctx, stream, api)
	t.Must(err, "getting the "+api+" endpoint of "+stream+" as the admin")
	return ep
}

// call is one API call as a client at a base URL.
func call(ctx context.Context, c *probe.Client, baseURL, path string, in, out any) error {
	return kvsclient.Call(ctx, c.HTTP(), baseURL, path, in, out)
}

// getMediaTimeout bounds a GetMedia that a faulty target accepts: its
// answer is a live stream that does not end by itself.
const getMediaTimeout = 3 * time.Second

// getMediaAt calls GetMedia from the earliest fragment at a data endpoint
// and reads at most getMediaTimeout of the answer.
func getMediaAt(ctx context.Context, c *probe.Client, endpoint, stream string) error {
	ctx, cancel := context.WithTimeout(ctx, getMediaTimeout)
	defer cancel()
	err := call(ctx, c, endpoint, kvsapi.PathGetMedia, kvsapi.GetMediaInput{StreamRef: kvsapi.StreamRef{StreamName: stream},
		StartSelector: kvsapi.StartSelector{StartSelectorType: kvsapi.StartEarliest}}, nil)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("media flowed for %v: %w", getMediaTimeout, errAccepted)
	}
	return err
}

// errAccepted marks a call that a faulty target let through.
var errAccepted = errors.New("the call was accepted")

// forbidden is a call a principal must be refused: the call and what its
// audit record shows.
type forbidden struct {
	What   string
	Action string
	// Marker is a name only this call's audit record carries.
	Marker string
	Call   func() error
}

// expectForbidden makes each call and checks that it is refused with 403
// AccessDeniedException, and that every refusal is audited with the
// caller's key (when the target shows its audit trail). It returns the
// calls that were wrongly accepted, by What.
func expectForbidden(ctx context.Context, t *conformance.T, who conformance.Principal, calls []forbidden) []string {
	creds := credentialsOf(ctx, t, who.Credentials, who.Name)
	var refusals []refusal
	var accepted []string
	for _, c := range calls {
		err := c.Call()
		if e, ok := probe.Exception(err); ok && e.Status == http.StatusForbidden && e.Type == accessDenied {
			t.Evidence("http", "%s as %s: HTTP 403 %s: %s", c.What, who.Name, e.Type, clipText(e.Message, 200))
			refusals = append(refusals, refusal{What: c.What + " as " + who.Name, Action: c.Action, Code: accessDenied,
				Marker: c.Marker, AccessKeyID: creds.AccessKeyID, Principal: "/" + who.Name})
			continue
		}
		if err == nil || errors.Is(err, errAccepted) {
			accepted = append(accepted, c.What)
		}
		t.Fail("%s as %s: %s; want HTTP 403 %s", c.What, who.Name, describe(err), accessDenied)
	}
	expectAudited(ctx, t, refusals...)
	return accepted
}

// describe says what a call's error means for a reader of the report.
func describe(err error) string {
	if err == nil {
		return "accepted (no error)"
	}
	if e, ok := probe.Exception(err); ok {
		return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Type, clipText(e.Message, 200))
	}
	if errors.Is(err, errAccepted) {
		return "accepted: " + err.Error()
	}
	return "failed without an API error: " + err.Error()
}

// joinNames lists names for a message.
func joinNames(names []string) string { return strings.Join(names, ", ") }
