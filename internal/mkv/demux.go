package mkv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/camstorm/camstorm/internal/kvsapi"
)

// Sentinel errors of the demuxer. Every error Next returns wraps one of them,
// io.ErrUnexpectedEOF (the stream ended inside an element), or the error of
// the underlying reader.
var (
	ErrInvalid  = errors.New("invalid MKV data")
	ErrTooLarge = errors.New("MKV element larger than the limit")
	ErrTooDeep  = errors.New("MKV elements nested too deeply")
)

// Defaults for zero Limits fields.
const (
	DefaultMaxElementSize       = kvsapi.MaxFragmentSize
	DefaultMaxHeaderElementSize = 2 << 20
	DefaultMaxDepth             = 16
	DefaultMaxSimpleTags        = 64
)

const (
	// Depth is counted from the Segment (depth 1); a SimpleBlock sits at 3 and
	// a BlockGroup's Block at 4, so lower limits would reject every stream.
	minDepthLimit = 4
	// The Tags walk recurses once per level; keep the stack small whatever the caller asks.
	maxDepthLimit = 1024
	// Sizes are held in ints; 1 GiB keeps that safe on 32-bit platforms too.
	maxSizeLimit = 1 << 30
	// Tracks is held whole, but each TrackEntry becomes a TrackInfo far larger
	// than its 2 bytes on the wire; cap the count so Tracks cannot amplify memory.
	maxTrackEntries = 64

	readStep   = 64 << 10 // largest single read into the element buffer
	bufferSize = 16 << 10 // bufio buffer; bigger reads go straight to the reader

	unknownEnd  = -1 // end offset of an unknown-size Segment or Cluster
	unknownSize = -1 // elementHeader.size of an unknown-size element

	defaultTimecodeScale = 1_000_000
)

// Limits bounds what a Demuxer holds in memory. Zero fields take the defaults.
type Limits struct {
	// MaxElementSize is the largest Cluster child held in memory (a
	// SimpleBlock, BlockGroup or other element); default 50 MiB.
	MaxElementSize int64
	// MaxHeaderElementSize is the largest EBML header, Segment-level element
	// other than a Cluster (Info, Tracks, Tags, Cues...), and total of Cluster
	// children before its Timecode; default 2 MiB.
	MaxHeaderElementSize int64
	// MaxDepth is the deepest nesting accepted, counting the Segment as 1
	// (it bounds recursive SimpleTags); default 16, at least 4, at most 1024.
	MaxDepth int
	// MaxSimpleTags is the most SimpleTags (nested ones included) in one Tags
	// element; default 64.
	MaxSimpleTags int
}

