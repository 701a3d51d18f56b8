package consumer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/simulator"
)

func rng(first, last uint64) simulator.SeqRange { return simulator.SeqRange{First: first, Last: last} }

func TestSeqSetAddMergesAndCountsOverlap(t *testing.T) {
	cases := []struct {
		adds    []simulator.SeqRange
		want    []simulator.SeqRange
		overlap uint64
	}{
		{[]simulator.SeqRange{rng(0, 4), rng(5, 9)}, []simulator.SeqRange{rng(0, 9)}, 0},
		{[]simulator.SeqRange{rng(0, 4), rng(10, 14), rng(5, 9)}, []simulator.SeqRange{rng(0, 14)}, 0},
		{[]simulator.SeqRange{rng(10, 14), rng(0, 4)}, []simulator.SeqRange{rng(0, 4), rng(10, 14)}, 0},
		{[]simulator.SeqRange{rng(0, 9), rng(3, 5)}, []simulator.SeqRange{rng(0, 9)}, 3},
		{[]simulator.SeqRange{rng(0, 2), rng(6, 8), rng(12, 14), rng(1, 13)}, []simulator.SeqRange{rng(0, 14)}, 2 + 3 + 2},
		{[]simulator.SeqRange{rng(5, 5), rng(4, 4), rng(6, 6)}, []simulator.SeqRange{rng(4, 6)}, 0},
		{[]simulator.SeqRange{rng(0, 0), rng(0, 0), rng(0, 0)}, []simulator.SeqRange{rng(0, 0)}, 2},
		{[]simulator.SeqRange{rng(math.MaxUint64, math.MaxUint64), rng(0, math.MaxUint64-1)}, []simulator.SeqRange{rng(0, math.MaxUint64)}, 0},
		{[]simulator.SeqRange{rng(20, 30), rng(0, 100)}, []simulator.SeqRange{rng(0, 100)}, 11},
	}
	for _, c := range cases {
		var s seqSet
		var overlap uint64
		for _, a := range c.adds {
			overlap += s.add(a)
		}
		require.Equal(t, c.want, s.r, "adds %v", c.adds)
		require.Equal(t, c.overlap, overlap, "adds %v", c.adds)
	}
}

func TestSubtractAndOverlap(t *testing.T) {
	a := []simulator.SeqRange{rng(0, 9), rng(20, 29), rng(40, 49)}
	b := []simulator.SeqRange{rng(3, 4), rng(8, 22), rng(25, 25), rng(40, 49)}
	var got []simulator.SeqRange
	subtract(a, b, func(r simulator.SeqRange) { got = append(got, r) })
	require.Equal(t, []simulator.SeqRange{rng(0, 2), rng(5, 7), rng(23, 24), rng(26, 29)}, got)
	require.Equal(t, uint64(2+2+3+1+10), overlapLen(a, b))
	got = nil
	subtract(a, nil, func(r simulator.SeqRange) { got = append(got, r) })
	require.Equal(t, a, got)
	require.Equal(t, []simulator.SeqRange{rng(5, 9), rng(20, 22)}, clip(a, 5, 22))
}

