package fragstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

func (s *Store) runCompactor(every time.Duration) {
	defer close(s.compactorDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stopCompactor:
			return
		case <-t.C:
			if err := s.Compact(); err != nil && !errors.Is(err, ErrClosed) {
				s.opts.Logf("fragstore: background compaction: %v", err)
			}
		}
	}
}

// Compact drops expired fragments from the index and deletes every segment
// file, except the active one, that no longer holds a live fragment. Live
// stream records and still-needed tombstones in such a segment are first
// re-appended (durably) to the active segment.
func (s *Store) Compact() error {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	if s.closing.Load() {
		return ErrClosed
	}
	s.mu.RLock()
	failed := s.failed
	names := make([]string, 0, len(s.streams))
	for name := range s.streams {
		names = append(names, name)
	}
	s.mu.RUnlock()
	if failed != nil {
		return fmt.Errorf("%w: %w", ErrFailed, failed)
	}
	cuts := make(map[string]cutoff, len(names))
	for _, name := range names {
		cuts[name] = s.cutoffFor(name) // outside the lock: the callback may use the store
	}

	s.mu.Lock()
	s.expireLocked(cuts)
	cands := s.candidatesLocked()
	moves := s.relocationsLocked(cands)
	s.mu.Unlock()
	if len(cands) == 0 {
		return nil
	}

	var firstErr error
	var sent []*request
	for _, r := range moves {
		if err := s.submit(context.Background(), r); err != nil {
			firstErr = err
			break
		}
		sent = append(sent, r)
	}
	for _, r := range sent {
		<-r.done
		if r.err != nil && firstErr == nil {
			firstErr = r.err
		}
	}
	if firstErr != nil {
		return fmt.Errorf("fragstore: compaction could not re-append stream records: %w", firstErr)
	}

	s.mu.Lock()
	doomed := s.detachLocked(cands)
	s.mu.Unlock()
	return s.deleteSegments(doomed)
}

// expireLocked removes fragments retention no longer shows from the index.
func (s *Store) expireLocked(cuts map[string]cutoff) {
	for name, c := range cuts {
		st := s.streams[name]
		if st == nil || c == keepAll {
			continue
		}
		st.removeIf(func(e *entry) bool { return !c.visible(e) }, func(e *entry) {
			if seg := s.segs[e.seg]; seg != nil {
				seg.live--
			}
		})
		if !st.hasRecord && len(st.frags) == 0 {
			delete(s.streams, name)
		}
	}
}

// candidatesLocked lists segments without live fragments that no writer is
// using.
func (s *Store) candidatesLocked() map[uint32]bool {
	cands := make(map[uint32]bool)
	for _, id := range s.segIDs {
		if id == s.active.id || (s.batchSeg != 0 && id >= s.batchSeg) {
			continue
		}
		if s.segs[id].live == 0 {
			cands[id] = true
		}
	}
	return cands
}

// tombNeededLocked says whether a tombstone still covers records in some
// segment that survives: any segment up to its horizon's might hold them.
func (s *Store) tombNeededLocked(t tombstone, doomed map[uint32]bool) bool {
	for _, id := range s.segIDs {
		if id > t.horizon.seg {
			break
		}
		if !doomed[id] {
			return true
		}
	}
	return false
}

func (s *Store) relocationsLocked(cands map[uint32]bool) []*request {
	if len(cands) == 0 {
		return nil
	}
	var moves []*request
	for name, st := range s.streams {
		if st.hasRecord && cands[st.put.seg] {
			moves = append(moves, &request{kind: kindStreamPut, relocate: true, stream: name, from: st.put, done: make(chan struct{})})
		}
	}
	for name, t := range s.tombs {
		if cands[t.at] && s.tombNeededLocked(t, cands) {
			moves = append(moves, &request{kind: kindStreamDelete, relocate: true, stream: name,
				horizon: t.horizon, from: position{seg: t.at}, done: make(chan struct{})})
		}
	}
	return moves
}

// detachLocked re-checks the candidates after the relocations, removes the
// ones that can go from the store's view and returns them ascending.
func (s *Store) detachLocked(cands map[uint32]bool) []*segment {
	doomed := make(map[uint32]bool, len(cands))
	for id := range cands {
		if seg := s.segs[id]; seg != nil && seg.live == 0 && id != s.active.id {
			doomed[id] = true
		}
	}
	for _, st := range s.streams {
		if st.hasRecord {
			delete(doomed, st.put.seg)
		}
	}
	for changed := true; changed; {
		changed = false
		for _, t := range s.tombs {
			if doomed[t.at] && s.tombNeededLocked(t, doomed) {
				delete(doomed, t.at)
				changed = true
			}
		}
	}
	for name, t := range s.tombs {
		if doomed[t.at] {
			delete(s.tombs, name) // nothing it covers survives
		}
	}
	var out []*segment
	s.segIDs = slices.DeleteFunc(s.segIDs, func(id uint32) bool {
		if doomed[id] {
			out = append(out, s.segs[id])
			delete(s.segs, id)
			return true
		}
		return false
	})
	return out
}

// deleteSegments removes files oldest first, making each removal durable
// before the next, so a crash can never keep an old segment while losing the
// newer one holding the tombstone that covers it.
func (s *Store) deleteSegments(segs []*segment) error {
	for _, seg := range segs {
		seg.f.Close() // a reader still holding it gets ErrNotFound
		if err := os.Remove(seg.path); err != nil {
			return fmt.Errorf("fragstore: compaction: %w", err)
		}
		if err := syncDir(s.dir); err != nil {
			return fmt.Errorf("fragstore: compaction: %w", err)
		}
		s.mu.Lock()
		s.stats.CompactedSegments++
		s.stats.DirFsyncs++
		s.mu.Unlock()
	}
	return nil
}
