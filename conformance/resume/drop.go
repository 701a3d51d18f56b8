package resume

import (
	"context"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
)

// sdkResume is how the KVS producer SDK resumes, quoted by the drop cases.
const sdkResume = "kvs-protocol.md §4.4: after a drop the producer opens a new PutMedia with a fresh header and resends from the " +
	"fragment after the last acknowledged one (or replays its buffer when the host looked dead); §9: resends arrive as duplicates."

// dropCases cut a PutMedia connection at each point of a fragment and
// resume as the producer SDK does.
func dropCases() []*conformance.Case {
	return []*conformance.Case{
		{
			ID: "RES-DROP-001", Requirement: "R-RES-1", Parallel: true, Source: sdkResume,
			Title:    "A drop before the first byte of a fragment loses nothing",
			Stimulus: "Connection A sends the header and fragments 0 and 1 and waits for both PERSISTED, then is cut abruptly before any byte of fragment 2. Connection B sends a fresh header and fragments 2 and 3.",
			Expected: "Fragments 0-3 are each stored exactly once and read back (GetMediaForFragmentList) in producer-timecode order with the frames sent.",
			Run: func(ctx context.Context, t *conformance.T) {
				r := newRig(ctx, t, "s")
				a := r.open(ctx, "A", true)
				a.send(r.frags(0, 1)...)
				a.persist(ctx, r.frags(0, 1)...)
				a.cut()
				b := r.open(ctx, "B", false)
				b.send(r.frags(2, 3)...)
				b.persist(ctx, r.frags(2, 3)...)
				b.finish(ctx)
				r.verifyStored(ctx, r.frags(0, 3))
			},
		},
		{
			ID: "RES-DROP-002", Requirement: "R-RES-1", Parallel: true, Source: sdkResume,
			Title:    "A drop in the middle of a cluster: the resent fragment is stored, whole, once",
			Stimulus: "Connection A sends fragment 0 (waits for PERSISTED), then the first half of fragment 1's bytes and waits for its BUFFERING, then is cut abruptly. Connection B resends fragment 1 in full, then fragment 2.",
			Expected: "Fragments 0, 1 and 2 are each stored exactly once, in order; fragment 1 holds all the frames of the resend, not the half sent first.",
			Run: func(ctx context.Context, t *conformance.T) {
				r := newRig(ctx, t, "s")
				a := r.open(ctx, "A", true)
				a.send(r.frag(0))
				a.persist(ctx, r.frag(0))
				b1 := r.frag(1).Encode()
				a.write(b1[:len(b1)/2], "half of fragment 1")
				a.await(ctx, r.tc(1), kvsapi.EventBuffering)
				t.Evidence("bytes", "connection A cut after %d of fragment 1's %d bytes", len(b1)/2, len(b1))
				a.cut()
				b := r.open(ctx, "B", false)
				b.send(r.frags(1, 2)...)
				b.persist(ctx, r.frags(1, 2)...)
				b.finish(ctx)
				r.verifyStored(ctx, r.frags(0, 2))
			},
		},
		{
			ID: "RES-DROP-003", Requirement: "R-RES-2", Parallel: true, Source: sdkResume,
			Title:    "A drop right after RECEIVED: the resent fragment is not stored twice",
			Stimulus: "Connection A sends fragment 0 (waits for PERSISTED) and fragment 1 in full; the moment fragment 1's RECEIVED arrives the connection is cut. Not having seen fragment 1 PERSISTED, the producer resends it on connection B, then fragment 2.",
			Expected: "The resent fragment 1 is acknowledged PERSISTED on B; fragments 0, 1 and 2 are each stored exactly once, in order.",
			Run: func(ctx context.Context, t *conformance.T) {
				r := newRig(ctx, t, "s")
				a := r.open(ctx, "A", true)
				a.send(r.frag(0))
				a.persist(ctx, r.frag(0))
				a.send(r.frag(1))
				a.await(ctx, r.tc(1), kvsapi.EventReceived)
				a.cut()
				b := r.open(ctx, "B", false)
				b.send(r.frags(1, 2)...)
				b.persist(ctx, r.frags(1, 2)...)
				b.finish(ctx)
				r.verifyStored(ctx, r.frags(0, 2))
			},
		},
		{
			ID: "RES-DROP-004", Requirement: "R-RES-1", Parallel: true, Source: sdkResume,
			Title:    "A drop after BUFFERING, before PERSISTED: the fragment resent is stored once",
			Stimulus: "Connection A sends fragment 0 (waits for PERSISTED), then every byte of fragment 1's Cluster but nothing that ends it, waits for its BUFFERING, and is cut abruptly. Connection B resends fragment 1, then fragment 2.",
			Expected: "Fragments 0, 1 and 2 are each stored exactly once, in order, with the frames sent.",
			Run: func(ctx context.Context, t *conformance.T) {
				r := newRig(ctx, t, "s")
				a := r.open(ctx, "A", true)
				a.send(r.frag(0))
				a.persist(ctx, r.frag(0))
				cl := clusterOnly(r.frag(1))
				a.write(cl, "fragment 1's cluster")
				a.await(ctx, r.tc(1), kvsapi.EventBuffering)
				t.Evidence("bytes", "connection A cut after all %d bytes of fragment 1's cluster, unterminated", len(cl))
				a.cut()
				b := r.open(ctx, "B", false)
				b.send(r.frags(1, 2)...)
				b.persist(ctx, r.frags(1, 2)...)
				b.finish(ctx)
				r.verifyStored(ctx, r.frags(0, 2))
			},
		},
		{
			ID: "RES-DROP-005", Requirement: "R-RES-2", Parallel: true, Source: sdkResume,
			Title:    "A replay of fragments already PERSISTED is acknowledged and not stored twice",
			Stimulus: "Connection A sends fragments 0-2 and waits for their PERSISTED, then is cut. As a producer that took the host for dead does, connection B replays fragments 0-2 and sends fragment 3.",
			Expected: "On B every fragment, replayed or new, is acknowledged PERSISTED (no ERROR: 4004 applies within one session only); fragments 0-3 are each stored exactly once, in order.",
			Run: func(ctx context.Context, t *conformance.T) {
				r := newRig(ctx, t, "s")
				a := r.open(ctx, "A", true)
				a.send(r.frags(0, 2)...)
				a.persist(ctx, r.frags(0, 2)...)
				a.cut()
				b := r.open(ctx, "B", false)
				b.send(r.frags(0, 3)...)
				b.persist(ctx, r.frags(0, 3)...)
				b.finish(ctx)
				r.verifyStored(ctx, r.frags(0, 3))
			},
		},
		{
			ID: "RES-HALF-001", Requirement: "R-RES-1", Parallel: true, Source: "kvs-protocol.md §1.5: one PutMedia connection per stream; with concurrent connections the last is accepted.",
			Title:    "A half-open connection is superseded by the producer's reconnect",
			Stimulus: "Connection A sends fragment 0 (PERSISTED) and half of fragment 1, then goes silent without closing, as a connection whose network vanished. The producer opens connection B and sends fragments 1 and 2.",
			Expected: "B's fragments are acknowledged PERSISTED; the target ends the stale connection A within 5 s without acknowledging its half fragment; fragments 0, 1 and 2 are each stored exactly once, in order, with fragment 1 whole.",
			Run: func(ctx context.Context, t *conformance.T) {
				r := newRig(ctx, t, "s")
				a := r.open(ctx, "A", true)
				a.send(r.frag(0))
				a.persist(ctx, r.frag(0))
				b1 := r.frag(1).Encode()
				a.write(b1[:len(b1)/2], "half of fragment 1")
				a.await(ctx, r.tc(1), kvsapi.EventBuffering)
				b := r.open(ctx, "B", false)
				b.send(r.frags(1, 2)...)
				b.persist(ctx, r.frags(1, 2)...)
				if !ackClosed(ctx, a.Upload, closeTimeout) {
					t.Fail("the stale connection A is still open %v after connection B took over the stream", closeTimeout)
				}
				for _, ack := range a.Acks() {
					if ack.FragmentTimecode == r.tc(1) && ack.EventType == kvsapi.EventPersisted {
						t.Fail("connection A acknowledged PERSISTED for fragment 1 of which it received only %d of %d bytes: %s", len(b1)/2, len(b1), ack)
					}
				}
				a.cut()
				b.finish(ctx)
				r.verifyStored(ctx, r.frags(0, 2))
			},
		},
		{
			ID: "RES-ORDER-001", Requirement: "R-RES-3", Parallel: true, Source: sdkResume,
			Title:    "Order holds across reconnects, read live with GetMedia",
			Stimulus: "Three connections, each cut in the middle of a fragment that the next one resends: A sends fragment 0 and half of 1; B sends 1, 2 and half of 3; C sends 3, 4 and 5. The stream is then read with GetMedia from EARLIEST (fragment 5 only marks the end of fragment 4's chunk).",
			Expected: "GetMedia serves fragments 0-4, each once, producer timecodes and fragment numbers strictly increasing, with the frames sent.",
			Run: func(ctx context.Context, t *conformance.T) {
				r := newRig(ctx, t, "s")
				half := func(u *upload, i int) {
					b := r.frag(i).Encode()
					u.write(b[:len(b)/2], "half a fragment")
					u.await(ctx, r.tc(i), kvsapi.EventBuffering)
					u.cut()
				}
				a := r.open(ctx, "A", true)
				a.send(r.frag(0))
				a.persist(ctx, r.frag(0))
				half(a, 1)
				b := r.open(ctx, "B", false)
				b.send(r.frags(1, 2)...)
				b.persist(ctx, r.frags(1, 2)...)
				half(b, 3)
				c := r.open(ctx, "C", false)
				c.send(r.frags(3, 5)...)
				c.persist(ctx, r.frags(3, 5)...)
				c.finish(ctx)
				r.verifyGetMedia(ctx, r.frags(0, 4))
			},
		},
	}
}