func (l Limits) withDefaults() Limits {
	if l.MaxElementSize <= 0 {
		l.MaxElementSize = DefaultMaxElementSize
	}
	if l.MaxHeaderElementSize <= 0 {
		l.MaxHeaderElementSize = DefaultMaxHeaderElementSize
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxSimpleTags <= 0 {
		l.MaxSimpleTags = DefaultMaxSimpleTags
	}
	l.MaxElementSize = min(l.MaxElementSize, maxSizeLimit)
	l.MaxHeaderElementSize = min(l.MaxHeaderElementSize, maxSizeLimit)
	l.MaxDepth = min(max(l.MaxDepth, minDepthLimit), maxDepthLimit)
	return l
}

// Kind says what an Event is.
type Kind int

const (
	// KindEBMLHeader: Raw is the whole EBML header element.
	KindEBMLHeader Kind = iota + 1
	// KindSegment: Raw is the Segment ID and size (its children follow as events).
	KindSegment
	// KindHeaderElement: a Segment child before the first Cluster other than
	// Tags (Info, Tracks, SeekHead, Void...). Raw is the whole element; Tracks
	// fills Event.Tracks and Info fills Event.TimecodeScale.
	KindHeaderElement
	// KindClusterStart: Raw is the Cluster ID and size and every child up to
	// and including its Timecode; Event.Timecode is set. It is emitted as soon
	// as the Timecode has arrived.
	KindClusterStart
	// KindBlock: a SimpleBlock or BlockGroup; Raw is the whole element.
	KindBlock
	// KindClusterOther: any other Cluster child (Position, PrevSize, Void,
	// CRC-32, unknown IDs); Raw is the whole element.
	KindClusterOther
	// KindClusterEnd: the Cluster ended (its known size, the next element
	// that cannot be a Cluster child, or a clean end of stream). Raw is empty.
	KindClusterEnd
	// KindTags: a Segment-level Tags element; Raw is the whole element and
	// Event.Tags holds every SimpleTag, nested ones included.
	KindTags
	// KindOther: any other Segment-level element after the first Cluster
	// (Cues, Void...); Raw is the whole element.
	KindOther
)

var kindNames = [...]string{
	KindEBMLHeader:    "EBMLHeader",
	KindSegment:       "Segment",
	KindHeaderElement: "HeaderElement",
	KindClusterStart:  "ClusterStart",
	KindBlock:         "Block",
	KindClusterOther:  "ClusterOther",
	KindClusterEnd:    "ClusterEnd",
	KindTags:          "Tags",
	KindOther:         "Other",
}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// TrackInfo is one TrackEntry of a Tracks element.
type TrackInfo struct {
	Number, UID, Type uint64
	CodecID, Name     string
	CodecPrivate      []byte // a copy, safe to keep
}

// Event is one step of the demuxed stream. Concatenating the Raw bytes of all
// events reproduces the input exactly.
type Event struct {
	Kind   Kind
	ID     uint32 // element ID (IDCluster for KindClusterStart and KindClusterEnd)
	Offset int64  // stream offset of the element's first byte (of the next byte for KindClusterEnd)
	Raw    []byte // valid only until the next call to Next

	Timecode int64 // KindClusterStart: the Cluster Timecode

	// KindBlock:
	Track       uint64
	RelTimecode int16
	Keyframe    bool // SimpleBlock key flag; a BlockGroup without ReferenceBlock
	FrameSize   int  // bytes after the block header (all laced frames together)

	Tracks        []TrackInfo // KindHeaderElement with ID == IDTracks
	TimecodeScale uint64      // KindHeaderElement with ID == IDInfo (default 1 000 000)
	Tags          []SimpleTag // KindTags
}

type demuxState int

const (
	stateExpectEBML    demuxState = iota // at top level: only an EBML header may come
	stateExpectSegment                   // after an EBML header: only a Segment may come
	stateSegment                         // inside a Segment
)

// Demuxer splits a live Matroska stream into events while holding at most one
// element in memory. It is not safe for concurrent use.
type Demuxer struct {
	br  *bufio.Reader
	lim Limits

	buf []byte // Raw of the current event; reused, grown only as bytes arrive
	off int64  // stream offset of the next unconsumed byte = Raw bytes handed out
	err error  // sticky
	eof bool   // the reader ended cleanly at an element boundary

	state       demuxState
	segmentEnd  int64 // offset just past the Segment, or unknownEnd
	inCluster   bool  // a Cluster's Timecode has been emitted and it has not ended
	clusterEnd  int64 // offset just past the Cluster, or unknownEnd
	seenCluster bool  // a Cluster has started in the current Segment

	maxIDWidth, maxSizeWidth int // declared by the current EBML header
}

// NewDemuxer returns a Demuxer reading from r. It reads through its own
// bufio.Reader, so it may read somewhat past the last event it returns.
func NewDemuxer(r io.Reader, lim Limits) *Demuxer {
	return &Demuxer{
		br:           bufio.NewReaderSize(r, bufferSize),
		lim:          lim.withDefaults(),
		state:        stateExpectEBML,
		maxIDWidth:   decodeMaxIDWidth,
		maxSizeWidth: decodeMaxSizeWidth,
	}
}

// Offset is the number of stream bytes handed out in events so far, which is
// also the offset of the next event's first byte.
func (d *Demuxer) Offset() int64 { return d.off }

// Next returns the next event. At a clean end of stream (between elements,
// outside any sized element) it returns io.EOF. Errors are sticky.
func (d *Demuxer) Next() (Event, error) {
	if d.err != nil {
		return Event{}, d.err
	}
	ev, err := d.next()
	if err != nil {
		d.err = err
		return Event{}, err
	}
	return ev, nil
}

func (d *Demuxer) next() (Event, error) {
	d.buf = d.buf[:0]
	// Each pass either returns or closes a Segment, so this runs at most twice.
	for {
		if d.inCluster && d.clusterEnd != unknownEnd && d.off == d.clusterEnd {
			return d.endCluster(), nil
		}
		if d.state == stateSegment && !d.inCluster && d.segmentEnd != unknownEnd && d.off == d.segmentEnd {
			d.closeSegment()
			continue
		}
		h, err := d.peekHeader()
		if err == io.EOF {
			return d.atEOF()
		}
		if err != nil {
			return Event{}, err
		}
		switch {
		case d.state == stateExpectEBML:
			if h.id != IDEBML {
				return Event{}, invalidAt(h.off, "expected an EBML header, found element %#x", h.id)
			}
			return d.readEBMLHeader(h)
		case d.state == stateExpectSegment:
			if h.id != IDSegment {
				return Event{}, invalidAt(h.off, "expected a Segment after the EBML header, found element %#x", h.id)
			}
			return d.openSegment(h)
		case d.inCluster:
			return d.clusterChild(h)
		case h.id == IDEBML:
			// A producer restarting its generator: the unknown-size Segment ends here.
			if d.segmentEnd != unknownEnd {
				return Event{}, invalidAt(h.off, "EBML header inside the sized Segment ending at %d", d.segmentEnd)
			}
			d.closeSegment()
			continue
		default:
			return d.segmentChild(h)
		}
	}
}

func (d *Demuxer) atEOF() (Event, error) {
	switch {
	case d.inCluster && d.clusterEnd == unknownEnd:
		return d.endCluster(), nil
	case d.inCluster:
		return Event{}, truncatedAt(d.off, "stream ended inside the Cluster ending at %d", d.clusterEnd)
	case d.state == stateSegment && d.segmentEnd != unknownEnd:
		return Event{}, truncatedAt(d.off, "stream ended inside the Segment ending at %d", d.segmentEnd)
	case d.state == stateSegment:
		d.closeSegment()
	}
	return Event{}, io.EOF
}

func (d *Demuxer) endCluster() Event {
	d.inCluster = false
	return Event{Kind: KindClusterEnd, ID: IDCluster, Offset: d.off, Raw: d.buf[:0]}
}

func (d *Demuxer) closeSegment() {
	d.state = stateExpectEBML
	d.seenCluster = false
	d.maxIDWidth, d.maxSizeWidth = decodeMaxIDWidth, decodeMaxSizeWidth
}

func (d *Demuxer) readEBMLHeader(h elementHeader) (Event, error) {
	if err := d.checkElement(h, unknownEnd, d.lim.MaxHeaderElementSize); err != nil {
		return Event{}, err
	}
	if err := d.readElement(h); err != nil {
		return Event{}, err
	}
	maxID, maxSize, err := d.parseEBMLHeader(d.buf[h.headLen:], h.dataOffset())
	if err != nil {
		return Event{}, err
	}
	d.maxIDWidth, d.maxSizeWidth = maxID, maxSize
	d.state = stateExpectSegment
	return Event{Kind: KindEBMLHeader, ID: IDEBML, Offset: h.off, Raw: d.buf}, nil
}

func (d *Demuxer) openSegment(h elementHeader) (Event, error) {
	if h.size == unknownSize {
		d.segmentEnd = unknownEnd
	} else {
		if err := checkFits(h, unknownEnd); err != nil {
			return Event{}, err
		}
		d.segmentEnd = h.end()
	}
	if err := d.readStream(int64(h.headLen)); err != nil {
		return Event{}, err
	}
	d.state = stateSegment
	d.seenCluster = false
	return Event{Kind: KindSegment, ID: IDSegment, Offset: h.off, Raw: d.buf}, nil
}

func (d *Demuxer) segmentChild(h elementHeader) (Event, error) {
	switch h.id {
	case IDSegment:
		return Event{}, invalidAt(h.off, "Segment inside a Segment")
	case IDCluster:
		return d.openCluster(h)
	}
	if err := d.checkElement(h, d.segmentEnd, d.lim.MaxHeaderElementSize); err != nil {
		return Event{}, err
	}
	if err := d.readElement(h); err != nil {
		return Event{}, err
	}
	body, base := d.buf[h.headLen:], h.dataOffset()
	ev := Event{ID: h.id, Offset: h.off, Raw: d.buf}
	var err error
	switch {
	case h.id == IDTags:
		ev.Kind = KindTags
		ev.Tags, err = d.parseTags(body, base)
	case d.seenCluster:
		ev.Kind = KindOther
	default:
		ev.Kind = KindHeaderElement
		switch h.id {
		case IDTracks:
			ev.Tracks, err = d.parseTracks(body, base)
		case IDInfo:
			ev.TimecodeScale, err = d.parseInfo(body, base)
		}
	}
	if err != nil {
		return Event{}, err
	}
	return ev, nil
}

// openCluster consumes a Cluster's header and its children up to the
// Timecode, and returns them as one KindClusterStart event.
func (d *Demuxer) openCluster(h elementHeader) (Event, error) {
	if h.size == unknownSize {
		if d.segmentEnd != unknownEnd {
			return Event{}, invalidAt(h.off, "unknown-size Cluster inside the sized Segment ending at %d", d.segmentEnd)
		}
		d.clusterEnd = unknownEnd
	} else {
		if err := checkFits(h, d.segmentEnd); err != nil {
			return Event{}, err
		}
		d.clusterEnd = h.end()
	}
	if err := d.readStream(int64(h.headLen)); err != nil {
		return Event{}, err
	}
	d.seenCluster = true
	// Every child costs at least 2 bytes of this budget, so the loop is bounded.
	budget := d.lim.MaxHeaderElementSize
	for {
		if d.clusterEnd != unknownEnd && d.off == d.clusterEnd {
			return Event{}, invalidAt(h.off, "Cluster ends without a Timecode")
		}
		c, err := d.peekHeader()
		if err == io.EOF {
			return Event{}, truncatedAt(d.off, "stream ended before the Timecode of the Cluster at %d", h.off)
		}
		if err != nil {
			return Event{}, err
		}
		if endsCluster(c.id) {
			return Event{}, invalidAt(c.off, "Cluster at %d has no Timecode before element %#x", h.off, c.id)
		}
		switch c.id {
		case IDSimpleBlock, IDBlockGroup:
			return Event{}, invalidAt(c.off, "block before the Timecode of the Cluster at %d", h.off)
		case IDTimecode:
			if c.size > 8 {
				return Event{}, invalidAt(c.off, "Cluster Timecode of %d bytes, at most 8", c.size)
			}
			if err := d.checkElement(c, d.clusterEnd, 8); err != nil {
				return Event{}, err
			}
			if err := d.readElement(c); err != nil {
				return Event{}, err
			}
			tc, err := decodeUint(d.buf[len(d.buf)-int(c.size):])
			if err != nil {
				return Event{}, errAt(c.off, err)
			}
			if tc > math.MaxInt64 {
				return Event{}, invalidAt(c.off, "Cluster Timecode %d exceeds the int64 range", tc)
			}
			d.inCluster = true
			return Event{Kind: KindClusterStart, ID: IDCluster, Offset: h.off, Raw: d.buf, Timecode: int64(tc)}, nil
		}
		if err := d.checkElement(c, d.clusterEnd, budget); err != nil {
			return Event{}, err
		}
		budget -= int64(c.headLen) + c.size
		if budget < 0 {
			return Event{}, tooLargeAt(c.off, "Cluster children before the Timecode exceed %d bytes", d.lim.MaxHeaderElementSize)
		}
		if err := d.readElement(c); err != nil {
			return Event{}, err
		}
	}
}

func (d *Demuxer) clusterChild(h elementHeader) (Event, error) {
	if endsCluster(h.id) {
		if d.clusterEnd != unknownEnd {
			return Event{}, invalidAt(h.off, "element %#x inside the sized Cluster ending at %d", h.id, d.clusterEnd)
		}
		return d.endCluster(), nil
	}
	if h.id == IDTimecode {
		return Event{}, invalidAt(h.off, "second Timecode in a Cluster")
	}
	if err := d.checkElement(h, d.clusterEnd, d.lim.MaxElementSize); err != nil {
		return Event{}, err
	}
	if err := d.readElement(h); err != nil {
		return Event{}, err
	}
	body, base := d.buf[h.headLen:], h.dataOffset()
	ev := Event{Kind: KindBlock, ID: h.id, Offset: h.off, Raw: d.buf}
	switch h.id {
	case IDSimpleBlock:
		b, err := parseBlockHeader(body, base)
		if err != nil {
			return Event{}, err
		}
		ev.Track, ev.RelTimecode, ev.FrameSize = b.track, b.relTimecode, b.frameSize
		ev.Keyframe = b.flags&0x80 != 0
	case IDBlockGroup:
		b, keyframe, err := d.parseBlockGroup(body, base)
		if err != nil {
			return Event{}, err
		}
		ev.Track, ev.RelTimecode, ev.FrameSize = b.track, b.relTimecode, b.frameSize
		ev.Keyframe = keyframe
	default:
		ev.Kind = KindClusterOther
	}
	return ev, nil
}

// endsCluster reports whether id cannot be a Cluster child and so ends an
// unknown-size Cluster (RFC 8794 §6.2).
func endsCluster(id uint32) bool {
	switch id {
	case IDCluster, IDTags, IDCues, IDInfo, IDTracks, IDSeekHead, IDChapters, IDAttachments, IDEBML, IDSegment:
		return true
	}
	return false
}

// elementHeader is a decoded element ID and data size.
type elementHeader struct {
	id      uint32
	off     int64 // stream offset of the ID's first byte
	headLen int   // bytes of ID and size
	size    int64 // data size, or unknownSize
}

func (h elementHeader) dataOffset() int64 { return h.off + int64(h.headLen) }

// end is the offset just past the element; valid once checkFits has passed.
func (h elementHeader) end() int64 { return h.dataOffset() + h.size }

// peekHeader decodes the next element header without consuming it. It
// returns io.EOF, unwrapped, only when the stream ended cleanly before it.
func (d *Demuxer) peekHeader() (elementHeader, error) {
	h := elementHeader{off: d.off}
	if d.eof {
		return h, io.EOF
	}
	b, err := d.br.Peek(1)
	if len(b) == 0 {
		if err == io.EOF {
			d.eof = true
			return h, io.EOF
		}
		return h, d.readError(err)
	}
	maxID := d.maxIDWidth
	if _, _, err := decodeID(b, maxID); err != nil && err != errNeedMoreBytes {
		return h, errAt(h.off, err)
	}
	idWidth := decodeVintWidth(b[0])
	if b, err = d.peekHeaderBytes(idWidth + 1); err != nil {
		return h, err
	}
	if h.id, _, err = decodeID(b, maxID); err != nil {
		return h, errAt(h.off, err)
	}
	maxSize := d.maxSizeWidth
	if h.id == IDEBML {
		maxSize = decodeMaxSizeWidth // a new EBML document is not bound by the old header
	}
	if _, _, _, err := decodeSize(b[idWidth:], maxSize); err != nil && err != errNeedMoreBytes {
		return h, errAt(h.off+int64(idWidth), err)
	}
	h.headLen = idWidth + decodeVintWidth(b[idWidth])
	if b, err = d.peekHeaderBytes(h.headLen); err != nil {
		return h, err
	}
	size, unknown, _, err := decodeSize(b[idWidth:], maxSize)
	if err != nil {
		return h, errAt(h.off+int64(idWidth), err)
	}
	if unknown {
		h.size = unknownSize
	} else {
		h.size = int64(size) // < 2^56
	}
	return h, nil
}

func (d *Demuxer) peekHeaderBytes(n int) ([]byte, error) {
	b, err := d.br.Peek(n)
	if len(b) < n {
		if err == io.EOF {
			return nil, truncatedAt(d.off, "stream ended inside an element header")
		}
		return nil, d.readError(err)
	}
	return b, nil
}

// checkElement validates a header before any of its data is read: a known
// size, inside its parent, and within limit.
func (d *Demuxer) checkElement(h elementHeader, parentEnd, limit int64) error {
	if h.size == unknownSize {
		return invalidAt(h.off, "element %#x has unknown size; only Segment and Cluster may", h.id)
	}
	if err := checkFits(h, parentEnd); err != nil {
		return err
	}
	if h.size > limit {
		return tooLargeAt(h.off, "element %#x declares %d bytes, limit %d", h.id, h.size, limit)
	}
	if h.id == IDCRC32 && h.size != 4 {
		return invalidAt(h.off, "CRC-32 element of %d bytes, want 4", h.size)
	}
	return nil
}

// checkFits reports an element whose end overflows the offset range or lies
// beyond parentEnd (unknownEnd: no bound).
func checkFits(h elementHeader, parentEnd int64) error {
	if h.off > math.MaxInt64-int64(h.headLen) || h.size > math.MaxInt64-h.dataOffset() {
		return invalidAt(h.off, "element %#x: size %d overflows the stream offset", h.id, h.size)
	}
	if parentEnd != unknownEnd && h.end() > parentEnd {
		return invalidAt(h.off, "element %#x ends at %d, beyond its parent's end at %d", h.id, h.end(), parentEnd)
	}
	return nil
}

// readElement appends the whole element (header and data) to d.buf; the
// header must have passed checkElement.
func (d *Demuxer) readElement(h elementHeader) error {
	return d.readStream(int64(h.headLen) + h.size)
}

// readStream appends the next n stream bytes to d.buf. The buffer grows only
// as data arrives, in steps of at most readStep, and never beyond what the
// current element needs, so a declared size costs nothing until it is sent.
func (d *Demuxer) readStream(n int64) error {
	for n > 0 {
		step := int(min(n, readStep))
		have := len(d.buf)
		if cap(d.buf)-have < step {
			newCap := max(2*cap(d.buf), have+step)
			if need := int64(have) + n; int64(newCap) > need {
				newCap = int(need)
			}
			grown := make([]byte, have, newCap)
			copy(grown, d.buf)
			d.buf = grown
		}
		got, err := io.ReadFull(d.br, d.buf[have:have+step])
		d.buf = d.buf[:have+got]
		d.off += int64(got)
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return truncatedAt(d.off, "stream ended inside an element")
			}
			return d.readError(err)
		}
		n -= int64(step)
	}
	return nil
}

