package resume

import (
	"context"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
)

// comebackTimeout bounds how long a restarted or crashed ingest may take
// to accept connections again.
const comebackTimeout = 15 * time.Second

func restartCases() []*conformance.Case {
	return []*conformance.Case{
		{
			ID: "RES-RESTART-001", Requirement: "R-RES-1", Needs: []conformance.Capability{conformance.NeedRestart},
			Source:   "kvs-protocol.md §4.4: 503s and dropped connections count as a dead host, so the producer replays its buffer.",
			Title:    "A graceful ingest restart mid-fragment: the replay resumes the stream without loss or duplicates",
			Stimulus: "Connection A sends fragments 0 and 1 (PERSISTED) and half of fragment 2; the ingest is restarted gracefully. Once it accepts connections again, the producer, taking the host for dead, replays fragments 0-2 in full and sends fragment 3.",
			Expected: "Every fragment on the new connection is acknowledged PERSISTED; fragments 0-3 are each stored exactly once, in order, with fragment 2 whole.",
			Run: func(ctx context.Context, t *conformance.T) {
				r := newRig(ctx, t, "s")
				a := r.open(ctx, "A", true)
				a.send(r.frags(0, 1)...)
				a.persist(ctx, r.frags(0, 1)...)
				b2 := r.frag(2).Encode()
				a.write(b2[:len(b2)/2], "half of fragment 2")
				a.await(ctx, r.tc(2), kvsapi.EventBuffering)
				t.Must(t.Target.Ingest.RestartIngest(ctx), "restarting the ingest")
				t.Evidence("note", "ingest restarted gracefully after %d of fragment 2's %d bytes", len(b2)/2, len(b2))
				a.cut()
				b := r.openRetry(ctx, "B")
				b.send(r.frags(0, 3)...)
				b.persist(ctx, r.frags(0, 3)...)
				b.finish(ctx)
				r.verifyStored(ctx, r.frags(0, 3))
			},
		},
		{
			ID: "RES-RESTART-002", Requirement: "R-RES-1", Needs: []conformance.Capability{conformance.NeedRestart},
			Source:   "kvs-protocol.md §1.2: PERSISTED means the fragment is durably stored; DESIGN: PERSISTED only after fsync.",
			Title:    "Fragments PERSISTED before an ingest crash are readable after it",
			Stimulus: "One connection sends fragments 0-2 and waits for their PERSISTED; the ingest is killed at once, without a goodbye, and started again on its storage. The stream is read back; then the producer reconnects and sends fragment 3.",
			Expected: "Right after the crash the stream holds fragments 0-2, each once, in order, with their frames; after the reconnect fragment 3 is PERSISTED and stored once after them.",
			Run: func(ctx context.Context, t *conformance.T) {
				r := newRig(ctx, t, "s")
				a := r.open(ctx, "A", true)
				a.send(r.frags(0, 2)...)
				a.persist(ctx, r.frags(0, 2)...)
				t.Must(t.Target.Ingest.CrashIngest(ctx), "crashing the ingest")
				t.Evidence("note", "ingest crashed right after the PERSISTED of fragment 2")
				a.cut()
				r.awaitReadable(ctx)
				r.verifyStored(ctx, r.frags(0, 2))
				if t.Failed() {
					return
				}
				b := r.openRetry(ctx, "B")
				b.send(r.frag(3))
				b.persist(ctx, r.frag(3))
				b.finish(ctx)
				r.verifyStored(ctx, r.frags(0, 3))
			},
		},
	}
}

// openRetry opens a connection to an ingest that is coming back, retrying
// refusals (503s, refused dials) with a short backoff as a producer would.
func (r *rig) openRetry(ctx context.Context, label string) *upload {
	deadline := time.Now().Add(comebackTimeout)
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		u, err := r.c.StartUpload(ctx, r.stream, probe.Header())
		if err == nil {
			r.t.Cleanup(func(context.Context) { u.Cut() })
			up := &upload{Upload: u, r: r, label: label}
			if attempt > 1 {
				r.t.Evidence("note", "connection %s opened on attempt %d", label, attempt)
			}
			return up
		}
		if time.Now().After(deadline) {
			r.t.Fatal("connection %s: the ingest refused PutMedia for %v after the restart; last answer: %v", label, comebackTimeout, err)
		}
		r.t.Logf("connection %s attempt %d: %v", label, attempt, err)
		select {
		case <-ctx.Done():
			r.t.Fatal("connection %s: %v", label, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// awaitReadable waits until the restarted ingest answers ListFragments.
func (r *rig) awaitReadable(ctx context.Context) {
	deadline := time.Now().Add(comebackTimeout)
	for {
		_, err := r.c.ListFragments(ctx, r.stream)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatal("the ingest did not answer ListFragments within %v of the restart: %v", comebackTimeout, err)
		}
		select {
		case <-ctx.Done():
			r.t.Fatal("waiting for the ingest: %v", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
