package consumer_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/fixtures"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/consumer"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/stack"
)

func startStack(t *testing.T, dataDir string) (*stack.Stack, simulator.Target) {
	t.Helper()
	st, err := stack.StartEmbedded(context.Background(), stack.Options{DataDir: dataDir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	hc := st.HTTPClient()
	t.Cleanup(hc.CloseIdleConnections)
	return st, simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc}
}

func synthetic(t *testing.T, seed int64) media.Source {
	t.Helper()
	src, err := media.NewSynthetic(media.SyntheticConfig{BitrateBps: 400_000, FPS: 15, GOP: time.Second, Seed: seed, Width: 320, Height: 240})
	require.NoError(t, err)
	return src
}

func runCamera(t *testing.T, target simulator.Target, name string, src media.Source, realTime bool, d time.Duration) simulator.CameraResult {
	t.Helper()
	cam, err := simulator.NewCamera(simulator.CameraConfig{StreamName: name, Source: src, RealTime: realTime}, target)
	require.NoError(t, err)
	return cam.Run(context.Background(), time.Now().Add(d))
}

// TestCamerasStreamAndVerify streams synthetic and clip cameras, real-time and
// as fast as possible, into the embedded stack and reads everything back.
func TestCamerasStreamAndVerify(t *testing.T) {
	_, target := startStack(t, "")
	clip, err := fixtures.H264()
	require.NoError(t, err)
	cams := []struct {
		name     string
		src      media.Source
		realTime bool
		d        time.Duration
		seq      bool
	}{
		{"synthetic-fast", synthetic(t, 1), false, 4 * time.Second, true},
		{"synthetic-realtime", synthetic(t, 2), true, 2500 * time.Millisecond, true},
		{"clip-fast", media.NewClip(clip), false, 6 * time.Second, false},
	}
	results := make([]simulator.CameraResult, len(cams))
	var wg sync.WaitGroup
	for i, c := range cams {
		wg.Go(func() { results[i] = runCamera(t, target, c.name, c.src, c.realTime, c.d) })
	}
	wg.Wait()
	for i, c := range cams {
		r := results[i]
		require.Nil(t, r.Failure, "camera %s failed", c.name)
		require.True(t, r.CreatedStream, "%s: the camera creates its stream on ResourceNotFound", c.name)
		require.NotEmpty(t, r.Fragments, c.name)
		require.Equal(t, len(r.Fragments), r.Persisted(), "%s: every fragment PERSISTED", c.name)
		for _, f := range r.Fragments {
			require.True(t, f.Complete && f.Buffering.Seen && f.Received.Seen, "%s: fragment %d: %+v", c.name, f.Timecode, f)
			require.NotEmpty(t, f.Number)
			require.Positive(t, f.Size)
			require.GreaterOrEqual(t, f.Persisted.Latency, f.Buffering.Latency)
		}
		require.Greater(t, r.Bytes, int64(0))
		v := consumer.Verify(context.Background(), target, c.name, r.Fragments)
		require.True(t, v.OK(), "%s: %+v", c.name, v)
		require.Equal(t, len(r.Fragments), v.Persisted)
		require.Equal(t, len(r.Fragments), v.Stored)
		require.Equal(t, len(r.Fragments), v.Delivered)
		require.Zero(t, v.Unexpected)
		require.Equal(t, c.seq, v.SequenceChecked, c.name)
	}
	// Synthetic fragments are 1 s GOPs; the real-time camera ran about 2.5 s.
	require.Len(t, results[0].Fragments, 4)
	require.Len(t, results[1].Fragments, 3)
	require.GreaterOrEqual(t, results[1].End.Sub(results[1].Start), 2*time.Second, "real time is paced")

	// A second run on a stream finds it (no create) and is verified within
	// its own time window. (The real-time stream: its media lies in the past,
	// while the fast cameras' timecodes ran ahead of the clock.)
	r := runCamera(t, target, "synthetic-realtime", synthetic(t, 1), false, 2*time.Second)
	require.Nil(t, r.Failure)
	require.False(t, r.CreatedStream)
	v := consumer.Verify(context.Background(), target, "synthetic-realtime", r.Fragments)
	require.True(t, v.OK(), "%+v", v)
	require.Equal(t, 2, v.Stored)
}

// TestVerifyReportsFragmentNeverStored: a PERSISTED fragment the service does
// not have is lost.
func TestVerifyReportsFragmentNeverStored(t *testing.T) {
	_, target := startStack(t, "")
	r := runCamera(t, target, "cam", synthetic(t, 3), false, 3*time.Second)
	require.Nil(t, r.Failure)
	want := append([]simulator.SentFragment(nil), r.Fragments...)
	last := want[len(want)-1]
	phantom := simulator.SentFragment{
		Timecode: last.Timecode + 1000, Complete: true, Number: "91343852338176208490308672115616860505404839548",
		Persisted: simulator.AckTiming{Seen: true},
	}
	want = append(want, phantom)
	v := consumer.Verify(context.Background(), target, "cam", want)
	require.False(t, v.OK())
	require.Empty(t, v.Err)
	require.Equal(t, 1, v.Lost)
	require.Equal(t, []consumer.LostFragment{{Number: phantom.Number, Timecode: phantom.Timecode, Reason: "not listed"}}, v.LostFragments)
	require.Zero(t, v.Corrupted)
}

// TestVerifyCatchesTamperedStorage overwrites bytes of a stored cluster in
// the stack's segment files; the read-back cannot pass.
func TestVerifyCatchesTamperedStorage(t *testing.T) {
	dir := t.TempDir()
	st, target := startStack(t, dir)
	r := runCamera(t, target, "victim", synthetic(t, 4), false, 3*time.Second)
	require.Nil(t, r.Failure)
	require.Len(t, r.Fragments, 3)
	require.NoError(t, st.Close(context.Background()))

	// Find the second fragment's Cluster start (ID, unknown size, Timecode
	// element with its 8-byte value) in the segment files and flip a byte
	// of frame data inside it.
	victim := r.Fragments[1]
	pattern := binary.BigEndian.AppendUint32(nil, mkv.IDCluster)
	pattern = append(pattern, 0xFF, mkv.IDTimecode, 0x88)
	pattern = binary.BigEndian.AppendUint64(pattern, uint64(victim.Timecode))
	tampered := 0
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(path, "pki") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if i := bytes.Index(data, pattern); i >= 0 {
			require.Greater(t, len(data), i+600)
			data[i+500] ^= 0x55
			tampered++
			return os.WriteFile(path, data, 0o600)
		}
		return nil
	}))
	require.Equal(t, 1, tampered, "the cluster is stored once")

	_, target2 := startStack(t, dir)
	v := consumer.Verify(context.Background(), target2, "victim", r.Fragments)
	require.False(t, v.OK(), "%+v", v)
	require.Empty(t, v.Err, "detected as data, not a harness failure")
	// The victim must be reported. (Today the store treats damage in its last
	// segment as a torn tail and cuts everything after it, so the intact
	// fragment after the victim is reported lost too.)
	reported := slices.Contains(v.CorruptedFragments, victim.Number)
	for _, l := range v.LostFragments {
		reported = reported || l.Number == victim.Number
	}
	require.True(t, reported, "the tampered fragment %s is reported: %+v", victim.Number, v)
	require.NotContains(t, v.CorruptedFragments, r.Fragments[0].Number, "the fragment before it is intact")
	t.Logf("tampering detected: lost %d %v, corrupted %d", v.Lost, v.LostFragments, v.Corrupted)
}

