package consumer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/at-wat/ebml-go"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/mkv"
)

// Sentinel errors. A Fragment's Err wraps one of them; reading errors wrap
// ErrMalformedResponse when the service sent something that is not a media
// stream of the KVS shape.
var (
	// ErrNotServed: the service answered with an error chunk for the
	// fragment, or the response ended before it.
	ErrNotServed = errors.New("consumer: fragment not served")
	// ErrFragmentTooLarge: the fragment holds more frame bytes or frames
	// than the reader's limits; its frames were not kept.
	ErrFragmentTooLarge = errors.New("consumer: fragment exceeds the reader's limits")
	// ErrUnsupportedBlock: a BlockGroup or a block on an undeclared track,
	// which the KVS profile does not produce; the fragment's frames were not kept.
	ErrUnsupportedBlock = errors.New("consumer: unsupported block")
	// ErrMalformedResponse: the media response does not follow the chunk
	// layout of kvs-protocol.md §2.5.
	ErrMalformedResponse = errors.New("consumer: malformed media response")
)

// Frame is one block of a fragment.
type Frame struct {
	// Timecode is the frame's time in ms: cluster timecode plus the block's
	// relative timecode (epoch ms for ABSOLUTE streams).
	Timecode int64
	Key      bool
	// Data is the block payload as stored, or the plaintext frame once an
	// Opener authenticated it. It is valid only during the callback that
	// received the Fragment.
	Data []byte
	// Seq is the camera's frame sequence number when HasSeq is set: the
	// authenticated number of an E2EE frame, or the synthetic SEI number of
	// a plaintext one.
	Seq    uint64
	HasSeq bool
	// Err is why the frame failed authentication (wraps an e2ee error).
	Err error
}

// Track is one track of a fragment with its frames in storage order.
type Track struct {
	Number, Type  uint64
	CodecID, Name string
	CodecPrivate  []byte
	Width, Height uint64 // video tracks, when declared
	Frames        []Frame
}

// ChunkError is the error a service reports in a media chunk instead of a
// fragment (AWS_KINESISVIDEO_ERROR_ID / _ERROR_CODE).
type ChunkError struct {
	ID   string
	Code string
}

func (e *ChunkError) Error() string { return "error chunk " + e.ID + " " + e.Code }

// Is makes every ChunkError match ErrNotServed.
func (e *ChunkError) Is(target error) bool { return target == ErrNotServed }

// Fragment is one fragment as read back. A Fragment handed to a callback,
// and every slice in it, is valid only during that call: the reader reuses
// its memory for the next one.
type Fragment struct {
	Number            string
	ProducerTimestamp time.Time // zero if the chunk did not carry it
	ServerTimestamp   time.Time
	// Timecode is the Cluster timecode in ms.
	Timecode int64
	// ContinuationToken and MillisBehindNow come with GetMedia;
	// MillisBehindNow is -1 without one.
	ContinuationToken string
	MillisBehindNow   int64
	// Tags are the user metadata stored with the fragment (what followed
	// its Cluster), without the service's own tags.
	Tags   []mkv.SimpleTag
	Tracks []Track
	// Err is set when the fragment has no usable media: an error chunk
	// (*ChunkError), a response that ended before it, or a fragment beyond
	// the reader's limits. Tracks are then empty.
	Err error

	// Encrypted: the fragment carries the E2EE key track.
	Encrypted bool
	// Opened: an Opener authenticated the fragment (see Integrity).
	Opened bool
	// Integrity is the first authentication failure (nil when every frame
	// passed or nothing was opened); FailedFrames counts the video frames
	// that did not authenticate.
	Integrity    error
	FailedFrames int
}

// Video is the fragment's first video track, or nil.
func (f *Fragment) Video() *Track {
	for i := range f.Tracks {
		if f.Tracks[i].Type == mkv.TrackVideo {
			return &f.Tracks[i]
		}
	}
	return nil
}

// lastFrameTimecode is the latest frame time of the fragment in ms, and
// false without frames.
func (f *Fragment) lastFrameTimecode() (int64, bool) {
	var last int64
	found := false
	for i := range f.Tracks {
		for _, fr := range f.Tracks[i].Frames {
			if !found || fr.Timecode > last {
				last, found = fr.Timecode, true
			}
		}
	}
	return last, found
}

