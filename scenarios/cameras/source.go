package cameras

import (
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/media"
)

// maxKeyRuns bounds the key-frame index of one camera. A synthetic source
// needs one run; a looped clip one or two per loop at worst.
const maxKeyRuns = 4096

// countingSource watches the frames a camera takes: it reports each
// fragment once its key frame has been taken (the camera asks for the next
// frame only after taking the last) and remembers which sequence numbers
// are key frames, so dropped frame ranges can be counted in fragments.
// Like every Source it is used by one goroutine at a time.
type countingSource struct {
	media.Source
	onFragment func()
	seq        uint64 // sequence number of the next frame handed out
	lastKey    bool
	keys       keyIndex
}

// Next hands out the next frame.
func (s *countingSource) Next() media.Frame {
	if s.lastKey {
		s.onFragment()
	}
	fr := s.Source.Next()
	if fr.Key {
		s.keys.add(s.seq)
	}
	s.lastKey = fr.Key
	s.seq++
	return fr
}

// keyIndex holds the sequence numbers of key frames as arithmetic runs.
type keyIndex struct {
	runs     []keyRun
	overflow bool // some key frames were not recorded
}

// keyRun is first, first+step, ... (n numbers).
type keyRun struct{ first, step, n uint64 }

func (k *keyIndex) add(seq uint64) {
	if len(k.runs) > 0 {
		r := &k.runs[len(k.runs)-1]
		switch {
		case r.n == 1:
			r.step, r.n = seq-r.first, 2
			return
		case seq == r.first+r.step*r.n:
			r.n++
			return
		}
	}
	if len(k.runs) == maxKeyRuns {
		k.overflow = true
		return
	}
	k.runs = append(k.runs, keyRun{first: seq, n: 1})
}

// count is how many key frames lie in [from, to].
func (k *keyIndex) count(frames simulator.SeqRange) uint64 {
	var total uint64
	for _, r := range k.runs {
		last := r.first + r.step*(r.n-1)
		if last < frames.First || r.first > frames.Last {
			continue
		}
		if r.n == 1 || r.step == 0 {
			total++
			continue
		}
		lo := uint64(0) // first k with first+k*step >= frames.First
		if frames.First > r.first {
			lo = (frames.First - r.first + r.step - 1) / r.step
		}
		hi := r.n - 1 // last k with first+k*step <= frames.Last
		if frames.Last < last {
			hi = (frames.Last - r.first) / r.step
		}
		if hi >= lo {
			total += hi - lo + 1
		}
	}
	return total
}

// dropsByReason counts the fragments of the ledger's dropped runs by tag
// reason: a fragment counts under the reason its key frame was dropped
// for. What the index cannot place (it overflowed) counts as "other".
func dropsByReason(l *simulator.Ledger, keys *keyIndex) map[string]uint64 {
	out := map[string]uint64{}
	var placed uint64
	for _, d := range l.Dropped {
		n := keys.count(d.Frames)
		if n == 0 {
			continue
		}
		reason, ok := dropReasons[d.Reason]
		if !ok {
			reason = "other"
		}
		out[reason] += n
		placed += n
	}
	if want := uint64(l.DroppedFragments); want > placed {
		out["other"] += want - placed
	}
	return out
}
