package mkv

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/at-wat/ebml-go"

	"github.com/camstorm/camstorm/internal/kvsapi"
)

func TestAppendSize(t *testing.T) {
	cases := []struct {
		n    uint64
		want string
	}{
		{0, "80"},
		{1, "81"},
		{126, "fe"},
		{127, "407f"}, // 0xFF would mean "unknown size"
		{16382, "7ffe"},
		{16383, "203fff"},
		{1<<21 - 2, "3ffffe"},
		{1<<21 - 1, "101fffff"},
		{1<<28 - 2, "1ffffffe"},
		{1<<28 - 1, "080fffffff"},
		{maxEncodableSize, "01fffffffffffffe"},
	}
	for _, c := range cases {
		if got := hex.EncodeToString(appendSize(nil, c.n)); got != c.want {
			t.Errorf("appendSize(nil, %d) = %s, want %s", c.n, got, c.want)
		}
	}
}

func TestAppendSizeWidth(t *testing.T) {
	cases := []struct {
		n     uint64
		width int
		want  string
	}{
		{0, 1, "80"},
		{5, 4, "10000005"},
		{300, 8, "010000000000012c"},
		{1<<28 - 2, 4, "1ffffffe"},
	}
	for _, c := range cases {
		if got := hex.EncodeToString(appendSizeWidth(nil, c.n, c.width)); got != c.want {
			t.Errorf("appendSizeWidth(nil, %d, %d) = %s, want %s", c.n, c.width, got, c.want)
		}
	}
}

func TestAppendIDAndUint(t *testing.T) {
	cases := []struct {
		name string
		got  []byte
		want string
	}{
		{"appendID(SimpleBlock)", appendID(nil, IDSimpleBlock), "a3"},
		{"appendID(TagName)", appendID(nil, IDTagName), "45a3"},
		{"appendID(TimecodeScale)", appendID(nil, IDTimecodeScale), "2ad7b1"},
		{"appendID(Cluster)", appendID(nil, IDCluster), "1f43b675"},
		{"appendUint(TrackNumber, 0)", appendUint(nil, IDTrackNumber, 0), "d78100"},
		{"appendUint(TrackNumber, 1)", appendUint(nil, IDTrackNumber, 1), "d78101"},
		{"appendUint(TimecodeScale, 1e6)", appendUint(nil, IDTimecodeScale, 1_000_000), "2ad7b1830f4240"},
		{"appendUint(TrackUID, max)", appendUint(nil, IDTrackUID, ^uint64(0)), "73c588ffffffffffffffff"},
		{"appendUintWidth(Timecode, 1, 8)", appendUintWidth(nil, IDTimecode, 1, 8), "e7880000000000000001"},
		{"appendFloat64(SamplingFrequency, 48000)", appendFloat64(nil, IDSamplingFrequency, 48000), "b58840e7700000000000"},
		{"appendString(DocType, matroska)", appendString(nil, IDDocType, "matroska"), "4282886d6174726f736b61"},
	}
	for _, c := range cases {
		if got := hex.EncodeToString(c.got); got != c.want {
			t.Errorf("%s = %s, want %s", c.name, got, c.want)
		}
	}
}

func TestAppendEBMLHeaderMatchesProducerSDK(t *testing.T) {
	// §2.1: one-byte size 0xA3, then the seven header fields.
	want := "1a45dfa3" + "a3" + "42868101" + "42f78101" + "42f28104" + "42f38108" +
		"4282886d6174726f736b61" + "42878102" + "42858102"
	if got := hex.EncodeToString(AppendEBMLHeader(nil)); got != want {
		t.Errorf("AppendEBMLHeader(nil) = %s, want %s", got, want)
	}
	if got := hex.EncodeToString(AppendSegmentStart([]byte{0xAA})); got != "aa18538067ff" {
		t.Errorf("AppendSegmentStart([aa]) = %s, want aa18538067ff", got)
	}
}

