package resume

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
)

// fanoutCases read one stream with several applications at once.
func fanoutCases() []*conformance.Case {
	return []*conformance.Case{{
		ID: "RES-FAN-001", Requirement: "R-OPS-1", Parallel: true,
		Title: "Several consumers read a stream in parallel, live and after storage, each seeing everything once in order",
		Stimulus: "Two consumer identities tail the stream with GetMedia from EARLIEST while the producer writes 6 fragments " +
			"over two connections (a reconnect between fragments 2 and 3), and a seventh that ends the live reads; then both " +
			"read it back with ListFragments and GetMediaForFragmentList at the same time.",
		Expected: "Each consumer's live read holds fragments 0-5 and its stored read fragments 0-6, each exactly once, in producer-timecode order, " +
			"with the frames sent; neither reader disturbs the other or the producer.",
		Needs: []conformance.Capability{conformance.NeedPrincipals},
		Run:   runFanout,
	}}
}

func runFanout(ctx context.Context, t *conformance.T) {
	r := newRig(ctx, t, "s")
	var readers []*probe.Client
	for _, who := range []string{"viewer-a", "viewer-b"} {
		p, err := t.Target.Principals.Consumer(ctx, t.Name(who))
		t.Must(err, "making consumer "+who)
		readers = append(readers, probe.New(t.Target, p.Credentials))
	}
	want := r.frags(0, 5)
	// A seventh fragment ends the live reads: GetMedia hands over fragment
	// 5 whole once fragment 6 begins.
	all := r.frags(0, 6)
	wantTC := map[int64]probe.Fragment{}
	var wantOrder []int64
	for _, w := range want {
		wantTC[w.Timecode] = w
		wantOrder = append(wantOrder, w.Timecode)
	}

	// The live readers start before the first fragment and stop once they
	// have every fragment (or their window ends).
	live := make([][]probe.Chunk, len(readers))
	liveErr := make([]error, len(readers))
	var wg sync.WaitGroup
	for i, c := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			live[i], liveErr[i] = c.GetMedia(ctx, r.stream, kvsapi.StartSelector{StartSelectorType: kvsapi.StartEarliest}, 8*time.Second, len(want))
		}()
	}
	defer wg.Wait()                    // the readers end within their window, even if the case ends early
	time.Sleep(200 * time.Millisecond) // let the readers open GetMedia first
	a := r.open(ctx, "A", true)
	a.send(want[:3]...)
	a.persist(ctx, want[:3]...)
	a.finish(ctx)
	b := r.open(ctx, "B", false)
	b.send(all[3:]...)
	b.persist(ctx, all[3:]...)
	b.finish(ctx)
	wg.Wait()

	for i, chunks := range live {
		who := fmt.Sprintf("consumer %c (GetMedia, live)", 'A'+i)
		if liveErr[i] != nil {
			t.Fail("%s: %v", who, liveErr[i])
			continue
		}
		var got []int64
		for _, ch := range chunks {
			got = append(got, ch.ProducerTimestamp())
		}
		if !slices.Equal(got, wantOrder) {
			t.Fail("%s received fragments at producer timecodes %v; want exactly %v, in that order", who, got, wantOrder)
		}
		r.checkChunks(chunks, wantTC, who)
	}
	awaitListed(ctx, readers[0], r.stream, all)
	var stored sync.WaitGroup
	for _, c := range readers {
		stored.Add(1)
		go func() {
			defer stored.Done()
			r.verifyStoredWith(ctx, c, all)
		}()
	}
	stored.Wait()
}
