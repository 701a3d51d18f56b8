package mkv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/kvsapi"
)

// Helpers are prefixed "dt" so they never collide with the writer's tests.

func dtCat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// dtEl builds an element with the shortest size vint.
func dtEl(id uint32, parts ...[]byte) []byte {
	body := dtCat(parts...)
	out := appendSize(appendID(nil, id), uint64(len(body)))
	return append(out, body...)
}

// dtElUnknown builds an element with the one-byte unknown size.
func dtElUnknown(id uint32, parts ...[]byte) []byte {
	return append(append(appendID(nil, id), 0xFF), dtCat(parts...)...)
}

// dtElSize builds an element whose size field is exactly sizeField (which
// need not match the body).
func dtElSize(id uint32, sizeField []byte, parts ...[]byte) []byte {
	return append(append(appendID(nil, id), sizeField...), dtCat(parts...)...)
}

func dtSize8(n uint64) []byte { return appendSizeWidth(nil, n, 8) }

func dtUint(id uint32, v uint64) []byte { return appendUint(nil, id, v) }

func dtStr(id uint32, s string) []byte { return appendString(nil, id, s) }

func dtSimpleBlock(track byte, rel int16, flags byte, frame []byte) []byte {
	return dtEl(IDSimpleBlock, []byte{0x80 | track, byte(uint16(rel) >> 8), byte(rel), flags}, frame)
}

func dtCluster(timecode uint64, children ...[]byte) []byte {
	return dtElUnknown(IDCluster, append([][]byte{appendUintWidth(nil, IDTimecode, timecode, 8)}, children...)...)
}

// dtHead is an EBML header and an unknown-size Segment.
func dtHead() []byte { return dtCat(AppendEBMLHeader(nil), AppendSegmentStart(nil)) }

func dtEBMLHeader(children ...[]byte) []byte { return dtEl(IDEBML, children...) }

func dtTags(tags ...SimpleTag) []byte { return AppendTags(nil, tags) }

func dtHeader() Header {
	return Header{
		Tracks: []TrackSpec{
			{Number: 1, UID: 0xA1B2C3D4, Type: TrackVideo, CodecID: CodecH264, Name: "video", CodecPrivate: []byte{1, 0x4D, 0x40, 0x1E}, Width: 640, Height: 360},
			{Number: 2, UID: 7, Type: TrackAudio, CodecID: CodecAAC, Name: "audio", CodecPrivate: []byte{0x11, 0x90}, SamplingFrequency: 48000, Channels: 2},
		},
		Tags: []SimpleTag{{Name: "CAMERA_ID", Value: "cam-0001"}},
	}
}

// dtDemuxAll returns copies of every event until the first error.
func dtDemuxAll(t testing.TB, r io.Reader, lim Limits) ([]Event, error) {
	t.Helper()
	d := NewDemuxer(r, lim)
	var events []Event
	for range 1_000_000 {
		ev, err := d.Next()
		if err != nil {
			return events, err
		}
		ev.Raw = bytes.Clone(ev.Raw)
		events = append(events, ev)
	}
	t.Fatal("demuxer returned a million events without ending")
	return nil, nil
}

func dtRawConcat(events []Event) []byte {
	var out []byte
	for _, ev := range events {
		out = append(out, ev.Raw...)
	}
	return out
}

func dtKinds(events []Event) string {
	var names []string
	for _, ev := range events {
		names = append(names, ev.Kind.String())
	}
	return strings.Join(names, " ")
}

// dtFrame and dtFragment model what a writer was told to write.
type dtFrame struct {
	Track uint64
	Rel   int16
	Key   bool
	Data  []byte
}

type dtFragment struct {
	Timecode int64
	Frames   []dtFrame
}

// dtItem is one thing in the stream at the level the ingest cares about.
type dtItem struct {
	Header   bool // an EBML header (a new segment)
	Fragment *dtFragment
	Tags     []SimpleTag
}

// dtWriteStream writes a two-segment KVS-style stream with the writer and
// returns it with the model of what was written.
func dtWriteStream(t testing.TB, seed uint64, clusters int) ([]byte, []dtItem) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var buf bytes.Buffer
	w := NewWriter(&buf)
	var want []dtItem
	hdr := dtHeader()
	const base = 1_700_000_000_000
	for segment := range 2 {
		require.NoError(t, w.WriteHeader(hdr))
		want = append(want, dtItem{Header: true}, dtItem{Tags: hdr.Tags})
		for c := range clusters {
			tc := int64(base + segment*1_000_000 + c*2000)
			require.NoError(t, w.StartCluster(tc))
			frag := &dtFragment{Timecode: tc}
			for i := range 30 {
				size := 200 + rng.IntN(3000)
				if i == 0 {
					size = 8000 + rng.IntN(8000)
				}
				f := dtFrame{Track: 1, Rel: int16(i * 66), Key: i == 0, Data: make([]byte, size)}
				for j := range f.Data {
					f.Data[j] = byte(rng.Uint32())
				}
				require.NoError(t, w.WriteFrame(1, tc+int64(f.Rel), f.Key, f.Data))
				frag.Frames = append(frag.Frames, f)
				if i%3 == 0 {
					a := dtFrame{Track: 2, Rel: int16(i*66 + 1), Key: true, Data: bytes.Repeat([]byte{byte(i)}, 1+rng.IntN(400))}
					require.NoError(t, w.WriteFrame(2, tc+int64(a.Rel), true, a.Data))
					frag.Frames = append(frag.Frames, a)
				}
			}
			want = append(want, dtItem{Fragment: frag})
			if c%2 == 1 {
				tags := []SimpleTag{{Name: "FRAGMENT_INDEX", Value: fmt.Sprint(c)}, {Name: "EMPTY", Value: ""}}
				require.NoError(t, w.WriteTags(tags...))
				want = append(want, dtItem{Tags: tags})
			}
		}
		require.NoError(t, w.EndFragment())
		want = append(want, dtItem{Tags: []SimpleTag{{Name: kvsapi.TagEndOfFragment}}})
	}
	return buf.Bytes(), want
}

