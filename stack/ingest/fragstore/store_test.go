package fragstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAppendReadRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	clk := newTestClock()
	s := openTest(t, Options{Dir: dir, Now: clk.Now})
	putStream(t, s, "cam-1")

	parts := [][]byte{payload(1, 100), payload(2, 70_000), {}, payload(3, 5)}
	var whole []byte
	for _, p := range parts {
		whole = append(whole, p...)
	}
	num := s.NextFragmentNumber()
	info, err := s.Append(context.Background(), Fragment{
		Stream: "cam-1", Number: num, ProducerMs: 1_700_000_000_000, ServerMs: clk.Ms(), DurationMs: 2000, Parts: parts,
	})
	require.NoError(t, err)
	require.Equal(t, "cam-1", info.Stream)
	require.Equal(t, num, info.Number)
	require.Equal(t, int64(len(whole)), info.Size)
	require.Equal(t, int64(2000), info.DurationMs)
	require.False(t, info.Duplicate)

	got, err := s.Read(info)
	require.NoError(t, err)
	require.Equal(t, whole, got)

	prefix := []byte("prefix")
	got, err = s.ReadAppend(prefix, info)
	require.NoError(t, err)
	require.Equal(t, append([]byte("prefix"), whole...), got)

	byNum, ok := s.Get("cam-1", num)
	require.True(t, ok)
	require.Equal(t, info, byNum)
	byTime, ok := s.ByProducerTime("cam-1", 1_700_000_000_000)
	require.True(t, ok)
	require.Equal(t, info, byTime)

	// Files are private.
	st, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	segs, err := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, segs)
	for _, p := range segs {
		st, err := os.Stat(p)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), p)
	}
}

func TestRestartRecoversEverything(t *testing.T) {
	dir := t.TempDir()
	clk := newTestClock()
	o := Options{Dir: dir, SegmentBytes: 8 << 10, Now: clk.Now}
	s := openTest(t, o)
	want := map[string][]byte{}
	var infos []Info
	for i := range 3 {
		name := fmt.Sprintf("cam-%d", i)
		putStream(t, s, name)
		want[name] = []byte(`{"StreamName":"` + name + `"}`)
	}
	require.NoError(t, s.PutStream(context.Background(), "cam-1", []byte("updated")))
	want["cam-1"] = []byte("updated")
	for i := range 60 {
		name := fmt.Sprintf("cam-%d", i%3)
		clk.Add(time.Second)
		infos = append(infos, add(t, s, name, int64(1000*i), clk.Ms(), 1000, payload(uint64(i), 500+i*37)))
	}
	before := s.Stats()
	require.Greater(t, before.Segments, 3, "small segments must rotate")
	require.NoError(t, s.Close())

	s2 := openTest(t, o)
	require.Equal(t, want, s2.Streams())
	for i, in := range infos {
		got, ok := s2.Get(in.Stream, in.Number)
		require.True(t, ok, "fragment %d", i)
		require.Equal(t, in, got)
		data, err := s2.Read(got)
		require.NoError(t, err)
		require.Equal(t, payload(uint64(i), 500+i*37), data, "fragment %d", i)
	}
	after := s2.Stats()
	require.Equal(t, before.Fragments, after.Fragments)
	require.Equal(t, before.Segments, after.Segments)
	require.Zero(t, after.TruncatedTailBytes)
	require.Len(t, s2.After("cam-2", "", 1000), 20)
}

func TestSecondOpenOfSameDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	openTest(t, Options{Dir: dir})
	_, err := Open(Options{Dir: dir})
	require.ErrorIs(t, err, ErrLocked)
}