func (d *Demuxer) readError(err error) error {
	return fmt.Errorf("mkv: reading at offset %d: %w", d.off, err)
}

// childIter walks the children of an element held in memory.
type childIter struct {
	data                     []byte
	pos                      int
	base                     int64 // stream offset of data[0]
	maxIDWidth, maxSizeWidth int
}

type child struct {
	id      uint32
	off     int64 // stream offset of the child's ID
	body    []byte
	bodyOff int64
}

func (d *Demuxer) children(data []byte, base int64) childIter {
	return childIter{data: data, base: base, maxIDWidth: d.maxIDWidth, maxSizeWidth: d.maxSizeWidth}
}

// next returns the next child; ok is false at the end of the data.
func (it *childIter) next() (c child, ok bool, err error) {
	if it.pos >= len(it.data) {
		return c, false, nil
	}
	rest := it.data[it.pos:]
	c.off = it.base + int64(it.pos)
	id, idWidth, err := decodeID(rest, it.maxIDWidth)
	if err == errNeedMoreBytes {
		err = errVintTruncated
	}
	if err != nil {
		return c, false, errAt(c.off, err)
	}
	size, unknown, sizeWidth, err := decodeSize(rest[idWidth:], it.maxSizeWidth)
	if err == errNeedMoreBytes {
		err = errVintTruncated
	}
	if err != nil {
		return c, false, errAt(c.off+int64(idWidth), err)
	}
	if unknown {
		return c, false, invalidAt(c.off, "element %#x inside a sized parent has unknown size", id)
	}
	headLen := idWidth + sizeWidth
	if size > uint64(len(rest)-headLen) {
		return c, false, invalidAt(c.off, "element %#x of %d bytes exceeds its parent by %d bytes", id, size, size-uint64(len(rest)-headLen))
	}
	if id == IDCRC32 && size != 4 {
		return c, false, invalidAt(c.off, "CRC-32 element of %d bytes, want 4", size)
	}
	end := headLen + int(size)
	c.id, c.body, c.bodyOff = id, rest[headLen:end], c.off+int64(headLen)
	it.pos += end
	return c, true, nil
}

