package media

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/camstorm/camstorm/fixtures"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/stretchr/testify/require"
)

func TestClipLoopsWithContinuousTimestamps(t *testing.T) {
	clip, err := fixtures.H264()
	if err != nil {
		t.Fatalf("fixtures.H264(): %v", err)
	}
	src := NewClip(clip)
	n := len(clip.Frames)
	var prev Frame
	for i := range 3 * n {
		f := src.Next()
		pass, k := i/n, i%n
		want := clip.Frames[k].PTS - clip.Frames[0].PTS + time.Duration(pass)*clip.Duration()
		if f.PTS != want || f.Key != clip.Frames[k].Key || !bytes.Equal(f.Data, clip.Frames[k].Data) {
			t.Fatalf("frame %d (pass %d, clip frame %d) = PTS %v key %v, want PTS %v key %v and the clip's bytes",
				i, pass, k, f.PTS, f.Key, want, clip.Frames[k].Key)
		}
		if i > 0 {
			// 15 fps in whole milliseconds: every step is 66 or 67 ms, across the seam too.
			if step := f.PTS - prev.PTS; step < 66*time.Millisecond || step > 67*time.Millisecond {
				t.Fatalf("frame %d PTS %v is %v after frame %d (%v), want 66..67 ms", i, f.PTS, step, i-1, prev.PTS)
			}
		}
		prev = f
	}
	if first := NewClip(clip).Next(); first.PTS != 0 || !first.Key {
		t.Errorf("first frame = PTS %v key %v, want PTS 0 and a key frame", first.PTS, first.Key)
	}
}

func TestClipTrack(t *testing.T) {
	clip, err := fixtures.H264()
	if err != nil {
		t.Fatalf("fixtures.H264(): %v", err)
	}
	tr := NewClip(clip).Track()
	if tr.Number != 1 || tr.UID == 0 || tr.Type != mkv.TrackVideo || tr.CodecID != mkv.CodecH264 ||
		tr.Width != 640 || tr.Height != 360 || !bytes.Equal(tr.CodecPrivate, clip.CodecPrivate) {
		t.Errorf("Track() = %+v, want track 1, H.264 640x360 with the clip's CodecPrivate", tr)
	}
	if err := (mkv.Header{Tracks: []mkv.TrackSpec{tr}}).Validate(); err != nil {
		t.Errorf("Track() does not make a valid header: %v", err)
	}
}

func TestClipOfOneFrameRepeatsIt(t *testing.T) {
	clip := &fixtures.Clip{Frames: []fixtures.Frame{{PTS: 5 * time.Second, Key: true, Data: []byte{1}}}}
	src := NewClip(clip)
	for i := range 3 {
		if f := src.Next(); f.PTS != time.Duration(i)*time.Second/30 || !f.Key {
			t.Errorf("frame %d = PTS %v key %v, want PTS %v key", i, f.PTS, f.Key, time.Duration(i)*time.Second/30)
		}
	}
}