// Structures for reading the writer's output back with ebml-go.
type (
	wtFile struct {
		Header  wtEBMLHeader `ebml:"EBML"`
		Segment wtSegment    `ebml:"Segment"`
	}
	wtEBMLHeader struct {
		DocType            string `ebml:"EBMLDocType"`
		DocTypeVersion     uint64 `ebml:"EBMLDocTypeVersion"`
		DocTypeReadVersion uint64 `ebml:"EBMLDocTypeReadVersion"`
		EBMLMaxSizeLength  uint64 `ebml:"EBMLMaxSizeLength"`
	}
	wtSegment struct {
		Info    wtInfo      `ebml:"Info"`
		Tracks  wtTracks    `ebml:"Tracks"`
		Tags    []wtTags    `ebml:"Tags"`
		Cluster []wtCluster `ebml:"Cluster"`
	}
	wtInfo struct {
		SegmentUID    []byte `ebml:"SegmentUID"`
		TimecodeScale uint64 `ebml:"TimecodeScale"`
		Title         string `ebml:"Title"`
		MuxingApp     string `ebml:"MuxingApp"`
		WritingApp    string `ebml:"WritingApp"`
	}
	wtTracks struct {
		TrackEntry []wtTrackEntry `ebml:"TrackEntry"`
	}
	wtTrackEntry struct {
		TrackNumber  uint64   `ebml:"TrackNumber"`
		TrackUID     uint64   `ebml:"TrackUID"`
		TrackType    uint64   `ebml:"TrackType"`
		CodecID      string   `ebml:"CodecID"`
		Name         string   `ebml:"Name"`
		CodecPrivate []byte   `ebml:"CodecPrivate"`
		Video        *wtVideo `ebml:"Video"`
		Audio        *wtAudio `ebml:"Audio"`
	}
	wtVideo struct {
		PixelWidth  uint64 `ebml:"PixelWidth"`
		PixelHeight uint64 `ebml:"PixelHeight"`
	}
	wtAudio struct {
		SamplingFrequency float64 `ebml:"SamplingFrequency"`
		Channels          uint64  `ebml:"Channels"`
	}
	wtTags struct {
		Tag []wtTag `ebml:"Tag"`
	}
	wtTag struct {
		SimpleTag []wtSimpleTag `ebml:"SimpleTag"`
	}
	wtSimpleTag struct {
		TagName   string `ebml:"TagName"`
		TagString string `ebml:"TagString"`
	}
	wtCluster struct {
		Timecode    uint64       `ebml:"Timecode"`
		Position    uint64       `ebml:"Position"`
		SimpleBlock []ebml.Block `ebml:"SimpleBlock"`
	}
)

func wtDecode(t *testing.T, b []byte) wtFile {
	t.Helper()
	var f wtFile
	if err := ebml.Unmarshal(bytes.NewReader(b), &f); err != nil {
		t.Fatalf("ebml.Unmarshal of the writer's output: %v\n%s", err, hex.Dump(b[:min(len(b), 512)]))
	}
	return f
}

func wtTestHeader() Header {
	return Header{
		SegmentUID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		App:        "camstorm-test 1.0",
		Tracks: []TrackSpec{
			{Number: 1, UID: 0x1122334455667788, Type: TrackVideo, CodecID: CodecH264, Name: "video",
				CodecPrivate: []byte{1, 0x4d, 0x40, 0x16, 0xff, 0xe1}, Width: 640, Height: 360},
			{Number: 2, UID: 2, Type: TrackAudio, CodecID: CodecAAC, Name: "audio",
				CodecPrivate: []byte{0x12, 0x10}, SamplingFrequency: 44100, Channels: 2},
			{Number: 3, UID: 3, Type: TrackMetadata, CodecID: "M_CAMSTORM/E2EE"},
		},
		Tags: []SimpleTag{{Name: "CAMERA_ID", Value: "cam-0001"}, {Name: "SITE", Value: ""}},
	}
}