func (d *Demuxer) parseEBMLHeader(body []byte, base int64) (maxIDWidth, maxSizeWidth int, err error) {
	// The header's own children are bound only by the profile's caps.
	it := childIter{data: body, base: base, maxIDWidth: decodeMaxIDWidth, maxSizeWidth: decodeMaxSizeWidth}
	maxID, maxSize := uint64(decodeMaxIDWidth), uint64(decodeMaxSizeWidth)
	docType, haveDocType := "", false
	for {
		c, ok, err := it.next()
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			break
		}
		switch c.id {
		case IDEBMLMaxIDLength, IDEBMLMaxSizeLength, IDEBMLReadVersion:
			v, err := decodeUint(c.body)
			if err != nil {
				return 0, 0, errAt(c.off, err)
			}
			switch c.id {
			case IDEBMLMaxIDLength:
				maxID = v
			case IDEBMLMaxSizeLength:
				maxSize = v
			case IDEBMLReadVersion:
				if v != 1 {
					return 0, 0, invalidAt(c.off, "EBMLReadVersion %d, only 1 is readable", v)
				}
			}
		case IDDocType:
			docType, haveDocType = decodeString(c.body), true
		}
	}
	switch {
	case !haveDocType:
		return 0, 0, invalidAt(base, "EBML header has no DocType")
	case docType != "matroska" && docType != "webm":
		return 0, 0, invalidAt(base, "DocType %q, want matroska or webm", docType)
	case maxID != decodeMaxIDWidth: // RFC 8794 requires at least 4; the profile allows at most 4
		return 0, 0, invalidAt(base, "EBMLMaxIDLength %d, want 4", maxID)
	case maxSize < 1 || maxSize > decodeMaxSizeWidth:
		return 0, 0, invalidAt(base, "EBMLMaxSizeLength %d, want 1..8", maxSize)
	}
	return int(maxID), int(maxSize), nil
}

