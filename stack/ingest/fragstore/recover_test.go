package fragstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// copyDir copies the segment files of a store directory.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dst, 0o700))
	ents, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range ents {
		if _, ok := parseSegmentName(e.Name()); !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600))
	}
}

// tornTailFixture is a closed store whose last segment ends exactly with the
// record of its last fragment (the mark Close wrote after it is cut off).
type tornTailFixture struct {
	dir      string
	lastSeg  string
	earlier  []Info
	earlierP [][]byte
	last     Info
	lastOff  int64 // where the last record starts
	lastEnd  int64 // and ends
}

func buildTornTailFixture(t *testing.T) tornTailFixture {
	dir := filepath.Join(t.TempDir(), "base")
	s := openTest(t, Options{Dir: dir})
	putStream(t, s, "cam")
	var fx tornTailFixture
	for i := range 4 {
		p := payload(uint64(i), 40+i)
		fx.earlier = append(fx.earlier, add(t, s, "cam", int64(i), int64(i), 1, p))
		fx.earlierP = append(fx.earlierP, p)
	}
	fx.last = add(t, s, "cam", 99, 99, 1, payload(99, 16))
	require.NoError(t, s.Close())
	fx.dir = dir
	fx.lastSeg = filepath.Join(dir, segmentName(fx.last.seg))
	fx.lastOff = fx.last.off
	fx.lastEnd = fx.lastOff + headerSize + int64(fragmentMetaLen(len("cam"))) + fx.last.Size
	require.NoError(t, os.Truncate(fx.lastSeg, fx.lastEnd))
	return fx
}

// checkRecovered opens a damaged copy and checks that exactly the last
// fragment is gone, everything before it is intact and the store works on.
func (fx tornTailFixture) checkRecovered(t *testing.T, dir string, wantCut int64, deep bool) {
	t.Helper()
	s, err := Open(Options{Dir: dir, CompactEvery: -1})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.Equal(t, wantCut, s.Stats().TruncatedTailBytes)
	_, ok := s.Get("cam", fx.last.Number)
	require.False(t, ok, "the torn fragment must be gone")
	require.Len(t, s.After("cam", "", 100), len(fx.earlier))
	for i, in := range fx.earlier {
		got, err := s.Read(in)
		require.NoError(t, err)
		require.Equal(t, fx.earlierP[i], got)
	}
	if !deep {
		return
	}
	// The cut is durable and appending continues cleanly after it.
	again := add(t, s, "cam", 99, 99, 1, []byte("resent"))
	require.NoError(t, s.Close())
	s2, err := Open(Options{Dir: dir, CompactEvery: -1})
	require.NoError(t, err)
	defer s2.Close()
	require.Zero(t, s2.Stats().TruncatedTailBytes)
	got, err := s2.Read(again)
	require.NoError(t, err)
	require.Equal(t, "resent", string(got))
}

func TestTornTailIsCutAtEveryOffset(t *testing.T) {
	fx := buildTornTailFixture(t)
	work := t.TempDir()
	for cut := fx.lastOff + 1; cut < fx.lastEnd; cut++ {
		t.Run(fmt.Sprintf("truncated-at-%d", cut), func(t *testing.T) {
			t.Parallel() // fsync-bound; the cases use separate directories
			dir := filepath.Join(work, fmt.Sprintf("cut-%d", cut))
			copyDir(t, fx.dir, dir)
			require.NoError(t, os.Truncate(filepath.Join(dir, filepath.Base(fx.lastSeg)), cut))
			fx.checkRecovered(t, dir, cut-fx.lastOff, cut%16 == 0)
		})
	}
}

func TestFlippedByteInLastRecordIsCutAway(t *testing.T) {
	fx := buildTornTailFixture(t)
	work := t.TempDir()
	for at := fx.lastOff; at < fx.lastEnd; at++ {
		t.Run(fmt.Sprintf("flipped-%d", at), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(work, fmt.Sprintf("flip-%d", at))
			copyDir(t, fx.dir, dir)
			seg := filepath.Join(dir, filepath.Base(fx.lastSeg))
			b, err := os.ReadFile(seg)
			require.NoError(t, err)
			b[at] ^= 0x5a
			require.NoError(t, os.WriteFile(seg, b, 0o600))
			fx.checkRecovered(t, dir, fx.lastEnd-fx.lastOff, at%16 == 0)
		})
	}
}

func TestTrailingZerosAreATornTail(t *testing.T) {
	// A crash after the file grew but before its data reached the disk
	// leaves zeros.
	fx := buildTornTailFixture(t)
	f, err := os.OpenFile(fx.lastSeg, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 4096))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	s, err := Open(Options{Dir: fx.dir, CompactEvery: -1})
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, int64(4096), s.Stats().TruncatedTailBytes)
	_, ok := s.Get("cam", fx.last.Number)
	require.True(t, ok, "the intact record before the zeros survives")
}