func TestSyntheticMatchesBitrateAndGOP(t *testing.T) {
	cases := []SyntheticConfig{
		{BitrateBps: 2_000_000, FPS: 30, GOP: 2 * time.Second, Seed: 1, Width: 1280, Height: 720},
		{BitrateBps: 256_000, FPS: 15, GOP: time.Second, Seed: 2, Width: 640, Height: 360},
		{BitrateBps: 8_000_000, FPS: 25, GOP: 4 * time.Second, Seed: 3, Width: 1920, Height: 1080},
		{BitrateBps: 64_000, FPS: 5, GOP: 10 * time.Second, Seed: 4, Width: 320, Height: 240},
		{BitrateBps: 500_000, FPS: 10, GOP: 100 * time.Millisecond, Seed: 5, Width: 2, Height: 2}, // all key frames
		{BitrateBps: 40_000, FPS: 10, GOP: time.Second, Seed: 6, Width: 16, Height: 16},           // near the smallest frames
	}
	for _, cfg := range cases {
		src, err := NewSynthetic(cfg)
		if err != nil {
			t.Fatalf("NewSynthetic(%+v): %v", cfg, err)
		}
		gop := cfg.framesPerGOP()
		frames := 60 * cfg.FPS
		var total, keyBytes, pBytes, keys int
		for i := range frames {
			f := src.Next()
			wantPTS := time.Duration(i) * time.Second / time.Duration(cfg.FPS)
			if f.PTS != wantPTS || f.Key != (i%gop == 0) {
				t.Fatalf("%+v frame %d = PTS %v key %v, want PTS %v key %v", cfg, i, f.PTS, f.Key, wantPTS, i%gop == 0)
			}
			checkSyntheticFrame(t, f, uint64(i))
			total += len(f.Data)
			if f.Key {
				keys++
				keyBytes += len(f.Data)
			} else {
				pBytes += len(f.Data)
			}
		}
		got := float64(total) * 8 / 60
		if dev := (got - float64(cfg.BitrateBps)) / float64(cfg.BitrateBps); dev < -0.01 || dev > 0.01 {
			t.Errorf("%+v: %.0f bit/s over 60 s, %.2f%% off the target, want within 1%%", cfg, got, 100*dev)
		}
		if keys < frames && keys > 1 {
			ratio := (float64(keyBytes) / float64(keys)) / (float64(pBytes) / float64(frames-keys))
			if ratio < 0.8*KeyFrameWeight || ratio > 1.2*KeyFrameWeight {
				t.Errorf("%+v: key frames average %.2fx a P-frame, want about %d", cfg, ratio, KeyFrameWeight)
			}
		}
	}
}

// checkSyntheticFrame checks the documented payload: AVCC NAL units SEI
// (with the sequence number), one IDR or non-IDR slice, optional padding.
func checkSyntheticFrame(t *testing.T, f Frame, seq uint64) {
	t.Helper()
	var types []byte
	for d := f.Data; len(d) > 0; {
		if len(d) < 5 || int(binary.BigEndian.Uint32(d)) > len(d)-4 {
			t.Fatalf("frame %d: NAL length runs past the %d-byte frame", seq, len(f.Data))
		}
		types = append(types, d[4]&0x1F)
		d = d[4+binary.BigEndian.Uint32(d):]
	}
	slice := byte(1)
	if f.Key {
		slice = 5
	}
	if len(types) < 2 || len(types) > 3 || types[0] != 6 || types[1] != slice || (len(types) == 3 && types[2] != 30) {
		t.Fatalf("frame %d (key %v): NAL types %v, want [6 %d] and maybe 30", seq, f.Key, types, slice)
	}
	if got, ok := SyntheticSequence(f.Data); !ok || got != seq {
		t.Fatalf("frame %d: SyntheticSequence = %d, %v; want %d, true", seq, got, ok, seq)
	}
}

func TestSyntheticIsDeterministicBySeed(t *testing.T) {
	cfg := SyntheticConfig{BitrateBps: 1_000_000, FPS: 30, GOP: time.Second, Seed: 42, Width: 640, Height: 480}
	a, _ := NewSynthetic(cfg)
	b, _ := NewSynthetic(cfg)
	cfg.Seed = 43
	c, _ := NewSynthetic(cfg)
	differs := false
	for i := range 300 {
		fa, fb, fc := a.Next(), b.Next(), c.Next()
		if fa.PTS != fb.PTS || fa.Key != fb.Key || !bytes.Equal(fa.Data, fb.Data) {
			t.Fatalf("frame %d differs between two sources with seed 42", i)
		}
		differs = differs || !bytes.Equal(fa.Data, fc.Data)
	}
	if !differs {
		t.Errorf("seeds 42 and 43 produced identical streams, want different sizes or bytes")
	}
}