func (d *Demuxer) parseInfo(body []byte, base int64) (timecodeScale uint64, err error) {
	timecodeScale = defaultTimecodeScale
	it := d.children(body, base)
	for {
		c, ok, err := it.next()
		if err != nil {
			return 0, err
		}
		if !ok {
			return timecodeScale, nil
		}
		if c.id == IDTimecodeScale {
			if timecodeScale, err = decodeUint(c.body); err != nil {
				return 0, errAt(c.off, err)
			}
			if timecodeScale == 0 {
				return 0, invalidAt(c.off, "TimecodeScale 0")
			}
		}
	}
}

func (d *Demuxer) parseTracks(body []byte, base int64) ([]TrackInfo, error) {
	var tracks []TrackInfo
	it := d.children(body, base)
	for {
		c, ok, err := it.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return tracks, nil
		}
		if c.id != IDTrackEntry {
			continue
		}
		if len(tracks) == maxTrackEntries {
			return nil, tooLargeAt(c.off, "more than %d TrackEntry elements", maxTrackEntries)
		}
		t, err := d.parseTrackEntry(c)
		if err != nil {
			return nil, err
		}
		for _, other := range tracks {
			if other.Number == t.Number {
				return nil, invalidAt(c.off, "duplicate TrackNumber %d", t.Number)
			}
		}
		tracks = append(tracks, t)
	}
}