func TestInvalidCallsAndClosedStore(t *testing.T) {
	s := openTest(t, Options{Dir: t.TempDir()})
	ctx := context.Background()
	_, err := s.Append(ctx, Fragment{Stream: "none", Number: s.NextFragmentNumber()})
	require.ErrorIs(t, err, ErrNoStream)
	require.ErrorIs(t, s.DeleteStream(ctx, "none"), ErrNoStream)
	putStream(t, s, "cam")
	mib := make([]byte, 1<<20)
	tooBig := [][]byte{{0}} // one byte over the limit without allocating it
	for range MaxFragmentBytes >> 20 {
		tooBig = append(tooBig, mib)
	}
	for _, f := range []Fragment{
		{Stream: "", Number: s.NextFragmentNumber()},
		{Stream: "cam", Number: "123"},
		{Stream: "cam", Number: "8" + s.NextFragmentNumber()[1:]},
		{Stream: "cam", Number: s.NextFragmentNumber(), DurationMs: -1},
		{Stream: "cam", Number: s.NextFragmentNumber(), Parts: tooBig},
	} {
		_, err := s.Append(ctx, f)
		require.ErrorIs(t, err, ErrInvalid, "Append(%q, %q)", f.Stream, f.Number)
	}
	in := add(t, s, "cam", 1, 1, 1, []byte("x"))
	_, err = s.Append(ctx, Fragment{Stream: "cam", Number: in.Number, ProducerMs: 2, Parts: [][]byte{[]byte("y")}})
	require.ErrorIs(t, err, ErrInvalid, "a fragment number is used once")
	_, err = s.Read(Info{Stream: "cam", Number: in.Number})
	require.ErrorIs(t, err, ErrInvalid, "an Info built by hand has no location")
	require.ErrorIs(t, s.PutStream(ctx, "big", make([]byte, MaxStreamMetaBytes+1)), ErrInvalid)

	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	_, err = s.Append(ctx, Fragment{Stream: "cam", Number: s.NextFragmentNumber(), ProducerMs: 3})
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, s.PutStream(ctx, "cam", nil), ErrClosed)
	require.ErrorIs(t, s.Compact(), ErrClosed)
	_, err = s.Read(in)
	require.ErrorIs(t, err, ErrClosed)
}

func TestDuplicateProducerTimestampIsStoredOnce(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir})
	putStream(t, s, "cam")
	first := add(t, s, "cam", 5000, 5000, 1000, []byte("original"))
	again, err := s.Append(context.Background(), Fragment{
		Stream: "cam", Number: s.NextFragmentNumber(), ProducerMs: 5000, ServerMs: 9000, DurationMs: 1000,
		Parts: [][]byte{[]byte("resent after reconnect")},
	})
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	again.Duplicate = false
	require.Equal(t, first, again, "the resend answers with the stored fragment")
	require.Len(t, s.After("cam", "", 10), 1)
	require.Equal(t, int64(1), s.Stats().Duplicates)

	// 50 concurrent resends of one producer timestamp: one stored copy.
	const n = 50
	var wg sync.WaitGroup
	results := make([]Info, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = s.Append(context.Background(), Fragment{
				Stream: "cam", Number: s.NextFragmentNumber(), ProducerMs: 7000, ServerMs: 7000, DurationMs: 1000,
				Parts: [][]byte{payload(uint64(i), 4096)},
			})
		})
	}
	wg.Wait()
	stored := 0
	var winner Info
	for i := range n {
		require.NoError(t, errs[i])
		if !results[i].Duplicate {
			stored++
			winner = results[i]
		}
	}
	require.Equal(t, 1, stored, "exactly one append stores")
	for i := range n {
		require.Equal(t, winner.Number, results[i].Number, "every caller learns the stored number")
	}
	require.Len(t, s.After("cam", "", 10), 2)
	require.NoError(t, s.Close())

	s2 := openTest(t, Options{Dir: dir})
	require.Len(t, s2.After("cam", "", 10), 2, "still one copy each after restart")
	got, ok := s2.ByProducerTime("cam", 7000)
	require.True(t, ok)
	require.Equal(t, winner.Number, got.Number)
	dup, err := s2.Append(context.Background(), Fragment{Stream: "cam", Number: s2.NextFragmentNumber(), ProducerMs: 7000})
	require.NoError(t, err)
	require.True(t, dup.Duplicate, "de-duplication survives restart")
}