func TestAppendHeaderReadsBackWithEBMLGo(t *testing.T) {
	h := wtTestHeader()
	b, err := AppendHeader(nil, h)
	if err != nil {
		t.Fatalf("AppendHeader() error: %v", err)
	}
	f := wtDecode(t, b)
	if f.Header.DocType != "matroska" || f.Header.DocTypeVersion != 2 || f.Header.DocTypeReadVersion != 2 || f.Header.EBMLMaxSizeLength != 8 {
		t.Errorf("EBML header = %+v, want matroska v2/2, max size length 8", f.Header)
	}
	info := f.Segment.Info
	if !bytes.Equal(info.SegmentUID, h.SegmentUID[:]) || info.TimecodeScale != 1_000_000 ||
		info.Title != DefaultTitle || info.MuxingApp != h.App || info.WritingApp != h.App {
		t.Errorf("Info = %+v, want SegmentUID %x, scale 1e6, title %q, apps %q", info, h.SegmentUID, DefaultTitle, h.App)
	}
	entries := f.Segment.Tracks.TrackEntry
	if len(entries) != 3 {
		t.Fatalf("read back %d tracks, want 3", len(entries))
	}
	for i, want := range h.Tracks {
		got := entries[i]
		if got.TrackNumber != uint64(want.Number) || got.TrackUID != want.UID || got.TrackType != uint64(want.Type) ||
			got.CodecID != want.CodecID || got.Name != want.Name || !bytes.Equal(got.CodecPrivate, want.CodecPrivate) {
			t.Errorf("track %d = %+v, want %+v", i+1, got, want)
		}
	}
	if v := entries[0].Video; v == nil || v.PixelWidth != 640 || v.PixelHeight != 360 || entries[0].Audio != nil {
		t.Errorf("video track: Video = %+v, Audio = %+v, want 640x360 and no Audio", v, entries[0].Audio)
	}
	if a := entries[1].Audio; a == nil || a.SamplingFrequency != 44100 || a.Channels != 2 || entries[1].Video != nil {
		t.Errorf("audio track: Audio = %+v, Video = %+v, want 44100 Hz stereo and no Video", a, entries[1].Video)
	}
	if entries[2].Video != nil || entries[2].Audio != nil {
		t.Errorf("metadata track has Video %+v / Audio %+v, want neither", entries[2].Video, entries[2].Audio)
	}
	if len(f.Segment.Tags) != 1 || len(f.Segment.Tags[0].Tag) != 1 {
		t.Fatalf("Tags = %+v, want one Tags with one Tag", f.Segment.Tags)
	}
	st := f.Segment.Tags[0].Tag[0].SimpleTag
	if len(st) != 2 || st[0] != (wtSimpleTag{"CAMERA_ID", "cam-0001"}) || st[1] != (wtSimpleTag{"SITE", ""}) {
		t.Errorf("SimpleTags = %+v, want CAMERA_ID=cam-0001, SITE=''", st)
	}
}

func TestAppendHeaderOmitsZeroSegmentUID(t *testing.T) {
	h := wtTestHeader()
	h.SegmentUID = [16]byte{}
	h.Title = "custom"
	b, err := AppendHeader(nil, h)
	if err != nil {
		t.Fatalf("AppendHeader() error: %v", err)
	}
	f := wtDecode(t, b)
	if f.Segment.Info.SegmentUID != nil || f.Segment.Info.Title != "custom" {
		t.Errorf("Info = %+v, want no SegmentUID and title custom", f.Segment.Info)
	}
}

func TestHeaderValidateReportsEveryProblem(t *testing.T) {
	good := TrackSpec{Number: 1, UID: 1, Type: TrackVideo, CodecID: CodecH264, Width: 1, Height: 1}
	cases := []struct {
		name     string
		tracks   []TrackSpec
		problems int
	}{
		{"no tracks", nil, 1},
		{"four tracks", []TrackSpec{good, {Number: 2, UID: 2, Type: 0x21, CodecID: "x"}, {Number: 3, UID: 3, Type: 0x21, CodecID: "x"}, {Number: 4, UID: 4, Type: 0x21, CodecID: "x"}}, 1},
		{"numbered from 0", []TrackSpec{{Number: 0, UID: 1, Type: TrackVideo, CodecID: CodecH264, Width: 1, Height: 1}}, 1},
		{"everything missing", []TrackSpec{{Number: 1}}, 3},
		{"video without size", []TrackSpec{{Number: 1, UID: 1, Type: TrackVideo, CodecID: CodecH264}}, 1},
		{"audio without rate and channels", []TrackSpec{{Number: 1, UID: 1, Type: TrackAudio, CodecID: CodecAAC}}, 2},
		{"huge codec private", []TrackSpec{{Number: 1, UID: 1, Type: 0x21, CodecID: "x", CodecPrivate: make([]byte, kvsapi.MaxCodecPrivate+1)}}, 1},
	}
	for _, c := range cases {
		err := Header{Tracks: c.tracks}.Validate()
		if !errors.Is(err, ErrInvalidHeader) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidHeader", c.name, err)
			continue
		}
		if got := len(err.(interface{ Unwrap() []error }).Unwrap()); got != c.problems {
			t.Errorf("%s: Validate() reported %d problems (%v), want %d", c.name, got, err, c.problems)
		}
		if b, err := AppendHeader([]byte{7}, Header{Tracks: c.tracks}); err == nil || !bytes.Equal(b, []byte{7}) {
			t.Errorf("%s: AppendHeader() = % x, %v; want dst unchanged and an error", c.name, b, err)
		}
	}
	if err := (Header{Tracks: []TrackSpec{good}}).Validate(); err != nil {
		t.Errorf("Validate() of a good header = %v, want nil", err)
	}
}