// dtItems rebuilds the model from demuxer events, checking their pairing.
func dtItems(t testing.TB, events []Event) []dtItem {
	t.Helper()
	var items []dtItem
	var open *dtFragment
	for i, ev := range events {
		switch ev.Kind {
		case KindEBMLHeader:
			items = append(items, dtItem{Header: true})
		case KindClusterStart:
			require.Nil(t, open, "event %d: ClusterStart inside a Cluster", i)
			open = &dtFragment{Timecode: ev.Timecode}
		case KindBlock:
			require.NotNil(t, open, "event %d: Block outside a Cluster", i)
			open.Frames = append(open.Frames, dtFrame{Track: ev.Track, Rel: ev.RelTimecode, Key: ev.Keyframe, Data: ev.Raw[len(ev.Raw)-ev.FrameSize:]})
		case KindClusterEnd:
			require.NotNil(t, open, "event %d: ClusterEnd without ClusterStart", i)
			require.Empty(t, ev.Raw)
			items = append(items, dtItem{Fragment: open})
			open = nil
		case KindTags:
			require.Nil(t, open, "event %d: Tags inside a Cluster", i)
			items = append(items, dtItem{Tags: ev.Tags})
		}
	}
	require.Nil(t, open, "stream ended inside a Cluster")
	return items
}

func TestDemuxRoundTripsWriterOutput(t *testing.T) {
	stream, want := dtWriteStream(t, 1, 5)
	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(stream) },
		"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
		"data+EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) },
	}
	reference, err := dtDemuxAll(t, bytes.NewReader(stream), Limits{})
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, want, dtItems(t, reference))
	require.True(t, bytes.Equal(stream, dtRawConcat(reference)), "Raw bytes do not reproduce the input")

	// The header elements carry what the writer was given.
	hdr := dtHeader()
	var sawTracks, sawInfo int
	for _, ev := range reference {
		if ev.Kind == KindHeaderElement && ev.ID == IDTracks {
			sawTracks++
			require.Len(t, ev.Tracks, 2)
			for i, tr := range ev.Tracks {
				spec := hdr.Tracks[i]
				require.Equal(t, TrackInfo{Number: uint64(spec.Number), UID: spec.UID, Type: uint64(spec.Type),
					CodecID: spec.CodecID, Name: spec.Name, CodecPrivate: spec.CodecPrivate}, tr)
			}
		}
		if ev.Kind == KindHeaderElement && ev.ID == IDInfo {
			sawInfo++
			require.EqualValues(t, TimecodeScale, ev.TimecodeScale)
		}
	}
	require.Equal(t, 2, sawTracks)
	require.Equal(t, 2, sawInfo)

	for name, open := range readers {
		t.Run(name, func(t *testing.T) {
			events, err := dtDemuxAll(t, open(), Limits{})
			require.ErrorIs(t, err, io.EOF)
			require.Equal(t, reference, events)
		})
	}
}

func TestDemuxOffsetsAndOffsetMethod(t *testing.T) {
	stream, _ := dtWriteStream(t, 2, 2)
	d := NewDemuxer(bytes.NewReader(stream), Limits{})
	var at int64
	for {
		require.Equal(t, at, d.Offset())
		ev, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.Equal(t, at, ev.Offset, "%v event offset", ev.Kind)
		require.True(t, bytes.Equal(stream[at:at+int64(len(ev.Raw))], ev.Raw))
		at += int64(len(ev.Raw))
	}
	require.Equal(t, int64(len(stream)), d.Offset())
	_, err := d.Next()
	require.ErrorIs(t, err, io.EOF, "io.EOF must be sticky")
}

func TestDemuxSizedSegmentAndClusters(t *testing.T) {
	frame := []byte("frame-bytes")
	info := dtEl(IDInfo, dtUint(IDTimecodeScale, 100_000))
	cluster1 := dtEl(IDCluster, dtUint(IDPosition, 0), dtUint(IDTimecode, 42), dtSimpleBlock(1, -5, 0x80, frame), dtEl(IDVoid, make([]byte, 3)))
	cluster2 := dtEl(IDCluster, dtUint(IDTimecode, 1042), dtSimpleBlock(1, 7, 0, nil))
	cues := dtEl(IDCues, []byte{0xBB, 0x80})
	segment := dtEl(IDSegment, info, cluster1, cluster2, cues)
	stream := dtCat(AppendEBMLHeader(nil), segment, AppendEBMLHeader(nil), dtEl(IDSegment))

	events, err := dtDemuxAll(t, bytes.NewReader(stream), Limits{})
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, "EBMLHeader Segment HeaderElement ClusterStart Block ClusterOther ClusterEnd ClusterStart Block ClusterEnd Other EBMLHeader Segment", dtKinds(events))
	require.Equal(t, stream, dtRawConcat(events))
	require.EqualValues(t, 100_000, events[2].TimecodeScale)
	require.EqualValues(t, 42, events[3].Timecode)
	require.Equal(t, Event{Kind: KindBlock, ID: IDSimpleBlock, Offset: events[4].Offset, Raw: events[4].Raw,
		Track: 1, RelTimecode: -5, Keyframe: true, FrameSize: len(frame)}, events[4])
	require.Equal(t, events[4].Offset+int64(len(events[4].Raw)+len(events[5].Raw)), events[6].Offset, "ClusterEnd offset is the Cluster's end")
	require.False(t, events[8].Keyframe)
	require.Zero(t, events[8].FrameSize)
	require.Equal(t, uint32(IDCues), events[10].ID)
}

func TestDemuxUnknownSizeClusterEndsAtSegmentLevelElements(t *testing.T) {
	block := dtSimpleBlock(1, 0, 0x80, []byte{1, 2, 3})
	for _, tc := range []struct {
		name  string
		next  []byte
		kinds string
	}{
		{"Cluster", dtCluster(5, block), "ClusterEnd ClusterStart Block ClusterEnd"},
		{"Tags", dtTags(SimpleTag{"A", "b"}), "ClusterEnd Tags"},
		{"Cues", dtEl(IDCues), "ClusterEnd Other"},
		{"Info after a Cluster", dtEl(IDInfo), "ClusterEnd Other"},
		{"Tracks after a Cluster", dtEl(IDTracks), "ClusterEnd Other"},
		{"SeekHead", dtEl(IDSeekHead), "ClusterEnd Other"},
		{"Chapters", dtEl(IDChapters), "ClusterEnd Other"},
		{"Attachments", dtEl(IDAttachments), "ClusterEnd Other"},
		{"EBML header", dtCat(AppendEBMLHeader(nil), AppendSegmentStart(nil)), "ClusterEnd EBMLHeader Segment"},
		{"end of stream", nil, "ClusterEnd"},
		{"unknown ID stays in the Cluster", dtEl(0x4321, []byte{9}), "ClusterOther ClusterEnd"},
		{"Void stays in the Cluster", dtEl(IDVoid, []byte{0}), "ClusterOther ClusterEnd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := dtCat(dtHead(), dtCluster(1, block), tc.next)
			events, err := dtDemuxAll(t, bytes.NewReader(stream), Limits{})
			require.ErrorIs(t, err, io.EOF)
			require.Equal(t, "EBMLHeader Segment ClusterStart Block "+tc.kinds, dtKinds(events))
			require.Equal(t, stream, dtRawConcat(events))
		})
	}
}

