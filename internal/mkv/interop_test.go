package mkv_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/camstorm/camstorm/internal/tooltest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/at-wat/ebml-go"

	"github.com/camstorm/camstorm/fixtures"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/mkv"
)

// These tests re-mux the real H.264 fixture through the Writer in the KVS
// layout and check that independent readers (mkvtoolnix, FFmpeg, ebml-go)
// accept it and get every frame back.

// epochBase is the ABSOLUTE-mode timecode of the first frame (epoch ms).
const epochBase = 1_700_000_000_000

// writtenFrame is what the re-mux wrote for one frame.
type writtenFrame struct {
	track uint8
	ptsMs int64
	key   bool
	data  []byte
}

// remux is a KVS-profile file made from the fixture, and what went into it.
type remux struct {
	path        string
	frames      []writtenFrame
	clusters    []int64 // cluster timecodes
	tagsAfter   map[int]string
	headerTagID string
}

// remuxFixture writes the H.264 fixture as a KVS producer would: header with
// producer Tags, one Cluster per GOP with absolute epoch-ms timecodes, a
// producer Tags element after every other Cluster, END_OF_FRAGMENT at the end.
func remuxFixture(t *testing.T) remux {
	t.Helper()
	clip, err := fixtures.H264()
	if err != nil {
		t.Fatalf("fixtures.H264(): %v", err)
	}
	r := remux{path: filepath.Join(t.TempDir(), "kvs.mkv"), tagsAfter: map[int]string{}, headerTagID: "cam-0001"}
	f, err := os.Create(r.path)
	if err != nil {
		t.Fatal(err)
	}
	buf := bufio.NewWriter(f)
	w := mkv.NewWriter(buf)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.WriteHeader(mkv.Header{
		SegmentUID: [16]byte{0xca, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14},
		App:        "camstorm interop test",
		Tracks: []mkv.TrackSpec{{Number: 1, UID: 1, Type: mkv.TrackVideo, CodecID: clip.CodecID, Name: "video",
			CodecPrivate: clip.CodecPrivate, Width: uint32(clip.Width), Height: uint32(clip.Height)}},
		Tags: []mkv.SimpleTag{{Name: "CAMERA_ID", Value: r.headerTagID}},
	}))
	for _, fr := range clip.Frames {
		pts := epochBase + fr.PTS.Milliseconds()
		if fr.Key {
			if n := len(r.clusters); n > 0 && n%2 == 1 {
				value := fmt.Sprintf("after cluster %d", n-1)
				must(w.WriteTags(mkv.SimpleTag{Name: "CLUSTER_NOTE", Value: value}))
				r.tagsAfter[n-1] = value
			}
			must(w.StartCluster(pts))
			r.clusters = append(r.clusters, pts)
		}
		must(w.WriteFrame(1, pts, fr.Key, fr.Data))
		r.frames = append(r.frames, writtenFrame{track: 1, ptsMs: pts, key: fr.Key, data: fr.Data})
	}
	must(w.EndFragment())
	must(buf.Flush())
	must(f.Close())
	return r
}

func TestInteropMkvinfoAcceptsKVSProfile(t *testing.T) {
	mkvinfo := tooltest.Require(t, "mkvinfo", "mkvtoolnix")
	r := remuxFixture(t)
	out, stderr := tooltest.Run(t, mkvinfo, "-v", r.path)
	checkMkvinfoClean(t, out, stderr)
	for _, want := range []string{
		"Segment: size unknown",
		"Title: Kinesis Video SDK",
		"Codec ID: V_MPEG4/ISO/AVC",
		"Pixel width: 640",
		"Pixel height: 360",
		"Name: CAMERA_ID",
		"Name: CLUSTER_NOTE",
		"Name: " + kvsapi.TagEndOfFragment,
		"Cluster timestamp: 472222:13:20.000000000", // epoch 1.7e9 s as hours
	} {
		if !strings.Contains(out, want) {
			t.Errorf("mkvinfo -v output lacks %q:\n%s", want, tooltest.Tail(out))
		}
	}
	if got := strings.Count(out, "+ Simple block: "); got != len(r.frames) {
		t.Errorf("mkvinfo -v lists %d SimpleBlocks, want %d", got, len(r.frames))
	}
	if got := strings.Count(out, "\n|+ Cluster\n"); got != len(r.clusters) {
		t.Errorf("mkvinfo -v lists %d Clusters, want %d", got, len(r.clusters))
	}
}