func TestCorruptionInOlderSegmentFailsOpen(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir, SegmentBytes: 2 << 10})
	putStream(t, s, "cam")
	var infos []Info
	for i := range 12 {
		infos = append(infos, add(t, s, "cam", int64(i), int64(i), 1, payload(uint64(i), 600)))
	}
	require.NoError(t, s.Close())
	victim := infos[1]
	require.Less(t, victim.seg, infos[len(infos)-1].seg, "victim must sit in an older segment")
	path := filepath.Join(dir, segmentName(victim.seg))
	b, err := os.ReadFile(path)
	require.NoError(t, err)

	t.Run("flipped payload byte", func(t *testing.T) {
		bad := append([]byte{}, b...)
		bad[victim.off+headerSize+40] ^= 1
		require.NoError(t, os.WriteFile(path, bad, 0o600))
		_, err := Open(Options{Dir: dir, CompactEvery: -1})
		require.ErrorIs(t, err, ErrCorrupt)
		require.Contains(t, err.Error(), path)
		require.Contains(t, err.Error(), fmt.Sprintf("offset %d", victim.off))
		require.Contains(t, err.Error(), "checksum")
	})
	t.Run("truncated older segment", func(t *testing.T) {
		require.NoError(t, os.WriteFile(path, b[:victim.off+5], 0o600))
		_, err := Open(Options{Dir: dir, CompactEvery: -1})
		require.ErrorIs(t, err, ErrCorrupt)
		require.True(t, strings.Contains(err.Error(), path), err.Error())
	})
	t.Run("read notices corruption after open", func(t *testing.T) {
		require.NoError(t, os.WriteFile(path, b, 0o600))
		s, err := Open(Options{Dir: dir, CompactEvery: -1})
		require.NoError(t, err)
		defer s.Close()
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteAt([]byte{b[victim.off+headerSize+40] ^ 1}, victim.off+headerSize+40)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		_, err = s.Read(victim)
		require.ErrorIs(t, err, ErrCorrupt)
		require.Contains(t, err.Error(), path)
	})
}

func TestUnrelatedFilesInDirAreIgnored(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"seg-abc.log", "seg-000000000000.log", "notes.txt", "seg-1.log"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o600))
	}
	s := openTest(t, Options{Dir: dir})
	putStream(t, s, "cam")
	require.Equal(t, 1, s.Stats().Segments)
	require.NoError(t, s.DeleteStream(context.Background(), "cam"))
}

// FuzzRecoverLastSegment feeds arbitrary bytes as the last segment behind a
// valid one. Open must not fail or panic, and whatever it indexes must read
// back with a good checksum.
func FuzzRecoverLastSegment(f *testing.F) {
	base := f.TempDir()
	s, err := Open(Options{Dir: base, CompactEvery: -1, SegmentBytes: 1})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	if err := s.PutStream(ctx, "cam", []byte("meta")); err != nil {
		f.Fatal(err)
	}
	var valid []byte
	for i := range 3 {
		in, err := s.Append(ctx, Fragment{Stream: "cam", Number: s.NextFragmentNumber(), ProducerMs: int64(i), Parts: [][]byte{payload(uint64(i), 50)}})
		if err != nil {
			f.Fatal(err)
		}
		if i == 2 { // a whole segment's worth of valid records to seed with
			b, err := os.ReadFile(filepath.Join(base, segmentName(in.seg)))
			if err != nil {
				f.Fatal(err)
			}
			valid = b
		}
	}
	if err := s.Close(); err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add([]byte("csfF\xff\xff\xff\xff"))
	f.Add([]byte("csfD\x0e\x00\x00\x00\x00\x00\x00\x00\x03\x00cam"))
	f.Add(make([]byte, 64))

	ids, err := listSegments(base)
	if err != nil || len(ids) < 2 {
		f.Fatalf("fixture has segments %v (%v)", ids, err)
	}
	lastID := ids[len(ids)-1] + 1
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		copyDir(t, base, dir)
		require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(lastID)), data, 0o600))
		s, err := Open(Options{Dir: dir, CompactEvery: -1})
		require.NoError(t, err, "damage in the last segment never fails Open")
		defer s.Close()
		for name := range s.Streams() {
			for _, in := range s.After(name, "", 1000) {
				_, err := s.Read(in)
				require.NoError(t, err)
			}
		}
		for _, in := range s.After("cam", "", 1000) {
			_, err := s.Read(in)
			require.NoError(t, err)
		}
	})
}