func TestDemuxClusterStartHoldsChildrenUpToTimecode(t *testing.T) {
	before := dtCat(dtUint(IDPosition, 0), dtUint(IDPrevSize, 77), dtEl(IDCRC32, []byte{1, 2, 3, 4}), dtEl(IDVoid, make([]byte, 10)))
	cluster := dtCat([]byte{0x1F, 0x43, 0xB6, 0x75, 0xFF}, before, dtUint(IDTimecode, 9), dtSimpleBlock(1, 0, 0x80, []byte{1}))
	stream := dtCat(dtHead(), cluster)
	events, err := dtDemuxAll(t, bytes.NewReader(stream), Limits{})
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, "EBMLHeader Segment ClusterStart Block ClusterEnd", dtKinds(events))
	require.Equal(t, cluster[:len(cluster)-len(dtSimpleBlock(1, 0, 0x80, []byte{1}))], events[2].Raw)
	require.EqualValues(t, 9, events[2].Timecode)
}

func TestDemuxBlockGroupsAndLacing(t *testing.T) {
	block := func(flags byte, rest ...byte) []byte {
		return append([]byte{0x82, 0x00, 0x10, flags}, rest...)
	}
	for _, tc := range []struct {
		name      string
		element   []byte
		keyframe  bool
		frameSize int
	}{
		{"BlockGroup without ReferenceBlock is a key frame", dtEl(IDBlockGroup, dtEl(IDBlock, block(0, 1, 2, 3)), dtUint(0x9B, 33)), true, 3},
		{"BlockGroup with ReferenceBlock is not", dtEl(IDBlockGroup, dtEl(IDBlock, block(0, 1, 2)), dtEl(IDReferenceBlock, []byte{0xFF})), false, 2},
		// Three frames of 256, 1 and 3 bytes.
		{"Xiph lacing", dtSimpleBlock(2, 16, 0x80|blockLacingXiph, append([]byte{2, 255, 1, 1}, make([]byte, 260)...)), true, 260},
		// Three frames of 3, 3+2 and 2 bytes.
		{"EBML lacing", dtSimpleBlock(2, 16, blockLacingEBML, []byte{2, 0x83, 0xBF + 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), false, 10},
		{"fixed lacing", dtSimpleBlock(2, 16, blockLacingFixed, []byte{1, 1, 2, 3, 4}), false, 4},
		{"two-byte track number", dtEl(IDSimpleBlock, []byte{0x40, 0x02, 0x00, 0x10, 0x80, 9}), true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := dtCat(dtHead(), dtCluster(1000, tc.element))
			events, err := dtDemuxAll(t, bytes.NewReader(stream), Limits{})
			require.ErrorIs(t, err, io.EOF)
			require.Equal(t, "EBMLHeader Segment ClusterStart Block ClusterEnd", dtKinds(events))
			ev := events[3]
			require.Equal(t, tc.keyframe, ev.Keyframe)
			require.Equal(t, tc.frameSize, ev.FrameSize)
			require.EqualValues(t, 2, ev.Track)
			require.EqualValues(t, 16, ev.RelTimecode)
		})
	}
}

func TestDemuxFlattensNestedSimpleTags(t *testing.T) {
	st := func(name, value string, nested ...[]byte) []byte {
		// Nested SimpleTags first: the order on the wire must not matter.
		return dtEl(IDSimpleTag, dtCat(nested...), dtStr(IDTagName, name), dtStr(IDTagString, value+"\x00\x00"))
	}
	tags := dtEl(IDTags,
		dtEl(IDTag, dtEl(IDTargets, dtUint(0x68CA, 50)), st("A", "1", st("A.1", "x", st("A.1.1", "y")), st("A.2", "z")), dtEl(IDSimpleTag, dtStr(IDTagName, "NOVALUE"), dtEl(IDTagBinary, []byte{1}))),
		dtEl(IDTag, st("B", "2")))
	events, err := dtDemuxAll(t, bytes.NewReader(dtCat(dtHead(), tags)), Limits{})
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, "EBMLHeader Segment Tags", dtKinds(events))
	require.Equal(t, []SimpleTag{{"A", "1"}, {"A.1", "x"}, {"A.1.1", "y"}, {"A.2", "z"}, {"NOVALUE", ""}, {"B", "2"}}, events[2].Tags)
}

func TestDemuxMaxDepthIsConfigurable(t *testing.T) {
	stream := dtCat(dtHead(), dtNestedSimpleTags(20))
	_, err := dtDemuxAll(t, bytes.NewReader(stream), Limits{})
	require.ErrorIs(t, err, ErrTooDeep)
	events, err := dtDemuxAll(t, bytes.NewReader(stream), Limits{MaxDepth: 32})
	require.ErrorIs(t, err, io.EOF)
	require.Len(t, events[2].Tags, 20)
}

// dtNestedSimpleTags is a Tags element with levels SimpleTags each inside the
// last. Every SimpleTag ends where its innermost descendant does, so the
// element is a run of (header, TagName) pairs; building it that way keeps
// 10,000 levels linear.
func dtNestedSimpleTags(levels int) []byte {
	names := make([][]byte, levels)
	for i := range names {
		names[i] = dtStr(IDTagName, fmt.Sprint("L", i+1))
	}
	sizes := make([]int, levels) // body size of SimpleTag i
	for i, rest := levels-1, 0; i >= 0; i-- {
		sizes[i] = len(names[i]) + rest
		rest = sizes[i] + 2 + 8 // ID 0x67C8 and an 8-byte size
	}
	var run []byte
	for i := range levels {
		run = append(appendSizeWidth(appendID(run, IDSimpleTag), uint64(sizes[i]), 8), names[i]...)
	}
	return dtEl(IDTags, dtEl(IDTag, run))
}

type dtBadCase struct {
	name  string
	input []byte
	lim   Limits
	want  error
}