func TestSyntheticSequenceRejectsOtherData(t *testing.T) {
	for _, data := range [][]byte{nil, {0, 0, 0, 1, 0x65}, make([]byte, 64)} {
		if _, ok := SyntheticSequence(data); ok {
			t.Errorf("SyntheticSequence(% x) = ok, want false", data)
		}
	}
	b := make([]byte, seqBytes)
	for _, seq := range []uint64{0, 1, 127, 128, 1<<56 - 1} {
		putSequence(b, seq)
		if bytes.IndexByte(b, 0) >= 0 {
			t.Errorf("putSequence(%d) = % x, contains a zero byte", seq, b)
		}
	}
}

func TestSyntheticNextDoesNotAllocate(t *testing.T) {
	src, err := NewSynthetic(SyntheticConfig{BitrateBps: 4_000_000, FPS: 30, GOP: 2 * time.Second, Seed: 7, Width: 1920, Height: 1080})
	if err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(1000, func() { src.Next() }); allocs != 0 {
		t.Errorf("Next: %v allocs/op, want 0", allocs)
	}
}

func TestSyntheticConfigReportsEveryProblem(t *testing.T) {
	cases := []struct {
		name     string
		cfg      SyntheticConfig
		problems int
	}{
		{"zero", SyntheticConfig{}, 5},
		{"odd size and no GOP", SyntheticConfig{BitrateBps: 1e6, FPS: 30, Width: 641, Height: 9000}, 3},
		{"fps too high", SyntheticConfig{BitrateBps: 1e6, FPS: 1000, GOP: time.Second, Width: 2, Height: 2}, 1},
		{"bitrate too low", SyntheticConfig{BitrateBps: 1000, FPS: 30, GOP: time.Second, Width: 2, Height: 2}, 2},
		{"bitrate too low for 1080p key frames", SyntheticConfig{BitrateBps: 256_000, FPS: 30, GOP: 2 * time.Second, Width: 1920, Height: 1080}, 1},
		{"key frames too big", SyntheticConfig{BitrateBps: 2_000_000_000, FPS: 1, GOP: time.Second, Width: 2, Height: 2}, 1},
	}
	for _, c := range cases {
		src, err := NewSynthetic(c.cfg)
		if src != nil || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: NewSynthetic(%+v) = %v, %v; want nil, ErrInvalidConfig", c.name, c.cfg, src, err)
			continue
		}
		if got := len(err.(interface{ Unwrap() []error }).Unwrap()); got != c.problems {
			t.Errorf("%s: %d problems reported (%v), want %d", c.name, got, err, c.problems)
		}
	}
}

// bitReader reads an RBSP (after emulation-prevention bytes are removed).
type bitReader struct {
	b   []byte
	pos int
}

func (r *bitReader) bit() uint64 {
	v := uint64(r.b[r.pos/8]>>(7-uint(r.pos%8))) & 1
	r.pos++
	return v
}

