package resume

import (
	"context"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
)

// The ERROR ACKs these cases expect, as kvs-protocol.md §1.3 tabulates
// them (written out here, not taken from camstorm's own tables).
const (
	errInvalidMKV         = 4006
	codeInvalidMKV        = "INVALID_MKV_DATA"
	errTimecodeLesser     = 4004
	codeTimecodeLesser    = "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS"
	ackTableSource        = "kvs-protocol.md §1.2-1.3 (PutMedia API reference): ACK events BUFFERING, RECEIVED, PERSISTED, ERROR; after an ERROR the service closes the connection."
	eventBuffering        = "BUFFERING"
	eventReceived         = "RECEIVED"
	eventPersisted        = "PERSISTED"
	eventError            = "ERROR"
	invalidElementPadding = 16
)

func ackCases() []*conformance.Case {
	return []*conformance.Case{
		{
			ID: "RES-ACK-001", Requirement: "R-RES-4", Parallel: true, Source: ackTableSource,
			Title:    "Each fragment gets BUFFERING, RECEIVED, PERSISTED under one fragment number",
			Stimulus: "One connection sends fragments 0, 1 and 2, waits for their PERSISTED and ends the body; the fragments are then read back by the numbers the PERSISTED ACKs named.",
			Expected: "Per fragment exactly one BUFFERING, one RECEIVED and one PERSISTED, in that order, each with the fragment's cluster timecode and the same fragment number; numbers increase from fragment to fragment; the target ends the ACK stream after the body ends; GetMediaForFragmentList of those numbers serves each named fragment, in the order asked.",
			Run:      runProgressAcks,
		},
		{
			ID: "RES-ACK-002", Requirement: "R-RES-4", Parallel: true, Source: ackTableSource,
			Title:    "Malformed MKV gets ERROR 4006 and the connection closes; the fragment resent whole is stored",
			Stimulus: "Connection A sends fragment 0 (PERSISTED), then fragment 1's Cluster followed by 16 zero bytes where the next element ID must be (no valid EBML ID starts with 0x00). Connection B then sends fragment 1 intact and fragment 2.",
			Expected: "A receives ERROR with ErrorId 4006 (INVALID_MKV_DATA), fragment 0's PERSISTED before it and no ACK after it, and the target closes A within 5 s; the broken fragment is not stored, the intact resend is: fragments 0, 1, 2 each stored once, in order.",
			Run:      runMalformedMKV,
		},
		{
			ID: "RES-ACK-003", Requirement: "R-RES-4", Parallel: true, Source: ackTableSource,
			Title:    "A timecode going backwards gets ERROR 4004 and the connection closes",
			Stimulus: "Connection A sends fragments 0 and 1 (PERSISTED), then a fragment whose timecode lies 200 ms before fragment 1's. The producer skips it, as the SDK does for a non-retriable error, and sends fragment 2 on connection B.",
			Expected: "A receives ERROR with ErrorId 4004 (FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS) naming the backward fragment's timecode, no ACK after it, and is closed by the target within 5 s; the stream holds fragments 0, 1 and 2 once each, in order, and not the backward fragment.",
			Run:      runTimecodeBackwards,
		},
	}
}

func runProgressAcks(ctx context.Context, t *conformance.T) {
	r := newRig(ctx, t, "s")
	fs := r.frags(0, 2)
	a := r.open(ctx, "A", true)
	a.send(fs...)
	a.persist(ctx, fs...)
	a.Finish(ctx, closeTimeout)
	a.record()
	if a.Ended() == nil {
		t.Fail("the target did not end the ACK stream within %v of the body's end", closeTimeout)
	}
	acks := a.Acks()
	var numbers []string
	prev := ""
	for _, f := range fs {
		var seq []probe.TimedAck
		for _, ack := range acks {
			if ack.HasTimecode && ack.FragmentTimecode == f.Timecode && ack.EventType != kvsapi.EventIdle {
				seq = append(seq, ack)
			}
		}
		got := ""
		for _, ack := range seq {
			got += string(ack.EventType) + " "
		}
		if len(seq) != 3 || seq[0].EventType != eventBuffering || seq[1].EventType != eventReceived || seq[2].EventType != eventPersisted {
			t.Fail("fragment %d was acknowledged %q, want exactly BUFFERING RECEIVED PERSISTED in that order", f.Timecode, got)
			continue
		}
		n := seq[0].FragmentNumber
		if seq[1].FragmentNumber != n || seq[2].FragmentNumber != n || n == "" {
			t.Fail("fragment %d's ACKs name fragment numbers %q, %q, %q; want one number", f.Timecode, n, seq[1].FragmentNumber, seq[2].FragmentNumber)
		}
		if prev != "" && !numberAfter(n, prev) {
			t.Fail("fragment %d has number %s, not after the previous fragment's %s", f.Timecode, n, prev)
		}
		prev = n
		numbers = append(numbers, seq[2].FragmentNumber)
	}
	if len(numbers) != len(fs) {
		return
	}
	awaitListed(ctx, r.c, r.stream, fs)
	chunks, _, err := r.c.ReadFragments(ctx, r.stream, numbers)
	if err != nil {
		t.Fail("GetMediaForFragmentList of the numbers PERSISTED named (%v) failed: %v", numbers, err)
		return
	}
	if len(chunks) != len(numbers) {
		t.Fail("GetMediaForFragmentList of %d numbers served %d fragments", len(numbers), len(chunks))
	}
	for i := range min(len(chunks), len(numbers)) {
		ch := chunks[i]
		t.Evidence("fragment", "asked %s, served %s (producer timecode %d)", numbers[i], ch.FragmentNumber(), ch.ProducerTimestamp())
		if ch.FragmentNumber() != numbers[i] || ch.ProducerTimestamp() != fs[i].Timecode {
			t.Fail("GetMediaForFragmentList position %d: asked for fragment %s (timecode %d), served fragment %s (timecode %d)",
				i, numbers[i], fs[i].Timecode, ch.FragmentNumber(), ch.ProducerTimestamp())
		}
	}
}