func TestFragmentNumbersIncreaseAcrossRestartWithClockBackwards(t *testing.T) {
	dir := t.TempDir()
	clk := newTestClock()
	s := openTest(t, Options{Dir: dir, Now: clk.Now})
	putStream(t, s, "cam")
	var last string
	for i := range 20 {
		n := s.NextFragmentNumber()
		require.Len(t, n, 47)
		require.Greater(t, n, last, "numbers increase even with a frozen clock")
		last = n
		if i%2 == 0 {
			_, err := s.Append(context.Background(), Fragment{Stream: "cam", Number: n, ProducerMs: int64(i), ServerMs: clk.Ms()})
			require.NoError(t, err)
		}
	}
	require.NoError(t, s.Close())

	clk.Add(-72 * time.Hour)
	s2 := openTest(t, Options{Dir: dir, Now: clk.Now})
	n := s2.NextFragmentNumber()
	require.Greater(t, n, last, "clean shutdown keeps even issued-but-unstored numbers")
	_, err := s2.Append(context.Background(), Fragment{Stream: "cam", Number: n, ProducerMs: 100, ServerMs: clk.Ms()})
	require.NoError(t, err)
	last = n
	require.NoError(t, s2.Close())

	// Retention removes every fragment and compaction every old segment;
	// the high-water mark must still survive.
	s3 := openTest(t, Options{Dir: dir, Now: clk.Now, SegmentBytes: 1, Retention: func(string) time.Duration { return 0 }})
	putStream(t, s3, "cam") // rotates: the old segments hold nothing live
	require.NoError(t, s3.Compact())
	require.Equal(t, 1, s3.Stats().Segments)
	require.NoError(t, s3.Close())
	clk.Add(-72 * time.Hour)
	s4 := openTest(t, Options{Dir: dir, Now: clk.Now})
	require.Greater(t, s4.NextFragmentNumber(), last)

	// A moving clock is followed: numbers carry wall time in µs.
	clk.Set(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	require.Equal(t, formatNumber(uint64(clk.Now().UnixMicro())), s4.NextFragmentNumber())
}

func TestGroupCommitBatchesConcurrentAppends(t *testing.T) {
	s := openTest(t, Options{Dir: t.TempDir()})
	const writers, each = 64, 8
	for w := range writers {
		putStream(t, s, fmt.Sprintf("cam-%d", w))
	}
	before := s.Stats()
	data := payload(9, 16<<10)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				_, err := s.Append(context.Background(), Fragment{
					Stream: fmt.Sprintf("cam-%d", w), Number: s.NextFragmentNumber(),
					ProducerMs: int64(i), ServerMs: int64(i), Parts: [][]byte{data},
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	after := s.Stats()
	records := after.Records - before.Records
	fsyncs := after.Fsyncs - before.Fsyncs
	require.Equal(t, int64(writers*each), records)
	t.Logf("%d records in %d fsyncs (%.1f per fsync)", records, fsyncs, float64(records)/float64(fsyncs))
	require.Greater(t, float64(records)/float64(fsyncs), 2.0, "group commit must batch")
}

func TestWatchWakesTailers(t *testing.T) {
	s := openTest(t, Options{Dir: t.TempDir()})
	putStream(t, s, "cam")
	ch := s.Watch("cam")
	same := s.Watch("cam")
	other := s.Watch("other")
	select {
	case <-ch:
		t.Fatal("closed before any append")
	default:
	}
	add(t, s, "cam", 1, 1, 1, []byte("a"))
	<-ch
	<-same
	select {
	case <-other:
		t.Fatal("another stream's watcher woke")
	default:
	}

	ch = s.Watch("cam")
	require.NoError(t, s.DeleteStream(context.Background(), "cam"))
	<-ch

	require.NoError(t, s.Close())
	<-other
	<-s.Watch("cam") // closed store: never blocks
}

func TestDeleteStreamThenRecreateStartsEmpty(t *testing.T) {
	dir := t.TempDir()
	clk := newTestClock()
	o := Options{Dir: dir, SegmentBytes: 4 << 10, Now: clk.Now}
	s := openTest(t, o)
	ctx := context.Background()
	putStream(t, s, "cam")
	var old []Info
	for i := range 10 {
		old = append(old, add(t, s, "cam", int64(i*1000), clk.Ms(), 1000, payload(uint64(i), 700)))
	}
	require.NoError(t, s.DeleteStream(ctx, "cam"))
	require.Empty(t, s.Streams())
	require.Empty(t, s.After("cam", "", 100))
	_, err := s.Read(old[0])
	require.NoError(t, err, "bytes stay until compaction; the index no longer lists them")

	require.NoError(t, s.PutStream(ctx, "cam", []byte("v2")))
	require.Empty(t, s.After("cam", "", 100))
	// The same producer timestamps are new fragments of the new stream.
	fresh := add(t, s, "cam", 0, clk.Ms(), 1000, []byte("new life"))
	require.Equal(t, []string{fresh.Number}, numbers(s.After("cam", "", 100)))
	require.NoError(t, s.Close())

	s2 := openTest(t, o)
	require.Equal(t, map[string][]byte{"cam": []byte("v2")}, s2.Streams())
	require.Equal(t, []string{fresh.Number}, numbers(s2.After("cam", "", 100)))
	require.NoError(t, s2.Compact())
	require.NoError(t, s2.Close())

	s3 := openTest(t, o)
	require.Equal(t, map[string][]byte{"cam": []byte("v2")}, s3.Streams())
	require.Equal(t, []string{fresh.Number}, numbers(s3.After("cam", "", 100)))
	data, err := s3.Read(s3.After("cam", "", 1)[0])
	require.NoError(t, err)
	require.Equal(t, "new life", string(data))
}

func TestContextBoundsOnlyTheQueueWait(t *testing.T) {
	s := openTest(t, Options{Dir: t.TempDir()})
	putStream(t, s, "cam")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Append(ctx, Fragment{Stream: "cam", Number: s.NextFragmentNumber(), ProducerMs: 1, Parts: [][]byte{[]byte("x")}})
	// Either the request made it into the queue (then it completed) or it
	// was refused before; never a half state.
	if err != nil {
		require.True(t, errors.Is(err, context.Canceled))
		_, ok := s.ByProducerTime("cam", 1)
		require.False(t, ok)
		add(t, s, "cam", 1, 1, 1, []byte("x")) // the pending slot was released
	} else {
		_, ok := s.ByProducerTime("cam", 1)
		require.True(t, ok)
	}
}

// After a failed write the store refuses further writes (the file's state is
// unknown; retrying an fsync can report success for lost pages) and a
// reopen recovers everything that was acknowledged.
func TestWriteFailureStopsWritesUntilReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, CompactEvery: -1})
	require.NoError(t, err)
	putStream(t, s, "cam")
	kept := add(t, s, "cam", 1, 1, 1, []byte("acknowledged"))

	// Pull the descriptor out from under the writer: the next write fails
	// for real.
	s.mu.RLock()
	active := s.active
	s.mu.RUnlock()
	require.NoError(t, active.f.Close())

	_, err = s.Append(context.Background(), Fragment{Stream: "cam", Number: s.NextFragmentNumber(), ProducerMs: 2, Parts: [][]byte{[]byte("lost")}})
	require.ErrorIs(t, err, ErrFailed)
	_, err = s.Append(context.Background(), Fragment{Stream: "cam", Number: s.NextFragmentNumber(), ProducerMs: 3, Parts: [][]byte{[]byte("refused")}})
	require.ErrorIs(t, err, ErrFailed)
	require.ErrorIs(t, s.PutStream(context.Background(), "cam", nil), ErrFailed)
	require.ErrorIs(t, s.Compact(), ErrFailed)
	require.ErrorIs(t, s.Close(), ErrFailed, "Close reports the failure")

	s2 := openTest(t, Options{Dir: dir})
	got, err := s2.Read(kept)
	require.NoError(t, err)
	require.Equal(t, "acknowledged", string(got))
	_, ok := s2.ByProducerTime("cam", 2)
	require.False(t, ok)
	add(t, s2, "cam", 2, 2, 1, []byte("retried"))
}