// droppingSource leaves out the frames whose index is in drop, as a broken
// encoder or a lossy buffer would.
type droppingSource struct {
	media.Source
	drop map[int]bool
	n    int
}

func (d *droppingSource) Next() media.Frame {
	for {
		f := d.Source.Next()
		d.n++
		if !d.drop[d.n-1] {
			return f
		}
	}
}

// TestVerifyFindsSequenceGaps: one frame missing inside a fragment and one
// whole GOP missing between fragments are two gaps of 1 and 15 frames.
func TestVerifyFindsSequenceGaps(t *testing.T) {
	_, target := startStack(t, "")
	drop := map[int]bool{5: true}
	for i := 30; i < 45; i++ { // the third 1 s GOP at 15 fps
		drop[i] = true
	}
	r := runCamera(t, target, "gappy", &droppingSource{Source: synthetic(t, 6), drop: drop}, false, 4*time.Second)
	require.Nil(t, r.Failure)
	require.Len(t, r.Fragments, 3)
	v := consumer.Verify(context.Background(), target, "gappy", r.Fragments)
	require.True(t, v.SequenceChecked)
	require.Zero(t, v.Lost)
	require.Zero(t, v.Corrupted)
	require.Equal(t, 2, v.SequenceGaps, "%+v", v)
	require.Equal(t, uint64(16), v.MissingFrames)
	require.False(t, v.OK())
}

// TestVerifyFindsOverwrittenTimestamps sends other media under the same
// producer timestamps a second time. Whether the service stores both
// (duplicates) or keeps the first and acknowledges the second with its
// number (then the bytes acknowledged are not the bytes stored), Verify
// cannot pass. An identical resend, in contrast, is fine.
func TestVerifyFindsOverwrittenTimestamps(t *testing.T) {
	_, target := startStack(t, "")
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	run := func(seed int64) simulator.CameraResult {
		cam, err := simulator.NewCamera(simulator.CameraConfig{StreamName: "twice", Source: synthetic(t, seed),
			Clock: func() time.Time { return base }}, target)
		require.NoError(t, err)
		r := cam.Run(context.Background(), base.Add(2*time.Second))
		require.Nil(t, r.Failure)
		require.Equal(t, 2, r.Persisted())
		return r
	}
	run(7)
	same := consumer.Verify(context.Background(), target, "twice", run(7).Fragments)
	require.Zero(t, same.Corrupted)
	require.Zero(t, same.Lost)

	other := consumer.Verify(context.Background(), target, "twice", run(8).Fragments)
	require.False(t, other.OK())
	require.Zero(t, other.Lost)
	require.True(t, other.Corrupted == 2 || other.Duplicates >= 2, "%+v", other)
	t.Logf("same timestamps, other bytes: stored %d, corrupted %d, duplicates %d", other.Stored, other.Corrupted, other.Duplicates)
}
