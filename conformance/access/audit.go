package access

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
)

// The audit trail: every refusal is recorded with who, what, when, from
// where and the error, and the log's hash chain verifies.

var audDenials = &conformance.Case{
	ID:          "ACC-AUD-001",
	Title:       "Every kind of refusal is audited with who, what, when, from where and the error",
	Requirement: "R-AUD-1",
	Source:      "CloudTrail record contents: userIdentity, eventTime, eventSource, eventName, sourceIPAddress, errorCode, errorMessage",
	Stimulus: "Camera B creates its stream (allowed). Five requests are refused: camera A's DescribeStream of B's stream " +
		"(policy), a consumer's PutMedia (policy), a DescribeStream with a forged signature, an unsigned DescribeStream, and a " +
		"credential request with a revoked camera certificate (when the target can revoke).",
	Expected: "Each refusal has exactly its own audit record with the action as eventName, the error code the caller got and a " +
		"message, an eventSource, an eventTime within a minute of the request and a valid sourceIPAddress; the policy refusals " +
		"name the caller's ARN and access key, the forged one the access key it claimed, the revoked certificate's is " +
		"AssumeRoleWithCertificate from credentials.iot.amazonaws.com with AccessDeniedException. B's allowed CreateStream is recorded " +
		"too, under B's access key and without an error.",
	Needs:    []conformance.Capability{conformance.NeedPrincipals, conformance.NeedAudit},
	Parallel: true,
	Timeout:  40 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		start := time.Now()
		nameA, nameB := t.Name("a"), t.Name("b")
		camA, camB := camera(ctx, t, nameA), camera(ctx, t, nameB)
		createStream(ctx, t, probe.New(t.Target, camB.Credentials), nameB, "")
		credsA := credentialsOf(ctx, t, camA.Credentials, nameA)
		credsB := credentialsOf(ctx, t, camB.Credentials, nameB)
		var refusals []refusal

		err := call(ctx, probe.New(t.Target, camA.Credentials), t.Target.ControlPlaneURL, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamName: nameB}, nil)
		if e, ok := probe.Exception(err); ok && e.Type == accessDenied {
			refusals = append(refusals, refusal{What: "camera A's DescribeStream of B's stream", Action: "DescribeStream", Code: accessDenied,
				Marker: nameB, AccessKeyID: credsA.AccessKeyID, Principal: "/" + camA.Name})
		} else {
			t.Fail("camera A's DescribeStream of B's stream: %s; want 403 %s", describe(err), accessDenied)
		}

		viewer := consumer(ctx, t, t.Name("viewer"))
		viewerCreds := credentialsOf(ctx, t, viewer.Credentials, viewer.Name)
		putEP := dataEndpoint(ctx, t, nameB, probe.APIPutMedia)
		err = putOneAt(ctx, t, probe.New(t.Target, viewer.Credentials), putEP, nameB, fragment(caseBase(), nameB, 0))
		if e, ok := probe.Exception(err); ok && e.Type == accessDenied {
			refusals = append(refusals, refusal{What: "the consumer's PutMedia", Action: "PutMedia", Code: accessDenied,
				Marker: nameB, AccessKeyID: viewerCreds.AccessKeyID, Principal: "/" + viewer.Name})
		} else {
			t.Fail("the consumer's PutMedia: %s; want 403 %s", describe(err), accessDenied)
		}

		adminCreds := credentialsOf(ctx, t, t.Target.Admin, "the admin")
		forgedName, unsignedName := t.Name("forged"), t.Name("unsigned")
		o := signedSend(ctx, t, describeRequest(t.Target, forgedName), adminCreds, time.Now(), flipSignatureDigit)
		if expectRefusedWith(t, "forged DescribeStream", o, http.StatusForbidden, codeBadSignature) {
			refusals = append(refusals, refusal{What: "forged DescribeStream", Action: "DescribeStream", Code: codeBadSignature,
				Marker: forgedName, AccessKeyID: adminCreds.AccessKeyID})
		}
		req, err := describeRequest(t.Target, unsignedName).build(ctx)
		t.Must(err, "building an unsigned DescribeStream")
		o, err = send(ctx, t.Target, req)
		t.Must(err, "sending an unsigned DescribeStream")
		if expectRefusedWith(t, "unsigned DescribeStream", o, http.StatusForbidden, codeUnsigned) {
			refusals = append(refusals, refusal{What: "unsigned DescribeStream", Action: "DescribeStream", Code: codeUnsigned, Marker: unsignedName})
		}

		if cache, ok := camA.Credentials.(invalidator); ok && camA.Revoke != nil {
			t.Must(camA.Revoke(ctx), "revoking camera A's certificate")
			cache.Invalidate()
			if _, err := camA.Credentials.Retrieve(ctx); err != nil {
				// As the reference stack records it, so that no other denied
				// record naming camera A can stand in for it.
				refusals = append(refusals, refusal{What: "credential request with a revoked certificate",
					Action: "AssumeRoleWithCertificate", Code: accessDenied, EventSource: credentialProviderSource, Marker: nameA})
			} else {
				t.Fail("camera A's revoked certificate was exchanged for new credentials")
			}
		} else {
			t.Logf("the target cannot revoke camera A's certificate: that refusal is not tried")
		}

		found := expectAudited(ctx, t, refusals...)
		for i, rec := range found {
			checkRecordFields(t, refusals[i], rec, start)
		}
		expectAllowedAudited(ctx, t, "camera B's CreateStream", "CreateStream", nameB, credsB.AccessKeyID)
	},
}