// Limits bound what a reader holds for one fragment. Zero fields take the defaults.
type Limits struct {
	// MaxFragmentBytes bounds the frame bytes kept for one fragment; default
	// kvsapi.MaxFragmentSize (50 MiB, the service limit).
	MaxFragmentBytes int
	// MaxFrames bounds the blocks kept for one fragment; default 20 000
	// (10 s, the longest fragment, at 2 000 frames per second).
	MaxFrames int
	// MaxTags bounds the user tags kept for one fragment; default 64.
	MaxTags int
}

// Defaults for zero Limits fields.
const (
	DefaultMaxFrames = 20_000
	DefaultMaxTags   = 64
)

func (l Limits) withDefaults() Limits {
	if l.MaxFragmentBytes <= 0 {
		l.MaxFragmentBytes = kvsapi.MaxFragmentSize
	}
	if l.MaxFrames <= 0 {
		l.MaxFrames = DefaultMaxFrames
	}
	if l.MaxTags <= 0 {
		l.MaxTags = DefaultMaxTags
	}
	return l
}

// blockRef locates a block's payload in the parser's arena until the
// Cluster has ended (the arena may move while it grows).
type blockRef struct {
	track    int // index into Fragment.Tracks
	off, n   int
	timecode int64
	key      bool
}

// chunkParser turns a media response (kvs-protocol.md §2.5: per fragment an
// EBML header, Segment, the stored header elements, Tags naming the
// fragment, its Cluster, then Tags with user metadata and, from GetMedia,
// the continuation token) into Fragments, one at a time.
type chunkParser struct {
	d   *mkv.Demuxer
	lim Limits
	// tailing: a GetMedia response, where a fragment is complete once the
	// Tags with its continuation token arrived; otherwise at the next chunk.
	tailing bool

	frag  Fragment
	arena []byte
	refs  []blockRef
	scale uint64 // TimecodeScale of the current chunk, ns

	tracksRaw []byte // the Tracks element the current track list came from

	haveNumber bool // the current chunk named its fragment
	inCluster  bool
	pending    bool // the Cluster ended; the fragment waits for its trailing Tags
	reset      bool // the fragment was handed out; clear it before reading on
	eof        bool
}

func newChunkParser(r io.Reader, lim Limits, tailing bool) *chunkParser {
	lim = lim.withDefaults()
	return &chunkParser{d: newDemuxer(r, lim), lim: lim, tailing: tailing, scale: mkv.TimecodeScale}
}

// newDemuxer bounds every element to what the parser would keep of a
// fragment (a block larger than that ends the response).
func newDemuxer(r io.Reader, lim Limits) *mkv.Demuxer {
	return mkv.NewDemuxer(r, mkv.Limits{MaxElementSize: int64(lim.MaxFragmentBytes) + 1<<10, MaxSimpleTags: 256})
}

// startChunk forgets everything of the previous chunk but reusable memory.
func (p *chunkParser) startChunk() {
	tracks := p.frag.Tracks
	for i := range tracks {
		tracks[i].Frames = tracks[i].Frames[:0]
	}
	p.frag = Fragment{Tracks: tracks, Tags: p.frag.Tags[:0], MillisBehindNow: -1}
	p.arena = p.arena[:0]
	p.refs = p.refs[:0]
	p.scale = mkv.TimecodeScale
	p.haveNumber, p.inCluster, p.pending = false, false, false
}

// next returns the next fragment, or io.EOF at the clean end of the
// response. Any other error ends the response; a fragment whose Cluster
// had ended before it is still returned first.
func (p *chunkParser) next() (*Fragment, error) {
	if p.reset {
		p.reset = false
		p.startChunk()
	}
	if p.eof {
		return nil, io.EOF
	}
	for {
		ev, err := p.d.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				p.eof = true
				if p.pending {
					return p.emit(), nil
				}
				return nil, io.EOF
			}
			if p.pending {
				// The Cluster had ended, so the fragment is whole; the
				// Demuxer's error is sticky and comes back next time.
				return p.emit(), nil
			}
			return nil, err
		}
		switch ev.Kind {
		case mkv.KindEBMLHeader:
			if p.pending {
				return p.emit(), nil // the next call starts the new chunk
			}
			p.startChunk()
		case mkv.KindHeaderElement:
			switch ev.ID {
			case mkv.IDTracks:
				p.setTracks(ev.Raw, ev.Tracks)
			case mkv.IDInfo:
				p.scale = ev.TimecodeScale
			}
		case mkv.KindTags:
			if f, ok := p.tags(ev.Tags); ok {
				return f, nil
			}
		case mkv.KindClusterStart:
			if !p.haveNumber {
				return nil, fmt.Errorf("%w: a Cluster at offset %d before any fragment-number tag", ErrMalformedResponse, ev.Offset)
			}
			if p.pending || p.inCluster {
				return nil, fmt.Errorf("%w: a second Cluster in the chunk of fragment %s", ErrMalformedResponse, p.frag.Number)
			}
			p.inCluster = true
			p.frag.Timecode = p.toMs(ev.Timecode)
		case mkv.KindBlock:
			p.block(ev)
		case mkv.KindClusterEnd:
			if p.inCluster {
				p.inCluster, p.pending = false, true
				p.finishFrames()
			}
		}
	}
}

