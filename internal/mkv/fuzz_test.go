package mkv

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

var updateDemuxCorpus = flag.Bool("update-demux-corpus", false, "rewrite the generated seed files in testdata/fuzz/FuzzDemux*")

// dtFuzzLimits are smaller than the defaults so that fuzzing reaches the
// size-limit paths with small inputs.
var dtFuzzLimits = Limits{MaxElementSize: 1 << 20, MaxHeaderElementSize: 64 << 10, MaxSimpleTags: 16}

// dtCheckStream demuxes data and checks the properties that hold for every
// input: it ends within a bounded number of events with io.EOF or a sentinel
// error, the buffer stays within the limits and the bytes that arrived,
// offsets add up, and the Raw bytes are exactly the input read so far.
// It returns the events (Raw copied) and the final error.
func dtCheckStream(t *testing.T, r io.Reader, data []byte, lim Limits) ([]Event, error) {
	t.Helper()
	d := NewDemuxer(r, lim)
	eff := lim.withDefaults()
	bufLimit := min(int(max(eff.MaxElementSize, eff.MaxHeaderElementSize))+64, 2*len(data)+readStep)
	var events []Event
	// Every event but ClusterEnd consumes at least two bytes, and a
	// ClusterEnd follows a ClusterStart, so this bound is generous.
	for range len(data) + 4 {
		before := d.Offset()
		ev, err := d.Next()
		if cap(d.buf) > bufLimit {
			t.Fatalf("buffer capacity %d exceeds %d (input %d bytes)", cap(d.buf), bufLimit, len(data))
		}
		if err != nil {
			switch {
			case err == io.EOF:
				if d.Offset() != int64(len(data)) {
					t.Fatalf("io.EOF at offset %d of %d", d.Offset(), len(data))
				}
			case errors.Is(err, ErrInvalid), errors.Is(err, ErrTooLarge), errors.Is(err, ErrTooDeep), errors.Is(err, io.ErrUnexpectedEOF):
			default:
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			if d.Offset() > int64(len(data)) {
				t.Fatalf("offset %d beyond the %d input bytes", d.Offset(), len(data))
			}
			if _, again := d.Next(); again != err {
				t.Fatalf("error not sticky: %v, then %v", err, again)
			}
			return events, err
		}
		end := before + int64(len(ev.Raw))
		if ev.Offset != before || d.Offset() != end || end > int64(len(data)) || !bytes.Equal(ev.Raw, data[before:end]) {
			t.Fatalf("%v event at %d with %d Raw bytes does not continue the input at %d", ev.Kind, ev.Offset, len(ev.Raw), before)
		}
		if ev.Kind == KindClusterEnd && len(ev.Raw) != 0 {
			t.Fatalf("ClusterEnd with %d Raw bytes", len(ev.Raw))
		}
		ev.Raw = bytes.Clone(ev.Raw)
		events = append(events, ev)
	}
	t.Fatalf("no end after %d events on %d bytes", len(data)+4, len(data))
	return nil, nil
}

func FuzzDemux(f *testing.F) {
	// Seeds live in testdata/fuzz/FuzzDemux (see TestDemuxSeedCorpusIsCurrent).
	f.Fuzz(func(t *testing.T, data []byte) {
		dtCheckStream(t, bytes.NewReader(data), data, dtFuzzLimits)
	})
}

func FuzzDemuxMutatedStream(f *testing.F) {
	for _, s := range dtSeedStreams(f) {
		f.Add(s.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := dtCheckStream(t, bytes.NewReader(data), data, dtFuzzLimits)

		// How the bytes arrive must not matter.
		oneByte, errOneByte := dtCheckStream(t, iotest.OneByteReader(bytes.NewReader(data)), data, dtFuzzLimits)
		if !dtSameEvents(events, oneByte) || err.Error() != errOneByte.Error() {
			t.Fatalf("one-byte reads differ: %d events, %v; whole: %d events, %v", len(oneByte), errOneByte, len(events), err)
		}

		// The prefix the demuxer accepted demuxes to the same events, then
		// ends cleanly or as truncated (an unknown-size Cluster still open
		// ends with the prefix).
		accepted := len(dtRawConcat(events))
		prefixEvents, prefixErr := dtCheckStream(t, bytes.NewReader(data[:accepted]), data[:accepted], dtFuzzLimits)
		if prefixErr != io.EOF && !errors.Is(prefixErr, io.ErrUnexpectedEOF) {
			t.Fatalf("accepted prefix of %d bytes fails: %v", accepted, prefixErr)
		}
		if extra := len(prefixEvents) - len(events); extra == 1 && prefixEvents[len(prefixEvents)-1].Kind == KindClusterEnd {
			prefixEvents = prefixEvents[:len(events)]
		}
		if !dtSameEvents(events, prefixEvents) {
			t.Fatalf("accepted prefix of %d bytes gives %d events (%s), the whole input %d (%s)",
				accepted, len(prefixEvents), dtKinds(prefixEvents), len(events), dtKinds(events))
		}
	})
}

func dtSameEvents(a, b []Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if fmt.Sprintf("%+v", a[i]) != fmt.Sprintf("%+v", b[i]) {
			return false
		}
	}
	return true
}