func TestParseTagTime(t *testing.T) {
	for in, want := range map[string]int64{
		"1511852109.126": 1511852109126, "5.000": 5000, "7": 7000, "1.5": 1500, "2.123456": 2123,
	} {
		got, ok := parseTagTime(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", ".5", "-1.000", "1.2x", "abc", "1e9", "1.000.0", "99999999999999999.000"} {
		_, ok := parseTagTime(in)
		require.False(t, ok, in)
	}
}

// frag builds a read-back fragment whose video frames carry seqs (a
// negative entry is a frame that failed authentication).
func frag(number string, pts int64, seqs ...int64) *Fragment {
	f := &Fragment{Number: number, ProducerTimestamp: time.UnixMilli(pts), Timecode: pts, MillisBehindNow: -1, Opened: true}
	tr := Track{Number: 1, Type: mkv.TrackVideo}
	for i, s := range seqs {
		fr := Frame{Timecode: pts + int64(i)*66}
		if s < 0 {
			fr.Err = errors.New("forged")
			f.FailedFrames++
			f.Integrity = fr.Err
		} else {
			fr.Seq, fr.HasSeq = uint64(s), true
		}
		tr.Frames = append(tr.Frames, fr)
	}
	f.Tracks = []Track{tr}
	return f
}

func seqs(first, last int64) []int64 {
	var out []int64
	for s := first; s <= last; s++ {
		out = append(out, s)
	}
	return out
}

func ledgerOf(stream string, produced uint64, acked ...[3]int64) *simulator.Ledger {
	l := &simulator.Ledger{Stream: stream, Produced: produced}
	for _, a := range acked { // {timecode, first, last}
		l.Ack(a[0], rng(uint64(a[1]), uint64(a[2])))
	}
	return l
}

func TestCheckerAccounting(t *testing.T) {
	ledger := ledgerOf("s", 60, [3]int64{1000, 0, 14}, [3]int64{2000, 15, 29}, [3]int64{3000, 30, 44})

	t.Run("clean, fed out of order", func(t *testing.T) {
		var c Checker
		c.Add(frag("3", 3000, seqs(30, 44)...))
		c.Add(frag("1", 1000, seqs(0, 14)...))
		c.Add(frag("2", 2000, seqs(15, 29)...))
		v := c.Result(ledger)
		require.True(t, v.OK(), "%+v", v)
		require.Equal(t, uint64(45), v.Delivered)
		require.Zero(t, v.UnackedDelivered)
	})
	t.Run("duplicate producer timestamps, before and after de-duplication", func(t *testing.T) {
		var c Checker
		c.Add(frag("1", 1000, seqs(0, 14)...))
		c.Add(frag("2", 2000, seqs(15, 29)...))
		c.Add(frag("4", 2000, seqs(15, 29)...)) // a resend stored twice
		c.Add(frag("3", 3000, seqs(30, 44)...))
		c.Add(frag("5", 3500, seqs(40, 44)...)) // frames again under another timestamp
		v := c.Result(ledger)
		require.Equal(t, 1, v.DuplicateFragments)
		require.Equal(t, []DuplicateFragment{{Number: "4", Kept: "2", ProducerTimestamp: 2000}}, v.Duplicates)
		require.Equal(t, uint64(15+5), v.DuplicateFrames)
		require.Equal(t, uint64(5), v.DuplicateFramesAfterDedup)
		require.Equal(t, 1, v.OutOfOrder, "44 then 40")
		require.Equal(t, []Reorder{{Fragment: "5", After: 44, Seq: 40}}, v.Reorders)
		require.Zero(t, v.LostFrames)
		require.False(t, v.OK())
	})
	t.Run("integrity failure loses the rest of the fragment", func(t *testing.T) {
		var c Checker
		c.Add(frag("1", 1000, seqs(0, 14)...))
		c.Add(frag("2", 2000, append(seqs(15, 20), -1, -1, -1, -1, -1, -1, -1, -1, -1)...))
		c.Add(frag("3", 3000, seqs(30, 44)...))
		v := c.Result(ledger)
		require.Equal(t, 1, v.IntegrityFailures)
		require.Equal(t, 9, v.IntegrityFailedFrames)
		require.Equal(t, uint64(9), v.LostFrames)
		require.Equal(t, []simulator.SeqRange{rng(21, 29)}, v.LostHoles)
		require.Equal(t, 1, v.LostFragments)
		require.Zero(t, v.Gaps)
	})
	t.Run("holes: lost, dropped, unaccounted, in flight", func(t *testing.T) {
		l := ledgerOf("s", 100, [3]int64{1000, 0, 14}, [3]int64{3000, 30, 44}, [3]int64{5000, 60, 74})
		l.Drop(rng(45, 59), simulator.DropOverflow, true)
		var c Checker
		c.Add(frag("1", 1000, seqs(0, 14)...))
		// 15..29: neither acknowledged nor dropped, below the last ack: a gap.
		c.Add(frag("3", 3000, seqs(30, 39)...)) // 40..44 acknowledged, missing: lost
		c.Add(frag("4", 4000, seqs(50, 52)...)) // dropped, yet delivered
		c.Add(frag("5", 5000, seqs(60, 74)...))
		// 75..89 were in flight: missing 75..79 is no gap, 80..89 delivered unacknowledged.
		c.Add(frag("6", 6000, seqs(80, 89)...))
		c.Add(frag("7", 7000, seqs(100, 101)...)) // never produced
		v := c.Result(l)
		require.Equal(t, uint64(5), v.LostFrames)
		require.Equal(t, []simulator.SeqRange{rng(40, 44)}, v.LostHoles)
		require.Equal(t, 1, v.LostFragments)
		require.Equal(t, 1, v.Gaps, "%+v", v)
		require.Equal(t, []simulator.SeqRange{rng(15, 29)}, v.GapRanges)
		require.Equal(t, uint64(3), v.DroppedDelivered)
		require.Equal(t, uint64(2), v.Unexpected)
		require.Equal(t, uint64(10), v.UnackedDelivered)
		require.Equal(t, uint64(15+10+3+15+10+2), v.Delivered)
	})
	t.Run("unconfirmed frames in the middle are no gap, and may show up", func(t *testing.T) {
		l := ledgerOf("s", 60, [3]int64{1000, 0, 14}, [3]int64{4000, 45, 59})
		l.Unconfirm(rng(15, 29)) // evicted after it was sent: stored
		l.Unconfirm(rng(30, 44)) // evicted after it was sent: not stored
		l.Drop(rng(30, 44), simulator.DropOverflow, true)
		var c Checker
		c.Add(frag("1", 1000, seqs(0, 14)...))
		c.Add(frag("2", 2000, seqs(15, 29)...))
		c.Add(frag("4", 4000, seqs(45, 59)...))
		v := c.Result(l)
		require.True(t, v.OK(), "%+v", v)
		require.Equal(t, uint64(15), v.UnackedDelivered)
		require.Equal(t, 2, v.CameraUnconfirmedFragments)
		require.Equal(t, uint64(30), v.CameraUnconfirmedFrames)
	})
	t.Run("not served", func(t *testing.T) {
		var c Checker
		c.Add(frag("1", 1000, seqs(0, 14)...))
		c.Add(&Fragment{Number: "2", Err: fmt.Errorf("%w: gone", ErrNotServed)})
		c.Add(frag("3", 3000, seqs(30, 44)...))
		v := c.Result(ledger)
		require.Equal(t, 1, v.NotServed)
		require.Equal(t, []NotServedFragment{{Number: "2", Reason: "consumer: fragment not served: gone"}}, v.NotServedFragments)
		require.Equal(t, uint64(15), v.LostFrames)
		require.Equal(t, 1, v.LostFragments)
	})
	t.Run("without sequence numbers, per fragment", func(t *testing.T) {
		var c Checker
		for i, pts := range []int64{1000, 3000} {
			f := frag(fmt.Sprint(i), pts)
			f.Opened = false
			f.Tracks[0].Frames = make([]Frame, 15)
			c.Add(f)
		}
		v := c.Result(ledger)
		require.False(t, v.SequenceChecked)
		require.Equal(t, uint64(30), v.Delivered)
		require.Equal(t, 1, v.LostFragments)
		require.Equal(t, uint64(15), v.LostFrames)
	})
	t.Run("no ledger: every hole is unexplained", func(t *testing.T) {
		var c Checker
		c.Add(frag("1", 1000, seqs(0, 14)...))
		c.Add(frag("3", 3000, seqs(30, 44)...))
		v := c.Result(nil)
		require.Equal(t, 1, v.Gaps)
		require.Equal(t, uint64(15), v.GapFrames)
	})
}

func TestLiveCheckerLatency(t *testing.T) {
	now := time.UnixMilli(10_000)
	l := NewLiveChecker(func() time.Time { return now })
	f := frag("1", 8000, seqs(0, 14)...) // last frame at 8000 + 14*66 ms
	l.Add(f)
	v := l.Result(ledgerOf("s", 15, [3]int64{8000, 0, 14}))
	require.True(t, v.OK(), "%+v", v)
	require.Equal(t, int64(1), v.Latency.Count)
	want := 2000*time.Millisecond - 14*66*time.Millisecond
	require.InDelta(t, float64(want), float64(v.Latency.P50), float64(2*time.Millisecond))
}

// chunk appends one GetMedia-shaped chunk (kvs-protocol.md §2.5).
func chunk(t testing.TB, dst []byte, number string, tc int64, frames int, token bool) []byte {
	t.Helper()
	dst = mkv.AppendEBMLHeader(dst)
	dst = mkv.AppendSegmentStart(dst)
	var buf bytes.Buffer
	w := mkv.NewWriter(&buf)
	require.NoError(t, w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{{Number: 1, UID: 1, Type: mkv.TrackVideo, CodecID: "V_MPEG4/ISO/AVC", Width: 64, Height: 48}}}))
	hdr := buf.Bytes()
	hdr = hdr[bytes.Index(hdr, []byte{0x15, 0x49, 0xA9, 0x66}):] // from Info on
	dst = append(dst, hdr...)
	dst = mkv.AppendTags(dst, []mkv.SimpleTag{
		{Name: kvsapi.TagFragmentNumber, Value: number},
		{Name: kvsapi.TagServerTimestamp, Value: kvsapi.FormatTagTime(tc + 500)},
		{Name: kvsapi.TagProducerTimestamp, Value: kvsapi.FormatTagTime(tc)},
	})
	buf.Reset()
	w = mkv.NewWriter(&buf)
	require.NoError(t, w.StartCluster(tc))
	for i := range frames {
		require.NoError(t, w.WriteFrame(1, tc+int64(i)*10, i == 0, []byte{byte(i), 1, 2, 3}))
	}
	dst = append(dst, buf.Bytes()...)
	tags := []mkv.SimpleTag{{Name: "USER", Value: "x"}}
	if token {
		tags = append(tags, mkv.SimpleTag{Name: kvsapi.TagMillisBehindNow, Value: "12"}, mkv.SimpleTag{Name: kvsapi.TagContinuationToken, Value: number})
	}
	return mkv.AppendTags(dst, tags)
}

