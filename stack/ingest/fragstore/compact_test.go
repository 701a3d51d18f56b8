package fragstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// retentions is a Retention callback tests can change.
type retentions struct {
	mu sync.Mutex
	m  map[string]time.Duration
}

func (r *retentions) get(stream string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[stream]
}

func segmentFiles(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	require.NoError(t, err)
	return len(m)
}

func TestRetentionHidesAndCompactionReclaims(t *testing.T) {
	dir := t.TempDir()
	clk := newTestClock()
	ret := &retentions{m: map[string]time.Duration{"short": 10 * time.Minute, "long": 2 * time.Hour, "zero": 0}}
	o := Options{Dir: dir, SegmentBytes: 4 << 10, Now: clk.Now, Retention: ret.get}
	s := openTest(t, o)
	for _, name := range []string{"short", "long", "zero"} {
		putStream(t, s, name)
	}

	// Phase 1: only "short" writes, filling segments of its own.
	var shortOld []Info
	for i := range 20 {
		shortOld = append(shortOld, add(t, s, "short", int64(i), clk.Ms(), 1000, payload(uint64(i), 900)))
		clk.Add(10 * time.Second)
	}
	zero := add(t, s, "zero", 0, clk.Ms(), 1000, []byte("gone at once"))
	_, ok := s.Get("zero", zero.Number)
	require.False(t, ok, "retention 0 expires immediately")
	require.Empty(t, s.After("zero", "", 10))

	// Phase 2: both streams, 15 minutes later.
	clk.Add(15 * time.Minute)
	var longAll, shortNew []Info
	for i := range 10 {
		longAll = append(longAll, add(t, s, "long", int64(i), clk.Ms(), 1000, payload(uint64(100+i), 900)))
		shortNew = append(shortNew, add(t, s, "short", int64(100+i), clk.Ms(), 1000, payload(uint64(200+i), 900)))
		clk.Add(10 * time.Second)
	}

	// Expired fragments are invisible to every query at once.
	_, ok = s.Get("short", shortOld[0].Number)
	require.False(t, ok)
	_, ok = s.ByProducerTime("short", 0)
	require.False(t, ok)
	require.Equal(t, numbers(shortNew), numbers(s.After("short", "", 100)))
	require.Equal(t, numbers(shortNew), numbers(s.Range("short", false, 0, 1<<40, "", 100)))
	at, ok := s.AtTime("short", false, 5)
	require.True(t, ok)
	require.Equal(t, shortNew[0].Number, at.Number, "AtTime skips expired fragments")

	segsBefore := s.Stats().Segments
	require.NoError(t, s.Compact())
	st := s.Stats()
	require.Less(t, st.Segments, segsBefore, "segments holding only expired fragments are deleted")
	require.Equal(t, st.Segments, segmentFiles(t, dir))
	require.GreaterOrEqual(t, st.RelocatedRecords, int64(3), "the stream records lived in the first segment")
	require.Equal(t, 20, st.Fragments, "expired entries leave the index")
	_, err := s.Read(shortOld[0])
	require.ErrorIs(t, err, ErrNotFound)
	for i, in := range longAll {
		got, err := s.Read(in)
		require.NoError(t, err)
		require.Equal(t, payload(uint64(100+i), 900), got)
	}
	wantStreams := s.Streams()
	require.Len(t, wantStreams, 3)
	require.NoError(t, s.Close())

	s2 := openTest(t, o)
	require.Equal(t, wantStreams, s2.Streams(), "stream records survive compaction and restart")
	require.Equal(t, numbers(longAll), numbers(s2.After("long", "", 100)))
	require.Equal(t, numbers(shortNew), numbers(s2.After("short", "", 100)))

	// Everything expires: only the active segment stays.
	clk.Add(3 * time.Hour)
	require.Empty(t, s2.After("long", "", 100))
	putStream(t, s2, "rotate") // leave the segment the batch wrote to
	require.NoError(t, s2.Compact())
	// The relocations filled the then-active segment and rotated; a second
	// pass reclaims it.
	require.NoError(t, s2.Compact())
	require.Equal(t, 1, s2.Stats().Segments)
	require.Equal(t, 1, segmentFiles(t, dir))
	require.Zero(t, s2.Stats().Fragments)
	wantStreams = s2.Streams()
	require.Len(t, wantStreams, 4)
	require.NoError(t, s2.Close())

	s3 := openTest(t, o)
	require.Equal(t, wantStreams, s3.Streams())
}

func TestCompactionNeverDeletesActiveSegment(t *testing.T) {
	clk := newTestClock()
	s := openTest(t, Options{Dir: t.TempDir(), Now: clk.Now, Retention: func(string) time.Duration { return time.Minute }})
	putStream(t, s, "cam")
	in := add(t, s, "cam", 1, clk.Ms(), 1, []byte("x"))
	clk.Add(time.Hour)
	require.NoError(t, s.Compact())
	require.Equal(t, 1, s.Stats().Segments)
	_, err := s.Read(in)
	require.NoError(t, err, "the bytes are still in the active segment")
	require.Equal(t, map[string][]byte{"cam": []byte(`{"StreamName":"cam"}`)}, s.Streams())
}

