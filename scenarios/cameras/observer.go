package cameras

import (
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/results"
	"github.com/camstorm/camstorm/simulator"
)

// observer turns one camera's callbacks into samples. Its tag maps are
// built once and never changed, as Sample requires.
type observer struct {
	f       *Fleet
	tags    map[string]string
	meta    map[string]string
	ackTags map[kvsapi.EventType]map[string]string

	mu          sync.Mutex
	errTags     map[kvsapi.ErrorID]map[string]string
	persistedTC map[int64]struct{} // recently PERSISTED fragments, by timecode
	newestTC    int64

	// What was emitted live, to top up to the result's counts at the end.
	fragments, persisted, bytes atomic.Int64
}

func newObserver(f *Fleet, id Identity, tags map[string]string) *observer {
	o := &observer{f: f, tags: cameraTags(tags, id), meta: map[string]string{MetaCamera: id.Stream},
		errTags: map[kvsapi.ErrorID]map[string]string{}, persistedTC: map[int64]struct{}{}}
	o.ackTags = map[kvsapi.EventType]map[string]string{}
	for ev, name := range map[kvsapi.EventType]string{kvsapi.EventBuffering: AckBuffering, kvsapi.EventReceived: AckReceived,
		kvsapi.EventPersisted: AckPersisted, kvsapi.EventError: AckError} {
		o.ackTags[ev] = o.with(TagAck, name)
	}
	return o
}

// with is a copy of the camera's tags with one more.
func (o *observer) with(k, v string) map[string]string {
	t := maps.Clone(o.tags)
	t[k] = v
	return t
}

func (o *observer) sample(m *results.Metric, at time.Time, v float64, tags map[string]string) results.Sample {
	return results.Sample{Metric: m, Time: at, Value: v, Tags: tags, Metadata: o.meta}
}

// fragmentTaken counts a produced fragment.
func (o *observer) fragmentTaken() {
	o.fragments.Add(1)
	o.f.emit(o.sample(o.f.m.fragments, o.f.cfg.Clock(), 1, o.tags))
}

// onSession counts reconnects.
func (o *observer) onSession(reconnect bool) {
	if reconnect {
		o.f.emit(o.sample(o.f.m.reconnects, o.f.cfg.Clock(), 1, o.tags))
	}
}

// onAck emits the ACK's latency and what it counts.
func (o *observer) onAck(a kvsapi.Ack, info simulator.AckInfo) {
	tags, ok := o.ackTags[a.EventType]
	if !ok {
		return // IDLE
	}
	m := &o.f.m
	now := o.f.cfg.Clock()
	var (
		out [2]results.Sample
		n   int
	)
	if info.Latency > 0 {
		out[n] = o.sample(m.ackLatency, now, float64(info.Latency)/float64(time.Millisecond), tags)
		n++
	}
	switch a.EventType {
	case kvsapi.EventReceived:
		if info.Bytes > 0 {
			o.bytes.Add(int64(info.Bytes))
			out[n] = o.sample(m.bytes, now, float64(info.Bytes), o.tags)
			n++
		}
	case kvsapi.EventPersisted:
		if info.Bytes > 0 && o.firstPersisted(a.FragmentTimecode) {
			o.persisted.Add(1)
			out[n] = o.sample(m.persisted, now, 1, o.tags)
			n++
		}
	case kvsapi.EventError:
		out[n] = o.sample(m.ackErrors, now, 1, o.errorTags(a.ErrorID))
		n++
	}
	if n > 0 {
		o.f.emit(out[:n]...)
	}
}

// firstPersisted reports whether this is the first PERSISTED for the
// fragment at tc. Only timecodes a camera may still resend are kept.
func (o *observer) firstPersisted(tc int64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, seen := o.persistedTC[tc]; seen {
		return false
	}
	o.persistedTC[tc] = struct{}{}
	o.newestTC = max(o.newestTC, tc)
	if len(o.persistedTC)%256 == 0 {
		horizon := o.newestTC - 2*o.f.bufferMs
		for t := range o.persistedTC {
			if t < horizon {
				delete(o.persistedTC, t)
			}
		}
	}
	return true
}

func (o *observer) errorTags(id kvsapi.ErrorID) map[string]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	t, ok := o.errTags[id]
	if !ok {
		t = o.with(TagErrorID, strconv.Itoa(int(id)))
		o.errTags[id] = t
	}
	return t
}

// finish tops the live counts up to the result's and emits the drops.
func (o *observer) finish(res *simulator.CameraResult, keys *keyIndex) {
	m := &o.f.m
	now := o.f.cfg.Clock()
	var out []results.Sample
	topUp := func(metric *results.Metric, total, emitted int64) {
		if d := total - emitted; d > 0 {
			out = append(out, o.sample(metric, now, float64(d), o.tags))
		}
	}
	topUp(m.fragments, int64(res.Counters.Fragments), o.fragments.Load())
	topUp(m.persisted, int64(res.Ledger.AckedFragments), o.persisted.Load())
	topUp(m.bytes, res.Counters.Bytes, o.bytes.Load())
	for reason, n := range dropsByReason(&res.Ledger, keys) {
		out = append(out, o.sample(m.drops, now, float64(n), o.with(TagReason, reason)))
	}
	if len(out) > 0 {
		o.f.emit(out...)
	}
}
