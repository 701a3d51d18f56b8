package ingest

import (
	"errors"
	"io"
	"math"
	"math/bits"
	"strings"
	"sync"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/stack/ingest/fragstore"
)

const (
	// maxStreamHeaderBytes bounds the header elements kept per segment (Info,
	// Tracks with up to three 1 MiB CodecPrivates, producer Tags...).
	maxStreamHeaderBytes = 4 << 20
	// maxTimecodeScale is the coarsest TimecodeScale accepted (1 s, the
	// PIC's upper bound); it keeps every tick-to-millisecond product in range.
	maxTimecodeScale = 1_000_000_000
	nsPerMs          = 1_000_000
	// maxPooledClusterBuf: larger cluster buffers are left to the GC rather
	// than pinned in the pool.
	maxPooledClusterBuf = 4 << 20
)

// clusterBufs recycles the buffers fragments' Cluster bytes are gathered in,
// shared by all sessions so idle sessions hold none.
var clusterBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 64<<10)
	return &b
}}

// inboundFragment is a fragment being received or waiting to be stored.
type inboundFragment struct {
	number     string
	timecode   int64 // Cluster Timecode as received, in TimecodeScale ticks
	producerMs int64
	serverMs   int64     // when its first byte arrived (Config.Now)
	firstByte  time.Time // the same, on the monotonic clock, for ACK latency
	duplicate  bool      // already stored under number; nothing to store

	header  []byte  // the segment's header elements (shared, immutable)
	cluster *[]byte // the Cluster as received; nil for a duplicate
	size    int64   // Cluster bytes received (also counted for duplicates)
	tags    []mkv.SimpleTag

	maxRelMs int64                 // latest block, relative to the Cluster, in ms
	frames   [kvsapi.MaxTracks]int // blocks per declared track, by track index
}

func (f *inboundFragment) release() {
	if f.cluster != nil {
		if cap(*f.cluster) <= maxPooledClusterBuf {
			*f.cluster = (*f.cluster)[:0]
			clusterBufs.Put(f.cluster)
		}
		f.cluster = nil
	}
}

// storeFragment lays the fragment out as a stored payload (chunk.go) without
// copying the header or Cluster bytes.
func (f *inboundFragment) storeFragment(stream string) fragstore.Fragment {
	cluster := *f.cluster
	tagsLen := tagListLen(f.tags)
	meta := appendPayloadHead(make([]byte, 0, 2+3*binaryMaxVarint+tagsLen), len(f.header), len(cluster), tagsLen)
	headLen := len(meta)
	meta = appendTagList(meta, f.tags)
	return fragstore.Fragment{
		Stream: stream, Number: f.number,
		ProducerMs: f.producerMs, ServerMs: f.serverMs, DurationMs: f.maxRelMs,
		Parts: [][]byte{meta[:headLen], f.header, cluster, meta[headLen:]},
	}
}

const binaryMaxVarint = 10

type trackDecl struct{ number, kind uint64 }

// assembler turns the demuxed PutMedia body into fragments, enforcing the
// service limits (§1.3, §1.5) as bytes arrive. It runs on the handler
// goroutine.
type assembler struct {
	ps *putSession
	br *bodyReader

	// The current segment (a new EBML header starts another).
	header     []byte
	headerOpen bool // before the segment's first Cluster
	tracks     []trackDecl
	haveTracks bool
	scale      uint64 // TimecodeScale, ns per tick

	frag     *inboundFragment // open fragment, or nil
	carried  []mkv.SimpleTag  // metadata seen while no fragment was open: goes to the next one
	prevEnd  int64            // producer ms of the previous fragment's last block
	havePrev bool
}

func newAssembler(ps *putSession, br *bodyReader) *assembler {
	return &assembler{ps: ps, br: br, scale: nsPerMs}
}

// run reads the body to its end and returns the session's final ERROR ACK,
// or nil when it ended without one.
func (a *assembler) run() *kvsapi.Ack {
	// The demuxer holds at most one element; a block larger than a whole
	// fragment may be is rejected from its declared size, before any of it.
	d := mkv.NewDemuxer(a.br, mkv.Limits{MaxElementSize: kvsapi.MaxFragmentSize})
	for {
		ev, err := d.Next()
		if err == io.EOF {
			if a.frag != nil {
				return a.complete()
			}
			return nil
		}
		if err != nil {
			ack := a.readFailure(err)
			a.drop()
			return ack
		}
		if ack := a.handle(ev); ack != nil {
			a.drop()
			return ack
		}
	}
}

// readFailure maps a demuxer error to the final ACK.
func (a *assembler) readFailure(err error) *kvsapi.Ack {
	switch {
	case errors.Is(err, errSessionStopped):
		return a.ps.stopAck(a.frag)
	case errors.Is(err, errIdleTimeout):
		return nil // KVS just closes an idle request
	case errors.Is(err, errSlowClient), a.br.connErr != nil:
		return a.errorAck(kvsapi.ErrStreamRead)
	case errors.Is(err, errFragmentTooLarge):
		return a.errorAck(kvsapi.ErrMaxFragmentSize)
	case errors.Is(err, mkv.ErrTooLarge) && a.br.clusterStart >= 0:
		return a.errorAck(kvsapi.ErrMaxFragmentSize) // one block larger than a fragment may be
	default:
		return a.errorAck(kvsapi.ErrInvalidMKV)
	}
}

