package resume

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/simulator/netem"
)

// Cameras in these cases film 10 fps in 500 ms GOPs (one fragment each),
// so a few seconds hold several fragments and faults land mid-fragment.
const (
	camFPS = 10
	camGOP = 500 * time.Millisecond
)

func producerCases() []*conformance.Case {
	return []*conformance.Case{
		{
			ID: "RES-OUT-001", Requirement: "R-RES-1", Parallel: true,
			Source:   "kvs-protocol.md §4.2-4.4: the producer buffers (default 120 s) while offline, reconnects with backoff and resends what was not acknowledged.",
			Title:    "An outage shorter than the producer's buffer loses nothing",
			Stimulus: "A simulated camera (camstorm's KVS-style producer: 10 fps, 500 ms fragments, 120 s buffer, 500 ms staleness) films for 3.5 s; its data-plane link goes down completely for 1 s from 1.2 s after its first PutMedia dial (the open connection goes silent, new dials are refused).",
			Expected: "The camera reconnects and drops nothing; the stream holds every frame the camera filmed, each fragment exactly once, in producer-timecode order, every fragment acknowledged PERSISTED among them. (A fragment RECEIVED whose PERSISTED was lost in the outage is not resent, as the SDK resumes after the last RECEIVED: the camera may count it unconfirmed, but it must be stored.)",
			Run: func(ctx context.Context, t *conformance.T) {
				run := runCamera(ctx, t, simulator.CameraConfig{}, netem.Schedule{{At: 1200 * time.Millisecond, Kind: netem.KindOutage, Duration: time.Second}}, 3500*time.Millisecond)
				if run.stats.Outages != 1 {
					t.Harnessf("the link applied %d outages, want 1", run.stats.Outages)
				}
				run.verifyComplete(ctx, t)
			},
		},
		{
			ID: "RES-OUT-002", Requirement: "R-RES-5", Parallel: true,
			Source:   "kvs-protocol.md §4.2: when the buffer overflows the producer evicts its oldest fragments (DROP_TAIL_ITEM) and reports them dropped.",
			Title:    "An outage longer than the buffer: only what the producer reports dropped is missing",
			Stimulus: "The simulated camera, with a 1 s buffer, films for 4.5 s; its data-plane link goes down for 2.5 s from 1 s after its first PutMedia dial, so its buffer overflows during the outage.",
			Expected: "The camera reports the fragments it evicted; every fragment acknowledged PERSISTED is stored exactly once, in order, with all its frames; no frame the camera reports dropped is served; everything filmed is acknowledged, dropped or unconfirmed.",
			Run: func(ctx context.Context, t *conformance.T) {
				run := runCamera(ctx, t, simulator.CameraConfig{BufferDuration: time.Second},
					netem.Schedule{{At: time.Second, Kind: netem.KindOutage, Duration: 2500 * time.Millisecond}}, 4500*time.Millisecond)
				l := &run.res.Ledger
				if l.DroppedFragments+l.UnconfirmedFragments == 0 {
					t.Harnessf("the 2.5 s outage did not overflow the camera's 1 s buffer (ledger %+v)", *l)
				}
				var unconfirmed uint64
				for _, u := range l.Unconfirmed {
					unconfirmed += u.Len()
				}
				if l.Produced != l.AckedFrames+l.DroppedFrames+unconfirmed {
					t.Harnessf("camstorm's camera mis-counted: %d filmed, %d acknowledged + %d dropped + %d unconfirmed", l.Produced, l.AckedFrames, l.DroppedFrames, unconfirmed)
				}
				t.Evidence("note", "camera report: %d frames filmed, %d acknowledged, %d dropped in %d fragments (%v), %d unconfirmed; failure: %v",
					l.Produced, l.AckedFrames, l.DroppedFrames, l.DroppedFragments, l.Dropped, unconfirmed, run.res.Failure)
				served := run.verify(ctx, t)
				t.Check(served <= l.AckedFrames+unconfirmed, "the stream serves %d frames, more than the %d acknowledged plus %d unconfirmed: frames the camera dropped were delivered",
					served, l.AckedFrames, unconfirmed)
			},
		},
		{
			ID: "RES-HALF-002", Requirement: "R-RES-1", Parallel: true,
			Source:   "kvs-protocol.md §4.5: without BUFFERING ACKs for the staleness period the producer resets the connection and resumes after the last RECEIVED fragment.",
			Title:    "A half-open connection found by missing ACKs: the producer resumes and nothing is lost",
			Stimulus: "The simulated camera (500 ms staleness) films for 3 s; 1.2 s after its first PutMedia dial the open data-plane connection silently stops carrying bytes either way, without an error (a black hole); new connections work.",
			Expected: "The camera notices the missing BUFFERING ACKs, reconnects and drops nothing; the stream holds every frame the camera filmed, each fragment exactly once, in order, every fragment acknowledged PERSISTED among them.",
			Run: func(ctx context.Context, t *conformance.T) {
				run := runCamera(ctx, t, simulator.CameraConfig{}, netem.Schedule{{At: 1200 * time.Millisecond, Kind: netem.KindBlackHole}}, 3*time.Second)
				if run.stats.BlackHoles != 1 || run.res.Reconnects == 0 {
					t.Harnessf("the black hole did not take: %d black holes, %d reconnects", run.stats.BlackHoles, run.res.Reconnects)
				}
				run.verifyComplete(ctx, t)
			},
		},
	}
}