func TestChunkParser(t *testing.T) {
	var stream []byte
	stream = chunk(t, stream, "1", 1000, 3, true)
	stream = chunk(t, stream, "2", 2000, 2, true)
	stream = mkv.AppendEBMLHeader(stream)
	stream = mkv.AppendSegmentStart(stream)
	stream = mkv.AppendTags(stream, []mkv.SimpleTag{{Name: kvsapi.TagFragmentNumber, Value: "3"}, {Name: kvsapi.TagErrorID, Value: "4000"}, {Name: kvsapi.TagErrorCode, Value: "Requested fragment is not found"}})
	stream = chunk(t, stream, "4", 4000, 1, false)

	p := newChunkParser(bytes.NewReader(stream), Limits{}, true)
	f, err := p.next()
	require.NoError(t, err)
	require.Equal(t, "1", f.Number)
	require.Equal(t, int64(1000), f.Timecode)
	require.Equal(t, time.UnixMilli(1000), f.ProducerTimestamp)
	require.Equal(t, time.UnixMilli(1500), f.ServerTimestamp)
	require.Equal(t, "1", f.ContinuationToken)
	require.Equal(t, int64(12), f.MillisBehindNow)
	require.Equal(t, []mkv.SimpleTag{{Name: "USER", Value: "x"}}, f.Tags)
	v := f.Video()
	require.Equal(t, uint64(64), v.Width)
	require.Len(t, v.Frames, 3)
	require.Equal(t, Frame{Timecode: 1020, Data: []byte{2, 1, 2, 3}}, v.Frames[2])
	require.True(t, v.Frames[0].Key)

	f, err = p.next()
	require.NoError(t, err)
	require.Equal(t, "2", f.Number)
	require.Len(t, f.Video().Frames, 2)

	f, err = p.next()
	require.NoError(t, err)
	require.Equal(t, "3", f.Number)
	require.ErrorIs(t, f.Err, ErrNotServed)
	var ce *ChunkError
	require.ErrorAs(t, f.Err, &ce)
	require.Equal(t, "4000", ce.ID)

	f, err = p.next()
	require.NoError(t, err, "a chunk without a token completes at the end of the response")
	require.Equal(t, "4", f.Number)
	require.Equal(t, int64(-1), f.MillisBehindNow)
	_, err = p.next()
	require.ErrorIs(t, err, io.EOF)

	// Limits: a fragment beyond them is reported, not kept.
	p = newChunkParser(bytes.NewReader(stream), Limits{MaxFrames: 2}, true)
	f, err = p.next()
	require.NoError(t, err)
	require.ErrorIs(t, f.Err, ErrFragmentTooLarge)
	require.Empty(t, f.Video().Frames)
	f, err = p.next()
	require.NoError(t, err)
	require.NoError(t, f.Err, "the next fragment is read normally")

	// A cluster nobody named is a malformed response.
	bad := append(mkv.AppendSegmentStart(mkv.AppendEBMLHeader(nil)), stream[bytes.Index(stream, []byte{0x1F, 0x43, 0xB6, 0x75}):]...)
	_, err = newChunkParser(bytes.NewReader(bad), Limits{}, true).next()
	require.ErrorIs(t, err, ErrMalformedResponse)

	// Cut anywhere, the parser returns whole fragments and then an error.
	for cut := range len(stream) {
		p := newChunkParser(bytes.NewReader(stream[:cut]), Limits{}, true)
		for range 10 {
			f, err := p.next()
			if err != nil {
				break
			}
			require.NotEmpty(t, f.Number)
		}
	}
}