// emit hands out the current fragment; the next call starts afresh.
func (p *chunkParser) emit() *Fragment {
	p.reset, p.pending = true, false
	return &p.frag
}

// setTracks adopts a chunk's track list, reusing the previous one when the
// Tracks element is byte-identical (every chunk of a stream repeats it).
func (p *chunkParser) setTracks(raw []byte, infos []mkv.TrackInfo) {
	if bytes.Equal(raw, p.tracksRaw) && len(p.frag.Tracks) == len(infos) {
		return
	}
	p.tracksRaw = append(p.tracksRaw[:0], raw...)
	sizes := videoSizes(raw)
	tracks := p.frag.Tracks[:0]
	for _, t := range infos {
		tr := Track{Number: t.Number, Type: t.Type, CodecID: t.CodecID, Name: t.Name, CodecPrivate: t.CodecPrivate}
		if s, ok := sizes[t.Number]; ok {
			tr.Width, tr.Height = s[0], s[1]
		}
		tracks = append(tracks, tr)
	}
	p.frag.Tracks = tracks
}

// videoSizes reads PixelWidth and PixelHeight of each video TrackEntry,
// which the Demuxer does not report. A Tracks element it cannot read
// yields no sizes (they are only needed to re-mux).
func videoSizes(raw []byte) map[uint64][2]uint64 {
	var doc struct {
		Tracks struct {
			TrackEntry []struct {
				TrackNumber uint64 `ebml:"TrackNumber"`
				Video       struct {
					PixelWidth  uint64 `ebml:"PixelWidth"`
					PixelHeight uint64 `ebml:"PixelHeight"`
				} `ebml:"Video"`
			} `ebml:"TrackEntry"`
		} `ebml:"Tracks"`
	}
	if err := ebml.Unmarshal(bytes.NewReader(raw), &doc, ebml.WithMaxLeafElementSize(uint64(len(raw)))); err != nil {
		return nil
	}
	out := make(map[uint64][2]uint64, len(doc.Tracks.TrackEntry))
	for _, e := range doc.Tracks.TrackEntry {
		if e.Video.PixelWidth > 0 && e.Video.PixelHeight > 0 {
			out[e.TrackNumber] = [2]uint64{e.Video.PixelWidth, e.Video.PixelHeight}
		}
	}
	return out
}

// tags handles a Tags element: before the Cluster it names the fragment
// (or reports an error chunk, which is then complete); after it, it holds
// the user metadata and, from GetMedia, the continuation token that
// completes the fragment.
func (p *chunkParser) tags(tags []mkv.SimpleTag) (*Fragment, bool) {
	f := &p.frag
	if p.pending {
		token := false
		for _, t := range tags {
			switch t.Name {
			case kvsapi.TagContinuationToken:
				f.ContinuationToken, token = t.Value, true
			case kvsapi.TagMillisBehindNow:
				if v, err := strconv.ParseInt(t.Value, 10, 64); err == nil && v >= 0 {
					f.MillisBehindNow = v
				}
			default:
				if len(f.Tags) < p.lim.MaxTags {
					f.Tags = append(f.Tags, t)
				}
			}
		}
		if token && p.tailing {
			return p.emit(), true
		}
		return nil, false
	}
	if p.inCluster {
		return nil, false // cannot happen: Tags end a Cluster
	}
	var errID, errCode string
	for _, t := range tags {
		switch t.Name {
		case kvsapi.TagFragmentNumber:
			f.Number, p.haveNumber = t.Value, true
		case kvsapi.TagProducerTimestamp, "AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP":
			if ms, ok := parseTagTime(t.Value); ok {
				f.ProducerTimestamp = time.UnixMilli(ms)
			}
		case kvsapi.TagServerTimestamp, "AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP":
			if ms, ok := parseTagTime(t.Value); ok {
				f.ServerTimestamp = time.UnixMilli(ms)
			}
		case kvsapi.TagErrorID, "AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE":
			errID = t.Value
		case kvsapi.TagErrorCode, "AWS_KINESISVIDEO_EXCEPTION_MESSAGE":
			errCode = t.Value
		}
	}
	if p.haveNumber && (errID != "" || errCode != "") {
		f.Err = &ChunkError{ID: errID, Code: errCode}
		return p.emit(), true
	}
	return nil, false
}