func TestAppendTagsLayout(t *testing.T) {
	got := hex.EncodeToString(AppendTags(nil, []SimpleTag{{Name: "A", Value: "bc"}}))
	// Tags{Tag{SimpleTag{TagName "A", TagString "bc"}}}, every size a 4-byte vint
	// as in the Tags KVS adds to GetMedia output (§2.5).
	want := "1254c367" + "1000001b" + "7373" + "10000015" + "67c8" + "1000000f" +
		"45a3" + "10000001" + "41" + "4487" + "10000002" + "6263"
	if got != want {
		t.Errorf("AppendTags(A=bc) = %s, want %s", got, want)
	}
	if got := AppendTags([]byte{1}, nil); !bytes.Equal(got, []byte{1}) {
		t.Errorf("AppendTags(dst, nil) = % x, want dst unchanged", got)
	}
}

func TestAppendTagsDoesNotAllocateIntoRoomyBuffer(t *testing.T) {
	tags := []SimpleTag{
		{Name: kvsapi.TagFragmentNumber, Value: "91343852338176208490308672115616860505404839548"},
		{Name: kvsapi.TagServerTimestamp, Value: "1511852109.126"},
		{Name: kvsapi.TagProducerTimestamp, Value: "1511852108.513"},
	}
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() { buf = AppendTags(buf[:0], tags) })
	if allocs != 0 {
		t.Errorf("AppendTags into a roomy buffer: %v allocs/op, want 0", allocs)
	}
	var doc struct {
		Tags wtTags `ebml:"Tags"`
	}
	if err := ebml.Unmarshal(bytes.NewReader(buf), &doc); err != nil {
		t.Fatalf("ebml.Unmarshal(AppendTags(...)): %v", err)
	}
	if st := doc.Tags.Tag[0].SimpleTag; len(st) != 3 || st[2].TagName != kvsapi.TagProducerTimestamp || st[2].TagString != "1511852108.513" {
		t.Errorf("read back %+v, want the three tags in order", st)
	}
}

func TestWriterByteLayout(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	if err := w.StartCluster(1565810137603); err != nil {
		t.Fatalf("StartCluster: %v", err)
	}
	// Cluster ID, unknown size 0xFF, Timecode as 8-byte uint, Position 0.
	wantCluster := "1f43b675ff" + "e788" + "0000016c918e9a03" + "a78100"
	if got := hex.EncodeToString(out.Bytes()); got != wantCluster {
		t.Errorf("StartCluster(1565810137603) wrote %s, want %s", got, wantCluster)
	}
	out.Reset()
	if err := w.WriteFrame(2, 1565810137603+300, true, []byte{0xDE, 0xAD}); err != nil {
		t.Fatalf("WriteFrame: %v", err)
	}
	// SimpleBlock, 8-byte size 6, track 0x82, timecode +300, key flag, data.
	wantBlock := "a3" + "0100000000000006" + "82" + "012c" + "80" + "dead"
	if got := hex.EncodeToString(out.Bytes()); got != wantBlock {
		t.Errorf("WriteFrame(2, +300ms, key, dead) wrote %s, want %s", got, wantBlock)
	}
	out.Reset()
	if err := w.WriteFrame(1, 1565810137603+32767, false, nil); err != nil {
		t.Fatalf("WriteFrame at +32767 ms: %v", err)
	}
	if got, want := hex.EncodeToString(out.Bytes()), "a30100000000000004817fff00"; got != want {
		t.Errorf("WriteFrame(1, +32767ms, delta, empty) wrote %s, want %s", got, want)
	}
	out.Reset()
	if err := w.EndFragment(); err != nil {
		t.Fatalf("EndFragment: %v", err)
	}
	if want := AppendTags(nil, []SimpleTag{{Name: kvsapi.TagEndOfFragment}}); !bytes.Equal(out.Bytes(), want) {
		t.Errorf("EndFragment wrote % x, want % x", out.Bytes(), want)
	}
}