type dtSeed struct {
	name string
	data []byte
}

// dtSeedStreams are small valid streams: what the writer produces, a
// producer restart, and the sized, laced and nested shapes other muxers write.
func dtSeedStreams(t testing.TB) []dtSeed {
	var seeds []dtSeed
	var buf bytes.Buffer
	w := NewWriter(&buf)
	hdr := dtHeader()
	require.NoError(t, w.WriteHeader(hdr))
	require.NoError(t, w.StartCluster(1_700_000_000_000))
	require.NoError(t, w.WriteFrame(1, 1_700_000_000_000, true, []byte("key frame")))
	require.NoError(t, w.WriteFrame(2, 1_700_000_000_010, true, []byte("aac")))
	require.NoError(t, w.WriteFrame(1, 1_700_000_000_066, false, []byte("delta")))
	require.NoError(t, w.WriteTags(SimpleTag{"FRAGMENT", "1"}, SimpleTag{"EMPTY", ""}))
	require.NoError(t, w.StartCluster(1_700_000_002_000))
	require.NoError(t, w.WriteFrame(1, 1_700_000_002_000, true, []byte("second key")))
	require.NoError(t, w.EndFragment())
	seeds = append(seeds, dtSeed{"writer", bytes.Clone(buf.Bytes())})

	buf.Reset()
	w.Reset(&buf)
	for i := range 2 {
		require.NoError(t, w.WriteHeader(Header{Tracks: hdr.Tracks[:1]}))
		require.NoError(t, w.StartCluster(int64(i)*5000))
		require.NoError(t, w.WriteFrame(1, int64(i)*5000, true, []byte{byte(i), 1, 2, 3}))
	}
	seeds = append(seeds, dtSeed{"writer restart", bytes.Clone(buf.Bytes())})

	seeds = append(seeds, dtSeed{"sized segment and clusters", dtCat(
		AppendEBMLHeader(nil),
		dtEl(IDSegment,
			dtEl(IDSeekHead, dtEl(0x4DBB, dtEl(0x53AB, []byte{0x15, 0x49, 0xA9, 0x66}), dtUint(0x53AC, 20))),
			dtEl(IDVoid, make([]byte, 4)),
			dtEl(IDInfo, dtUint(IDTimecodeScale, 1_000_000), dtStr(IDMuxingApp, "Lavf")),
			dtEl(IDTracks, dtEl(IDTrackEntry, dtUint(IDTrackNumber, 1), dtUint(IDTrackUID, 1), dtUint(IDTrackType, 2), dtStr(IDCodecID, CodecAAC), dtEl(IDCodecPrivate, []byte{0x12, 0x10}))),
			dtEl(IDCluster, dtUint(IDTimecode, 0), dtEl(IDCRC32, []byte{1, 2, 3, 4}),
				dtSimpleBlock(1, 0, 0x80|blockLacingXiph, []byte{2, 3, 4, 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'c'}),
				dtSimpleBlock(1, 20, 0x80|blockLacingEBML, []byte{2, 0x82, 0xC0, 'a', 'a', 'b', 'b', 'b', 'c'}),
				dtSimpleBlock(1, 40, 0x80|blockLacingFixed, []byte{1, 'a', 'a', 'b', 'b'}),
				dtEl(IDBlockGroup, dtEl(IDBlock, []byte{0x81, 0, 60, 0, 'd'}), dtEl(IDReferenceBlock, []byte{0xEC}))),
			dtEl(IDCues, dtEl(0xBB, dtUint(0xB3, 0))),
		),
	)})

	seeds = append(seeds, dtSeed{"cluster prefix and nested tags", dtCat(
		dtHead(),
		dtElUnknown(IDCluster, dtUint(IDPosition, 0), dtUint(IDPrevSize, 10), dtEl(IDVoid, []byte{0}), appendUintWidth(nil, IDTimecode, 500, 8),
			dtSimpleBlock(1, -1, 0x80, []byte("x")), dtEl(0x4321, []byte("unknown"))),
		dtEl(IDTags, dtEl(IDTag, dtEl(IDTargets), dtEl(IDSimpleTag, dtStr(IDTagName, "A"), dtStr(IDTagString, "1"),
			dtEl(IDSimpleTag, dtStr(IDTagName, "B"), dtEl(IDTagBinary, []byte{1}))))),
	)})
	return seeds
}

