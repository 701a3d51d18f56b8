package mkv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/camstorm/camstorm/internal/kvsapi"
)

// Errors returned by the writer. Usage errors (bad header, no cluster, bad track
// number, timecode out of range) write nothing and leave the Writer usable;
// an error from the underlying io.Writer is sticky.
var (
	ErrInvalidHeader = errors.New("mkv: invalid header")
	ErrNoCluster     = errors.New("mkv: frame written outside a cluster")
	ErrTrackNumber   = errors.New("mkv: track number not declared")
	ErrTimecodeRange = errors.New("mkv: timecode out of range")
	ErrFrameTooLarge = errors.New("mkv: frame too large for a SimpleBlock")
)

// Defaults written into the Info element when the Header leaves them empty.
const (
	DefaultTitle = "Kinesis Video SDK" // what the KVS producer SDK writes
	DefaultApp   = "camstorm"
)

// TimecodeScale is the only timecode scale the writer produces: 1 ms per tick,
// the KVS default, so Cluster timecodes are epoch milliseconds in ABSOLUTE mode.
const TimecodeScale = 1_000_000

// SimpleTag is one Matroska SimpleTag with a string value.
type SimpleTag struct{ Name, Value string }

// TrackSpec describes one TrackEntry.
type TrackSpec struct {
	Number       uint8 // 1..3, in list order
	UID          uint64
	Type         uint8 // TrackVideo, TrackAudio or TrackMetadata
	CodecID      string
	Name         string
	CodecPrivate []byte // the avcC record for H.264

	Width, Height uint32 // video tracks

	SamplingFrequency float64 // audio tracks, Hz
	Channels          uint8   // audio tracks
}

// Header is everything a KVS producer sends before its first Cluster.
type Header struct {
	SegmentUID [16]byte // all zero: no SegmentUID element
	Title      string   // empty: DefaultTitle
	App        string   // MuxingApp and WritingApp; empty: DefaultApp
	Tracks     []TrackSpec
	Tags       []SimpleTag // optional producer Tags written after Tracks
}

// Validate reports every problem with h at once, each wrapping ErrInvalidHeader.
func (h Header) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidHeader}, args...)...))
	}
	if n := len(h.Tracks); n < 1 || n > kvsapi.MaxTracks {
		bad("%d tracks, want 1..%d", n, kvsapi.MaxTracks)
	}
	for i, t := range h.Tracks {
		if int(t.Number) != i+1 {
			bad("track %d has number %d, want %d (numbers are 1..N in list order)", i, t.Number, i+1)
		}
		if t.UID == 0 {
			bad("track %d has UID 0", t.Number)
		}
		if t.Type == 0 {
			bad("track %d has no type", t.Number)
		}
		if t.CodecID == "" {
			bad("track %d has no codec id", t.Number)
		}
		if len(t.CodecPrivate) > kvsapi.MaxCodecPrivate {
			bad("track %d codec private is %d bytes, limit %d", t.Number, len(t.CodecPrivate), kvsapi.MaxCodecPrivate)
		}
		switch t.Type {
		case TrackVideo:
			if t.Width == 0 || t.Height == 0 {
				bad("video track %d has size %dx%d", t.Number, t.Width, t.Height)
			}
		case TrackAudio:
			if !(t.SamplingFrequency > 0) || math.IsInf(t.SamplingFrequency, 0) {
				bad("audio track %d has sampling frequency %v", t.Number, t.SamplingFrequency)
			}
			if t.Channels == 0 {
				bad("audio track %d has 0 channels", t.Number)
			}
		}
	}
	return errors.Join(errs...)
}

// ebmlHeader is the constant EBML header of every KVS stream (§2.1).
var ebmlHeader = func() []byte {
	var body []byte
	body = appendUint(body, IDEBMLVersion, 1)
	body = appendUint(body, IDEBMLReadVersion, 1)
	body = appendUint(body, IDEBMLMaxIDLength, 4)
	body = appendUint(body, IDEBMLMaxSizeLength, 8)
	body = appendString(body, IDDocType, "matroska")
	body = appendUint(body, IDDocTypeVersion, 2)
	body = appendUint(body, IDDocTypeReadVersion, 2)
	out := appendID(nil, IDEBML)
	out = appendSize(out, uint64(len(body)))
	return append(out, body...)
}()