func (d *Demuxer) parseTrackEntry(entry child) (TrackInfo, error) {
	var t TrackInfo
	it := d.children(entry.body, entry.bodyOff)
	for {
		c, ok, err := it.next()
		if err != nil {
			return t, err
		}
		if !ok {
			break
		}
		switch c.id {
		case IDTrackNumber, IDTrackUID, IDTrackType:
			v, err := decodeUint(c.body)
			if err != nil {
				return t, errAt(c.off, err)
			}
			switch c.id {
			case IDTrackNumber:
				t.Number = v
			case IDTrackUID:
				t.UID = v
			case IDTrackType:
				t.Type = v
			}
		case IDCodecID:
			t.CodecID = decodeString(c.body)
		case IDName:
			t.Name = decodeString(c.body)
		case IDCodecPrivate:
			t.CodecPrivate = append([]byte(nil), c.body...)
		}
	}
	if t.Number == 0 {
		return t, invalidAt(entry.off, "TrackEntry without a TrackNumber")
	}
	return t, nil
}

// parseTags flattens every SimpleTag of a Tags element (depth 2).
func (d *Demuxer) parseTags(body []byte, base int64) ([]SimpleTag, error) {
	var tags []SimpleTag
	tagsIt := d.children(body, base)
	for {
		tag, ok, err := tagsIt.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return tags, nil
		}
		if tag.id != IDTag {
			continue
		}
		tagIt := d.children(tag.body, tag.bodyOff)
		for {
			st, ok, err := tagIt.next()
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			if st.id == IDSimpleTag {
				if tags, err = d.appendSimpleTag(tags, st, 4); err != nil {
					return nil, err
				}
			}
		}
	}
}