// dtMalformedCases holds one or more inputs per malformed-input class of
// reliability.md §4.2, each with the error the demuxer must report.
func dtMalformedCases() []dtBadCase {
	head := dtHead()
	block := dtSimpleBlock(1, 0, 0x80, []byte{0xAA, 0xBB})
	cluster := func(children ...[]byte) []byte { return dtCat(head, dtCluster(1, children...)) }
	// A block with an 8-byte size, as the producer SDK writes it.
	block8 := dtElSize(IDSimpleBlock, dtSize8(6), []byte{0x81, 0, 0, 0x80, 0xAA, 0xBB})
	ebml := func(children ...[]byte) []byte {
		return dtCat(dtEBMLHeader(children...), AppendSegmentStart(nil), dtCluster(1, block8))
	}
	std := [][]byte{dtUint(IDEBMLVersion, 1), dtUint(IDEBMLReadVersion, 1), dtUint(IDEBMLMaxIDLength, 4), dtUint(IDEBMLMaxSizeLength, 8), dtStr(IDDocType, "matroska")}
	without := func(i int, extra ...[]byte) [][]byte {
		out := append(append([][]byte{}, std[:i]...), std[i+1:]...)
		return append(out, extra...)
	}
	entry := func(n uint64) []byte { return dtEl(IDTrackEntry, dtUint(IDTrackNumber, n), dtUint(IDTrackType, 1)) }
	manyEntries := [][]byte{}
	for i := range maxTrackEntries + 1 {
		manyEntries = append(manyEntries, entry(uint64(i+1)))
	}
	manyTags := []SimpleTag{}
	for i := range 65 {
		manyTags = append(manyTags, SimpleTag{Name: fmt.Sprint("T", i)})
	}
	lacedBlock := func(flags byte, rest ...byte) []byte {
		return dtEl(IDSimpleBlock, append([]byte{0x81, 0, 0, flags}, rest...))
	}
	return []dtBadCase{
		// Huge declared sizes: rejected from the header alone (no data follows).
		{"SimpleBlock declares 40 MB over a 1 MiB limit", cluster(dtElSize(IDSimpleBlock, dtSize8(40_000_000))), Limits{MaxElementSize: 1 << 20}, ErrTooLarge},
		{"SimpleBlock declares the largest 8-byte size", cluster(dtElSize(IDSimpleBlock, dtSize8(1<<56-2))), Limits{}, ErrTooLarge},
		{"Tracks declares 3 MiB", dtCat(head, dtElSize(IDTracks, dtSize8(3<<20))), Limits{}, ErrTooLarge},
		{"Tags after a Cluster declare 3 MiB", dtCat(cluster(block), dtElSize(IDTags, dtSize8(3<<20))), Limits{}, ErrTooLarge},
		{"EBML header declares 3 MiB", dtElSize(IDEBML, dtSize8(3<<20)), Limits{}, ErrTooLarge},
		{"Cues declare more than the header limit", dtCat(cluster(block), dtElSize(IDCues, dtSize8(5000))), Limits{MaxHeaderElementSize: 4096}, ErrTooLarge},
		{"Cluster children before the Timecode exceed the header limit", dtCat(head, dtElUnknown(IDCluster, dtEl(IDVoid, make([]byte, 600)), dtEl(IDVoid, make([]byte, 600)), dtUint(IDTimecode, 1))), Limits{MaxHeaderElementSize: 1024}, ErrTooLarge},
		{"more SimpleTags than MaxSimpleTags", dtCat(head, dtTags(manyTags...)), Limits{}, ErrTooLarge},
		{"more TrackEntries than the cap", dtCat(head, dtEl(IDTracks, manyEntries...)), Limits{}, ErrTooLarge},

		// Integer overflow in values and size arithmetic.
		{"Cluster Timecode above MaxInt64", dtCat(head, dtElUnknown(IDCluster, dtEl(IDTimecode, bytes.Repeat([]byte{0xFF}, 8)))), Limits{}, ErrInvalid},
		{"Cluster Timecode of 9 bytes", dtCat(head, dtElUnknown(IDCluster, dtEl(IDTimecode, make([]byte, 9)))), Limits{}, ErrInvalid},
		{"TimecodeScale of 9 bytes", dtCat(head, dtEl(IDInfo, dtEl(IDTimecodeScale, make([]byte, 9)))), Limits{}, ErrInvalid},
		{"EBML lace size near 2^56", cluster(lacedBlock(blockLacingEBML, 1, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 1, 2)), Limits{}, ErrInvalid},
		{"Xiph lace sizes of 255s past the block", cluster(lacedBlock(blockLacingXiph, 1, 255, 255, 255, 255, 10, 1, 2, 3)), Limits{}, ErrInvalid},
		{"TrackEntry declares the largest 8-byte size inside Tracks", dtCat(head, dtEl(IDTracks, dtElSize(IDTrackEntry, dtSize8(1<<56-2)))), Limits{}, ErrInvalid},

		// Child exceeds parent.
		{"SimpleBlock past the end of a sized Cluster", dtCat(head, dtElSize(IDCluster, []byte{0x80 | 8}, dtUint(IDTimecode, 1), block)), Limits{}, ErrInvalid},
		{"element header straddles the end of a sized Cluster", dtCat(head, dtElSize(IDCluster, []byte{0x80 | 4}, dtUint(IDTimecode, 1), []byte{0xA3, 0x81, 0x00})), Limits{}, ErrInvalid},
		{"Cluster past the end of a sized Segment", dtCat(AppendEBMLHeader(nil), dtElSize(IDSegment, []byte{0x80 | 10}, dtEl(IDCluster, dtUint(IDTimecode, 1), block))), Limits{}, ErrInvalid},
		{"TrackEntry past the end of Tracks", dtCat(head, dtEl(IDTracks, dtElSize(IDTrackEntry, []byte{0x80 | 40}, dtUint(IDTrackNumber, 1)))), Limits{}, ErrInvalid},
		{"SimpleTag past the end of its Tag", dtCat(head, dtEl(IDTags, dtEl(IDTag, dtElSize(IDSimpleTag, []byte{0x80 | 50}, dtStr(IDTagName, "X"))))), Limits{}, ErrInvalid},
		{"Block past the end of its BlockGroup", cluster(dtEl(IDBlockGroup, dtElSize(IDBlock, []byte{0x80 | 30}, []byte{0x81, 0, 0, 0}))), Limits{}, ErrInvalid},
		{"Tags inside a sized Cluster", dtCat(head, dtEl(IDCluster, dtUint(IDTimecode, 1), dtTags(SimpleTag{"A", "b"}))), Limits{}, ErrInvalid},
		{"EBML header inside a sized Segment", dtCat(AppendEBMLHeader(nil), dtEl(IDSegment, AppendEBMLHeader(nil))), Limits{}, ErrInvalid},

		// Unknown size where it is not allowed.
		{"Tags of unknown size", dtCat(head, dtElUnknown(IDTags, dtEl(IDTag))), Limits{}, ErrInvalid},
		{"Info of unknown size", dtCat(head, dtElUnknown(IDInfo)), Limits{}, ErrInvalid},
		{"SimpleBlock of unknown size", cluster(dtElUnknown(IDSimpleBlock, []byte{0x81, 0, 0, 0})), Limits{}, ErrInvalid},
		{"EBML header of unknown size", dtElUnknown(IDEBML, std...), Limits{}, ErrInvalid},
		{"Void of unknown size before the Timecode", dtCat(head, dtElUnknown(IDCluster, dtElUnknown(IDVoid))), Limits{}, ErrInvalid},
		{"unknown-size Cluster in a sized Segment", dtCat(AppendEBMLHeader(nil), dtEl(IDSegment, dtCluster(1, block))), Limits{}, ErrInvalid},
		{"unknown-size TrackEntry inside Tracks", dtCat(head, dtEl(IDTracks, dtElUnknown(IDTrackEntry, dtUint(IDTrackNumber, 1)))), Limits{}, ErrInvalid},
		{"Block of unknown size inside a BlockGroup", cluster(dtEl(IDBlockGroup, dtElUnknown(IDBlock, []byte{0x81, 0, 0, 0}))), Limits{}, ErrInvalid},

		// Deep nesting.
		{"20 nested SimpleTags", dtCat(head, dtNestedSimpleTags(20)), Limits{}, ErrTooDeep},
		{"10000 nested SimpleTags", dtCat(head, dtNestedSimpleTags(10000)), Limits{}, ErrTooDeep},

		// Truncation.
		{"inside an element header", dtCat(head, []byte{0x1F, 0x43}), Limits{}, io.ErrUnexpectedEOF},
		{"inside a size VINT", dtCat(head, []byte{0x1F, 0x43, 0xB6, 0x75, 0x01, 0x00}), Limits{}, io.ErrUnexpectedEOF},
		{"inside the EBML header", AppendEBMLHeader(nil)[:20], Limits{}, io.ErrUnexpectedEOF},
		{"inside a SimpleBlock", func() []byte { s := cluster(block); return s[:len(s)-1] }(), Limits{}, io.ErrUnexpectedEOF},
		{"before the Cluster Timecode", dtCat(head, dtElUnknown(IDCluster, dtUint(IDPosition, 0))), Limits{}, io.ErrUnexpectedEOF},
		{"a sized Cluster at a child boundary", dtCat(head, dtElSize(IDCluster, []byte{0x80 | 100}, dtUint(IDTimecode, 1), block)), Limits{}, io.ErrUnexpectedEOF},
		{"a sized Segment at a child boundary", dtCat(AppendEBMLHeader(nil), dtElSize(IDSegment, []byte{0x80 | 100}, dtEl(IDInfo))), Limits{}, io.ErrUnexpectedEOF},

		// VINT edge cases.
		{"ID starting with a zero byte", dtCat(head, []byte{0x00, 0x81, 0x00}), Limits{}, ErrInvalid},
		{"five-byte ID", dtCat(head, []byte{0x08, 0x01, 0x02, 0x03, 0x04, 0x80}), Limits{}, ErrInvalid},
		{"all-ones one-byte ID", cluster([]byte{0xFF, 0x80}), Limits{}, ErrInvalid},
		{"all-zero two-byte ID", cluster([]byte{0x40, 0x00, 0x80}), Limits{}, ErrInvalid},
		{"ID not in its shortest encoding", cluster([]byte{0x40, 0x23, 0x80}), Limits{}, ErrInvalid},
		{"size starting with a zero byte", cluster([]byte{0xA3, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 1}), Limits{}, ErrInvalid},
		{"size longer than the declared EBMLMaxSizeLength", ebml(without(3, dtUint(IDEBMLMaxSizeLength, 4))...), Limits{}, ErrInvalid},
		{"EBMLMaxIDLength 8", ebml(without(2, dtUint(IDEBMLMaxIDLength, 8))...), Limits{}, ErrInvalid},
		{"EBMLMaxSizeLength 9", ebml(without(3, dtUint(IDEBMLMaxSizeLength, 9))...), Limits{}, ErrInvalid},
		{"EBMLMaxSizeLength 0", ebml(without(3, dtUint(IDEBMLMaxSizeLength, 0))...), Limits{}, ErrInvalid},
		{"EBMLReadVersion 2", ebml(without(1, dtUint(IDEBMLReadVersion, 2))...), Limits{}, ErrInvalid},
		{"DocType avi", ebml(without(4, dtStr(IDDocType, "avi"))...), Limits{}, ErrInvalid},
		{"no DocType", ebml(without(4)...), Limits{}, ErrInvalid},
		{"block track VINT starting with a zero byte", cluster(dtEl(IDSimpleBlock, []byte{0x00, 0x81, 0, 0, 0})), Limits{}, ErrInvalid},
		{"block for track 0", cluster(dtEl(IDSimpleBlock, []byte{0x80, 0, 0, 0, 1})), Limits{}, ErrInvalid},

		// Lacing and block header arithmetic.
		{"SimpleBlock shorter than its header", cluster(dtEl(IDSimpleBlock, []byte{0x81, 0, 0})), Limits{}, ErrInvalid},
		{"laced block without a frame count", cluster(lacedBlock(blockLacingXiph)), Limits{}, ErrInvalid},
		{"Xiph lace sizes run past the block", cluster(lacedBlock(blockLacingXiph, 3, 10, 255)), Limits{}, ErrInvalid},
		{"EBML lacing with a negative size", cluster(lacedBlock(blockLacingEBML, 2, 0x82, 0x80, 1, 2, 3, 4)), Limits{}, ErrInvalid},
		{"EBML lacing size VINT runs past the block", cluster(lacedBlock(blockLacingEBML, 1, 0x40)), Limits{}, ErrInvalid},
		{"fixed lacing that does not divide the data", cluster(lacedBlock(blockLacingFixed, 2, 1, 2, 3, 4)), Limits{}, ErrInvalid},
		{"BlockGroup without a Block", cluster(dtEl(IDBlockGroup, dtEl(IDReferenceBlock, []byte{1}))), Limits{}, ErrInvalid},
		{"BlockGroup with two Blocks", cluster(dtEl(IDBlockGroup, dtEl(IDBlock, []byte{0x81, 0, 0, 0}), dtEl(IDBlock, []byte{0x81, 0, 0, 0}))), Limits{}, ErrInvalid},

		// CRC-32 of the wrong length.
		{"CRC-32 of 2 bytes in a Cluster", cluster(dtEl(IDCRC32, []byte{1, 2})), Limits{}, ErrInvalid},
		{"CRC-32 of 2 bytes before the Timecode", dtCat(head, dtElUnknown(IDCluster, dtEl(IDCRC32, []byte{1, 2}), dtUint(IDTimecode, 1))), Limits{}, ErrInvalid},
		{"CRC-32 of 3 bytes inside Tracks", dtCat(head, dtEl(IDTracks, dtEl(IDCRC32, []byte{1, 2, 3}), entry(1))), Limits{}, ErrInvalid},
		{"CRC-32 of 0 bytes in the EBML header", ebml(append([][]byte{dtEl(IDCRC32)}, std...)...), Limits{}, ErrInvalid},
		{"CRC-32 of 5 bytes at Segment level", dtCat(head, dtEl(IDCRC32, []byte{1, 2, 3, 4, 5})), Limits{}, ErrInvalid},

		// Garbage where an element should start: fail, never resync.
		{"HTTP request instead of MKV", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Limits{}, ErrInvalid},
		{"zero bytes between Clusters", dtCat(cluster(block), make([]byte, 16), dtCluster(2, block)), Limits{}, ErrInvalid},
		{"garbage after the EBML header", dtCat(AppendEBMLHeader(nil), []byte("garbage!")), Limits{}, ErrInvalid},
		{"garbage inside a Cluster", cluster(block, []byte{0x00, 0x13, 0x37}), Limits{}, ErrInvalid},

		// Structure.
		{"block before the Cluster Timecode", dtCat(head, dtElUnknown(IDCluster, block, dtUint(IDTimecode, 1))), Limits{}, ErrInvalid},
		{"sized Cluster without a Timecode", dtCat(head, dtEl(IDCluster, dtUint(IDPosition, 0))), Limits{}, ErrInvalid},
		{"unknown-size Cluster without a Timecode", dtCat(head, dtElUnknown(IDCluster, dtUint(IDPosition, 0)), dtCluster(1, block)), Limits{}, ErrInvalid},
		{"two Timecodes in a Cluster", cluster(block, dtUint(IDTimecode, 2)), Limits{}, ErrInvalid},
		{"Segment inside a Segment", dtCat(head, AppendSegmentStart(nil)), Limits{}, ErrInvalid},
		{"Segment without an EBML header", dtCat(AppendSegmentStart(nil), dtCluster(1, block)), Limits{}, ErrInvalid},
		{"TrackEntry without a TrackNumber", dtCat(head, dtEl(IDTracks, dtEl(IDTrackEntry, dtUint(IDTrackType, 1)))), Limits{}, ErrInvalid},
		{"duplicate TrackNumber", dtCat(head, dtEl(IDTracks, entry(1), entry(1))), Limits{}, ErrInvalid},
		{"TimecodeScale 0", dtCat(head, dtEl(IDInfo, dtUint(IDTimecodeScale, 0))), Limits{}, ErrInvalid},
	}
}