// AppendEBMLHeader appends the EBML header KVS producers send: EBMLVersion 1,
// ReadVersion 1, MaxIDLength 4, MaxSizeLength 8, DocType matroska, DocTypeVersion
// 2, DocTypeReadVersion 2.
func AppendEBMLHeader(dst []byte) []byte {
	return append(dst, ebmlHeader...)
}

// AppendSegmentStart appends a Segment ID with unknown size: the live Segment
// that a PutMedia body or GetMedia chunk keeps open to its end.
func AppendSegmentStart(dst []byte) []byte {
	dst = appendID(dst, IDSegment)
	return append(dst, unknownSizeByte)
}

// AppendHeader appends the EBML header, the Segment start, Info, Tracks and, if
// h has any, the producer Tags. Nothing is appended if h is invalid.
func AppendHeader(dst []byte, h Header) ([]byte, error) {
	if err := h.Validate(); err != nil {
		return dst, err
	}
	dst = AppendEBMLHeader(dst)
	dst = AppendSegmentStart(dst)
	dst = appendInfo(dst, h)
	dst = appendTracks(dst, h.Tracks)
	return AppendTags(dst, h.Tags), nil
}

func appendInfo(dst []byte, h Header) []byte {
	dst, body := appendMasterStart(dst, IDInfo)
	if h.SegmentUID != ([16]byte{}) {
		dst = appendBinary(dst, IDSegmentUID, h.SegmentUID[:])
	}
	dst = appendUint(dst, IDTimecodeScale, TimecodeScale)
	title, app := h.Title, h.App
	if title == "" {
		title = DefaultTitle
	}
	if app == "" {
		app = DefaultApp
	}
	dst = appendString(dst, IDTitle, title)
	dst = appendString(dst, IDMuxingApp, app)
	dst = appendString(dst, IDWritingApp, app)
	return appendMasterEnd(dst, body)
}

func appendTracks(dst []byte, tracks []TrackSpec) []byte {
	dst, body := appendMasterStart(dst, IDTracks)
	for _, t := range tracks {
		var entry int
		dst, entry = appendMasterStart(dst, IDTrackEntry)
		dst = appendUint(dst, IDTrackNumber, uint64(t.Number))
		dst = appendUint(dst, IDTrackUID, t.UID)
		dst = appendUint(dst, IDTrackType, uint64(t.Type))
		dst = appendString(dst, IDCodecID, t.CodecID)
		if t.Name != "" {
			dst = appendString(dst, IDName, t.Name)
		}
		if len(t.CodecPrivate) > 0 {
			dst = appendBinary(dst, IDCodecPrivate, t.CodecPrivate)
		}
		switch t.Type {
		case TrackVideo:
			var video int
			dst, video = appendMasterStart(dst, IDVideo)
			dst = appendUint(dst, IDPixelWidth, uint64(t.Width))
			dst = appendUint(dst, IDPixelHeight, uint64(t.Height))
			dst = appendMasterEnd(dst, video)
		case TrackAudio:
			var audio int
			dst, audio = appendMasterStart(dst, IDAudio)
			dst = appendFloat64(dst, IDSamplingFrequency, t.SamplingFrequency)
			dst = appendUint(dst, IDChannels, uint64(t.Channels))
			dst = appendMasterEnd(dst, audio)
		}
		dst = appendMasterEnd(dst, entry)
	}
	return appendMasterEnd(dst, body)
}

// tagsSizeWidth is the size-vint width of every element AppendTags writes,
// the width KVS uses for the Tags it adds to GetMedia output (§2.5). Sizes
// too large for it (over 256 MiB) fall back to 8 bytes.
const tagsSizeWidth = 4

func tagsSizeWidthFor(n int) int {
	if uint64(n) <= 1<<(7*tagsSizeWidth)-2 {
		return tagsSizeWidth
	}
	return 8
}

