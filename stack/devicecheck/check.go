package devicecheck

import (
	"encoding/binary"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/camstorm/camstorm/internal/devicerecord"
	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/stack/ingest"
)

// Check injects a schedule's faults into one stream's PutMedia sessions and
// records what the device sent and what the ingest answered. Give it to
// the ingest as its SessionHook (stack.Options.Ingest.SessionHook); other
// streams are left alone.
type Check struct {
	stream string
	now    func() time.Time

	mu      sync.Mutex
	rec     devicerecord.Record
	pending []*pendingFault
	windows []*window     // active withhold/throttle/stall windows
	ordinal map[int64]int // producer ms → ordinal
	started bool
}

var _ ingest.SessionHook = (*Check)(nil)

type pendingFault struct {
	Fault
	fired bool
}

type window struct {
	f   Fault
	end time.Time
}

// New returns a check of stream with the schedule's faults. now is the
// clock (nil: time.Now).
func New(stream string, sched Schedule, now func() time.Time) *Check {
	if now == nil {
		now = time.Now
	}
	c := &Check{stream: stream, now: now, ordinal: map[int64]int{}}
	c.rec.Stream = stream
	for _, f := range sched {
		c.pending = append(c.pending, &pendingFault{Fault: f})
		c.rec.Planned = append(c.rec.Planned, f.Spec)
	}
	return c
}

// SetCredentialLifetime tells the record how long the device's credentials
// last (for the credential-refresh case).
func (c *Check) SetCredentialLifetime(d time.Duration) {
	c.mu.Lock()
	c.rec.CredentialLifetime = d
	c.mu.Unlock()
}

// Record returns a copy of what has been observed so far, with Ended set
// to now.
func (c *Check) Record() *devicerecord.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rec
	r.Sessions = slices.Clone(r.Sessions)
	r.Fragments = slices.Clone(r.Fragments)
	for i := range r.Fragments {
		r.Fragments[i].Frames = slices.Clone(r.Fragments[i].Frames)
		r.Fragments[i].Tags = slices.Clone(r.Fragments[i].Tags)
	}
	r.Acks = slices.Clone(r.Acks)
	r.Faults = slices.Clone(r.Faults)
	r.Planned = slices.Clone(r.Planned)
	r.Ended = c.now()
	return &r
}

// Sessions reports how many PutMedia sessions the device opened so far.
func (c *Check) Sessions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.rec.Sessions) + c.rec.Dropped.Sessions
}

