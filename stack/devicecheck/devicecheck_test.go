package devicecheck_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/device"
	"github.com/camstorm/camstorm/internal/devicerecord"
	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/stack/devicecheck"
)

func start(t *testing.T, stream, schedule string) *devicecheck.Bench {
	t.Helper()
	sched, err := devicecheck.Parse(schedule)
	require.NoError(t, err)
	b, err := devicecheck.Start(context.Background(), devicecheck.Options{Stream: stream, Schedule: sched})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

// verdicts runs the device suite over the bench's record and returns the
// verdict per case ID.
func verdicts(t *testing.T, b *devicecheck.Bench) (map[string]conformance.Verdict, *conformance.Report, *devicerecord.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	obs, err := b.Finish(ctx)
	require.NoError(t, err)
	rep, err := (&conformance.Runner{Target: device.Target(obs)}).Run(ctx, device.Suite(obs))
	require.NoError(t, err)
	out := map[string]conformance.Verdict{}
	for _, r := range rep.Results {
		out[r.ID] = r.Verdict
		t.Logf("%s %s %s %v", r.ID, r.Verdict, r.Reason, r.Actual)
	}
	return out, rep, obs
}

func failed(v map[string]conformance.Verdict) []string {
	var ids []string
	for id, verdict := range v {
		if verdict == conformance.Fail || verdict == conformance.Harness {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func camera(t *testing.T, b *devicecheck.Bench, stream string, encrypt bool) *simulator.Camera {
	t.Helper()
	src, err := media.NewSynthetic(media.SyntheticConfig{BitrateBps: 200_000, FPS: 10, GOP: time.Second, Seed: 1, Width: 160, Height: 120})
	require.NoError(t, err)
	hc := b.HTTPClient()
	t.Cleanup(hc.CloseIdleConnections)
	target := simulator.Target{ControlPlaneURL: b.ControlPlaneURL, HTTP: hc, Region: b.Region,
		Credentials: credentials.NewStaticCredentialsProvider(b.Credentials.AccessKeyID, b.Credentials.SecretAccessKey, b.Credentials.SessionToken)}
	cfg := simulator.CameraConfig{StreamName: stream, Source: src, Offline: true, BackoffBase: 10 * time.Millisecond,
		BackoffCap: 100 * time.Millisecond, DrainTimeout: 10 * time.Second}
	if encrypt {
		cfg.Recipients = []e2ee.PublicKey{consumerKey(t).Public()}
	}
	cam, err := simulator.NewCamera(cfg, target)
	require.NoError(t, err)
	return cam
}

func consumerKey(t *testing.T) *e2ee.PrivateKey {
	t.Helper()
	k, err := e2ee.GenerateKey(e2ee.KEMX25519, nil)
	require.NoError(t, err)
	return k
}

// TestSimulatorPassesUnderEveryFault: camstorm's own camera, with E2EE,
// streams 12 s of media through a cut, a retriable and a non-retriable
// ERROR, withheld PERSISTED ACKs and a stall; every applicable case passes.
func TestSimulatorPassesUnderEveryFault(t *testing.T) {
	const stream = "dev-good"
	b := start(t, stream, "close@fragment=3,error=5000@fragment=5,error=4002@fragment=7,withhold=persisted:500ms@fragment=9,stall=300ms@fragment=10,throttle=8KiB/s:1s@fragment=11")
	cam := camera(t, b, stream, true)
	res := cam.Run(context.Background(), time.Now().Add(12*time.Second))
	t.Logf("camera: sessions %d reconnects %d failure %v", res.Sessions, res.Reconnects, res.Failure)
	v, rep, obs := verdicts(t, b)
	require.Len(t, obs.Faults, 6, "every scheduled fault fired: %+v", obs.Faults)
	// The offline camera sends as fast as it is read: the throttle (8 KiB/s
	// on fragments of about 25 KB) must have held fragment 12 back.
	throttled := obs.Faults[5]
	for _, f := range obs.Fragments {
		if f.Ordinal == 12 && !f.Resent {
			require.Greater(t, f.Arrived.Sub(throttled.Time), 500*time.Millisecond, "fragment 12 came through the throttle")
		}
	}
	require.Empty(t, failed(v))
	for _, id := range []string{"DEV-MKV-001", "DEV-FRAG-001", "DEV-RES-001", "DEV-RES-002", "DEV-RES-003", "DEV-ERR-001", "DEV-ERR-002", "DEV-E2EE-001", "DEV-E2EE-002", "DEV-CRED-001"} {
		require.Equal(t, conformance.Pass, v[id], id)
	}
	require.Equal(t, conformance.Skip, v["DEV-CRED-002"], "the run is far shorter than the credentials' hour")
	require.Zero(t, rep.Counts().MustFail)
}

// TestSimulatorWithoutE2EE: the same camera without recipients fails only
// the E2EE cases, which are SHOULDs.
func TestSimulatorWithoutE2EE(t *testing.T) {
	const stream = "dev-plain"
	b := start(t, stream, "")
	cam := camera(t, b, stream, false)
	cam.Run(context.Background(), time.Now().Add(3*time.Second))
	v, rep, _ := verdicts(t, b)
	require.Equal(t, []string{"DEV-E2EE-001", "DEV-E2EE-002"}, failed(v))
	require.Zero(t, rep.Counts().MustFail)
	require.Equal(t, conformance.Skip, v["DEV-RES-001"], "no fault was scheduled")
}

// rawDevice is a hand-written producer whose misbehaviour a test chooses.
type rawDevice struct {
	b         *devicecheck.Bench
	stream    string
	fragments int
	// nonKeyStart writes every fragment's first frame without the key flag.
	nonKeyStart bool
	// giveUp stops after the first session that ends abnormally.
	giveUp bool
	// retryAll resends a fragment after any ERROR, retriable or not.
	retryAll bool
	// maxSessions bounds the reconnects.
	maxSessions int
}

// run streams fragments of ten frames at 100 ms, one fragment per second
// of timecode, and reconnects from the first fragment no RECEIVED
// acknowledged (or per the misbehaviour).
func (d *rawDevice) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	creds := credentials.NewStaticCredentialsProvider(d.b.Credentials.AccessKeyID, d.b.Credentials.SecretAccessKey, d.b.Credentials.SessionToken)
	hc := &http.Client{Transport: &kvsclient.SigningTransport{Base: d.b.HTTPClient().Transport, Credentials: creds, Region: d.b.Region}}
	var ep kvsapi.GetDataEndpointOutput
	require.NoError(t, kvsclient.Call(ctx, hc, d.b.ControlPlaneURL, kvsapi.PathGetDataEndpoint,
		kvsapi.GetDataEndpointInput{StreamRef: kvsapi.StreamRef{StreamName: d.stream}, APIName: "PUT_MEDIA"}, &ep))
	base := time.Now().Add(-time.Minute).UnixMilli()
	tc := func(i int) int64 { return base + int64(i)*1000 }
	received := map[int64]bool{}
	skipped := map[int64]bool{}
	next := 0
	for session := 0; session < d.maxSessions && next < d.fragments; session++ {
		pm, err := kvsclient.StartPutMedia(ctx, hc, ep.DataEndpoint, kvsclient.PutMediaOptions{StreamName: d.stream})
		require.NoError(t, err)
		var mu sync.Mutex
		var errAck *kvsapi.Ack
		acksDone := make(chan struct{})
		go func() {
			defer close(acksDone)
			for {
				a, err := pm.NextAck()
				if err != nil {
					return
				}
				mu.Lock()
				switch a.EventType {
				case kvsapi.EventReceived:
					received[a.FragmentTimecode] = true
				case kvsapi.EventError:
					errAck = &a
				}
				mu.Unlock()
				if a.EventType == kvsapi.EventError {
					return
				}
			}
		}()
		w := mkv.NewWriter(pm)
		werr := w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{{Number: 1, UID: 1, Type: mkv.TrackVideo, CodecID: "V_MPEG4/ISO/AVC",
			CodecPrivate: []byte{1, 0x42, 0xc0, 0x1e, 0xff, 0xe0, 0}, Width: 160, Height: 120}}})
		for i := next; i < d.fragments && werr == nil; i++ {
			mu.Lock()
			stop := errAck != nil
			mu.Unlock()
			if stop {
				break
			}
			if skipped[tc(i)] {
				continue
			}
			werr = w.StartCluster(tc(i))
			for f := 0; f < 10 && werr == nil; f++ {
				werr = w.WriteFrame(1, tc(i)+int64(f)*100, f == 0 && !d.nonKeyStart, avccFrame(i, f))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if werr == nil {
			werr = w.EndFragment()
		}
		if werr == nil {
			_ = pm.CloseWrite()
		}
		select {
		case <-acksDone:
		case <-ctx.Done():
		}
		_ = pm.Close()
		mu.Lock()
		ea := errAck
		mu.Unlock()
		if ea != nil && (d.retryAll || ea.ErrorID.Retriable()) {
			delete(skipped, ea.FragmentTimecode)
		} else if ea != nil {
			skipped[ea.FragmentTimecode] = true
		}
		next = d.fragments
		for i := range d.fragments {
			if !received[tc(i)] && !skipped[tc(i)] {
				next = i
				break
			}
		}
		if next < d.fragments && d.giveUp {
			return
		}
	}
}

// avccFrame is a frame of one length-prefixed NAL unit.
func avccFrame(i, f int) []byte {
	b := make([]byte, 4+200)
	binary.BigEndian.PutUint32(b, 200)
	b[4] = 0x41
	b[5], b[6] = byte(i), byte(f)
	return b
}

// TestMisbehavingDevicesFailTheRightCases: each misbehaviour fails the case
// that names it, and a well-behaved raw producer under the same faults
// passes them.
func TestMisbehavingDevicesFailTheRightCases(t *testing.T) {
	for _, tc := range []struct {
		name     string
		schedule string
		dev      rawDevice
		mustFail []string // among the MUST cases (the E2EE SHOULDs fail for every raw device)
	}{
		{name: "well-behaved", schedule: "close@fragment=2,error=4000@fragment=4,error=4002@fragment=6", dev: rawDevice{fragments: 8, maxSessions: 8}},
		{name: "fragments-start-on-non-key-frames", dev: rawDevice{fragments: 4, maxSessions: 2, nonKeyStart: true},
			mustFail: []string{"DEV-FRAG-001"}},
		{name: "gives-up-after-a-cut", schedule: "close@fragment=3", dev: rawDevice{fragments: 6, maxSessions: 6, giveUp: true},
			mustFail: []string{"DEV-RES-001", "DEV-RES-003"}},
		{name: "retries-a-non-retriable-error", schedule: "error=4002@fragment=2", dev: rawDevice{fragments: 4, maxSessions: 4, retryAll: true},
			mustFail: []string{"DEV-ERR-002"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := "dev-" + tc.name
			b := start(t, stream, tc.schedule)
			d := tc.dev
			d.b, d.stream = b, stream
			d.run(t)
			v, _, _ := verdicts(t, b)
			want := append(slices.Clone(tc.mustFail), "DEV-E2EE-001", "DEV-E2EE-002")
			slices.Sort(want)
			require.Equal(t, want, failed(v))
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := devicecheck.Parse("close@fragment=0,error=4242@t=1s,withhold=persisted,throttle=32KiB:5s@fragment=2,stall=0s@t=3s,jam@fragment=1,close")
	require.ErrorIs(t, err, devicecheck.ErrSchedule)
	for _, want := range []string{"entry 1", "N >= 1", "entry 2", "4242", "entry 3", "no trigger", "entry 4", "must end in /s",
		"entry 5", "stall duration", "entry 6", `unknown fault "jam"`, "entry 7", "the grammar is"} {
		require.Contains(t, err.Error(), want)
	}
}

func TestParse(t *testing.T) {
	s, err := devicecheck.Parse("close@fragment=3, error=4503@fragment=5,withhold=buffering+persisted:10s@t=20s,throttle=32KiB/s:5s@fragment=7,stall=2s@t=1m")
	require.NoError(t, err)
	require.Len(t, s, 5)
	require.Equal(t, devicecheck.Fault{Spec: "close@fragment=3", Kind: "close", AtFragment: 3}, s[0])
	require.Equal(t, kvsapi.ErrorID(4503), s[1].ErrorID)
	require.Equal(t, []kvsapi.EventType{kvsapi.EventBuffering, kvsapi.EventPersisted}, s[2].Acks)
	require.Equal(t, 20*time.Second, s[2].AtTime)
	require.Equal(t, int64(32<<10), s[3].BytesPerSecond)
	require.Equal(t, 2*time.Second, s[4].Duration)
	none, err := devicecheck.Parse("  ")
	require.NoError(t, err)
	require.Empty(t, none)
	require.False(t, errors.Is(err, devicecheck.ErrSchedule))
}

// TestCredentialRefresh: the record is told the credentials last 700 ms (the
// stack's shortest real lifetime is 15 min); a real-time camera cut twice
// reconnects after that (and a stall fires 1.5 s in, by time). Signing
// every session with the first key fails
// DEV-CRED-002; fetching fresh credentials for each request passes it.
func TestCredentialRefresh(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refresh bool
		want    conformance.Verdict
	}{{"static-key", false, conformance.Fail}, {"fresh-keys", true, conformance.Pass}} {
		t.Run(tc.name, func(t *testing.T) {
			stream := "dev-cred-" + tc.name
			b := start(t, stream, "close@fragment=2,close@fragment=3,stall=200ms@t=1500ms")
			b.Check.SetCredentialLifetime(700 * time.Millisecond)
			src, err := media.NewSynthetic(media.SyntheticConfig{BitrateBps: 100_000, FPS: 10, GOP: time.Second, Seed: 2, Width: 160, Height: 120})
			require.NoError(t, err)
			hc := b.HTTPClient()
			t.Cleanup(hc.CloseIdleConnections)
			var provider aws.CredentialsProvider = credentials.NewStaticCredentialsProvider(b.Credentials.AccessKeyID,
				b.Credentials.SecretAccessKey, b.Credentials.SessionToken)
			if tc.refresh {
				provider = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return b.IssueCredentials(0) })
			}
			cam, err := simulator.NewCamera(simulator.CameraConfig{StreamName: stream, Source: src, BackoffBase: 10 * time.Millisecond,
				BackoffCap: 100 * time.Millisecond, Recipients: []e2ee.PublicKey{consumerKey(t).Public()}},
				simulator.Target{ControlPlaneURL: b.ControlPlaneURL, HTTP: hc, Region: b.Region, Credentials: provider})
			require.NoError(t, err)
			cam.Run(context.Background(), time.Now().Add(3500*time.Millisecond))
			v, _, obs := verdicts(t, b)
			require.GreaterOrEqual(t, len(obs.Sessions), 3)
			require.Equal(t, tc.want, v["DEV-CRED-002"])
			i := slices.IndexFunc(obs.Faults, func(f devicerecord.Fault) bool { return f.Kind == "stall" })
			require.GreaterOrEqual(t, i, 0, "the time-triggered stall fired: %+v", obs.Faults)
			require.GreaterOrEqual(t, obs.Faults[i].Time.Sub(obs.Started), 1500*time.Millisecond)
		})
	}
}

// TestDocsMatch: docs/DEVICE-CHECK.md carries the grammar as the code has
// it and a row for every case.
func TestDocsMatch(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "DEVICE-CHECK.md"))
	require.NoError(t, err)
	require.Contains(t, string(doc), devicecheck.Grammar)
	for _, c := range device.Suite(&device.Observations{}).Cases {
		require.Contains(t, string(doc), "| "+c.ID+" |", "docs/DEVICE-CHECK.md lists %s", c.ID)
	}
}

// TestCloseCutsTheConnection: after a close fault the producer's ACK
// stream breaks off without the response's end (not a clean EOF), and the
// cut fragment gets neither RECEIVED nor ERROR.
func TestCloseCutsTheConnection(t *testing.T) {
	const stream = "dev-cut"
	b := start(t, stream, "close@fragment=2")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	creds := credentials.NewStaticCredentialsProvider(b.Credentials.AccessKeyID, b.Credentials.SecretAccessKey, b.Credentials.SessionToken)
	hc := &http.Client{Transport: &kvsclient.SigningTransport{Base: b.HTTPClient().Transport, Credentials: creds, Region: b.Region}}
	var ep kvsapi.GetDataEndpointOutput
	require.NoError(t, kvsclient.Call(ctx, hc, b.ControlPlaneURL, kvsapi.PathGetDataEndpoint,
		kvsapi.GetDataEndpointInput{StreamRef: kvsapi.StreamRef{StreamName: stream}, APIName: "PUT_MEDIA"}, &ep))
	pm, err := kvsclient.StartPutMedia(ctx, hc, ep.DataEndpoint, kvsclient.PutMediaOptions{StreamName: stream})
	require.NoError(t, err)
	defer pm.Close()
	base := time.Now().Add(-time.Minute).UnixMilli()
	w := mkv.NewWriter(pm)
	require.NoError(t, w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{{Number: 1, UID: 1, Type: mkv.TrackVideo, CodecID: "V_MPEG4/ISO/AVC", Width: 160, Height: 120}}}))
	for i := range 2 {
		require.NoError(t, w.StartCluster(base+int64(i)*1000))
		require.NoError(t, w.WriteFrame(1, base+int64(i)*1000, true, avccFrame(i, 0)))
	}
	var events []string
	var ackErr error
	for {
		a, err := pm.NextAck()
		if err != nil {
			ackErr = err
			break
		}
		events = append(events, string(a.EventType)+"@"+strconv.FormatInt(a.FragmentTimecode-base, 10))
	}
	require.NotErrorIs(t, ackErr, io.EOF, "the response must not end cleanly")
	require.Contains(t, events, "BUFFERING@1000", "the cut fires mid-fragment, after the fragment began")
	require.NotContains(t, events, "ERROR@1000")
	require.NotContains(t, events, "RECEIVED@1000")
	_, _, obs := verdicts(t, b)
	require.Len(t, obs.Faults, 1)
	require.Equal(t, 2, obs.Faults[0].Ordinal)
	require.True(t, obs.Sessions[0].Cut)
}

