package access

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
)

// Broken object level authorisation: a camera's credentials name one
// stream; every call about another stream must be refused.

var bolaControlPlane = &conformance.Case{
	ID:          "ACC-BOLA-001",
	Title:       "A camera cannot describe, tag, delete or locate another camera's stream",
	Requirement: "R-IAM-2",
	Source:      "KVS developer guide, controlling access with IAM: a producer policy scoped to arn:aws:kinesisvideo:*:*:stream/${credentials-iot:ThingName}/*",
	Stimulus: "Cameras A and B are enrolled and each creates its own stream. Camera A then calls, on B's stream: DescribeStream " +
		"by name and by ARN, GetDataEndpoint for PUT_MEDIA and GET_MEDIA, TagStream, DeleteStream, and ListStreams filtered to B's name.",
	Expected: "Each of the 7 calls is refused with HTTP 403 AccessDeniedException, and each refusal has an audit record with camera " +
		"A's access key, the action and the error. Afterwards B's stream still exists and carries none of A's tags.",
	Needs:    needPrincipals,
	Parallel: true,
	Timeout:  30 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		nameA, nameB := t.Name("a"), t.Name("b")
		camA, camB := camera(ctx, t, nameA), camera(ctx, t, nameB)
		a, b := probe.New(t.Target, camA.Credentials), probe.New(t.Target, camB.Credentials)
		createStream(ctx, t, a, nameA, "")
		infoB := createStream(ctx, t, b, nameB, "")
		refB := kvsapi.StreamRef{StreamName: nameB}
		cp := t.Target.ControlPlaneURL
		calls := []forbidden{
			{"DescribeStream of B's stream by name", "DescribeStream", nameB, func() error {
				return call(ctx, a, cp, kvsapi.PathDescribeStream, refB, nil)
			}},
			{"DescribeStream of B's stream by ARN", "DescribeStream", nameB, func() error {
				return call(ctx, a, cp, kvsapi.PathDescribeStream, kvsapi.StreamRef{StreamARN: infoB.StreamARN}, nil)
			}},
			{"GetDataEndpoint PUT_MEDIA of B's stream", "GetDataEndpoint", nameB, func() error {
				return call(ctx, a, cp, kvsapi.PathGetDataEndpoint, kvsapi.GetDataEndpointInput{StreamRef: refB, APIName: probe.APIPutMedia}, nil)
			}},
			{"GetDataEndpoint GET_MEDIA of B's stream", "GetDataEndpoint", nameB, func() error {
				return call(ctx, a, cp, kvsapi.PathGetDataEndpoint, kvsapi.GetDataEndpointInput{StreamRef: refB, APIName: probe.APIGetMedia}, nil)
			}},
			{"TagStream of B's stream", "TagStream", nameB, func() error {
				return call(ctx, a, cp, kvsapi.PathTagStream, kvsapi.TagStreamInput{StreamRef: refB, Tags: map[string]string{"owner": nameA}}, nil)
			}},
			{"DeleteStream of B's stream", "DeleteStream", nameB, func() error {
				return call(ctx, a, cp, kvsapi.PathDeleteStream, kvsapi.DeleteStreamInput{StreamARN: infoB.StreamARN}, nil)
			}},
			{"ListStreams filtered to B's name", "ListStreams", nameB, func() error {
				in := kvsapi.ListStreamsInput{}
				in.StreamNameCondition = &struct {
					ComparisonOperator string `json:"ComparisonOperator,omitempty"`
					ComparisonValue    string `json:"ComparisonValue,omitempty"`
				}{"BEGINS_WITH", nameB}
				return call(ctx, a, cp, kvsapi.PathListStreams, in, nil)
			}},
		}
		expectForbidden(ctx, t, camA, calls)

		info, err := admin(t).DescribeStream(ctx, nameB)
		if !t.Check(err == nil, "B's stream is gone after camera A's calls: the admin's DescribeStream says %s", describe(err)) {
			return
		}
		t.Evidence("http", "B's stream after A's calls: %s, status %s", info.StreamARN, info.Status)
		var tags kvsapi.ListTagsForStreamOutput
		if err := admin(t).Call(ctx, kvsapi.PathListTagsForStream, kvsapi.ListTagsForStreamInput{StreamRef: refB}, &tags); err == nil {
			t.Check(tags.Tags["owner"] != nameA, "B's stream carries camera A's tag owner=%s", nameA)
		}
	},
}