func TestRecentSet(t *testing.T) {
	s := newRecentSet(2)
	require.True(t, s.add("a"))
	require.False(t, s.add("a"))
	require.True(t, s.add("b"))
	require.True(t, s.add("c")) // forgets a
	require.True(t, s.add("a"))
	require.False(t, s.add("c"))
}

// FuzzChunkParser: whatever a service sends, the parser neither panics nor
// holds more than its limits.
func FuzzChunkParser(f *testing.F) {
	var stream []byte
	stream = chunk(f, stream, "1", 1000, 3, true)
	stream = chunk(f, stream, "2", 2000, 2, false)
	f.Add(stream, true)
	f.Add(stream[:len(stream)/2], false)
	f.Fuzz(func(t *testing.T, data []byte, tailing bool) {
		p := newChunkParser(bytes.NewReader(data), Limits{MaxFragmentBytes: 1 << 16, MaxFrames: 64, MaxTags: 8}, tailing)
		for range 1000 {
			f, err := p.next()
			if err != nil {
				return
			}
			n := 0
			for _, tr := range f.Tracks {
				n += len(tr.Frames)
			}
			if n > 64 || len(f.Tags) > 8 || cap(p.arena) > 1<<16 {
				t.Fatalf("limits exceeded: %d frames, %d tags, arena %d", n, len(f.Tags), cap(p.arena))
			}
			var c Checker
			c.Add(f)
			_ = c.Result(nil)
		}
	})
}