func (r *bitReader) bits(n int) uint64 {
	var v uint64
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

func (r *bitReader) ue() uint64 {
	zeros := 0
	for r.bit() == 0 {
		zeros++
	}
	return 1<<uint(zeros) - 1 + r.bits(zeros)
}

func unescape(nal []byte) []byte {
	var out []byte
	zeros := 0
	for _, b := range nal {
		if zeros == 2 && b == 3 {
			zeros = 0
			continue
		}
		out = append(out, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

func TestAVCConfigDescribesThePictureSize(t *testing.T) {
	sizes := [][2]int{{640, 360}, {1920, 1080}, {1280, 720}, {2, 2}, {8192, 8192}, {4096, 2160}, {1366, 768}}
	for _, sz := range sizes {
		rec := avcConfigFor(sz[0], sz[1])
		if rec[0] != 1 || rec[1] != profileBaseline || rec[4] != 0xFF || rec[5] != 0xE1 {
			t.Fatalf("avcConfigFor(%v) header = % x, want version 1, Baseline, 4-byte lengths, 1 SPS", sz, rec[:6])
		}
		spsLen := int(binary.BigEndian.Uint16(rec[6:]))
		sps := rec[8 : 8+spsLen]
		ppsRec := rec[8+spsLen:]
		if ppsRec[0] != 1 || int(binary.BigEndian.Uint16(ppsRec[1:])) != len(ppsRec)-3 || ppsRec[3] != nalPPS {
			t.Fatalf("avcConfigFor(%v) PPS part = % x, want one PPS filling the rest", sz, ppsRec)
		}
		r := bitReader{b: unescape(sps[1:])}
		profile, _, level := r.bits(8), r.bits(8), r.bits(8)
		r.ue()                       // sps id
		r.ue()                       // log2_max_frame_num_minus4
		if poc := r.ue(); poc != 2 { // pic_order_cnt_type
			t.Fatalf("pic_order_cnt_type = %d, want 2", poc)
		}
		r.ue() // max_num_ref_frames
		r.bit()
		mbW, mbH := r.ue()+1, r.ue()+1
		if r.bit() != 1 {
			t.Fatalf("frame_mbs_only_flag = 0, want 1")
		}
		r.bit()
		w, h := mbW*16, mbH*16
		if r.bit() == 1 {
			left, right, top, bottom := r.ue(), r.ue(), r.ue(), r.ue()
			w -= 2 * (left + right)
			h -= 2 * (top + bottom)
		}
		if w != uint64(sz[0]) || h != uint64(sz[1]) || profile != profileBaseline || level < 40 {
			t.Errorf("SPS for %v decodes as %dx%d profile %d level %d, want %dx%d Baseline", sz, w, h, profile, level, sz[0], sz[1])
		}
	}
}

func BenchmarkSyntheticNext(b *testing.B) {
	src, err := NewSynthetic(SyntheticConfig{BitrateBps: 2_000_000, FPS: 30, GOP: 2 * time.Second, Seed: 1, Width: 1280, Height: 720})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		src.Next()
	}
}

func BenchmarkClipNext(b *testing.B) {
	clip, err := fixtures.H264()
	if err != nil {
		b.Fatal(err)
	}
	src := NewClip(clip)
	b.ReportAllocs()
	for b.Loop() {
		src.Next()
	}
}

// TestSyntheticFramesAreIncompressible: real video does not compress, so
// neither may the synthetic frames, or disks and links that compress or
// de-duplicate would flatter every throughput figure.
func TestSyntheticFramesAreIncompressible(t *testing.T) {
	src, err := NewSynthetic(SyntheticConfig{BitrateBps: 4_000_000, FPS: 15, GOP: 2 * time.Second, Seed: 3, Width: 640, Height: 360})
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	for range 60 {
		raw.Write(src.Next().Data)
	}
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	_, _ = zw.Write(raw.Bytes())
	_ = zw.Close()
	if ratio := float64(z.Len()) / float64(raw.Len()); ratio < 0.95 {
		t.Fatalf("60 frames (%d bytes) gzip to %.0f%% of their size; want at least 95%%", raw.Len(), 100*ratio)
	}
}

// TestPeekTellsTheNextFrame: Peek matches what Next then returns and does
// not advance the source, for both kinds, across the clip's loop seam.
func TestPeekTellsTheNextFrame(t *testing.T) {
	clip, err := fixtures.H264()
	require.NoError(t, err)
	syn, err := NewSynthetic(SyntheticConfig{BitrateBps: 128_000, FPS: 15, GOP: time.Second, Seed: 3, Width: 320, Height: 240})
	require.NoError(t, err)
	for name, src := range map[string]Source{"clip": NewClip(clip), "synthetic": syn} {
		for i := range len(clip.Frames) + 40 {
			pts, key := src.Peek()
			again, _ := src.Peek()
			require.Equal(t, pts, again, "%s: Peek does not advance", name)
			f := src.Next()
			require.Equal(t, pts, f.PTS, "%s frame %d", name, i)
			require.Equal(t, key, f.Key, "%s frame %d", name, i)
		}
	}
}