// A deleted stream's old fragments may sit in a segment that compaction keeps
// (it also holds live data of another stream) while the segment holding the
// delete record is reclaimed: the tombstone must move, or a restart would
// resurrect the deleted fragments.
func TestTombstoneOutlivesItsSegment(t *testing.T) {
	dir := t.TempDir()
	clk := newTestClock()
	ret := &retentions{m: map[string]time.Duration{"keep": time.Hour, "x": time.Hour, "tmp": time.Minute}}
	o := Options{Dir: dir, SegmentBytes: 2 << 10, Now: clk.Now, Retention: ret.get}
	s := openTest(t, o)
	ctx := context.Background()
	putStream(t, s, "keep")
	putStream(t, s, "x")
	putStream(t, s, "tmp")
	keep := add(t, s, "keep", 1, clk.Ms(), 1, []byte("long-lived"))
	var xs []Info
	for i := range 8 {
		xs = append(xs, add(t, s, "x", int64(i), clk.Ms(), 1, payload(uint64(i), 500)))
	}
	require.Equal(t, keep.seg, xs[0].seg, "x shares the first segment with keep")
	require.NoError(t, s.DeleteStream(ctx, "x"))
	for i := range 12 { // move the active segment well past the tombstone's
		add(t, s, "tmp", int64(i), clk.Ms(), 1, payload(uint64(50+i), 500))
	}
	clk.Add(5 * time.Minute) // tmp expires
	require.NoError(t, s.Compact())
	st := s.Stats()
	require.Positive(t, st.CompactedSegments)
	require.Positive(t, st.RelocatedRecords)
	s.mu.RLock()
	_, firstKept := s.segs[keep.seg]
	s.mu.RUnlock()
	require.True(t, firstKept, "the first segment still holds keep's fragment")
	require.NoError(t, s.Close())

	s2 := openTest(t, o)
	require.Empty(t, s2.After("x", "", 100), "deleted fragments stay deleted")
	_, ok := s2.Get("x", xs[0].Number)
	require.False(t, ok)
	require.NotContains(t, s2.Streams(), "x")
	got, err := s2.Read(keep)
	require.NoError(t, err)
	require.Equal(t, "long-lived", string(got))

	// Re-create x; once keep expires the old tombstone is no longer needed.
	require.NoError(t, s2.PutStream(ctx, "x", []byte("v2")))
	clk.Add(2 * time.Hour)
	add(t, s2, "tmp", 100, clk.Ms(), 1, make([]byte, 3000)) // rotates off the tombstone's segment
	clk.Add(5 * time.Minute)
	require.NoError(t, s2.Compact())
	// The relocations filled the then-active segment and rotated; a second
	// pass reclaims it.
	require.NoError(t, s2.Compact())
	require.Equal(t, 1, s2.Stats().Segments)
	s2.mu.RLock()
	tombs := len(s2.tombs)
	s2.mu.RUnlock()
	require.Zero(t, tombs, "tombstones covering nothing are dropped")
	require.NoError(t, s2.Close())
	s3 := openTest(t, o)
	require.Equal(t, []byte("v2"), s3.Streams()["x"])
	require.Empty(t, s3.After("x", "", 100))
}

// Compaction re-appends a live stream record while callers update it: the
// newest value must win, now and after restart.
func TestCompactionRacingStreamUpdates(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, SegmentBytes: 256, Retention: func(s string) time.Duration {
		if s == "junk" {
			return 0
		}
		return time.Hour
	}}
	s := openTest(t, o)
	ctx := context.Background()
	putStream(t, s, "junk")
	const rounds = 150
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.Compact(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.Append(ctx, Fragment{Stream: "junk", Number: s.NextFragmentNumber(), ProducerMs: int64(i), ServerMs: 0, Parts: [][]byte{make([]byte, 100)}}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for i := range rounds {
		require.NoError(t, s.PutStream(ctx, "cam", fmt.Appendf(nil, "v%d", i)))
		require.NoError(t, s.PutStream(ctx, "other", fmt.Appendf(nil, "o%d", i)))
	}
	close(stop)
	wg.Wait()
	require.NoError(t, s.Compact())
	want := map[string][]byte{"cam": fmt.Appendf(nil, "v%d", rounds-1), "other": fmt.Appendf(nil, "o%d", rounds-1), "junk": []byte(`{"StreamName":"junk"}`)}
	require.Equal(t, want, s.Streams())
	st := s.Stats()
	t.Logf("segments %d, compacted %d, relocated %d", st.Segments, st.CompactedSegments, st.RelocatedRecords)
	require.Positive(t, st.CompactedSegments)
	require.NoError(t, s.Close())

	s2 := openTest(t, o)
	require.Equal(t, want, s2.Streams())
}

// Reads, appends, queries and compaction together, for the race detector.
func TestConcurrentUseWithCompaction(t *testing.T) {
	clk := newTestClock()
	s := openTest(t, Options{Dir: t.TempDir(), SegmentBytes: 16 << 10, Now: clk.Now,
		Retention: func(string) time.Duration { return 30 * time.Second }})
	for w := range 4 {
		putStream(t, s, fmt.Sprintf("cam-%d", w))
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			name := fmt.Sprintf("cam-%d", w)
			for i := range 60 {
				in, err := s.Append(context.Background(), Fragment{Stream: name, Number: s.NextFragmentNumber(),
					ProducerMs: int64(i), ServerMs: clk.Ms(), DurationMs: 1000, Parts: [][]byte{payload(uint64(w*1000+i), 2000)}})
				if err != nil {
					t.Error(err)
					return
				}
				for _, got := range s.After(name, "", 5) {
					data, err := s.Read(got)
					if err != nil && !errors.Is(err, ErrNotFound) {
						t.Error(err)
						return
					}
					if err == nil && len(data) != 2000 {
						t.Errorf("read %d bytes", len(data))
					}
				}
				s.Range(name, true, 0, clk.Ms(), in.Number, 10)
				s.AtTime(name, false, int64(i))
			}
		})
	}
	wg.Go(func() {
		for range 40 {
			clk.Add(2 * time.Second)
			if err := s.Compact(); err != nil {
				t.Error(err)
				return
			}
			s.Stats()
		}
	})
	wg.Wait()
}