// awaitError waits for the connection's ERROR ACK and checks it against
// the table, then checks that nothing follows it and that the target
// closes the connection.
func (u *upload) awaitError(ctx context.Context, wantID int, wantCode string, tc int64) (probe.TimedAck, bool) {
	t := u.r.t
	ack, err := u.Await(ctx, ackTimeout, func(a probe.TimedAck) bool { return a.EventType == eventError })
	if err != nil {
		t.Fail("connection %s: no ERROR ACK: %v (ACKs: %s)", u.label, err, ackList(u.Acks()))
		return ack, false
	}
	ok := t.Check(int(ack.ErrorID) == wantID, "connection %s: ERROR ACK has ErrorId %d (%s), the table gives %d (%s): %s",
		u.label, ack.ErrorID, ack.ErrorCode, wantID, wantCode, ack)
	if ack.ErrorCode != "" {
		ok = t.Check(ack.ErrorCode == wantCode, "connection %s: ERROR ACK has ErrorCode %q, want %q: %s", u.label, ack.ErrorCode, wantCode, ack) && ok
	}
	if tc >= 0 && ack.HasTimecode {
		ok = t.Check(ack.FragmentTimecode == tc, "connection %s: ERROR ACK names timecode %d, the failing fragment's is %d", u.label, ack.FragmentTimecode, tc) && ok
	}
	if !ackClosed(ctx, u.Upload, closeTimeout) {
		t.Fail("connection %s: the target did not close the connection within %v of the ERROR ACK", u.label, closeTimeout)
		ok = false
	}
	acks := u.Acks()
	for i, a := range acks {
		if a.EventType == eventError && i != len(acks)-1 {
			t.Fail("connection %s: ACKs after the ERROR: %s", u.label, ackList(acks[i+1:]))
			ok = false
			break
		}
	}
	return ack, ok
}

func runMalformedMKV(ctx context.Context, t *conformance.T) {
	r := newRig(ctx, t, "s")
	a := r.open(ctx, "A", true)
	a.send(r.frag(0))
	a.persist(ctx, r.frag(0))
	cl := clusterOnly(r.frag(1))
	a.write(cl, "fragment 1's cluster")
	bad := make([]byte, invalidElementPadding)
	// The service may close as soon as it sees the bad bytes: a failed
	// write is then expected, not a failure.
	_ = a.Write(bad)
	t.Evidence("bytes", "connection A: %d zero bytes at offset %d of fragment 1 (right after its last SimpleBlock)", len(bad), len(cl))
	a.awaitError(ctx, errInvalidMKV, codeInvalidMKV, -1)
	persisted0 := false
	for _, ack := range a.Acks() {
		if ack.EventType == eventPersisted && ack.FragmentTimecode == r.tc(0) {
			persisted0 = true
		}
		if ack.EventType == eventPersisted && ack.FragmentTimecode == r.tc(1) {
			t.Fail("connection A acknowledged the malformed fragment 1 PERSISTED: %s", ack)
		}
		if ack.EventType == eventError {
			break
		}
	}
	t.Check(persisted0, "fragment 0's PERSISTED did not come before the ERROR")
	a.cut()
	b := r.open(ctx, "B", false)
	b.send(r.frags(1, 2)...)
	b.persist(ctx, r.frags(1, 2)...)
	b.finish(ctx)
	r.verifyStored(ctx, r.frags(0, 2))
}

func runTimecodeBackwards(ctx context.Context, t *conformance.T) {
	r := newRig(ctx, t, "s")
	a := r.open(ctx, "A", true)
	a.send(r.frags(0, 1)...)
	a.persist(ctx, r.frags(0, 1)...)
	back := probe.Fragment{Timecode: r.tc(1) - 200, FrameSpacing: frameSpacingMs}
	for j := range framesPerFragment {
		back.Frames = append(back.Frames, probe.Frame{Data: probe.Payload(r.stream+"-back", j, frameBytes)})
	}
	_ = a.Write(back.Encode()) // the service may close at once
	t.Evidence("fragment", "backward fragment at timecode %d after fragment 1 at %d", back.Timecode, r.tc(1))
	a.awaitError(ctx, errTimecodeLesser, codeTimecodeLesser, back.Timecode)
	a.cut()
	b := r.open(ctx, "B", false)
	b.send(r.frag(2))
	b.persist(ctx, r.frag(2))
	b.finish(ctx)
	r.verifyStored(ctx, []probe.Fragment{r.frag(0), r.frag(1), r.frag(2)})
}