func checkMkvinfoClean(t *testing.T, out, stderr string) {
	t.Helper()
	if stderr != "" {
		t.Errorf("mkvinfo wrote to stderr:\n%s", stderr)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "Error") || strings.Contains(line, "Warning") {
			t.Errorf("mkvinfo reports: %s", line)
		}
	}
}

// ffprobeResult is the part of `ffprobe -of json` the test reads.
type ffprobeResult struct {
	Streams []struct {
		CodecName    string `json:"codec_name"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		NbReadFrames string `json:"nb_read_frames"`
	} `json:"streams"`
	Format struct {
		FormatName string            `json:"format_name"`
		StartTime  string            `json:"start_time"`
		Tags       map[string]string `json:"tags"`
	} `json:"format"`
}

func TestInteropFFprobeCountsEveryFrame(t *testing.T) {
	ffprobe := tooltest.Require(t, "ffprobe", "ffmpeg")
	r := remuxFixture(t)
	out, stderr := tooltest.Run(t, ffprobe, "-v", "error", "-count_frames", "-show_streams", "-show_format", "-of", "json", r.path)
	if stderr != "" {
		t.Errorf("ffprobe -v error wrote to stderr:\n%s", stderr)
	}
	var res ffprobeResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("ffprobe JSON: %v\n%s", err, out)
	}
	if len(res.Streams) != 1 {
		t.Fatalf("ffprobe found %d streams, want 1:\n%s", len(res.Streams), out)
	}
	s := res.Streams[0]
	if s.CodecName != "h264" || s.Width != 640 || s.Height != 360 || s.NbReadFrames != strconv.Itoa(len(r.frames)) {
		t.Errorf("ffprobe stream = %s %dx%d, %s frames; want h264 640x360, %d frames", s.CodecName, s.Width, s.Height, s.NbReadFrames, len(r.frames))
	}
	if start, err := strconv.ParseFloat(res.Format.StartTime, 64); err != nil || start != epochBase/1000 {
		t.Errorf("ffprobe start_time = %q, want %d (absolute epoch timecodes)", res.Format.StartTime, epochBase/1000)
	}
	if got := res.Format.Tags["CAMERA_ID"]; got != r.headerTagID {
		t.Errorf("ffprobe format tag CAMERA_ID = %q, want %q (producer Tags in the header)", got, r.headerTagID)
	}
}

func TestInteropFFmpegDecodesWithoutErrors(t *testing.T) {
	ffmpeg := tooltest.Require(t, "ffmpeg", "ffmpeg")
	r := remuxFixture(t)
	out, stderr := tooltest.Run(t, ffmpeg, "-nostdin", "-v", "error", "-i", r.path, "-f", "null", "-")
	if stderr != "" || out != "" {
		t.Errorf("ffmpeg -v error decode printed:\nstdout: %s\nstderr: %s", out, stderr)
	}
}

// Structures for ebml-go, an independent reader.
type (
	ebmlFile struct {
		Segment ebmlSegment `ebml:"Segment"`
	}
	ebmlSegment struct {
		Tracks  ebmlTracks       `ebml:"Tracks"`
		Tags    []ebmlTags       `ebml:"Tags"`
		Cluster chan ebmlCluster `ebml:"Cluster"`
	}
	ebmlTracks struct {
		TrackEntry []struct {
			TrackNumber  uint64 `ebml:"TrackNumber"`
			TrackType    uint64 `ebml:"TrackType"`
			CodecID      string `ebml:"CodecID"`
			CodecPrivate []byte `ebml:"CodecPrivate"`
		} `ebml:"TrackEntry"`
	}
	ebmlTags struct {
		Tag []struct {
			SimpleTag []struct {
				TagName   string `ebml:"TagName"`
				TagString string `ebml:"TagString"`
			} `ebml:"SimpleTag"`
		} `ebml:"Tag"`
	}
	ebmlCluster struct {
		Timecode    uint64       `ebml:"Timecode"`
		SimpleBlock []ebml.Block `ebml:"SimpleBlock"`
	}
)

// topLevel is a Cluster or Tags as ebml-go saw it, in file order.
type topLevel struct {
	name string
	pos  uint64
}

func TestInteropEBMLGoReadsBackEveryFrame(t *testing.T) {
	r := remuxFixture(t)
	file, err := os.ReadFile(r.path)
	if err != nil {
		t.Fatal(err)
	}
	doc := ebmlFile{Segment: ebmlSegment{Cluster: make(chan ebmlCluster)}}
	var order []topLevel
	hook := ebml.WithElementReadHooks(func(e *ebml.Element) {
		if e.Name == "Cluster" || e.Name == "Tags" {
			order = append(order, topLevel{e.Name, e.Position})
		}
	})
	errc := make(chan error, 1)
	go func() {
		errc <- ebml.Unmarshal(bytes.NewReader(file), &doc, hook, ebml.WithMaxLeafElementSize(1<<20))
		close(doc.Segment.Cluster)
	}()
	var clusters []ebmlCluster
	for cl := range doc.Segment.Cluster {
		clusters = append(clusters, cl)
	}
	if err := <-errc; err != nil {
		t.Fatalf("ebml.Unmarshal: %v", err)
	}

	clip, _ := fixtures.H264()
	if tr := doc.Segment.Tracks.TrackEntry; len(tr) != 1 || tr[0].TrackNumber != 1 || tr[0].CodecID != mkv.CodecH264 || !bytes.Equal(tr[0].CodecPrivate, clip.CodecPrivate) {
		t.Errorf("Tracks = %+v, want one H.264 track with the fixture's avcC", tr)
	}
	if len(clusters) != len(r.clusters) {
		t.Fatalf("read %d clusters, want %d", len(clusters), len(r.clusters))
	}
	i := 0
	for ci, cl := range clusters {
		if int64(cl.Timecode) != r.clusters[ci] {
			t.Errorf("cluster %d timecode = %d, want %d", ci, cl.Timecode, r.clusters[ci])
		}
		for bi, b := range cl.SimpleBlock {
			if i >= len(r.frames) {
				t.Fatalf("read more frames than the %d written", len(r.frames))
			}
			want := r.frames[i]
			pts := int64(cl.Timecode) + int64(b.Timecode)
			if b.TrackNumber != uint64(want.track) || pts != want.ptsMs || b.Keyframe != want.key ||
				len(b.Data) != 1 || !bytes.Equal(b.Data[0], want.data) {
				t.Fatalf("cluster %d block %d = track %d pts %d key %v, %d laced frames; want frame %d: track %d pts %d key %v and identical bytes",
					ci, bi, b.TrackNumber, pts, b.Keyframe, len(b.Data), i, want.track, want.ptsMs, want.key)
			}
			i++
		}
	}
	if i != len(r.frames) {
		t.Errorf("read %d frames, want %d", i, len(r.frames))
	}

	// Tags: the header's, then one after every other cluster, then END_OF_FRAGMENT last.
	var wantTags []string
	wantTags = append(wantTags, "CAMERA_ID="+r.headerTagID)
	var wantOrder []string
	wantOrder = append(wantOrder, "Tags")
	for ci := range r.clusters {
		wantOrder = append(wantOrder, "Cluster")
		if v, ok := r.tagsAfter[ci]; ok {
			wantOrder = append(wantOrder, "Tags")
			wantTags = append(wantTags, "CLUSTER_NOTE="+v)
		}
	}
	wantOrder = append(wantOrder, "Tags")
	wantTags = append(wantTags, kvsapi.TagEndOfFragment+"=")
	var gotTags []string
	for _, tags := range doc.Segment.Tags {
		for _, tag := range tags.Tag {
			for _, st := range tag.SimpleTag {
				gotTags = append(gotTags, st.TagName+"="+st.TagString)
			}
		}
	}
	if fmt.Sprint(gotTags) != fmt.Sprint(wantTags) {
		t.Errorf("tags = %q, want %q", gotTags, wantTags)
	}
	var gotOrder []string
	for _, e := range order {
		gotOrder = append(gotOrder, e.name)
	}
	if fmt.Sprint(gotOrder) != fmt.Sprint(wantOrder) {
		t.Errorf("top-level order = %v, want %v", gotOrder, wantOrder)
	}
}

func TestInteropMultiTrackFile(t *testing.T) {
	mkvinfo := tooltest.Require(t, "mkvinfo", "mkvtoolnix")
	mkvmerge := tooltest.Require(t, "mkvmerge", "mkvtoolnix")
	clip, err := fixtures.H264()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "multi.mkv")
	var out bytes.Buffer
	w := mkv.NewWriter(&out)
	err = w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{
		{Number: 1, UID: 101, Type: mkv.TrackVideo, CodecID: clip.CodecID, CodecPrivate: clip.CodecPrivate, Width: 640, Height: 360},
		// AAC-LC 44.1 kHz stereo AudioSpecificConfig; the frames are placeholders.
		{Number: 2, UID: 102, Type: mkv.TrackAudio, CodecID: mkv.CodecAAC, CodecPrivate: []byte{0x12, 0x10}, SamplingFrequency: 44100, Channels: 2},
		{Number: 3, UID: 103, Type: mkv.TrackMetadata, CodecID: "M_CAMSTORM/EVENTS", Name: "events"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Two seconds of each track, interleaved in timestamp order, one cluster per GOP.
	audio := bytes.Repeat([]byte{0x21}, 200)
	nextAudio, nextMeta := int64(0), int64(0)
	frames := 0
	for _, fr := range clip.Frames[:60] {
		pts := epochBase + fr.PTS.Milliseconds()
		for ; epochBase+nextAudio < pts; nextAudio += 23 { // 1024 samples at 44.1 kHz
			if err := w.WriteFrame(2, epochBase+nextAudio, true, audio); err != nil {
				t.Fatal(err)
			}
			frames++
		}
		for ; epochBase+nextMeta < pts; nextMeta += 500 {
			if err := w.WriteFrame(3, epochBase+nextMeta, true, []byte(`{"motion":true}`)); err != nil {
				t.Fatal(err)
			}
			frames++
		}
		if fr.Key {
			if err := w.StartCluster(pts); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.WriteFrame(1, pts, fr.Key, fr.Data); err != nil {
			t.Fatal(err)
		}
		frames++
	}
	if err := w.EndFragment(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	info, stderr := tooltest.Run(t, mkvinfo, "-v", path)
	checkMkvinfoClean(t, info, stderr)
	for _, want := range []string{"Track type: video", "Track type: audio", "Codec ID: A_AAC", "Codec ID: M_CAMSTORM/EVENTS",
		"Sampling frequency: 44100", "Channels: 2"} {
		if !strings.Contains(info, want) {
			t.Errorf("mkvinfo -v output lacks %q:\n%s", want, tooltest.Tail(info))
		}
	}
	if got := strings.Count(info, "+ Simple block: "); got != frames {
		t.Errorf("mkvinfo lists %d SimpleBlocks, want %d", got, frames)
	}
	for track := 1; track <= 3; track++ {
		if !strings.Contains(info, fmt.Sprintf("track number %d,", track)) {
			t.Errorf("mkvinfo shows no block of track %d", track)
		}
	}

	ident, stderr := tooltest.Run(t, mkvmerge, "-J", path)
	var id struct {
		Container struct {
			Recognized, Supported bool
		} `json:"container"`
		Errors, Warnings []string
		Tracks           []struct {
			Type  string `json:"type"`
			Codec string `json:"codec"`
		} `json:"tracks"`
	}
	if err := json.Unmarshal([]byte(ident), &id); err != nil {
		t.Fatalf("mkvmerge -J: %v\n%s", err, ident)
	}
	if stderr != "" || !id.Container.Recognized || !id.Container.Supported || len(id.Errors)+len(id.Warnings) != 0 {
		t.Errorf("mkvmerge -J: recognized %v supported %v errors %q warnings %q stderr %q",
			id.Container.Recognized, id.Container.Supported, id.Errors, id.Warnings, stderr)
	}
	// mkvtoolnix has no track type 0x21 (metadata): mkvinfo shows it as
	// "unknown" and mkvmerge leaves it out of its identification.
	if len(id.Tracks) != 2 || id.Tracks[0].Type != "video" || id.Tracks[1].Type != "audio" {
		t.Errorf("mkvmerge -J tracks = %+v, want video and audio (the metadata track is not identified)", id.Tracks)
	}
}