// credentialProviderSource is the eventSource of the IoT credential
// provider's records.
const credentialProviderSource = "credentials.iot.amazonaws.com"

// expectAllowedAudited checks that an allowed call has its record: the
// action, the marker, the caller's key and no error.
func expectAllowedAudited(ctx context.Context, t *conformance.T, what, action, marker, accessKeyID string) {
	recs, _, err := readAudit(ctx, t.Target)
	t.Must(err, "reading the audit logs")
	for _, rec := range recs {
		if rec.EventName == action && rec.ErrorCode == "" && rec.UserIdentity.AccessKeyID == accessKeyID && strings.Contains(rec.raw, marker) {
			t.Evidence("audit", "%s (allowed): %s", what, rec)
			return
		}
	}
	t.Fail("the allowed %s is not in the audit log: no record of %s naming %s with access key %s and no error (%d records read)",
		what, action, marker, accessKeyID, len(recs))
}

// checkRecordFields checks what every audit record of a refusal must say
// beyond what matched it to the request.
func checkRecordFields(t *conformance.T, r refusal, rec auditRecord, start time.Time) {
	where := fmt.Sprintf("the record of the %s (%s line %d)", r.What, rec.log, rec.line)
	t.Check(rec.EventSource != "", "%s has no eventSource", where)
	t.Check(rec.ErrorMessage != "", "%s has errorCode %s but no errorMessage", where, rec.ErrorCode)
	t.Check(net.ParseIP(rec.SourceIP) != nil, "%s has sourceIPAddress %q, not an IP address", where, rec.SourceIP)
	t.Check(!rec.EventTime.Before(start.Add(-time.Minute)) && !rec.EventTime.After(time.Now().Add(time.Minute)),
		"%s has eventTime %s, not within a minute of the request (case started %s)", where,
		rec.EventTime.UTC().Format(time.RFC3339), start.UTC().Format(time.RFC3339))
	if r.Principal != "" {
		t.Check(rec.UserIdentity.ARN != "" && rec.UserIdentity.AccessKeyID != "", "%s does not name the authenticated caller: %s", where, rec)
	}
}