func tagsElementLen(id uint32, body int) int {
	return encodedElementLen(id, tagsSizeWidthFor(body), body)
}

func simpleTagBodyLen(t SimpleTag) int {
	return tagsElementLen(IDTagName, len(t.Name)) + tagsElementLen(IDTagString, len(t.Value))
}

// AppendTags appends one Tags element holding one Tag with a SimpleTag
// {TagName, TagString} per entry, the shape of KVS's own Tags. It appends
// nothing for no tags, and allocates only to grow dst.
func AppendTags(dst []byte, tags []SimpleTag) []byte {
	if len(tags) == 0 {
		return dst
	}
	tagBody := 0
	for _, t := range tags {
		tagBody += tagsElementLen(IDSimpleTag, simpleTagBodyLen(t))
	}
	tagsBody := tagsElementLen(IDTag, tagBody)
	dst = slices.Grow(dst, tagsElementLen(IDTags, tagsBody))

	dst = appendID(dst, IDTags)
	dst = appendSizeWidth(dst, uint64(tagsBody), tagsSizeWidthFor(tagsBody))
	dst = appendID(dst, IDTag)
	dst = appendSizeWidth(dst, uint64(tagBody), tagsSizeWidthFor(tagBody))
	for _, t := range tags {
		body := simpleTagBodyLen(t)
		dst = appendID(dst, IDSimpleTag)
		dst = appendSizeWidth(dst, uint64(body), tagsSizeWidthFor(body))
		dst = appendID(dst, IDTagName)
		dst = appendSizeWidth(dst, uint64(len(t.Name)), tagsSizeWidthFor(len(t.Name)))
		dst = append(dst, t.Name...)
		dst = appendID(dst, IDTagString)
		dst = appendSizeWidth(dst, uint64(len(t.Value)), tagsSizeWidthFor(len(t.Value)))
		dst = append(dst, t.Value...)
	}
	return dst
}

// endOfFragmentTags is the constant Tags element that closes a fragment.
var endOfFragmentTags = AppendTags(nil, []SimpleTag{{Name: kvsapi.TagEndOfFragment}})

// Byte layout of the per-cluster and per-frame prefixes (§2.1).
const (
	// Cluster ID, unknown size, Timecode (ID, size, 8 bytes), Position (ID, size, 0).
	clusterStartLen = 4 + 1 + (1 + 1 + 8) + (1 + 1 + 1)
	// SimpleBlock ID, 8-byte size, track vint, int16 timecode, flags.
	simpleBlockPrefixLen = 1 + 8 + 1 + 2 + 1
	// Bytes of a SimpleBlock body before the frame data.
	simpleBlockOverhead = 1 + 2 + 1
	// Largest track number a one-byte vint carries.
	maxOneByteTrack = 126

	flagKey = 0x80
)

// Writer writes a KVS-profile Matroska stream to an io.Writer: header, then
// unknown-size Clusters of SimpleBlocks, with Tags between clusters. It starts
// no goroutines and WriteFrame does not allocate, so one Writer per simulated
// camera is cheap. Writes go straight to the io.Writer (two Write calls per
// frame): put a bufio.Writer in front of a network connection. A Writer is not
// safe for concurrent use.
type Writer struct {
	dst             io.Writer
	err             error // first error from dst; every later call returns it
	declaredTracks  int   // tracks in the last header written here; 0 if none
	inCluster       bool
	clusterTimecode int64
	scratch         []byte // header and Tags bytes, reused
	prefix          [clusterStartLen]byte
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{dst: w}
}

// Reset discards all state, including a sticky error, and makes the Writer
// write to w, keeping its buffers (use it for a new connection).
func (w *Writer) Reset(dst io.Writer) {
	*w = Writer{dst: dst, scratch: w.scratch[:0]}
}

// write sends b to the destination and makes any failure sticky.
func (w *Writer) write(b []byte) error {
	n, err := w.dst.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("mkv: write: %w", err)
	}
	return w.err
}