func (a *assembler) errorAck(id kvsapi.ErrorID) *kvsapi.Ack { return errorAckFor(id, a.frag) }

// clusterError is an ERROR for a Cluster refused at its start: it names the
// Cluster's timecode but has no fragment number.
func clusterError(id kvsapi.ErrorID, timecode int64) *kvsapi.Ack {
	return &kvsapi.Ack{EventType: kvsapi.EventError, ErrorID: id, FragmentTimecode: timecode, HasTimecode: true}
}

func (a *assembler) drop() {
	if a.frag != nil {
		a.frag.release()
		a.frag = nil
	}
}

func (a *assembler) handle(ev mkv.Event) *kvsapi.Ack {
	if ack := a.ps.faults.event(ev, a.frag); ack != nil {
		return ack
	}
	switch ev.Kind {
	case mkv.KindEBMLHeader:
		// A producer restarting its generator: the open fragment is complete
		// and a new header follows.
		if a.frag != nil {
			if ack := a.complete(); ack != nil {
				return ack
			}
		}
		a.header, a.headerOpen = nil, true // fragments keep the old header slice
		a.tracks, a.haveTracks, a.scale = a.tracks[:0], false, nsPerMs
	case mkv.KindHeaderElement:
		if ack := a.addHeader(ev.Raw); ack != nil {
			return ack
		}
		switch ev.ID {
		case mkv.IDTracks:
			if len(ev.Tracks) > kvsapi.MaxTracks {
				return a.errorAck(kvsapi.ErrMoreThanAllowedTracks)
			}
			a.tracks = a.tracks[:0]
			for _, t := range ev.Tracks {
				a.tracks = append(a.tracks, trackDecl{number: t.Number, kind: t.Type})
			}
			a.haveTracks = true
		case mkv.IDInfo:
			if ev.TimecodeScale > maxTimecodeScale {
				return a.errorAck(kvsapi.ErrInvalidMKV)
			}
			a.scale = ev.TimecodeScale
		}
	case mkv.KindTags:
		if a.headerOpen {
			return a.addHeader(ev.Raw) // the producer's stream-level Tags
		}
		return a.addTags(ev.Tags)
	case mkv.KindClusterStart:
		if a.frag != nil {
			if ack := a.complete(); ack != nil {
				return ack
			}
		}
		return a.open(ev)
	case mkv.KindBlock:
		return a.addBlock(ev)
	case mkv.KindClusterOther:
		return a.addClusterBytes(ev.Raw)
	case mkv.KindClusterEnd:
		// The Cluster is over; the fragment stays open for the Tags that may
		// follow it (§2.4), which the demuxer bounds as header elements.
		a.br.clusterStart = -1
	}
	// KindSegment and KindOther (Cues, Void... after a Cluster) carry nothing
	// a fragment keeps.
	return nil
}

func (a *assembler) addHeader(raw []byte) *kvsapi.Ack {
	if len(a.header)+len(raw) > maxStreamHeaderBytes {
		return a.errorAck(kvsapi.ErrInvalidMKV)
	}
	a.header = append(a.header, raw...)
	return nil
}

// producerMs is the producer timestamp of a Cluster timecode (§1.6).
func (a *assembler) producerMs(tc int64) (int64, bool) {
	ms := tc
	if a.scale != nsPerMs {
		hi, lo := bits.Mul64(uint64(tc), a.scale)
		if hi >= nsPerMs {
			return 0, false
		}
		q, _ := bits.Div64(hi, lo, nsPerMs)
		if q > math.MaxInt64 {
			return 0, false
		}
		ms = int64(q)
	}
	if a.ps.relative {
		if ms > math.MaxInt64-a.ps.startMs {
			return 0, false
		}
		ms += a.ps.startMs
	}
	return ms, true
}

