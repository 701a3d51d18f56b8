package consumer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/simulator"
)

// Errors of re-muxing.
var (
	// ErrStillSealed: an encrypted fragment reached the Remuxer unopened
	// (the Reader had no Opener).
	ErrStillSealed = errors.New("consumer: fragment is encrypted; read it with an Opener to re-mux it")
	// ErrVideoTrack: the video track is missing its size, or changed codec
	// or codec private data in the middle of the stream.
	ErrVideoTrack = errors.New("consumer: video track cannot be re-muxed")
	// ErrTimecodeOrder: a fragment starts before the previous one.
	ErrTimecodeOrder = errors.New("consumer: fragments out of timecode order")
)

// Remuxer writes the video of read-back fragments as one plain, playable
// Matroska file: a single video track with the original (decrypted)
// frames, one Cluster per fragment at its absolute timecode. Frames that
// failed authentication and fragments not served are left out. Feed it
// fragments in timecode order.
type Remuxer struct {
	buf     *bufio.Writer
	w       *mkv.Writer
	track   *mkv.TrackSpec
	lastTc  int64
	frames  int
	written int
}

// NewRemuxer returns a Remuxer writing to w. Call Flush at the end.
func NewRemuxer(w io.Writer) *Remuxer {
	b := bufio.NewWriterSize(w, 64<<10)
	return &Remuxer{buf: b, w: mkv.NewWriter(b)}
}

// Frames is how many frames were written so far.
func (m *Remuxer) Frames() int { return m.frames }

// Fragments is how many fragments (Clusters) were written so far.
func (m *Remuxer) Fragments() int { return m.written }

// Add writes one fragment's video frames.
func (m *Remuxer) Add(f *Fragment) error {
	if f.Err != nil {
		return nil
	}
	video := f.Video()
	if video == nil {
		return nil
	}
	if f.Encrypted && !f.Opened {
		return fmt.Errorf("fragment %s: %w", f.Number, ErrStillSealed)
	}
	if err := m.header(video); err != nil {
		return fmt.Errorf("fragment %s: %w", f.Number, err)
	}
	usable := 0
	for _, fr := range video.Frames {
		if fr.Err == nil {
			usable++
		}
	}
	if usable == 0 {
		return nil
	}
	if m.written > 0 && f.Timecode < m.lastTc {
		return fmt.Errorf("fragment %s at %d ms after one at %d ms: %w", f.Number, f.Timecode, m.lastTc, ErrTimecodeOrder)
	}
	if err := m.w.StartCluster(f.Timecode); err != nil {
		return err
	}
	for _, fr := range video.Frames {
		if fr.Err != nil {
			continue
		}
		if err := m.w.WriteFrame(1, fr.Timecode, fr.Key, fr.Data); err != nil {
			return fmt.Errorf("fragment %s: %w", f.Number, err)
		}
		m.frames++
	}
	m.lastTc = f.Timecode
	m.written++
	return nil
}

// header writes the file header from the first video track and checks
// that later fragments carry the same one.
func (m *Remuxer) header(video *Track) error {
	if m.track != nil {
		if video.CodecID != m.track.CodecID || !bytes.Equal(video.CodecPrivate, m.track.CodecPrivate) {
			return fmt.Errorf("%w: codec changed from %s to %s or its private data changed", ErrVideoTrack, m.track.CodecID, video.CodecID)
		}
		return nil
	}
	if video.Width == 0 || video.Height == 0 || video.Width > 1<<16 || video.Height > 1<<16 {
		return fmt.Errorf("%w: size %dx%d", ErrVideoTrack, video.Width, video.Height)
	}
	m.track = &mkv.TrackSpec{
		Number: 1, UID: 1, Type: mkv.TrackVideo, CodecID: video.CodecID, Name: "video",
		CodecPrivate: bytes.Clone(video.CodecPrivate), Width: uint32(video.Width), Height: uint32(video.Height),
	}
	return m.w.WriteHeader(mkv.Header{Title: "camstorm re-mux", Tracks: []mkv.TrackSpec{*m.track}})
}

// Flush writes out what is buffered.
func (m *Remuxer) Flush() error { return m.buf.Flush() }

// RemuxStream re-muxes the video of stream's fragments with producer
// timestamps in [from, to] into w (see Remuxer), opening them with opener
// (nil for plaintext), and returns how many frames it wrote.
func RemuxStream(ctx context.Context, target simulator.Target, stream string, from, to time.Time, opener *e2ee.Opener, w io.Writer) (int, error) {
	r := &Reader{Target: target, Stream: stream, Opener: opener}
	listed, err := r.List(ctx, from, to)
	if err != nil {
		return 0, err
	}
	numbers := make([]string, len(listed))
	for i, f := range listed {
		numbers[i] = f.FragmentNumber
	}
	return RemuxFragments(ctx, target, stream, numbers, opener, w)
}

// RemuxFragments re-muxes the numbered fragments, which must be in
// timecode order, into w and returns how many frames it wrote.
func RemuxFragments(ctx context.Context, target simulator.Target, stream string, numbers []string, opener *e2ee.Opener, w io.Writer) (int, error) {
	r := &Reader{Target: target, Stream: stream, Opener: opener}
	m := NewRemuxer(w)
	if err := r.ReadFragments(ctx, numbers, m.Add); err != nil {
		return m.Frames(), err
	}
	return m.Frames(), m.Flush()
}