func TestWriterRejectsMisuseWithoutWriting(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	if err := w.WriteFrame(1, 0, true, []byte{1}); !errors.Is(err, ErrNoCluster) {
		t.Errorf("WriteFrame before any cluster = %v, want ErrNoCluster", err)
	}
	if err := w.StartCluster(-1); !errors.Is(err, ErrTimecodeRange) {
		t.Errorf("StartCluster(-1) = %v, want ErrTimecodeRange", err)
	}
	if err := w.WriteHeader(Header{}); !errors.Is(err, ErrInvalidHeader) {
		t.Errorf("WriteHeader(empty) = %v, want ErrInvalidHeader", err)
	}
	if out.Len() != 0 {
		t.Fatalf("misuse wrote %d bytes, want 0", out.Len())
	}

	h := wtTestHeader()
	h.Tracks = h.Tracks[:2]
	if err := w.WriteHeader(h); err != nil {
		t.Fatalf("WriteHeader: %v", err)
	}
	if err := w.StartCluster(1000); err != nil {
		t.Fatalf("StartCluster: %v", err)
	}
	written := out.Len()
	misuse := []struct {
		name  string
		track uint8
		pts   int64
		want  error
	}{
		{"track 0", 0, 1000, ErrTrackNumber},
		{"undeclared track 3", 3, 1000, ErrTrackNumber},
		{"frame before its cluster", 1, 999, ErrTimecodeRange},
		{"frame 32768 ms into the cluster", 1, 1000 + 32768, ErrTimecodeRange},
	}
	for _, m := range misuse {
		if err := w.WriteFrame(m.track, m.pts, false, []byte{1}); !errors.Is(err, m.want) {
			t.Errorf("WriteFrame(%s) = %v, want %v", m.name, err, m.want)
		}
	}
	if out.Len() != written {
		t.Errorf("rejected frames wrote %d bytes, want 0", out.Len()-written)
	}
	if err := w.WriteFrame(2, 1000, false, []byte{1}); err != nil {
		t.Errorf("WriteFrame on track 2 after rejected calls = %v, want nil", err)
	}
	if err := w.WriteTags(SimpleTag{Name: "X", Value: "y"}); err != nil {
		t.Fatalf("WriteTags: %v", err)
	}
	if err := w.WriteFrame(1, 1000, false, []byte{1}); !errors.Is(err, ErrNoCluster) {
		t.Errorf("WriteFrame after Tags closed the cluster = %v, want ErrNoCluster", err)
	}
}

func TestWriterWithoutHeaderAcceptsAnyOneByteTrack(t *testing.T) {
	w := NewWriter(io.Discard)
	if err := w.StartCluster(0); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(126, 0, true, nil); err != nil {
		t.Errorf("WriteFrame(126) with no header = %v, want nil (the caller wrote its own header)", err)
	}
	if err := w.WriteFrame(127, 0, true, nil); !errors.Is(err, ErrTrackNumber) {
		t.Errorf("WriteFrame(127) = %v, want ErrTrackNumber (0xFF is not a valid 1-byte vint)", err)
	}
}

// failingWriter accepts limit bytes, then fails or writes short.
type failingWriter struct {
	limit int
	short bool
	calls int
}

var errSinkBroken = errors.New("sink broken")

func (f *failingWriter) Write(p []byte) (int, error) {
	f.calls++
	if len(p) <= f.limit {
		f.limit -= len(p)
		return len(p), nil
	}
	n := f.limit
	f.limit = 0
	if f.short {
		return n, nil
	}
	return n, errSinkBroken
}

func TestWriterErrorsAreSticky(t *testing.T) {
	for _, short := range []bool{false, true} {
		sink := &failingWriter{limit: clusterStartLen + simpleBlockPrefixLen, short: short}
		w := NewWriter(sink)
		if err := w.StartCluster(5); err != nil {
			t.Fatalf("StartCluster: %v", err)
		}
		err := w.WriteFrame(1, 5, true, []byte{1, 2, 3})
		want := errSinkBroken
		if short {
			want = io.ErrShortWrite
		}
		if !errors.Is(err, want) {
			t.Fatalf("WriteFrame into a failing sink (short=%v) = %v, want %v", short, err, want)
		}
		calls := sink.calls
		for name, call := range map[string]func() error{
			"StartCluster": func() error { return w.StartCluster(6) },
			"WriteFrame":   func() error { return w.WriteFrame(1, 5, false, []byte{1}) },
			"WriteTags":    func() error { return w.WriteTags(SimpleTag{Name: "a"}) },
			"EndFragment":  w.EndFragment,
			"WriteHeader":  func() error { return w.WriteHeader(wtTestHeader()) },
		} {
			if err := call(); !errors.Is(err, want) {
				t.Errorf("%s after a sink error = %v, want the sticky %v", name, err, want)
			}
		}
		if sink.calls != calls {
			t.Errorf("writer called the failed sink %d more times, want 0", sink.calls-calls)
		}
		w.Reset(io.Discard)
		if err := w.StartCluster(7); err != nil {
			t.Errorf("StartCluster after Reset = %v, want nil", err)
		}
	}
}