// dtSeedFiles is the generated part of the seed corpus: every valid seed
// stream for both targets, and for FuzzDemux one input per malformed case
// (the very large ones left out: mutating them is slow and adds nothing).
func dtSeedFiles(t testing.TB) map[string][]byte {
	files := map[string][]byte{}
	add := func(target, name string, data []byte) {
		slug := strings.Trim(strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			if r >= 'A' && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return '-'
		}, name), "-")
		files[filepath.Join("testdata", "fuzz", target, "seed-"+slug)] = []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data))
	}
	for _, s := range dtSeedStreams(t) {
		add("FuzzDemux", s.name, s.data)
		add("FuzzDemuxMutatedStream", s.name, s.data)
	}
	for _, c := range dtMalformedCases() {
		if len(c.input) <= 4096 {
			add("FuzzDemux", c.name, c.input)
		}
	}
	return files
}

// TestDemuxSeedCorpusIsCurrent keeps the committed seed files in step with
// dtSeedStreams and dtMalformedCases; -update-demux-corpus rewrites them.
func TestDemuxSeedCorpusIsCurrent(t *testing.T) {
	for path, want := range dtSeedFiles(t) {
		if *updateDemuxCorpus {
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			require.NoError(t, os.WriteFile(path, want, 0o644))
			continue
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err, "run go test ./internal/mkv -run TestDemuxSeedCorpusIsCurrent -update-demux-corpus")
		require.Equal(t, string(want), string(got), "%s is stale; rerun with -update-demux-corpus", path)
	}
}

// TestDemuxSeedStreamsAreValid makes sure the mutation seeds start from
// streams the demuxer accepts whole.
func TestDemuxSeedStreamsAreValid(t *testing.T) {
	for _, s := range dtSeedStreams(t) {
		events, err := dtDemuxAll(t, bytes.NewReader(s.data), dtFuzzLimits)
		require.ErrorIs(t, err, io.EOF, s.name)
		require.Equal(t, s.data, dtRawConcat(events), s.name)
		require.Contains(t, dtKinds(events), "Block", s.name)
	}
}