// verifyGetMedia reads the stream with GetMedia from EARLIEST and checks
// that its first len(want) fragments are exactly want, once each, in
// order. A live GetMedia never ends, so a chunk is known whole only when
// the next begins: the stream must hold one fragment more than want.
func (r *rig) verifyGetMedia(ctx context.Context, want []probe.Fragment) {
	t := r.t
	chunks, err := r.c.GetMedia(ctx, r.stream, kvsapi.StartSelector{StartSelectorType: kvsapi.StartEarliest}, 5*time.Second, len(want))
	if err != nil {
		t.Fail("GetMedia from EARLIEST failed: %v", err)
		return
	}
	byTC := map[int64]probe.Fragment{}
	for _, w := range want {
		byTC[w.Timecode] = w
	}
	seen := map[int64]int{}
	prevNumber := ""
	for _, ch := range chunks {
		seen[ch.ProducerTimestamp()]++
		n := ch.FragmentNumber()
		if prevNumber != "" && !numberAfter(n, prevNumber) {
			t.Fail("GetMedia serves fragment number %s after %s: fragment numbers must increase", n, prevNumber)
		}
		prevNumber = n
	}
	for _, w := range want {
		if n := seen[w.Timecode]; n != 1 {
			t.Fail("GetMedia serves fragment %d (%s) %d times, want once", w.Timecode, r.name(w.Timecode), n)
		}
	}
	if len(chunks) != len(want) {
		t.Fail("GetMedia from EARLIEST served %d fragments within 5 s, want exactly %d", len(chunks), len(want))
	}
	r.checkChunks(chunks, byTC, "GetMedia")
}

// numberAfter compares fragment numbers, decimal strings of any length.
func numberAfter(a, b string) bool {
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}