// block keeps one block's payload, or marks the fragment unusable.
func (p *chunkParser) block(ev mkv.Event) {
	f := &p.frag
	if !p.inCluster || f.Err != nil {
		return
	}
	if ev.ID != mkv.IDSimpleBlock {
		f.Err = fmt.Errorf("%w: BlockGroup on track %d", ErrUnsupportedBlock, ev.Track)
		return
	}
	ti := -1
	for i := range f.Tracks {
		if f.Tracks[i].Number == ev.Track {
			ti = i
			break
		}
	}
	if ti < 0 {
		f.Err = fmt.Errorf("%w: block on undeclared track %d", ErrUnsupportedBlock, ev.Track)
		return
	}
	data := ev.Raw[len(ev.Raw)-ev.FrameSize:]
	if len(p.refs) >= p.lim.MaxFrames || len(p.arena)+len(data) > p.lim.MaxFragmentBytes {
		f.Err = fmt.Errorf("%w: more than %d frames or %d bytes", ErrFragmentTooLarge, p.lim.MaxFrames, p.lim.MaxFragmentBytes)
		return
	}
	p.refs = append(p.refs, blockRef{
		track: ti, off: len(p.arena), n: len(data),
		timecode: f.Timecode + p.toMs(int64(ev.RelTimecode)), key: ev.Keyframe,
	})
	if need := len(p.arena) + len(data); need > cap(p.arena) {
		// Grow as append would, but never past the limit.
		grown := make([]byte, len(p.arena), min(max(2*cap(p.arena), need), p.lim.MaxFragmentBytes))
		copy(grown, p.arena)
		p.arena = grown
	}
	p.arena = append(p.arena, data...)
}

// finishFrames points the kept blocks into the arena, which no longer moves.
func (p *chunkParser) finishFrames() {
	f := &p.frag
	if f.Err != nil {
		for i := range f.Tracks {
			f.Tracks[i].Frames = f.Tracks[i].Frames[:0]
		}
		return
	}
	for _, r := range p.refs {
		t := &f.Tracks[r.track]
		t.Frames = append(t.Frames, Frame{Timecode: r.timecode, Key: r.key, Data: p.arena[r.off : r.off+r.n : r.off+r.n]})
	}
}

// toMs converts ticks of the chunk's TimecodeScale to milliseconds.
func (p *chunkParser) toMs(ticks int64) int64 {
	if p.scale == mkv.TimecodeScale || p.scale == 0 {
		return ticks
	}
	neg := ticks < 0
	u := uint64(ticks)
	if neg {
		u = uint64(-ticks)
	}
	hi, lo := bits.Mul64(u, p.scale)
	if hi >= mkv.TimecodeScale { // the quotient would not fit
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, mkv.TimecodeScale)
	if q > math.MaxInt64 {
		q = math.MaxInt64
	}
	if neg {
		return -int64(q)
	}
	return int64(q)
}

// parseTagTime parses KVS's tag timestamps, epoch seconds with up to three
// decimals ("1511852109.126"), into milliseconds.
func parseTagTime(s string) (int64, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(whole) > 12 || len(frac) > 9 {
		return 0, false
	}
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || sec < 0 {
		return 0, false
	}
	ms := int64(0)
	for i := 0; i < 3; i++ {
		ms *= 10
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			ms += int64(c - '0')
		}
	}
	for i := 3; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return 0, false
		}
	}
	return sec*1000 + ms, true
}