// PutMediaSession implements ingest.SessionHook.
func (c *Check) PutMediaSession(stream string, r *http.Request) ingest.SessionTap {
	if stream != c.stream {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.started {
		c.started, c.rec.Started = true, now
	}
	if len(c.rec.Sessions) >= devicerecord.MaxSessions {
		c.rec.Dropped.Sessions++
		return nil
	}
	s := devicerecord.Session{
		Index: len(c.rec.Sessions), Start: now, Remote: r.RemoteAddr,
		AccessKeyID:   accessKeyID(r.Header.Get("Authorization")),
		SessionToken:  r.Header.Get("X-Amz-Security-Token") != "" || r.URL.Query().Get("X-Amz-Security-Token") != "",
		TimecodeType:  r.Header.Get(kvsapi.HeaderFragmentTimecodeType),
		ProducerStart: r.Header.Get(kvsapi.HeaderProducerStartTime),
		UserAgent:     r.UserAgent(), TimecodeScale: 1_000_000,
	}
	c.rec.Sessions = append(c.rec.Sessions, s)
	t := &tap{c: c, session: s.Index, scale: 1_000_000, frag: -1, startMs: now.UnixMilli()}
	if s.TimecodeType == kvsapi.TimecodeTypeRelative {
		t.relative = true
		if ms, ok := epochSecondsMs(s.ProducerStart); ok {
			t.startMs = ms
		}
	}
	return t
}

// accessKeyID is the key ID of a SigV4 Authorization header.
func accessKeyID(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(cred, "/")
	return id
}

func epochSecondsMs(v string) (int64, bool) {
	sec, frac, _ := strings.Cut(v, ".")
	var ms int64
	for _, ch := range sec {
		if ch < '0' || ch > '9' || ms > 1e12 {
			return 0, false
		}
		ms = ms*10 + int64(ch-'0')
	}
	ms *= 1000
	for i, scale := 0, int64(100); i < len(frac) && i < 3; i, scale = i+1, scale/10 {
		if frac[i] < '0' || frac[i] > '9' {
			return 0, false
		}
		ms += int64(frac[i]-'0') * scale
	}
	return ms, v != ""
}

// tap is one session's view; its state is guarded by c.mu.
type tap struct {
	c        *Check
	session  int
	relative bool
	startMs  int64
	scale    uint64

	segment    int  // EBML headers seen
	headerOpen bool // in a segment's header, before its first Cluster
	tracks     []devicerecord.Track
	frag       int // index in rec.Fragments of this session's open/last fragment, -1 none
	curOrdinal int
	curTC      int64
	curMs      int64
	injected   *devicerecord.Fault // the session-ending fault that fired
}

func (t *tap) sess() *devicerecord.Session { return &t.c.rec.Sessions[t.session] }

// Event implements ingest.SessionTap.
func (t *tap) Event(ev mkv.Event) *ingest.Fault {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	s := t.sess()
	switch ev.Kind {
	case mkv.KindEBMLHeader:
		t.segment++
		s.Segments++
		t.headerOpen = true
		if t.segment == 1 {
			s.EBMLHeader = t.appendHeader(nil, ev.Raw)
			s.Header = t.appendHeader(nil, ev.Raw)
		}
	case mkv.KindHeaderElement:
		if t.segment == 1 && t.headerOpen {
			s.Header = t.appendHeader(s.Header, ev.Raw)
		}
		switch ev.ID {
		case mkv.IDTracks:
			t.tracks = t.tracks[:0]
			for _, tr := range ev.Tracks {
				t.tracks = append(t.tracks, devicerecord.Track{Number: tr.Number, Type: tr.Type, CodecID: tr.CodecID,
					Name: tr.Name, CodecPrivateLen: len(tr.CodecPrivate)})
			}
			if s.Tracks == nil {
				s.Tracks = slices.Clone(t.tracks)
			}
		case mkv.IDInfo:
			t.scale = ev.TimecodeScale
			if t.segment == 1 {
				s.TimecodeScale = ev.TimecodeScale
			}
		}
	case mkv.KindTags:
		if t.headerOpen {
			if t.segment == 1 {
				s.Header = t.appendHeader(s.Header, ev.Raw)
			}
		} else if t.frag >= 0 {
			f := &c.rec.Fragments[t.frag]
			for _, tag := range ev.Tags {
				if len(f.Tags) < devicerecord.MaxTagsPerFragment {
					f.Tags = append(f.Tags, tag.Name)
				}
			}
		}
	case mkv.KindClusterStart:
		t.headerOpen = false
		if t.segment == 0 || len(t.tracks) == 0 {
			s.ClusterBeforeHeader = true
		}
		t.openFragment(ev.Timecode)
		return t.fire(false)
	case mkv.KindBlock:
		t.addBlock(ev)
		return t.fire(true)
	case mkv.KindClusterOther:
		if t.frag >= 0 {
			c.rec.Fragments[t.frag].Size += int64(len(ev.Raw))
		}
	}
	return nil
}

func (t *tap) appendHeader(dst, raw []byte) []byte {
	if len(dst)+len(raw) > devicerecord.MaxHeaderBytes {
		t.c.rec.Dropped.HeaderBytes += len(raw)
		return dst
	}
	return append(dst, raw...)
}

func (t *tap) producerMs(tc int64) int64 {
	ms := tc
	if t.scale != 1_000_000 && t.scale != 0 {
		ms = int64(float64(tc) * float64(t.scale) / 1e6)
	}
	if t.relative {
		ms += t.startMs
	}
	return ms
}

func (t *tap) openFragment(tc int64) {
	c := t.c
	ms := t.producerMs(tc)
	ord, seen := c.ordinal[ms]
	if !seen {
		ord = len(c.ordinal) + 1
		c.ordinal[ms] = ord
	}
	t.curOrdinal, t.curTC, t.curMs = ord, tc, ms
	if len(c.rec.Fragments) >= devicerecord.MaxFragments {
		c.rec.Dropped.Fragments++
		t.frag = -1
		return
	}
	c.rec.Fragments = append(c.rec.Fragments, devicerecord.Fragment{
		Session: t.session, Arrived: c.now(), Timecode: tc, ProducerMs: ms, Ordinal: ord, Resent: seen,
	})
	t.frag = len(c.rec.Fragments) - 1
}

func (t *tap) addBlock(ev mkv.Event) {
	if t.frag < 0 {
		return
	}
	f := &t.c.rec.Fragments[t.frag]
	f.Size += int64(len(ev.Raw))
	var tr *devicerecord.Track
	for i := range t.tracks {
		if t.tracks[i].Number == ev.Track {
			tr = &t.tracks[i]
		}
	}
	if tr != nil && tr.CodecID == e2ee.CodecID {
		f.KeyTrackBlock = true
	}
	if tr != nil && tr.Type == mkv.TrackVideo && !slices.ContainsFunc(f.Frames, func(fr devicerecord.Frame) bool { return fr.Track == ev.Track }) &&
		ev.FrameSize <= len(ev.Raw) {
		f.PlainVideo = lengthPrefixedNALs(ev.Raw[len(ev.Raw)-ev.FrameSize:])
	}
	if len(f.Frames) < devicerecord.MaxFramesPerFragment {
		f.Frames = append(f.Frames, devicerecord.Frame{Track: ev.Track, Rel: ev.RelTimecode, Key: ev.Keyframe, Size: ev.FrameSize})
	} else {
		t.c.rec.Dropped.Frames++
	}
}

// lengthPrefixedNALs reports whether b is a chain of 4-byte big-endian
// lengths each followed by that many bytes, filling b exactly: what an
// unencrypted AVCC or HVCC frame is, and a sealed frame almost never.
func lengthPrefixedNALs(b []byte) bool {
	if len(b) < 5 {
		return false
	}
	for len(b) > 0 {
		if len(b) < 4 {
			return false
		}
		n := binary.BigEndian.Uint32(b)
		if n == 0 || uint64(n) > uint64(len(b)-4) {
			return false
		}
		b = b[4+n:]
	}
	return true
}

// fire starts the faults whose trigger has come; inBlock is true at a
// block, where session-ending faults fire (mid-fragment).
func (t *tap) fire(inBlock bool) *ingest.Fault {
	c := t.c
	now := c.now()
	var end *ingest.Fault
	for _, p := range c.pending {
		if p.fired {
			continue
		}
		due := p.AtFragment > 0 && t.curOrdinal >= p.AtFragment ||
			p.AtFragment == 0 && !now.Before(c.rec.Started.Add(p.AtTime))
		if !due || p.EndsSession() && (!inBlock || end != nil) {
			continue
		}
		p.fired = true
		rf := devicerecord.Fault{Spec: p.Spec, Kind: p.Kind, Time: now, Session: t.session,
			Ordinal: t.curOrdinal, Timecode: t.curTC, ProducerMs: t.curMs, Duration: p.Duration}
		switch p.Kind {
		case KindClose:
			end = &ingest.Fault{Close: true}
			t.sess().Cut = true
		case KindError:
			end = &ingest.Fault{ErrorID: p.ErrorID}
			rf.ErrorID, rf.Retriable = int(p.ErrorID), p.ErrorID.Retriable()
		default:
			c.windows = append(c.windows, &window{f: p.Fault, end: now.Add(p.Duration)})
		}
		c.rec.Faults = append(c.rec.Faults, rf)
		if end != nil {
			t.injected = &c.rec.Faults[len(c.rec.Faults)-1]
		}
	}
	return end
}

// Read implements ingest.SessionTap: throttle and stall windows pace the
// body.
func (t *tap) Read(n int) time.Duration {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var pause time.Duration
	for _, w := range c.windows {
		if !now.Before(w.end) {
			continue
		}
		switch w.f.Kind {
		case KindThrottle:
			pause = max(pause, time.Duration(float64(n)/float64(w.f.BytesPerSecond)*float64(time.Second)))
		case KindStall:
			pause = max(pause, w.end.Sub(now))
		}
	}
	return pause
}

// Ack implements ingest.SessionTap: it records the ACK and holds it back
// while a withhold window for its type is open.
func (t *tap) Ack(ack kvsapi.Ack) (time.Duration, bool) {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var hold time.Duration
	for _, w := range c.windows {
		if w.f.Kind == KindWithhold && now.Before(w.end) && slices.Contains(w.f.Acks, ack.EventType) {
			hold = max(hold, w.end.Sub(now))
		}
	}
	t.recordAck(ack, now, hold, false)
	if ack.EventType == kvsapi.EventReceived {
		for i := len(c.rec.Fragments) - 1; i >= 0 && c.rec.Fragments[i].Session == t.session; i-- {
			if c.rec.Fragments[i].Timecode == ack.FragmentTimecode {
				c.rec.Fragments[i].Complete = true
				break
			}
		}
	}
	return hold, false
}

func (t *tap) recordAck(ack kvsapi.Ack, now time.Time, hold time.Duration, injected bool) {
	c := t.c
	if len(c.rec.Acks) >= devicerecord.MaxAcks {
		c.rec.Dropped.Acks++
		return
	}
	c.rec.Acks = append(c.rec.Acks, devicerecord.Ack{Session: t.session, Time: now, Event: string(ack.EventType),
		FragmentNumber: ack.FragmentNumber, Timecode: ack.FragmentTimecode, HasTimecode: ack.HasTimecode,
		ErrorID: int(ack.ErrorID), HeldFor: hold, Injected: injected})
}

// Ended implements ingest.SessionTap.
func (t *tap) Ended(final *kvsapi.Ack) {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	s := t.sess()
	s.End = now
	if final != nil && final.EventType == kvsapi.EventError {
		s.FinalErrorID = int(final.ErrorID)
		injected := t.injected != nil && t.injected.Kind == KindError && int(final.ErrorID) == t.injected.ErrorID
		t.recordAck(*final, now, 0, injected)
	}
}
