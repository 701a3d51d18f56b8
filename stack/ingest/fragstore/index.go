package fragstore

import (
	"math"
	"sort"
)

// entry is the in-memory index record of one stored fragment: 48 bytes, no
// payload. The stream name lives once in streamState, the number is kept as
// its counter and formatted only when an Info is handed out.
type entry struct {
	num        uint64
	producerMs int64
	serverMs   int64
	durationMs int64
	off        int64  // record start in the segment
	seg        uint32 // segment id
	size       uint32 // payload bytes
}

func (e *entry) pos() position { return position{seg: e.seg, off: e.off} }

func (e *entry) start(byServer bool) int64 {
	if byServer {
		return e.serverMs
	}
	return e.producerMs
}

// streamState is everything the store knows about one stream name.
type streamState struct {
	name      string
	hasRecord bool // a live StreamPut exists
	meta      []byte
	put       position // where the live StreamPut record sits
	frags     []entry  // ordered by num
	// byProducer maps a producer timestamp to the number of the newest
	// fragment stored with it, for de-duplication and ByProducerTime.
	byProducer map[int64]uint64
}

func newStreamState(name string) *streamState {
	return &streamState{name: name, byProducer: make(map[int64]uint64)}
}

// find returns the index of the fragment numbered num.
func (st *streamState) find(num uint64) (int, bool) {
	i := sort.Search(len(st.frags), func(i int) bool { return st.frags[i].num >= num })
	return i, i < len(st.frags) && st.frags[i].num == num
}

// insert keeps frags ordered by number; appends at the end in the common case.
// visible returns the fragment numbered num if c lets it be seen; st may be
// nil (no such stream). The store's lock must be held.
func (st *streamState) visible(num uint64, c cutoff) (Info, bool) {
	if st == nil {
		return Info{}, false
	}
	i, found := st.find(num)
	if !found || !c.visible(&st.frags[i]) {
		return Info{}, false
	}
	return st.info(&st.frags[i]), true
}

func (st *streamState) insert(e entry) {
	n := len(st.frags)
	if n == 0 || st.frags[n-1].num <= e.num {
		st.frags = append(st.frags, e)
	} else {
		i := sort.Search(n, func(i int) bool { return st.frags[i].num > e.num })
		st.frags = append(st.frags, entry{})
		copy(st.frags[i+1:], st.frags[i:])
		st.frags[i] = e
	}
	st.byProducer[e.producerMs] = e.num
}

// removeIf drops every fragment for which drop is true, calling gone for
// each, and keeps byProducer consistent.
func (st *streamState) removeIf(drop func(*entry) bool, gone func(*entry)) {
	kept := st.frags[:0]
	for i := range st.frags {
		e := &st.frags[i]
		if !drop(e) {
			kept = append(kept, *e)
			continue
		}
		if st.byProducer[e.producerMs] == e.num {
			delete(st.byProducer, e.producerMs)
		}
		gone(e)
	}
	clear(st.frags[len(kept):])
	if len(kept) == 0 {
		st.frags = nil // let a long-gone backing array go
	} else {
		st.frags = kept
	}
}

// firstAfter is the index of the first fragment whose number is greater than
// number; "" means from the start. ok is false for a malformed number.
func (st *streamState) firstAfter(number string) (int, bool) {
	if number == "" {
		return 0, true
	}
	v, side, ok := numberBound(number)
	switch {
	case !ok:
		return 0, false
	case side < 0:
		return 0, true
	case side > 0:
		return len(st.frags), true
	}
	return sort.Search(len(st.frags), func(i int) bool { return st.frags[i].num > v }), true
}

func (st *streamState) info(e *entry) Info {
	return Info{
		Stream:     st.name,
		Number:     formatNumber(e.num),
		ProducerMs: e.producerMs,
		ServerMs:   e.serverMs,
		DurationMs: e.durationMs,
		Size:       int64(e.size),
		seg:        e.seg,
		off:        e.off,
	}
}

// cutoff says which fragments of a stream retention still shows.
type cutoff struct {
	none        bool  // retention 0: nothing is visible
	minServerMs int64 // fragments with an older ServerMs have expired
}

var keepAll = cutoff{minServerMs: math.MinInt64}

func (c cutoff) visible(e *entry) bool { return !c.none && e.serverMs >= c.minServerMs }