func TestDemuxRejectsMalformedInput(t *testing.T) {
	sentinels := []error{ErrInvalid, ErrTooLarge, ErrTooDeep, io.ErrUnexpectedEOF}
	for _, tc := range dtMalformedCases() {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunking := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", bytes.NewReader(tc.input)},
				{"one byte", iotest.OneByteReader(bytes.NewReader(tc.input))},
			} {
				d := NewDemuxer(chunking.r, tc.lim)
				var err error
				for range len(tc.input) + 10 {
					if _, err = d.Next(); err != nil {
						break
					}
				}
				require.ErrorIs(t, err, tc.want, "%s: Next on %x", chunking.name, tc.input)
				for _, other := range sentinels {
					if other != tc.want {
						require.NotErrorIs(t, err, other, "%s: %v", chunking.name, err)
					}
				}
				_, again := d.Next()
				require.Equal(t, err, again, "errors must be sticky")
				require.LessOrEqual(t, cap(d.buf), 2*len(tc.input)+readStep, "buffer grew beyond the bytes that arrived")
			}
		})
	}
}

func TestDemuxPrefixesEndCleanlyOrTruncated(t *testing.T) {
	stream := dtCat(
		dtHead(),
		dtEl(IDInfo, dtUint(IDTimecodeScale, 1_000_000)),
		dtCluster(10, dtUint(IDPosition, 0), dtSimpleBlock(1, 0, 0x80, []byte("key")), dtSimpleBlock(1, 33, 0, []byte("delta"))),
		dtTags(SimpleTag{"K", "V"}),
		AppendEBMLHeader(nil),
		dtEl(IDSegment, dtEl(IDCluster, dtUint(IDTimecode, 20), dtEl(IDBlockGroup, dtEl(IDBlock, []byte{0x81, 0, 1, 0, 7})))),
	)
	full, err := dtDemuxAll(t, bytes.NewReader(stream), Limits{})
	require.ErrorIs(t, err, io.EOF)
	for n := range len(stream) {
		events, err := dtDemuxAll(t, bytes.NewReader(stream[:n]), Limits{})
		if !errors.Is(err, io.EOF) {
			require.ErrorIs(t, err, io.ErrUnexpectedEOF, "prefix %d", n)
		}
		// The events of a prefix are those of the whole stream, except that an
		// unknown-size Cluster ends where the prefix does.
		got := dtRawConcat(events)
		require.True(t, bytes.Equal(stream[:len(got)], got), "prefix %d: Raw bytes differ from the input", n)
		for i, ev := range events {
			if i < len(full) && ev.Kind == full[i].Kind {
				require.Equal(t, full[i], ev, "prefix %d event %d", n, i)
				continue
			}
			require.Equal(t, KindClusterEnd, ev.Kind, "prefix %d event %d", n, i)
			require.Equal(t, len(events)-1, i, "prefix %d: an early ClusterEnd must be the last event", n)
		}
	}
}

