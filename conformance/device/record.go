package device

import (
	"bytes"
	"errors"
	"io"
	"sort"
	"time"

	"github.com/at-wat/ebml-go"

	"github.com/camstorm/camstorm/internal/devicerecord"
)

// Observations is the record of a device check: what the device sent and
// what the ingest answered and injected.
type Observations = devicerecord.Record

// view indexes a record for the cases.
type view struct {
	*Observations
	// msOf maps a session's Cluster timecode to its producer ms.
	msOf map[sessTC]int64
	// received: producer ms → when the first RECEIVED for it went out.
	received map[int64]time.Time
	// acked: producer ms → when the first RECEIVED or PERSISTED went out.
	acked map[int64]time.Time
}

type sessTC struct {
	session int
	tc      int64
}

func newView(obs *Observations) *view {
	v := &view{Observations: obs, msOf: map[sessTC]int64{}, received: map[int64]time.Time{}, acked: map[int64]time.Time{}}
	for _, f := range obs.Fragments {
		v.msOf[sessTC{f.Session, f.Timecode}] = f.ProducerMs
	}
	for _, a := range obs.Acks {
		if !a.HasTimecode {
			continue
		}
		ms, ok := v.msOf[sessTC{a.Session, a.Timecode}]
		if !ok {
			continue
		}
		at := a.SentAt()
		if a.Event == "RECEIVED" {
			if prev, ok := v.received[ms]; !ok || at.Before(prev) {
				v.received[ms] = at
			}
		}
		if a.Event == "RECEIVED" || a.Event == "PERSISTED" {
			if prev, ok := v.acked[ms]; !ok || at.Before(prev) {
				v.acked[ms] = at
			}
		}
	}
	return v
}

// sessionsWithData are the sessions that carried at least one fragment.
func (v *view) sessionsWithData() map[int]bool {
	out := map[int]bool{}
	for _, f := range v.Fragments {
		out[f.Session] = true
	}
	return out
}

// firstSessionAfter returns the first session that began after t and
// carried a fragment, or -1.
func (v *view) firstSessionAfter(t time.Time) int {
	data := v.sessionsWithData()
	for _, s := range v.Sessions {
		if s.Start.After(t) && data[s.Index] {
			return s.Index
		}
	}
	return -1
}

// unackedBefore lists the distinct fragments (by producer ms, ascending)
// the device had started sending before t that no RECEIVED or PERSISTED
// acknowledged before t: the ones a correct producer resends.
func (v *view) unackedBefore(t time.Time) []devicerecord.Fragment {
	seen := map[int64]bool{}
	var out []devicerecord.Fragment
	for _, f := range v.Fragments {
		if !f.Arrived.Before(t) || seen[f.ProducerMs] {
			continue
		}
		seen[f.ProducerMs] = true
		if at, ok := v.acked[f.ProducerMs]; ok && at.Before(t) {
			continue
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerMs < out[j].ProducerMs })
	return out
}

// arrivedFrom reports whether the fragment with producer ms arrived again
// in session s or later.
func (v *view) arrivedFrom(ms int64, s int) bool {
	for _, f := range v.Fragments {
		if f.Session >= s && f.ProducerMs == ms {
			return true
		}
	}
	return false
}

// fragmentEndMs is the producer ms of the fragment's last block.
func fragmentEndMs(f devicerecord.Fragment, scale uint64) int64 {
	var maxRel int16
	for _, fr := range f.Frames {
		maxRel = max(maxRel, fr.Rel)
	}
	return f.ProducerMs + ticksToMs(int64(maxRel), scale)
}

func ticksToMs(ticks int64, scale uint64) int64 {
	if scale == 0 {
		scale = 1_000_000
	}
	return ticks * int64(scale) / 1_000_000
}

// The subset of a Matroska header the profile cases read, decoded with
// ebml-go (independent of the ingest's own parser).
type mkvHeader struct {
	EBML struct {
		EBMLVersion        uint64 `ebml:"EBMLVersion"`
		EBMLReadVersion    uint64 `ebml:"EBMLReadVersion"`
		DocType            string `ebml:"EBMLDocType"`
		DocTypeVersion     uint64 `ebml:"EBMLDocTypeVersion"`
		DocTypeReadVersion uint64 `ebml:"EBMLDocTypeReadVersion"`
	} `ebml:"EBML"`
	Info struct {
		TimecodeScale uint64 `ebml:"TimecodeScale"`
	} `ebml:"Info"`
	Tracks struct {
		TrackEntry []struct {
			TrackNumber  uint64 `ebml:"TrackNumber"`
			TrackType    uint64 `ebml:"TrackType"`
			CodecID      string `ebml:"CodecID"`
			CodecPrivate []byte `ebml:"CodecPrivate"`
		} `ebml:"TrackEntry"`
	} `ebml:"Tracks"`
}

// parseHeader decodes a session's recorded header.
func parseHeader(b []byte) (*mkvHeader, error) {
	if len(b) == 0 {
		return nil, errors.New("no MKV header was recorded for the session")
	}
	var h mkvHeader
	h.Info.TimecodeScale = 1_000_000 // the Matroska default
	err := ebml.Unmarshal(bytes.NewReader(b), &h, ebml.WithIgnoreUnknown(true), ebml.WithMaxLeafElementSize(uint64(len(b))))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return &h, nil
}