// WriteHeader writes the EBML header, the Segment start, Info, Tracks and the
// header Tags. Later frames must use one of the tracks declared here. A header
// in the middle of a stream (as at each GetMedia chunk) is allowed.
func (w *Writer) WriteHeader(h Header) error {
	if w.err != nil {
		return w.err
	}
	var err error
	w.scratch, err = AppendHeader(w.scratch[:0], h)
	if err != nil {
		return err
	}
	w.declaredTracks = len(h.Tracks)
	w.inCluster = false
	return w.write(w.scratch)
}

// StartCluster opens an unknown-size Cluster (one KVS fragment) with the given
// timecode in milliseconds: epoch ms in ABSOLUTE mode, ms since stream start in
// RELATIVE mode. The writer does not insist on increasing timecodes, so a
// conformance suite can send the ones the service must reject.
func (w *Writer) StartCluster(timecodeMs int64) error {
	if w.err != nil {
		return w.err
	}
	if timecodeMs < 0 {
		return fmt.Errorf("%w: cluster timecode %d ms is negative", ErrTimecodeRange, timecodeMs)
	}
	b := w.prefix[:clusterStartLen]
	binary.BigEndian.PutUint32(b[0:], IDCluster)
	b[4] = unknownSizeByte
	b[5] = IDTimecode
	b[6] = 0x80 | 8
	binary.BigEndian.PutUint64(b[7:], uint64(timecodeMs))
	b[15] = IDPosition
	b[16] = 0x80 | 1
	b[17] = 0
	if err := w.write(b); err != nil {
		return err
	}
	w.inCluster = true
	w.clusterTimecode = timecodeMs
	return nil
}

// WriteFrame writes one frame as a SimpleBlock of the current cluster. ptsMs
// must lie within 0..32767 ms after the cluster timecode (the block timecode is
// an int16 and KVS rejects frames before their cluster). It does not allocate.
func (w *Writer) WriteFrame(track uint8, ptsMs int64, key bool, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if !w.inCluster {
		return ErrNoCluster
	}
	if !w.trackDeclared(track) {
		return fmt.Errorf("%w: track %d", ErrTrackNumber, track)
	}
	rel := ptsMs - w.clusterTimecode
	if rel < 0 || rel > math.MaxInt16 {
		return fmt.Errorf("%w: frame at %d ms is %d ms after its cluster (%d ms), want 0..%d",
			ErrTimecodeRange, ptsMs, rel, w.clusterTimecode, math.MaxInt16)
	}
	if uint64(len(data)) > maxEncodableSize-simpleBlockOverhead {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(data))
	}
	b := w.prefix[:simpleBlockPrefixLen]
	b[0] = IDSimpleBlock
	putSizeWidth(b[1:9], uint64(simpleBlockOverhead+len(data)))
	b[9] = 0x80 | track
	binary.BigEndian.PutUint16(b[10:], uint16(rel))
	b[12] = 0
	if key {
		b[12] = flagKey
	}
	if err := w.write(b); err != nil {
		return err
	}
	if len(data) == 0 {
		return nil
	}
	return w.write(data)
}

func (w *Writer) trackDeclared(track uint8) bool {
	if w.declaredTracks > 0 {
		return track >= 1 && int(track) <= w.declaredTracks
	}
	return track >= 1 && track <= maxOneByteTrack
}

// WriteTags writes one Tags element with the given SimpleTags (nothing for
// none). Tags end the current Cluster, and KVS attaches them to the fragment
// of the Cluster they follow (§2.4); a new Cluster must be started before the
// next frame. The writer does not enforce KVS's metadata limits.
func (w *Writer) WriteTags(tags ...SimpleTag) error {
	if w.err != nil {
		return w.err
	}
	if len(tags) == 0 {
		return nil
	}
	w.scratch = AppendTags(w.scratch[:0], tags)
	w.inCluster = false
	return w.write(w.scratch)
}

// EndFragment closes the current fragment with the AWS_KINESISVIDEO_END_OF_FRAGMENT
// tag, as the producer SDK does at the end of a session or when idle.
func (w *Writer) EndFragment() error {
	if w.err != nil {
		return w.err
	}
	w.inCluster = false
	return w.write(endOfFragmentTags)
}