var bolaPutMedia = &conformance.Case{
	ID:          "ACC-BOLA-002",
	Title:       "A camera cannot write into or read another camera's stream",
	Requirement: "R-IAM-2",
	Stimulus: "Camera B writes 2 fragments to its own stream. Camera A, given the data endpoint of B's stream, opens PutMedia on " +
		"B's stream (and, if the connection is accepted, sends a fragment and waits 5 s for its PERSISTED), then calls ListFragments, " +
		"GetMediaForFragmentList of B's fragments and GetMedia on B's stream.",
	Expected: "PutMedia and the three reads are refused with HTTP 403 AccessDeniedException and audited with camera A's key; " +
		"the admin lists exactly B's 2 fragments afterwards.",
	Needs:    needPrincipals,
	Parallel: true,
	Timeout:  40 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		nameA, nameB := t.Name("a"), t.Name("b")
		camA, camB := camera(ctx, t, nameA), camera(ctx, t, nameB)
		a, b := probe.New(t.Target, camA.Credentials), probe.New(t.Target, camB.Credentials)
		createStream(ctx, t, a, nameA, "")
		createStream(ctx, t, b, nameB, "")
		base := caseBase()
		putPersisted(ctx, t, b, nameB, fragment(base, nameB, 0), fragment(base, nameB, 1))
		admin(t).AwaitListed(ctx, nameB, []int64{base, base + 1000})
		before := fragmentNumbers(ctx, t, nameB)
		putEP := dataEndpoint(ctx, t, nameB, probe.APIPutMedia)
		readEP := dataEndpoint(ctx, t, nameB, probe.APIGetMediaForFragmentList)
		listEP := dataEndpoint(ctx, t, nameB, probe.APIListFragments)
		mediaEP := dataEndpoint(ctx, t, nameB, probe.APIGetMedia)
		refB := kvsapi.StreamRef{StreamName: nameB}

		calls := []forbidden{
			{"PutMedia into B's stream", "PutMedia", nameB, func() error {
				return putOneAt(ctx, t, a, putEP, nameB, fragment(base, nameA, 5))
			}},
			{"ListFragments of B's stream", "ListFragments", nameB, func() error {
				return call(ctx, a, listEP, kvsapi.PathListFragments, kvsapi.ListFragmentsInput{StreamRef: refB}, nil)
			}},
			{"GetMediaForFragmentList of B's fragments", "GetMediaForFragmentList", nameB, func() error {
				return call(ctx, a, readEP, kvsapi.PathGetMediaForFragmentList, kvsapi.GetMediaForFragmentListInput{StreamRef: refB, Fragments: before}, nil)
			}},
			{"GetMedia of B's stream", "GetMedia", nameB, func() error { return getMediaAt(ctx, a, mediaEP, nameB) }},
		}
		expectForbidden(ctx, t, camA, calls)

		// Give a fragment A's PutMedia got in (at base+5 s) the time to be
		// listed: costs ListingGrace when, as it should, none did.
		admin(t).AwaitListed(ctx, nameB, []int64{base, base + 1000, base + 5000})
		after := fragmentNumbers(ctx, t, nameB)
		if added := newNumbers(before, after); len(added) > 0 {
			t.Fail("B's stream gained %d fragment(s) from camera A's PutMedia: %s", len(added), joinNames(added))
		} else {
			t.Evidence("fragment", "B's stream still holds exactly its own fragments %s", joinNames(after))
		}
	},
}

// newNumbers are the fragment numbers in after that are not in before.
func newNumbers(before, after []string) []string {
	var out []string
	for _, n := range after {
		if !slices.Contains(before, n) {
			out = append(out, n)
		}
	}
	return out
}