// sealedStream is a GetMediaForFragmentList-shaped response of n E2EE
// fragments of 15 frames of frameSize bytes, and the key that opens it.
func sealedStream(b *testing.B, n, frameSize int) ([]byte, *e2ee.PrivateKey) {
	key, err := e2ee.GenerateKey(e2ee.KEMX25519, nil)
	require.NoError(b, err)
	sealer, err := e2ee.NewSealer(e2ee.SealerConfig{Stream: "bench", Recipients: []e2ee.PublicKey{key.Public()}})
	require.NoError(b, err)
	frame := make([]byte, frameSize)
	var out bytes.Buffer
	w := mkv.NewWriter(&out)
	for i := range n {
		tc := int64(1_700_000_000_000 + i*1000)
		require.NoError(b, w.WriteHeader(mkv.Header{Tracks: []mkv.TrackSpec{
			{Number: 1, UID: 1, Type: mkv.TrackVideo, CodecID: "V_MPEG4/ISO/AVC", Width: 640, Height: 360},
			{Number: 2, UID: 2, Type: mkv.TrackMetadata, CodecID: e2ee.CodecID, Name: e2ee.TrackName},
		}}))
		require.NoError(b, w.WriteTags(
			mkv.SimpleTag{Name: kvsapi.TagFragmentNumber, Value: fmt.Sprint(1000 + i)},
			mkv.SimpleTag{Name: kvsapi.TagProducerTimestamp, Value: kvsapi.FormatTagTime(tc)}))
		require.NoError(b, w.StartCluster(tc))
		env, err := sealer.BeginFragment(tc)
		require.NoError(b, err)
		require.NoError(b, w.WriteFrame(2, tc, true, env))
		for j := range 15 {
			sealed, err := sealer.SealFrame(nil, uint32(j), j == 14, uint64(i*15+j), frame)
			require.NoError(b, err)
			require.NoError(b, w.WriteFrame(1, tc+int64(j)*66, j == 0, sealed))
		}
	}
	return out.Bytes(), key
}

// BenchmarkReadOpenAccount parses a media response, authenticates and
// decrypts every frame and accounts for it: a consumer's whole per-fragment
// work without the network. Reported per fragment.
func BenchmarkReadOpenAccount(b *testing.B) {
	const fragments, frameSize = 64, 4000 // 15 fps at about 500 kbit/s
	stream, key := sealedStream(b, fragments, frameSize)
	b.SetBytes(int64(len(stream)) / fragments)
	b.ReportAllocs()
	r := &Reader{Stream: "bench", Opener: e2ee.NewOpener("bench", key)}
	var c Checker
	n := 0
	for b.Loop() {
		if n%fragments == 0 {
			r.parse(bytes.NewReader(stream), false)
			c = Checker{}
		}
		f, err := r.parser.next()
		if err != nil {
			b.Fatal(err)
		}
		r.prepare(f)
		if f.Integrity != nil {
			b.Fatal(f.Integrity)
		}
		c.Add(f)
		n++
	}
}

// BenchmarkCheckerResult measures the accounting of an hour of one camera
// (3 600 one-second fragments) against its ledger.
func BenchmarkCheckerResult(b *testing.B) {
	ledger := &simulator.Ledger{Stream: "s", Produced: 3600 * 15}
	var c Checker
	for i := range 3600 {
		ledger.Ack(int64(i)*1000, rng(uint64(i*15), uint64(i*15+14)))
		c.Add(frag(fmt.Sprint(i), int64(i)*1000, seqs(int64(i*15), int64(i*15+14))...))
	}
	b.ReportAllocs()
	for b.Loop() {
		if v := c.Result(ledger); !v.OK() {
			b.Fatal(v.Problems())
		}
	}
}