// countingWriter counts Write calls.
type countingWriter struct{ calls, bytes int }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.calls++
	c.bytes += len(p)
	return len(p), nil
}

func TestWriteFrameDoesNotAllocateAndWritesTwice(t *testing.T) {
	sink := &countingWriter{}
	w := NewWriter(sink)
	if err := w.WriteHeader(wtTestHeader()); err != nil {
		t.Fatal(err)
	}
	if err := w.StartCluster(1_700_000_000_000); err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 4096)
	sink.calls = 0
	pts := int64(1_700_000_000_000)
	allocs := testing.AllocsPerRun(1000, func() {
		if err := w.WriteFrame(1, pts, false, frame); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("WriteFrame: %v allocs/op, want 0", allocs)
	}
	if runs := 1001; sink.calls != 2*runs { // AllocsPerRun does one warm-up run
		t.Errorf("WriteFrame made %d Write calls in %d frames, want 2 per frame", sink.calls, runs)
	}
}

// wtCutNUL is what an EBML reader makes of s: strings end at the first NUL
// (RFC 8794 §7.4), so ebml-go stops there.
func wtCutNUL(s string) string {
	before, _, _ := strings.Cut(s, "\x00")
	return before
}

func FuzzAppendTags(f *testing.F) {
	f.Add("CAMERA_ID", "cam-1", "", "")
	f.Add(kvsapi.TagEndOfFragment, "", "x", strings.Repeat("v", 300))
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string) {
		tags := []SimpleTag{{n1, v1}, {n2, v2}}
		b := AppendTags(nil, tags)
		var doc struct {
			Tags wtTags `ebml:"Tags"`
		}
		if err := ebml.Unmarshal(bytes.NewReader(b), &doc); err != nil {
			t.Fatalf("ebml.Unmarshal(AppendTags(%q)): %v", tags, err)
		}
		st := doc.Tags.Tag[0].SimpleTag
		if len(st) != 2 || st[0] != (wtSimpleTag{wtCutNUL(n1), wtCutNUL(v1)}) || st[1] != (wtSimpleTag{wtCutNUL(n2), wtCutNUL(v2)}) {
			t.Fatalf("AppendTags(%q) read back as %q", tags, st)
		}
	})
}

func FuzzAppendHeader(f *testing.F) {
	f.Add("video", []byte{1, 2}, uint32(640), uint32(360), "app", 2, uint8(1))
	f.Add("", []byte(nil), uint32(0), uint32(1), "", 0, uint8(0x21))
	f.Fuzz(func(t *testing.T, name string, cp []byte, width, height uint32, app string, tracks int, typ uint8) {
		h := Header{App: app}
		for i := range tracks % 5 {
			h.Tracks = append(h.Tracks, TrackSpec{Number: uint8(i + 1), UID: uint64(i + 1), Type: typ,
				CodecID: "V_TEST", Name: name, CodecPrivate: cp, Width: width, Height: height,
				SamplingFrequency: float64(width), Channels: uint8(height)})
		}
		b, err := AppendHeader(nil, h)
		if err != nil {
			if h.Validate() == nil {
				t.Fatalf("AppendHeader failed but Validate passed: %v", err)
			}
			return
		}
		got := wtDecode(t, b)
		wantApp := wtCutNUL(app)
		if app == "" {
			wantApp = DefaultApp
		}
		if len(got.Segment.Tracks.TrackEntry) != len(h.Tracks) || got.Segment.Info.WritingApp != wantApp {
			t.Fatalf("read back %+v from %+v", got.Segment, h)
		}
		for i, e := range got.Segment.Tracks.TrackEntry {
			if e.Name != wtCutNUL(name) || !bytes.Equal(e.CodecPrivate, cp) || e.TrackType != uint64(typ) {
				t.Fatalf("track %d read back as %+v, want name %q, codec private % x, type %d", i+1, e, name, cp, typ)
			}
		}
	})
}
