package consumer_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/at-wat/ebml-go"
	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/fixtures"
	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/internal/tooltest"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/consumer"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/stack"
)

// remuxed is the part of a re-muxed file the test checks, read with an
// independent parser (ebml-go).
type remuxed struct {
	Segment struct {
		Tracks struct {
			TrackEntry []struct {
				TrackNumber  uint64 `ebml:"TrackNumber"`
				TrackType    uint64 `ebml:"TrackType"`
				CodecID      string `ebml:"CodecID"`
				CodecPrivate []byte `ebml:"CodecPrivate"`
				Video        struct {
					PixelWidth  uint64 `ebml:"PixelWidth"`
					PixelHeight uint64 `ebml:"PixelHeight"`
				} `ebml:"Video"`
			} `ebml:"TrackEntry"`
		} `ebml:"Tracks"`
		Cluster []struct {
			Timecode    uint64       `ebml:"Timecode"`
			SimpleBlock []ebml.Block `ebml:"SimpleBlock"`
		} `ebml:"Cluster"`
	} `ebml:"Segment"`
}

// TestRemuxDecryptedClipPlays streams the fixture clip encrypted, reads it
// back with the consumer's key and re-muxes it: the file holds exactly the
// clip's frames at their absolute times, and FFmpeg decodes it cleanly.
func TestRemuxDecryptedClipPlays(t *testing.T) {
	_, target := startStack(t, "")
	clip, err := fixtures.H264()
	require.NoError(t, err)
	key := consumerKey(t, 30)
	src := media.NewClip(clip)
	cam := newTestCamera(t, target, "clip", src.Track(), newSealer(t, "clip", 130, key))
	gops := &gopReader{src: src, base: baseMs()}
	frags := gops.fragments(3) // 2 s GOPs at 15 fps
	cam.put(frags)
	opener := e2ee.NewOpener("clip", key)
	v := consumer.Verify(context.Background(), target, &cam.Ledger, opener)
	requireClean(t, v)
	require.Equal(t, uint64(90), v.Delivered)

	var out bytes.Buffer
	n, err := consumer.RemuxStream(context.Background(), target, "clip", cam.Ledger.Start, cam.Ledger.End, opener, &out)
	require.NoError(t, err)
	require.Equal(t, 90, n)

	var doc remuxed
	require.NoError(t, ebml.Unmarshal(bytes.NewReader(out.Bytes()), &doc, ebml.WithMaxLeafElementSize(1<<20)))
	tracks := doc.Segment.Tracks.TrackEntry
	require.Len(t, tracks, 1, "one video track, no key track")
	require.Equal(t, uint64(mkv.TrackVideo), tracks[0].TrackType)
	require.Equal(t, clip.CodecID, tracks[0].CodecID)
	require.Equal(t, clip.CodecPrivate, tracks[0].CodecPrivate)
	require.Equal(t, [2]uint64{uint64(clip.Width), uint64(clip.Height)}, [2]uint64{tracks[0].Video.PixelWidth, tracks[0].Video.PixelHeight})
	require.Len(t, doc.Segment.Cluster, 3)
	i := 0
	for ci, cl := range doc.Segment.Cluster {
		require.Equal(t, uint64(frags[ci].tc), cl.Timecode, "absolute timecode of fragment %d", ci)
		for bi, b := range cl.SimpleBlock {
			want := frags[ci].frames[bi]
			require.Equal(t, uint64(1), b.TrackNumber)
			require.Equal(t, want.rel, int64(b.Timecode))
			require.Equal(t, want.key, b.Keyframe)
			require.Len(t, b.Data, 1)
			require.Equal(t, clip.Frames[i].Data, b.Data[0], "frame %d is the clip's, decrypted", i)
			i++
		}
	}
	require.Equal(t, 90, i)

	// Without the key there is nothing playable to write.
	_, err = consumer.RemuxStream(context.Background(), target, "clip", cam.Ledger.Start, cam.Ledger.End, nil, &bytes.Buffer{})
	require.ErrorIs(t, err, consumer.ErrStillSealed)

	ffmpeg := tooltest.Require(t, "ffmpeg", "ffmpeg")
	path := filepath.Join(t.TempDir(), "out.mkv")
	require.NoError(t, os.WriteFile(path, out.Bytes(), 0o600))
	stdout, stderr := tooltest.Run(t, ffmpeg, "-nostdin", "-v", "error", "-i", path, "-f", "null", "-")
	require.Empty(t, strings.TrimSpace(stdout+stderr), "ffmpeg -v error printed something")
}

// TestVerifyCatchesTamperedStorage flips a byte of a sealed frame in the
// stack's segment files; the read-back cannot pass. The stack stores
// fragments unencrypted here, so the byte can be found and flipped: the
// point is the consumer's own check, not the ingest's encryption at rest.
func TestVerifyCatchesTamperedStorage(t *testing.T) {
	dir := t.TempDir()
	st, err := stack.StartEmbedded(context.Background(), stack.Options{DataDir: dir, PlaintextAtRest: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	hc := st.HTTPClient()
	t.Cleanup(hc.CloseIdleConnections)
	target := simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Credentials: st.AdminCredentials(), Region: st.Region}
	key := consumerKey(t, 31)
	cam, gops := e2eeCamera(t, target, "victim", key, 31)
	frags := gops.fragments(3)
	numbers := cam.put(frags)
	require.NoError(t, st.Close(context.Background()))

	// The second fragment's Cluster start as the writer puts it: ID, unknown
	// size, Timecode element with its 8-byte value. Frame data follows.
	victim := frags[1]
	pattern := binary.BigEndian.AppendUint32(nil, mkv.IDCluster)
	pattern = append(pattern, 0xFF, mkv.IDTimecode, 0x88)
	pattern = binary.BigEndian.AppendUint64(pattern, uint64(victim.tc))
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
			require.Greater(t, len(data), i+2000)
			data[i+1500] ^= 0x55
			tampered++
			return os.WriteFile(path, data, 0o600)
		}
		return nil
	}))
	require.Equal(t, 1, tampered, "the cluster is stored once")

	_, target2 := startStack(t, dir)
	v := consumer.Verify(context.Background(), target2, &cam.Ledger, e2ee.NewOpener("victim", key))
	require.False(t, v.OK(), "%+v", v)
	require.Empty(t, v.Err, "detected as data, not a harness failure")
	// The store may notice the damage itself (and then not serve the
	// fragment, or cut its torn tail) or serve it: either way the victim's
	// frames do not come back as acknowledged.
	require.Positive(t, v.LostFrames)
	reported := false
	for _, e := range v.IntegrityErrors {
		reported = reported || e.Fragment == numbers[victim.tc]
	}
	for _, n := range v.NotServedFragments {
		reported = reported || n.Number == numbers[victim.tc]
	}
	for _, h := range v.LostHoles {
		reported = reported || (h.First <= victim.frames[14].seq && h.Last >= victim.frames[14].seq)
	}
	require.True(t, reported, "the tampered fragment is reported: %+v", v)
	for _, h := range v.LostHoles {
		require.Greater(t, h.First, frags[0].frames[14].seq, "the fragment before the victim is intact")
	}
	t.Logf("tampering detected: lost %d frames %v, integrity failures %d, not served %d", v.LostFrames, v.LostHoles, v.IntegrityFailures, v.NotServed)
}