// cameraRun is one camera's run through a faulty link, and the PERSISTED
// ACKs it heard.
type cameraRun struct {
	stream    string
	res       simulator.CameraResult
	stats     netem.Stats
	persisted map[int64]string // cluster timecode → fragment number
}

// runCamera films for d with the case's camera defaults (cfg's non-zero
// fields override them) through a link with the schedule.
func runCamera(ctx context.Context, t *conformance.T, cfg simulator.CameraConfig, sched netem.Schedule, d time.Duration) *cameraRun {
	src, err := media.NewSynthetic(media.SyntheticConfig{BitrateBps: 64_000, FPS: camFPS, GOP: camGOP, Seed: 7, Width: 160, Height: 120})
	t.Must(err, "making the camera's frame source")
	tlsConf := &tls.Config{RootCAs: t.Target.RootCAs, MinVersion: tls.VersionTLS12}
	if t.Target.HTTP != nil {
		if tr, ok := t.Target.HTTP.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
			tlsConf = tr.TLSClientConfig.Clone()
		}
	}
	// Faults hit the data plane (PutMedia) only: the control plane is
	// dialled directly, so a fault cannot land on the camera's set-up.
	control, err := url.Parse(t.Target.ControlPlaneURL)
	t.Must(err, "parsing the control-plane URL")
	controlAddr := control.Host
	if control.Port() == "" {
		controlAddr = net.JoinHostPort(control.Hostname(), "443")
	}
	// The link is made at the first data-plane dial, so fault times count
	// from the camera's first PutMedia however long its set-up took.
	var (
		direct   net.Dialer
		linkOnce sync.Once
		link     *netem.Link
		linkErr  error
	)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == controlAddr {
			return direct.DialContext(ctx, network, addr)
		}
		linkOnce.Do(func() { link, linkErr = netem.NewLink(netem.Profile{Name: "resume"}, 1, netem.WithSchedule(sched)) })
		if linkErr != nil {
			return nil, linkErr
		}
		return link.DialContext(ctx, network, addr)
	}
	tr := &http.Transport{DialContext: dial, TLSClientConfig: tlsConf, DisableKeepAlives: true}
	t.Cleanup(func(context.Context) { tr.CloseIdleConnections() })

	run := &cameraRun{stream: t.Name("cam"), persisted: map[int64]string{}}
	createStream(ctx, t, probe.New(t.Target, t.Target.Admin), run.stream)
	var mu sync.Mutex
	var firstSession time.Time
	cfg.StreamName, cfg.Source, cfg.Seed = run.stream, src, 11
	cfg.Staleness = orDefault(cfg.Staleness, 500*time.Millisecond)
	cfg.BackoffBase = orDefault(cfg.BackoffBase, 50*time.Millisecond)
	cfg.BackoffCap = orDefault(cfg.BackoffCap, 300*time.Millisecond)
	cfg.FinalAckTimeout = orDefault(cfg.FinalAckTimeout, 5*time.Second)
	cfg.DrainTimeout = orDefault(cfg.DrainTimeout, 5*time.Second)
	cfg.OnSession = func(bool) {
		mu.Lock()
		if firstSession.IsZero() {
			firstSession = time.Now()
		}
		mu.Unlock()
	}
	cfg.OnAck = func(a kvsapi.Ack, _ simulator.AckInfo) {
		if a.EventType == kvsapi.EventPersisted && a.HasTimecode {
			mu.Lock()
			run.persisted[a.FragmentTimecode] = a.FragmentNumber
			mu.Unlock()
		}
	}
	cam, err := simulator.NewCamera(cfg, simulator.Target{ControlPlaneURL: t.Target.ControlPlaneURL, HTTP: &http.Client{Transport: tr},
		Credentials: t.Target.Admin, Region: t.Target.Region})
	t.Must(err, "making the camera")
	cctx, cancel := context.WithTimeout(ctx, d+20*time.Second)
	defer cancel()
	run.res = cam.Run(cctx, time.Now().Add(d))
	linkOnce.Do(func() {}) // no more links after the run
	if link == nil {
		t.Must(linkErr, "making the camera's link")
		t.Harnessf("the camera never dialled the data plane: %v", run.res.Failure)
	}
	t.Cleanup(func(context.Context) { _ = link.Close() })
	run.stats = link.Stats()
	c := run.res.Counters
	t.Evidence("note", "camera: %d fragments, %d sessions, %d reconnects, %d stale resets, %d resent, %d connect failures, %d ACK errors; link: %d outages, %d black holes, %d dials refused",
		c.Fragments, c.Sessions, c.Reconnects, c.StaleResets, c.Resent, c.ConnectFailures, c.AckErrors, run.stats.Outages, run.stats.BlackHoles, run.stats.DialsRefused)
	if run.res.Sessions == 0 {
		t.Harnessf("the camera never opened a PutMedia session: %v", run.res.Failure)
	}
	if len(sched) > 0 && firstSession.Sub(link.Start()) >= sched[0].At {
		t.Harnessf("the camera's first PutMedia opened %v after its first data-plane dial, after the fault it was meant to meet (%v)",
			firstSession.Sub(link.Start()), sched[0].At)
	}
	return run
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// verify reads the camera's stream back and checks every fragment the
// camera heard PERSISTED is stored exactly once, in order, holding at
// least the frames the camera's ledger counts acknowledged. It returns the
// frames the stream serves in all.
func (run *cameraRun) verify(ctx context.Context, t *conformance.T) uint64 {
	c := probe.New(t.Target, t.Target.Admin)
	var want []probe.Fragment
	for tc := range run.persisted {
		want = append(want, probe.Fragment{Timecode: tc})
	}
	awaitListed(ctx, c, run.stream, want)
	list, chunks, err := c.ReadAll(ctx, run.stream)
	if err != nil {
		t.Fail("reading stream %s back failed: %v", run.stream, err)
		return 0
	}
	listed := map[int64][]string{}
	for _, f := range list {
		ms := f.ProducerTimestamp.UnixMilli()
		listed[ms] = append(listed[ms], f.FragmentNumber)
	}
	for ms, n := range listed {
		if len(n) > 1 {
			t.Fail("fragment %d is stored %d times, as fragments %v", ms, len(n), n)
		}
	}
	for tc, number := range run.persisted {
		if len(listed[tc]) == 0 {
			t.Fail("fragment %d, acknowledged PERSISTED as fragment %s, is missing from the stream (%d fragments listed)", tc, number, len(list))
		}
	}
	t.Evidence("fragment", "%d fragments acknowledged PERSISTED, %d listed, %d read back", len(run.persisted), len(list), len(chunks))
	var served, acked uint64
	prev := int64(-1)
	for i, ch := range chunks {
		if id := ch.ErrorID(); id != "" {
			t.Fail("GetMediaForFragmentList chunk %d (fragment %s) is an error chunk: %s", i, ch.FragmentNumber(), id)
			continue
		}
		pts := ch.ProducerTimestamp()
		if pts <= prev {
			t.Fail("GetMediaForFragmentList serves fragment %d (number %s) after fragment %d: producer timecodes must increase", pts, ch.FragmentNumber(), prev)
		}
		prev = max(prev, pts)
		served += uint64(len(ch.Blocks))
		if _, ok := run.persisted[pts]; ok {
			acked += uint64(len(ch.Blocks))
		}
	}
	// A PERSISTED can reach the camera after it evicted the fragment (it
	// then counts it unconfirmed), so the ACKs may cover more frames than
	// the ledger's acknowledged ones, never fewer.
	t.Check(acked >= run.res.Ledger.AckedFrames, "the fragments acknowledged PERSISTED hold %d frames as read back; the camera counts %d frames acknowledged",
		acked, run.res.Ledger.AckedFrames)
	return served
}

// verifyComplete is verify for a run in which the camera must have
// dropped nothing: the stream must serve every frame it filmed.
func (run *cameraRun) verifyComplete(ctx context.Context, t *conformance.T) {
	l := &run.res.Ledger
	t.Check(len(l.Dropped) == 0, "the camera dropped %d frames (%v); camera failure: %v", l.DroppedFrames, l.Dropped, run.res.Failure)
	served := run.verify(ctx, t)
	t.Check(served == l.Produced, "the stream serves %d frames of the %d the camera filmed (%d acknowledged PERSISTED, %d unconfirmed runs)",
		served, l.Produced, l.AckedFrames, len(l.Unconfirmed))
}