func TestDemuxDeclaredSizeDoesNotAllocateUpFront(t *testing.T) {
	// 40 MB declared (within the default 50 MiB limit), 100 KiB sent.
	stream := dtCat(dtHead(), dtElUnknown(IDCluster, dtUint(IDTimecode, 1), dtElSize(IDSimpleBlock, dtSize8(40_000_000), []byte{0x81, 0, 0, 0x80}, make([]byte, 100<<10))))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d := NewDemuxer(bytes.NewReader(stream), Limits{})
	var err error
	for range 10 {
		if _, err = d.Next(); err != nil {
			break
		}
	}
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.LessOrEqual(t, cap(d.buf), 2*len(stream)+readStep, "buffer capacity")
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "bytes allocated while reading")
}

func TestDemuxBufferStaysWithinLimits(t *testing.T) {
	lim := Limits{MaxElementSize: 200 << 10, MaxHeaderElementSize: 8 << 10}
	frames := [][]byte{}
	for _, n := range []int{10, 70 << 10, 200<<10 - 4, 5, 130 << 10} {
		frames = append(frames, dtSimpleBlock(1, 0, 0x80, make([]byte, n)))
	}
	stream := dtCat(dtHead(), dtCluster(1, frames...))
	d := NewDemuxer(bytes.NewReader(stream), lim)
	for {
		_, err := d.Next()
		require.LessOrEqual(t, cap(d.buf), int(lim.MaxElementSize)+16)
		if err != nil {
			require.ErrorIs(t, err, io.EOF)
			break
		}
	}
	_, err := dtDemuxAll(t, bytes.NewReader(dtCat(dtHead(), dtCluster(1, dtSimpleBlock(1, 0, 0, make([]byte, 200<<10))))), lim)
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestDemuxOffsetOverflowIsInvalid(t *testing.T) {
	d := NewDemuxer(bytes.NewReader(dtCat(dtHead(), dtElSize(IDTags, dtSize8(100)))), Limits{})
	for range 2 {
		_, err := d.Next()
		require.NoError(t, err)
	}
	d.off = math.MaxInt64 - 50 // as if an endless stream had run for ever
	_, err := d.Next()
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, "overflows")
}