// putOneAt opens PutMedia at a known endpoint and sends one fragment. A
// refusal of the connection is returned as the API error; an accepted
// connection is errAccepted, whatever became of the fragment (which the
// evidence says).
func putOneAt(ctx context.Context, t *conformance.T, c *probe.Client, endpoint, stream string, f probe.Fragment) error {
	u, err := c.StartUploadAt(ctx, endpoint, stream, probe.Header())
	if err != nil {
		return err
	}
	defer u.Cut()
	if err := u.Send(f); err != nil {
		return err
	}
	ack, err := u.AwaitAck(ctx, 5*time.Second, f.Timecode, kvsapi.EventPersisted)
	switch {
	case err == nil:
		t.Evidence("ack", "PutMedia of %s accepted: %s", stream, ack)
		return errAccepted
	case ack.EventType == kvsapi.EventError && ack.ErrorID != 0:
		// Refused per fragment rather than per request: still let in.
		t.Evidence("ack", "PutMedia of %s opened, the fragment got %s", stream, ack)
		return errAccepted
	}
	t.Evidence("ack", "PutMedia of %s opened; no PERSISTED: %v", stream, err)
	return errAccepted
}

var bolaUnknownStream = &conformance.Case{
	ID:          "ACC-BOLA-003",
	Title:       "A camera cannot create, or learn of, a stream that is not its own",
	Requirement: "R-IAM-2",
	Stimulus: "Camera A (with its own stream) calls DescribeStream, GetDataEndpoint and CreateStream for a stream name that is " +
		"neither its own nor any existing stream's.",
	Expected: "All three are refused with HTTP 403 AccessDeniedException — the same answer as for an existing stream, not " +
		"ResourceNotFoundException, so refusals reveal nothing about which streams exist — and audited; the admin's DescribeStream " +
		"of that name then says ResourceNotFoundException (no stream was created).",
	Needs:    needPrincipals,
	Parallel: true,
	Timeout:  30 * time.Second,
	Run: func(ctx context.Context, t *conformance.T) {
		nameA, ghost := t.Name("a"), t.Name("ghost")
		camA := camera(ctx, t, nameA)
		a := probe.New(t.Target, camA.Credentials)
		createStream(ctx, t, a, nameA, "")
		ref := kvsapi.StreamRef{StreamName: ghost}
		cp := t.Target.ControlPlaneURL
		expectForbidden(ctx, t, camA, []forbidden{
			{"DescribeStream of a stream that does not exist", "DescribeStream", ghost, func() error {
				return call(ctx, a, cp, kvsapi.PathDescribeStream, ref, nil)
			}},
			{"GetDataEndpoint of a stream that does not exist", "GetDataEndpoint", ghost, func() error {
				return call(ctx, a, cp, kvsapi.PathGetDataEndpoint, kvsapi.GetDataEndpointInput{StreamRef: ref, APIName: probe.APIPutMedia}, nil)
			}},
			{"CreateStream of another name", "CreateStream", ghost, func() error {
				return call(ctx, a, cp, kvsapi.PathCreateStream, kvsapi.CreateStreamInput{StreamName: ghost, DataRetentionInHours: 24}, nil)
			}},
		})
		info, err := admin(t).DescribeStream(ctx, ghost)
		if e, ok := probe.Exception(err); ok && (e.Status == http.StatusNotFound || e.Type == kvsapi.ExcResourceNotFound) {
			t.Evidence("http", "the admin's DescribeStream of %s: %s (nothing was created)", ghost, describe(err))
			return
		}
		if err == nil {
			t.Cleanup(func(ctx context.Context) {
				_ = admin(t).Call(ctx, kvsapi.PathDeleteStream, kvsapi.DeleteStreamInput{StreamARN: info.StreamARN}, nil)
			})
			t.Fail("camera A's CreateStream created %s (%s, status %s)", ghost, info.StreamARN, info.Status)
			return
		}
		t.Harnessf("the admin's DescribeStream of %s: %v", ghost, err)
	},
}