// appendSimpleTag appends st and then its nested SimpleTags, depth first.
func (d *Demuxer) appendSimpleTag(tags []SimpleTag, st child, depth int) ([]SimpleTag, error) {
	if depth > d.lim.MaxDepth {
		return nil, fmt.Errorf("mkv: offset %d: SimpleTag at depth %d, limit %d: %w", st.off, depth, d.lim.MaxDepth, ErrTooDeep)
	}
	if len(tags) >= d.lim.MaxSimpleTags {
		return nil, tooLargeAt(st.off, "more than %d SimpleTags in one Tags element", d.lim.MaxSimpleTags)
	}
	var name, value string
	it := d.children(st.body, st.bodyOff)
	for {
		c, ok, err := it.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		switch c.id {
		case IDTagName:
			name = decodeString(c.body)
		case IDTagString:
			value = decodeString(c.body)
		}
	}
	tags = append(tags, SimpleTag{Name: name, Value: value})
	it = d.children(st.body, st.bodyOff)
	for {
		c, ok, err := it.next() // cannot fail: the first pass walked the same bytes
		if err != nil {
			return nil, err
		}
		if !ok {
			return tags, nil
		}
		if c.id == IDSimpleTag {
			if tags, err = d.appendSimpleTag(tags, c, depth+1); err != nil {
				return nil, err
			}
		}
	}
}

type blockHeader struct {
	track       uint64
	relTimecode int16
	flags       byte
	frameSize   int
}

// Block header flag bits (RFC 9559 §10.1–10.2).
const (
	blockLacingMask  = 0x06
	blockLacingXiph  = 0x02
	blockLacingFixed = 0x04
	blockLacingEBML  = 0x06
)

