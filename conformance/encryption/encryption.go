// Package encryption is the conformance suite for an ingest's encryption:
// TLS only, envelope encryption at rest observable through its KMS and
// audit trail, and end-to-end encrypted media that the ingest can neither
// read nor alter undetected.
package encryption

import (
	"context"
	"fmt"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
)

// Suite returns the encryption suite.
func Suite() *conformance.Suite {
	var cases []*conformance.Case
	cases = append(cases, tlsCases()...)
	cases = append(cases, atRestCases()...)
	cases = append(cases, kmsCases()...)
	cases = append(cases, e2eCases()...)
	return &conformance.Suite{Name: "encryption", Title: "Encryption in transit, at rest and end to end", Cases: cases}
}

// caseTimeout bounds every case of the suite; each needs well under a
// second on a local target.
const caseTimeout = 30 * time.Second

// admin is a probe client with the target's admin credentials.
func admin(t *conformance.T) *probe.Client { return probe.New(t.Target, t.Target.Admin) }

// newStream creates a stream for the case (kmsKey empty: the target's
// default key), deletes it after the case, and returns its name and ARN.
func newStream(ctx context.Context, t *conformance.T, suffix, kmsKey string) (string, string) {
	name := t.Name(suffix)
	info, err := admin(t).CreateStream(ctx, name, kmsKey)
	t.Must(err, "creating stream "+name)
	t.Cleanup(func(ctx context.Context) {
		_ = admin(t).Call(ctx, kvsapi.PathDeleteStream, kvsapi.DeleteStreamInput{StreamARN: info.StreamARN}, nil)
	})
	return name, info.StreamARN
}

// baseTimecode is a fragment timecode near now, on a whole second, so that
// streams of one run do not collide with retention or the future.
func baseTimecode() int64 { return time.Now().Add(-time.Minute).UnixMilli() / 1000 * 1000 }

// plainFragments makes n fragments of frames frames each, frameSize bytes
// per frame, of payloads unique to label, one second apart from base.
func plainFragments(label string, base int64, n, frames, frameSize int) []probe.Fragment {
	out := make([]probe.Fragment, n)
	for f := range out {
		out[f].Timecode = base + int64(f)*1000
		for i := range frames {
			out[f].Frames = append(out[f].Frames, probe.Frame{Data: probe.Payload(label, f*frames+i, frameSize)})
		}
	}
	return out
}

// put sends frags as one PutMedia session and ends the case with a
// harness error if any is not PERSISTED: the cases that use it judge what
// happens after a successful write.
func put(ctx context.Context, t *conformance.T, c *probe.Client, stream string, header []byte, frags []probe.Fragment) {
	acks, err := c.PutWithHeader(ctx, stream, header, frags...)
	for _, a := range acks {
		if a.EventType == kvsapi.EventPersisted || a.EventType == kvsapi.EventError {
			t.Logf("ack: %s", a)
		}
	}
	if err != nil {
		t.Harness(fmt.Errorf("writing %d fragments to %s: %w", len(frags), stream, err))
	}
}