// open starts the fragment of a new Cluster and sends its BUFFERING.
func (a *assembler) open(ev mkv.Event) *kvsapi.Ack {
	a.headerOpen = false
	if !a.haveTracks {
		return clusterError(kvsapi.ErrInvalidMKV, ev.Timecode) // a Cluster before any Tracks
	}
	pms, ok := a.producerMs(ev.Timecode)
	if !ok {
		return clusterError(kvsapi.ErrInvalidProducerTimestamp, ev.Timecode)
	}
	// §1.6: a fragment must start after the last frame of the previous one.
	if a.havePrev && pms <= a.prevEnd {
		return clusterError(kvsapi.ErrFragmentTimecodeLesser, ev.Timecode)
	}
	s := a.ps.s
	f := &inboundFragment{
		timecode: ev.Timecode, producerMs: pms,
		serverMs: s.cfg.Now().UnixMilli(), firstByte: time.Now(),
		header: a.header, tags: a.carried,
	}
	a.carried = nil
	// Store once: a resent fragment keeps the number it was stored under.
	dup := s.cfg.Defects
	if info, ok := s.store.ByProducerTime(a.ps.name, pms); ok && !dup.DuplicateResentFragment {
		f.number, f.duplicate = info.Number, true
	} else if dup.DropResentFragment && s.seen.saw(a.ps.name, pms) {
		// Deliberate defect: seen before, so taken for stored, though an
		// upload cut mid-fragment never was.
		f.number, f.duplicate = s.store.NextFragmentNumber(), true
	} else {
		f.number = s.store.NextFragmentNumber()
		f.cluster = clusterBufs.Get().(*[]byte)
	}
	a.frag = f
	a.br.clusterStart = ev.Offset
	a.ps.acks.send(kvsapi.Ack{EventType: kvsapi.EventBuffering, FragmentNumber: f.number,
		FragmentTimecode: f.timecode, HasTimecode: true}, f.firstByte)
	return a.addClusterBytes(ev.Raw)
}

func (a *assembler) addClusterBytes(raw []byte) *kvsapi.Ack {
	f := a.frag
	f.size += int64(len(raw))
	if f.size > kvsapi.MaxFragmentSize {
		return a.errorAck(kvsapi.ErrMaxFragmentSize)
	}
	if f.cluster != nil {
		*f.cluster = appendCapped(*f.cluster, raw, kvsapi.MaxFragmentSize)
	}
	return nil
}

// appendCapped appends b to dst, growing dst as append would but never to a
// capacity beyond limit (unless dst+b alone exceed it), so a fragment near the
// size limit does not allocate far more than the limit.
func appendCapped(dst, b []byte, limit int) []byte {
	if need := len(dst) + len(b); need > cap(dst) {
		grown := make([]byte, len(dst), min(max(2*cap(dst), need), max(limit, need)))
		copy(grown, dst)
		dst = grown
	}
	return append(dst, b...)
}

func (a *assembler) addBlock(ev mkv.Event) *kvsapi.Ack {
	f := a.frag
	idx := -1
	for i, t := range a.tracks {
		if t.number == ev.Track {
			idx = i
			break
		}
	}
	if idx < 0 {
		return a.errorAck(kvsapi.ErrTrackNumberMismatch)
	}
	f.frames[idx]++
	// scale <= 1 s, so the product stays far inside int64.
	relMs := int64(ev.RelTimecode) * int64(a.scale) / nsPerMs
	if relMs > f.maxRelMs {
		f.maxRelMs = relMs
	}
	if f.maxRelMs > kvsapi.MaxFragmentDuration.Milliseconds() {
		return a.errorAck(kvsapi.ErrMaxFragmentDuration)
	}
	return a.addClusterBytes(ev.Raw)
}

// addTags takes the metadata that follows a Cluster (§2.4). An
// AWS_KINESISVIDEO_END_OF_FRAGMENT tag completes the fragment and is not kept.
func (a *assembler) addTags(tags []mkv.SimpleTag) *kvsapi.Ack {
	target := &a.carried
	if a.frag != nil {
		target = &a.frag.tags
	}
	end := false
	for _, t := range tags {
		if t.Name == kvsapi.TagEndOfFragment {
			end = true
			continue
		}
		if len(t.Name) > kvsapi.MaxTagNameLen || len(t.Value) > kvsapi.MaxTagValueLen ||
			strings.HasPrefix(t.Name, kvsapi.TagPrefix) && !kvsapi.ProducerEventTag(t.Name) {
			return a.errorAck(kvsapi.ErrFragmentMetadataLimit)
		}
		if len(*target) == kvsapi.MaxFragmentTags {
			return a.errorAck(kvsapi.ErrFragmentMetadataLimit)
		}
		*target = append(*target, t)
	}
	if end && a.frag != nil {
		return a.complete()
	}
	return nil
}

// complete closes the open fragment: RECEIVED, then (retention > 0) to the
// persister.
func (a *assembler) complete() *kvsapi.Ack {
	f := a.frag
	for i, t := range a.tracks {
		if (t.kind == mkv.TrackVideo || t.kind == mkv.TrackAudio) && f.frames[i] == 0 {
			return a.errorAck(kvsapi.ErrFramesMissingForTrack)
		}
	}
	s, ps := a.ps.s, a.ps
	if cur, ok := s.streams.byName(ps.name); !ok || cur != ps.st {
		return a.errorAck(kvsapi.ErrStreamNotActive) // deleted while this fragment arrived
	}
	a.frag = nil
	a.br.clusterStart = -1
	a.prevEnd, a.havePrev = f.producerMs+f.maxRelMs, true
	ps.acks.send(kvsapi.Ack{EventType: kvsapi.EventReceived, FragmentNumber: f.number,
		FragmentTimecode: f.timecode, HasTimecode: true}, f.firstByte)
	s.metrics.fragments.WithLabelValues("received").Inc()
	if ps.st.record().RetentionHours > 0 {
		ps.persistQ <- f
	} else {
		f.release()
	}
	return nil
}