var errDTNetwork = errors.New("connection reset by peer")

func TestDemuxPassesReaderErrorsThrough(t *testing.T) {
	stream, _ := dtWriteStream(t, 3, 2)
	r := io.MultiReader(bytes.NewReader(stream[:len(stream)/2]), iotest.ErrReader(errDTNetwork))
	_, err := dtDemuxAll(t, r, Limits{})
	require.ErrorIs(t, err, errDTNetwork)
	require.NotErrorIs(t, err, ErrInvalid)
	require.NotErrorIs(t, err, io.ErrUnexpectedEOF)

	// A reader that keeps returning nothing must not hang the demuxer.
	_, err = dtDemuxAll(t, dtEmptyReader{}, Limits{})
	require.ErrorIs(t, err, io.ErrNoProgress)
}

type dtEmptyReader struct{}

func (dtEmptyReader) Read([]byte) (int, error) { return 0, nil }

func TestDemuxOverTCP(t *testing.T) {
	stream, want := dtWriteStream(t, 4, 3)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	cut := len(stream) - 1000 // the camera dies in the middle of the last fragment
	sent := make(chan error, 1)
	go func() {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			sent <- err
			return
		}
		defer conn.Close()
		// Odd-sized writes, as a producer's socket would deliver them.
		for at := 0; at < cut; {
			n := min(1+at%1499, cut-at)
			if _, err := conn.Write(stream[at : at+n]); err != nil {
				sent <- err
				return
			}
			at += n
		}
		sent <- nil
	}()
	conn, err := ln.Accept()
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	events, err := dtDemuxAll(t, conn, Limits{})
	require.NoError(t, <-sent)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Equal(t, stream[:len(dtRawConcat(events))], dtRawConcat(events))
	// Everything before the fragment that was cut off arrived intact.
	got := dtItems(t, dtCompleteClusters(events))
	require.Equal(t, want[:len(got)], got)
	require.Greater(t, len(got), 8)
}

// dtCompleteClusters drops a trailing unfinished Cluster.
func dtCompleteClusters(events []Event) []Event {
	for i := len(events) - 1; i >= 0; i-- {
		switch events[i].Kind {
		case KindClusterEnd:
			return events
		case KindClusterStart:
			return events[:i]
		}
	}
	return events
}

func TestDemuxReadsARealFFmpegFile(t *testing.T) {
	// The fixture (fixtures/h264/README.md says how it was made) is a
	// known-size Segment of known-size Clusters with SeekHead, Void, Tags and Cues.
	data, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "h264", "testsrc2-640x360-15fps-20s.mkv"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("fixture clip not present")
	}
	require.NoError(t, err)
	events, err := dtDemuxAll(t, iotest.HalfReader(bytes.NewReader(data)), Limits{})
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, data, dtRawConcat(events))
	var blocks, keys, clusters int
	var tracks []TrackInfo
	for _, ev := range events {
		switch ev.Kind {
		case KindBlock:
			require.EqualValues(t, 1, ev.Track)
			if ev.Keyframe {
				require.Zero(t, blocks%30, "key frame at frame %d", blocks)
				keys++
			}
			blocks++
		case KindClusterStart:
			clusters++
		case KindHeaderElement:
			if ev.ID == IDTracks {
				tracks = ev.Tracks
			}
		}
	}
	require.Equal(t, 300, blocks)
	require.Equal(t, 10, keys)
	require.NotZero(t, clusters)
	require.Len(t, tracks, 1)
	require.Equal(t, CodecH264, tracks[0].CodecID)
	require.Len(t, tracks[0].CodecPrivate, 41)
}

// TestDemuxReadsMkvmergeLacedAudio checks lacing against a real muxer:
// mkvmerge laces audio (Xiph, EBML or fixed, whichever is smallest), and
// mkvinfo, an independent parser, says how many blocks and frames it wrote.
func TestDemuxReadsMkvmergeLacedAudio(t *testing.T) {
	tools := map[string]string{}
	for _, name := range []string{"ffmpeg", "mkvmerge", "mkvinfo"} {
		path, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("%s not installed", name)
		}
		tools[name] = path
	}
	run := func(name string, args ...string) string {
		out, err := exec.Command(tools[name], args...).CombinedOutput()
		require.NoError(t, err, "%s %v: %s", name, args, out)
		return string(out)
	}
	frameCount := regexp.MustCompile(`(\d+) frame\(s\)`)
	lacings := map[byte]bool{}
	dir := t.TempDir()
	for _, codec := range []struct{ encoder, file string }{
		{"aac", "tone.aac"}, {"libmp3lame", "tone.mp3"}, {"libvorbis", "tone.ogg"}, {"pcm_s16le", "tone.mka"},
	} {
		src, muxed := filepath.Join(dir, codec.file), filepath.Join(dir, codec.file+".mkv")
		run("ffmpeg", "-hide_banner", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", codec.encoder, src)
		run("mkvmerge", "-q", "-o", muxed, src)
		wantBlocks, wantFrames := 0, 0
		for _, line := range strings.Split(run("mkvinfo", "-v", muxed), "\n") {
			if !strings.Contains(line, "+ Simple block:") && !strings.Contains(line, "+ Block:") {
				continue
			}
			wantBlocks++
			if m := frameCount.FindStringSubmatch(line); m != nil {
				n, err := strconv.Atoi(m[1])
				require.NoError(t, err)
				wantFrames += n
			} else {
				wantFrames++
			}
		}

		data, err := os.ReadFile(muxed)
		require.NoError(t, err)
		events, err := dtDemuxAll(t, bytes.NewReader(data), Limits{})
		require.ErrorIs(t, err, io.EOF, codec.file)
		require.Equal(t, data, dtRawConcat(events))
		blocks, frames := 0, 0
		for _, ev := range events {
			if ev.Kind != KindBlock {
				continue
			}
			blocks++
			n, lacing := dtLacedFrames(ev.Raw)
			frames += n
			if lacing != 0 {
				lacings[lacing] = true
			}
		}
		require.Equal(t, wantBlocks, blocks, "%s: blocks", codec.file)
		require.Equal(t, wantFrames, frames, "%s: frames", codec.file)
		require.NotZero(t, blocks)
	}
	require.GreaterOrEqual(t, len(lacings), 2, "lacing types seen: %v", lacings)
}