// judge runs the device suite over rec and returns the IDs that failed.
func judge(t *testing.T, rec *devicerecord.Record) []string {
	t.Helper()
	rep, err := (&conformance.Runner{Target: device.Target(rec)}).Run(context.Background(), device.Suite(rec))
	require.NoError(t, err)
	v := map[string]conformance.Verdict{}
	for _, r := range rep.Results {
		v[r.ID] = r.Verdict
	}
	return failed(v)
}

// headerBytes is a recorded session header (EBML header, Info, Tracks: the
// Segment element itself is not recorded) for these tracks.
func headerBytes(t *testing.T, tracks ...mkv.TrackSpec) []byte {
	t.Helper()
	h, err := mkv.AppendHeader(nil, mkv.Header{Tracks: tracks})
	require.NoError(t, err)
	ebml := mkv.AppendEBMLHeader(nil)
	return append(ebml, h[len(ebml)+5:]...) // 4-byte Segment ID and the unknown-size byte
}

// TestEveryCaseCanFail: a conformant record from a real run, mutated in one
// way at a time, fails the cases that judge that way.
func TestEveryCaseCanFail(t *testing.T) {
	const stream = "dev-mutate"
	b := start(t, stream, "close@fragment=2,error=5000@fragment=4,withhold=persisted:300ms@fragment=6,error=4002@fragment=8")
	camera(t, b, stream, true).Run(context.Background(), time.Now().Add(10*time.Second))
	_, _, clean := verdicts(t, b)
	require.Empty(t, judge(t, clean), "the unmutated record passes")
	faultAt := func(r *devicerecord.Record, kind string, retriable bool) devicerecord.Fault {
		for _, f := range r.Faults {
			if f.Kind == kind && (kind != "error" || f.Retriable == retriable) {
				return f
			}
		}
		t.Fatalf("no %s fault in the record", kind)
		return devicerecord.Fault{}
	}
	video := mkv.TrackSpec{Number: 1, UID: 1, Type: mkv.TrackVideo, CodecID: "V_MPEG4/ISO/AVC", Width: 160, Height: 120, CodecPrivate: []byte{1, 2, 3}}
	key := simulator.KeyTrack
	for _, tc := range []struct {
		name   string
		mutate func(r *devicerecord.Record)
		want   []string
	}{
		{"doc-type", func(r *devicerecord.Record) {
			for i := range r.Sessions {
				r.Sessions[i].EBMLHeader = []byte(strings.Replace(string(r.Sessions[i].EBMLHeader), "matroska", "matroskX", 1))
			}
		}, []string{"DEV-MKV-001"}},
		{"header-after-cluster", func(r *devicerecord.Record) { r.Sessions[1].ClusterBeforeHeader = true }, []string{"DEV-MKV-002"}},
		{"two-video-tracks", func(r *devicerecord.Record) {
			second := video
			second.Number, second.UID = 3, 3
			r.Sessions[0].Header = headerBytes(t, video, key, second)
		}, []string{"DEV-MKV-003"}},
		{"no-codec-private", func(r *devicerecord.Record) {
			bare := video
			bare.CodecPrivate = nil
			r.Sessions[0].Header = headerBytes(t, bare, key)
		}, []string{"DEV-MKV-004"}},
		{"timecode-scale", func(r *devicerecord.Record) {
			h := headerBytes(t, video, key)
			i := strings.Index(string(h), "\x2a\xd7\xb1")
			require.GreaterOrEqual(t, i, 0)
			n := int(h[i+3] &^ 0x80) // a one-byte size vint
			value := h[i+4 : i+4+n]
			clear(value)
			value[n-1] = 10 // 10 ns
			r.Sessions[0].Header = h
		}, []string{"DEV-MKV-005"}},
		{"reserved-tag", func(r *devicerecord.Record) {
			r.Fragments[0].Tags = append(r.Fragments[0].Tags, "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP")
		}, []string{"DEV-MKV-006"}},
		{"timecode-goes-back", func(r *devicerecord.Record) {
			f := &r.Fragments[len(r.Fragments)-1]
			f.Timecode, f.ProducerMs = f.Timecode-5000, f.ProducerMs-5000
		}, []string{"DEV-FRAG-002"}},
		{"eleven-second-fragment", func(r *devicerecord.Record) {
			r.Fragments[0].Frames = append(r.Fragments[0].Frames, devicerecord.Frame{Track: 1, Rel: 11_000})
		}, []string{"DEV-FRAG-003"}},
		{"own-error", func(r *devicerecord.Record) {
			r.Acks = append(r.Acks, devicerecord.Ack{Session: 0, Time: r.Started, Event: "ERROR", ErrorID: 4004, HasTimecode: true})
		}, []string{"DEV-ACK-001"}},
		{"withheld-fragment-never-received", func(r *devicerecord.Record) {
			f := faultAt(r, "withhold", false)
			r.Acks = slices.DeleteFunc(r.Acks, func(a devicerecord.Ack) bool { return a.Event == "RECEIVED" && a.Timecode == f.Timecode })
		}, []string{"DEV-RES-002", "DEV-RES-003"}},
		{"retriable-not-resent", func(r *devicerecord.Record) {
			f := faultAt(r, "error", true)
			r.Fragments = slices.DeleteFunc(r.Fragments, func(fr devicerecord.Fragment) bool { return fr.ProducerMs == f.ProducerMs && fr.Arrived.After(f.Time) })
		}, []string{"DEV-ERR-001", "DEV-RES-003"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := clone(clean)
			tc.mutate(r)
			got := judge(t, r)
			// One flaw can fail more than its own case (a fragment never
			// acknowledged is also one a later fault should have seen
			// resent); the named cases must be among the failures.
			require.Subset(t, got, tc.want)
		})
	}
}

// clone deep-copies a record through JSON.
func clone(r *devicerecord.Record) *devicerecord.Record {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	var out devicerecord.Record
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return &out
}