var audChain = &conformance.Case{
	ID:          "ACC-AUD-002",
	Title:       "The audit log's hash chain verifies, covers the latest refusal, and the check finds tampering",
	Requirement: "R-AUD-2",
	Source:      "docs/IDENTITY.md: each line's auditChain.hash is SHA-256(prev || seq as 8 big-endian bytes || the record's bytes)",
	Stimulus: "An unsigned DescribeStream is refused, so its record is the newest. Every audit log the target gives is then " +
		"checked with the suite's own chain verifier; as a check of the check, a copy of the log with that record's line deleted, " +
		"a copy with one byte of it changed, and a copy with two lines swapped are verified too.",
	Expected: "Every log verifies from seq 1 and the refusal's record is inside a verified chain; each tampered copy fails " +
		"verification at the tampered line.",
	Needs:   []conformance.Capability{conformance.NeedAudit},
	Timeout: 30 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		marker := t.Name("unsigned")
		req, err := describeRequest(t.Target, marker).build(ctx)
		t.Must(err, "building an unsigned DescribeStream")
		o, err := send(ctx, t.Target, req)
		t.Must(err, "sending an unsigned DescribeStream")
		if o.accepted() {
			t.Fatal("the unsigned DescribeStream was accepted: %s", o)
		}
		found := expectAudited(ctx, t, refusal{What: "unsigned DescribeStream", Action: "DescribeStream", Code: o.Code, Marker: marker})
		rec, ok := found[0]
		_, logs, err := readAudit(ctx, t.Target)
		t.Must(err, "reading the audit logs")
		if len(logs) == 0 {
			t.Fatal("the target gave no audit log")
		}
		for name, log := range logs {
			log = completeLines(log)
			sum, brk := verifyChain(log)
			if brk != nil {
				t.Fail("audit log %s does not verify: %v (after %d good records)", name, brk, sum.Records)
				continue
			}
			t.Evidence("audit", "log %s: %d records, seq %d…%d, head sha256:%.16s…", name, sum.Records, sum.FirstSeq, sum.LastSeq, sum.LastHash)
			if ok && rec.log == name && rec.line > sum.Records {
				t.Fail("the refusal's record (line %d) is past the verified chain of %s", rec.line, name)
			}
		}
		if ok {
			selfCheck(t, completeLines(logs[rec.log]), rec.line)
		}
	},
}

// completeLines drops an unterminated last line: a live log's snapshot may
// end in the middle of a record being written.
func completeLines(log []byte) []byte {
	if i := bytes.LastIndexByte(log, '\n'); i >= 0 {
		return log[:i+1]
	}
	return nil
}

// selfCheck shows that the suite's verifier finds tampering: a deleted,
// an edited and a swapped line in copies of a log that verifies. A
// verifier that misses them is a harness error (the suite is broken, not
// the target).
func selfCheck(t *conformance.T, log []byte, line int) {
	lines := bytes.SplitAfter(log, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	if len(lines) < 3 {
		t.Logf("the log has %d lines: too few to tamper with in the middle", len(lines))
		return
	}
	// Tamper with a line that has a successor (a missing last line is
	// found only with the checkpoint, which the target does not give).
	k := min(line, len(lines)-1)
	join := func(ls [][]byte) []byte { return bytes.Join(ls, nil) }
	clone := func() [][]byte { return append([][]byte(nil), lines...) }

	deleted := append(clone()[:k-1], lines[k:]...)
	edited := clone()
	edited[k-1] = editOneByte(lines[k-1])
	swapped := clone()
	swapped[k-1], swapped[k] = swapped[k], swapped[k-1]
	for _, c := range []struct {
		what string
		log  []byte
	}{{fmt.Sprintf("line %d deleted", k), join(deleted)}, {fmt.Sprintf("one byte of line %d changed", k), join(edited)},
		{fmt.Sprintf("lines %d and %d swapped", k, k+1), join(swapped)}} {
		_, brk := verifyChain(c.log)
		if brk == nil || brk.Line != k {
			t.Harnessf("the suite's chain verifier missed tampering (%s): it says %v; want a break at line %d", c.what, brk, k)
		}
		t.Evidence("audit", "copy with %s: verification fails at %v", c.what, brk)
	}
}

// editOneByte changes one character inside the record's eventName (or,
// failing that, the first letter after the opening brace's first quote).
func editOneByte(line []byte) []byte {
	out := append([]byte(nil), line...)
	at := bytes.Index(out, []byte(`"eventName":"`))
	if at >= 0 {
		at += len(`"eventName":"`)
	} else {
		at = 2
	}
	if out[at] == 'X' {
		out[at] = 'Y'
	} else {
		out[at] = 'X'
	}
	return out
}