// parseBlockHeader validates the header of a SimpleBlock or Block, lace sizes
// included, against the element's data.
func parseBlockHeader(data []byte, base int64) (blockHeader, error) {
	var b blockHeader
	track, w, err := readVint(data)
	if err != nil {
		return b, errAt(base, err)
	}
	if track == 0 {
		return b, invalidAt(base, "block for track 0")
	}
	if len(data) < w+3 {
		return b, invalidAt(base, "block of %d bytes is shorter than its header", len(data))
	}
	b.track = track
	b.relTimecode = int16(binary.BigEndian.Uint16(data[w:]))
	b.flags = data[w+2]
	p := w + 3
	if lacing := b.flags & blockLacingMask; lacing != 0 {
		if p >= len(data) {
			return b, invalidAt(base, "laced block without a frame count")
		}
		frames := int(data[p]) + 1
		p++
		if p, err = checkLaces(data, p, frames, lacing); err != nil {
			return b, errAt(base, err)
		}
	}
	b.frameSize = len(data) - p
	return b, nil
}

var (
	errLaceHeader = fmt.Errorf("%w: lace sizes run past the block", ErrInvalid)
	errLaceSizes  = fmt.Errorf("%w: lace sizes negative or beyond the block data", ErrInvalid)
	errLaceFixed  = fmt.Errorf("%w: fixed-size lacing does not divide the block data", ErrInvalid)
)

// checkLaces validates the lace sizes that start at data[p] and returns the
// offset of the first frame. Every size is checked against the bytes left, so
// no sum can overflow.
func checkLaces(data []byte, p, frames int, lacing byte) (int, error) {
	switch lacing {
	case blockLacingFixed:
		if (len(data)-p)%frames != 0 {
			return 0, errLaceFixed
		}
		return p, nil
	case blockLacingXiph:
		var total int64
		for range frames - 1 {
			for {
				if p >= len(data) {
					return 0, errLaceHeader
				}
				c := data[p]
				p++
				total += int64(c)
				if c != 0xFF {
					break
				}
			}
			if total > int64(len(data)) {
				return 0, errLaceSizes
			}
		}
		if total > int64(len(data)-p) {
			return 0, errLaceSizes
		}
		return p, nil
	default: // EBML lacing: first size, then signed differences
		var total, size int64
		for i := range frames - 1 {
			var w int
			var err error
			if i == 0 {
				var u uint64
				u, w, err = readVint(data[p:])
				size = int64(u) // < 2^56
			} else {
				var diff int64
				diff, w, err = readSignedVint(data[p:])
				size += diff // |size|, |diff| < 2^56
			}
			if err != nil {
				return 0, err
			}
			p += w
			if size < 0 || size > int64(len(data)) {
				return 0, errLaceSizes
			}
			total += size
			if total > int64(len(data)) {
				return 0, errLaceSizes
			}
		}
		if total > int64(len(data)-p) {
			return 0, errLaceSizes
		}
		return p, nil
	}
}

// parseBlockGroup reads the Block header of a BlockGroup; it is a key frame
// when it references no other block.
func (d *Demuxer) parseBlockGroup(body []byte, base int64) (blockHeader, bool, error) {
	var b blockHeader
	blocks, references := 0, 0
	it := d.children(body, base)
	for {
		c, ok, err := it.next()
		if err != nil {
			return b, false, err
		}
		if !ok {
			break
		}
		switch c.id {
		case IDBlock:
			if blocks++; blocks > 1 {
				return b, false, invalidAt(c.off, "BlockGroup with more than one Block")
			}
			if b, err = parseBlockHeader(c.body, c.bodyOff); err != nil {
				return b, false, err
			}
		case IDReferenceBlock:
			references++
		}
	}
	if blocks == 0 {
		return b, false, invalidAt(base, "BlockGroup without a Block")
	}
	return b, references == 0, nil
}

func errAt(off int64, err error) error {
	return fmt.Errorf("mkv: offset %d: %w", off, err)
}

func invalidAt(off int64, format string, args ...any) error {
	return fmt.Errorf("mkv: offset %d: %w: %s", off, ErrInvalid, fmt.Sprintf(format, args...))
}

func tooLargeAt(off int64, format string, args ...any) error {
	return fmt.Errorf("mkv: offset %d: %w: %s", off, ErrTooLarge, fmt.Sprintf(format, args...))
}

func truncatedAt(off int64, format string, args ...any) error {
	return fmt.Errorf("mkv: offset %d: %s: %w", off, fmt.Sprintf(format, args...), io.ErrUnexpectedEOF)
}