// dtLacedFrames reads the frame count and lacing bits of a SimpleBlock or
// of the Block in a BlockGroup.
func dtLacedFrames(raw []byte) (frames int, lacing byte) {
	body := raw[1+decodeVintWidth(raw[1]):]
	if raw[0] == IDBlockGroup {
		it := childIter{data: body, maxIDWidth: 4, maxSizeWidth: 8}
		for c, ok, _ := it.next(); ok; c, ok, _ = it.next() {
			if c.id == IDBlock {
				body = c.body
			}
		}
	}
	p := decodeVintWidth(body[0]) + 2
	if lacing = body[p] & blockLacingMask; lacing == 0 {
		return 1, 0
	}
	return int(body[p+1]) + 1, lacing
}

func TestDemuxBlockPathDoesNotAllocate(t *testing.T) {
	frame := make([]byte, 4096)
	blocks := [][]byte{}
	for i := range 400 {
		blocks = append(blocks, dtSimpleBlock(1, int16(i), 0, frame))
	}
	stream := dtCat(dtHead(), dtCluster(1, blocks...))
	d := NewDemuxer(bytes.NewReader(stream), Limits{})
	for range 10 { // header, Segment, ClusterStart, first blocks: the buffer reaches its size
		_, err := d.Next()
		require.NoError(t, err)
	}
	allocs := testing.AllocsPerRun(300, func() {
		ev, err := d.Next()
		if err != nil || ev.Kind != KindBlock {
			t.Fatalf("Next = %v, %v", ev.Kind, err)
		}
	})
	require.Zero(t, allocs)
}

func TestKindString(t *testing.T) {
	require.Equal(t, "ClusterStart", KindClusterStart.String())
	require.Equal(t, "Kind(99)", Kind(99).String())
	require.Equal(t, "Kind(0)", Kind(0).String())
}

func TestDecodeVints(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		id   uint32
		want error
	}{
		{[]byte{0xA3}, 0xA3, nil},
		{[]byte{0x1A, 0x45, 0xDF, 0xA3}, IDEBML, nil},
		{[]byte{0x40, 0x7F}, 0x407F, nil}, // 0x7F is reserved in one byte, so two bytes is shortest
		{[]byte{0x40, 0x7E}, 0, errIDNotShortest},
		{[]byte{0x80}, 0, errIDReserved},
		{[]byte{0x1F, 0xFF, 0xFF, 0xFF}, 0, errIDReserved},
		{[]byte{0x00}, 0, errVintZeroByte},
		{[]byte{0x08, 1, 2, 3, 4}, 0, errIDTooLong},
		{[]byte{0x1A, 0x45}, 0, errNeedMoreBytes},
	} {
		id, _, err := decodeID(tc.in, 4)
		require.ErrorIs(t, err, tc.want, "decodeID(%x)", tc.in)
		require.Equal(t, tc.id, id, "decodeID(%x)", tc.in)
	}
	for _, tc := range []struct {
		in       []byte
		maxWidth int
		size     uint64
		unknown  bool
		want     error
	}{
		{[]byte{0x81}, 8, 1, false, nil},
		{[]byte{0xFF}, 8, 127, true, nil},
		{[]byte{0x7F, 0xFF}, 8, 1<<14 - 1, true, nil},
		{[]byte{0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, 8, 1<<56 - 1, true, nil},
		{[]byte{0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE}, 8, 1<<56 - 2, false, nil},
		{[]byte{0x00, 0xFF}, 8, 0, false, errVintZeroByte},
		{[]byte{0x10, 0, 0, 1}, 3, 0, false, errSizeTooLong},
		{[]byte{0x10, 0, 0}, 8, 0, false, errNeedMoreBytes},
	} {
		size, unknown, _, err := decodeSize(tc.in, tc.maxWidth)
		require.ErrorIs(t, err, tc.want, "decodeSize(%x)", tc.in)
		require.Equal(t, tc.size, size, "decodeSize(%x)", tc.in)
		require.Equal(t, tc.unknown, unknown, "decodeSize(%x)", tc.in)
	}
	v, w, err := readSignedVint([]byte{0x40, 0x00})
	require.NoError(t, err)
	require.Equal(t, int64(-(1<<13 - 1)), v)
	require.Equal(t, 2, w)
	_, err = decodeUint(make([]byte, 9))
	require.ErrorIs(t, err, ErrInvalid)
	require.Equal(t, "abc", decodeString([]byte("abc\x00\x00")))
}

// dtBenchStream is ten seconds of a 30 fps camera with audio: one Cluster per
// 2 s GOP, 40 KB key frames, 4–12 KB delta frames, 20 ms audio frames, and a
// Tags element after every Cluster.
func dtBenchStream(b *testing.B) []byte {
	rng := rand.New(rand.NewPCG(9, 9))
	var buf bytes.Buffer
	w := NewWriter(&buf)
	require.NoError(b, w.WriteHeader(dtHeader()))
	frame := make([]byte, 40_000)
	for j := range frame {
		frame[j] = byte(rng.Uint32())
	}
	const base = 1_700_000_000_000
	for gop := range 5 {
		tc := int64(base + gop*2000)
		require.NoError(b, w.StartCluster(tc))
		for i := range 60 {
			size := 4000 + rng.IntN(8000)
			if i == 0 {
				size = 40_000
			}
			require.NoError(b, w.WriteFrame(1, tc+int64(i*2000/60), i == 0, frame[:size]))
			for a := range 2 {
				pts := tc + int64(i*2000/60+a*10)
				require.NoError(b, w.WriteFrame(2, pts, true, frame[:160]))
			}
		}
		require.NoError(b, w.WriteTags(SimpleTag{Name: "GOP", Value: fmt.Sprint(gop)}))
	}
	require.NoError(b, w.EndFragment())
	return buf.Bytes()
}

func BenchmarkDemux(b *testing.B) {
	stream := dtBenchStream(b)
	r := bytes.NewReader(stream)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	var blocks int
	for b.Loop() {
		r.Reset(stream)
		d := NewDemuxer(r, Limits{})
		for {
			ev, err := d.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					b.Fatal(err)
				}
				break
			}
			if ev.Kind == KindBlock {
				blocks++
			}
		}
	}
	b.ReportMetric(float64(blocks)/float64(b.N), "blocks/op")
}
