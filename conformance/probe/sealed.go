package probe

import (
	"errors"
	"fmt"

	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/mkv"
)

// KeyTrack is the track that carries E2EE epoch envelopes, one block at the
// start of every fragment (docs/E2EE.md), as camstorm's cameras declare it.
var KeyTrack = mkv.TrackSpec{Number: 2, UID: 0xC5E2EE, Type: mkv.TrackMetadata, CodecID: e2ee.CodecID, Name: e2ee.TrackName}

// SealedHeader is the MKV header of an end-to-end encrypted stream:
// VideoTrack and KeyTrack.
func SealedHeader() []byte { return Header(VideoTrack, KeyTrack) }

// Sealer turns plaintext fragments into end-to-end encrypted ones for one
// stream, as a camera would: each fragment starts with its epoch's
// envelope on KeyTrack, and its video frames are sealed in order with
// sequence numbers that continue across fragments. One goroutine at a time.
type Sealer struct {
	s    *e2ee.Sealer
	next uint64
}

// NewSealer makes a Sealer for cfg (the stream, its recipients, rotation).
func NewSealer(cfg e2ee.SealerConfig) (*Sealer, error) {
	s, err := e2ee.NewSealer(cfg)
	if err != nil {
		return nil, err
	}
	return &Sealer{s: s}, nil
}

// E2EE returns the underlying sealer (SetRecipients, Epoch).
func (s *Sealer) E2EE() *e2ee.Sealer { return s.s }

// NextSeq is the sequence number the next sealed frame gets.
func (s *Sealer) NextSeq() uint64 { return s.next }

// Seal returns f sealed: the envelope first, on KeyTrack, then f's frames
// (which must all be video, track 0 or 1) sealed, the last as final.
func (s *Sealer) Seal(f Fragment) (Fragment, error) {
	if len(f.Frames) == 0 {
		return Fragment{}, errors.New("probe: a sealed fragment needs at least one frame")
	}
	env, err := s.s.BeginFragment(f.Timecode)
	if err != nil {
		return Fragment{}, err
	}
	out := Fragment{Timecode: f.Timecode, FrameSpacing: f.FrameSpacing,
		Frames: []Frame{{Data: append([]byte(nil), env...), Track: KeyTrack.Number}}}
	for i, fr := range f.Frames {
		if fr.Track > 1 {
			return Fragment{}, fmt.Errorf("probe: frame %d is on track %d; only video frames are sealed", i, fr.Track)
		}
		sealed, err := s.s.SealFrame(nil, uint32(i), i == len(f.Frames)-1, s.next, fr.Data)
		if err != nil {
			return Fragment{}, fmt.Errorf("probe: sealing frame %d of the fragment at %d: %w", i, f.Timecode, err)
		}
		s.next++
		out.Frames = append(out.Frames, Frame{Data: sealed})
	}
	return out, nil
}

// OpenedFrame is one video frame of a sealed fragment as the consumer's
// e2ee.Opener saw it.
type OpenedFrame struct {
	Index int
	Seq   uint64 // valid when Err is nil
	Data  []byte // the plaintext, when Err is nil
	Err   error
}

// OpenedFragment is one chunk read back and opened by a consumer.
type OpenedFragment struct {
	Number   string // AWS_KINESISVIDEO_FRAGMENT_NUMBER
	Timecode int64  // the cluster's, ms
	// Err is a failure of the fragment as a whole: an error chunk, no key
	// track, not exactly one envelope, an envelope this consumer cannot
	// open. Frames are then all unopened (each carries Err too).
	Err    error
	Frames []OpenedFrame
}

// OK reports whether the fragment and every frame opened.
func (f *OpenedFragment) OK() bool { return f.FirstFailure() == nil }

// FirstFailure returns the first failure: the fragment's, or its first
// frame that did not open (with the frame's index), or nil.
func (f *OpenedFragment) FirstFailure() error {
	if f.Err != nil {
		return fmt.Errorf("fragment %s at %d ms: %w", f.Number, f.Timecode, f.Err)
	}
	for _, fr := range f.Frames {
		if fr.Err != nil {
			return fmt.Errorf("fragment %s at %d ms, frame %d of %d: %w", f.Number, f.Timecode, fr.Index, len(f.Frames), fr.Err)
		}
	}
	return nil
}

// FailedAt is the index of the first frame that did not open (-1: the
// fragment as a whole failed; len(Frames): none failed).
func (f *OpenedFragment) FailedAt() int {
	if f.Err != nil {
		return -1
	}
	for _, fr := range f.Frames {
		if fr.Err != nil {
			return fr.Index
		}
	}
	return len(f.Frames)
}

// Errors of OpenChunk that are not the e2ee package's own.
var (
	ErrNotSealed   = errors.New("probe: fragment has no E2EE key track (plaintext where ciphertext was expected)")
	ErrNoEnvelope  = errors.New("probe: fragment does not carry exactly one envelope on its key track")
	ErrErrorChunk  = errors.New("probe: the target sent an error chunk instead of the fragment")
	ErrNoVideoData = errors.New("probe: fragment has no video frames")
)

// OpenChunk opens one chunk with o: the envelope on the key track, then
// every video block in order, the last as final. An e2ee.Opener refuses
// the rest of a fragment after a frame fails, so only the first failed
// frame says where the damage is.
func OpenChunk(o *e2ee.Opener, ch Chunk) OpenedFragment {
	of := OpenedFragment{Number: ch.FragmentNumber(), Timecode: ch.Timecode}
	if id := ch.ErrorID(); id != "" {
		of.Err = fmt.Errorf("%w (error id %s)", ErrErrorChunk, id)
		return of
	}
	var keyTrack, video uint64
	for _, t := range ch.Tracks {
		switch {
		case t.CodecID == e2ee.CodecID && keyTrack == 0:
			keyTrack = t.Number
		case t.Type == 1 && video == 0:
			video = t.Number
		}
	}
	if video == 0 {
		video = 1
	}
	frames := ch.FramesOf(video)
	for i := range frames {
		of.Frames = append(of.Frames, OpenedFrame{Index: i})
	}
	fail := func(err error) OpenedFragment {
		of.Err = err
		for i := range of.Frames {
			of.Frames[i].Err = err
		}
		return of
	}
	if keyTrack == 0 {
		return fail(ErrNotSealed)
	}
	if len(frames) == 0 {
		return fail(ErrNoVideoData)
	}
	envs := ch.FramesOf(keyTrack)
	if len(envs) != 1 {
		return fail(fmt.Errorf("%w (%d blocks)", ErrNoEnvelope, len(envs)))
	}
	if err := o.BeginFragment(ch.Timecode, envs[0]); err != nil {
		return fail(fmt.Errorf("envelope: %w", err))
	}
	for i, sealed := range frames {
		seq, plain, err := o.OpenFrame(nil, uint32(i), i == len(frames)-1, sealed)
		of.Frames[i] = OpenedFrame{Index: i, Seq: seq, Data: plain, Err: err}
		if err != nil {
			of.Frames[i].Seq, of.Frames[i].Data = 0, nil
		}
	}
	return of
}

// OpenChunks opens chunks of stream, in the order given, as the consumer
// holding key.
func OpenChunks(stream string, key *e2ee.PrivateKey, chunks []Chunk) []OpenedFragment {
	o := e2ee.NewOpener(stream, key)
	out := make([]OpenedFragment, 0, len(chunks))
	for _, ch := range chunks {
		out = append(out, OpenChunk(o, ch))
	}
	return out
}

// CheckSequence reports the first place where the opened frames, in the
// order given, do not carry consecutive sequence numbers starting at
// first: a fragment moved, repeated or missing that each fragment's own
// authentication cannot see. Fragments that did not open are reported too.
func CheckSequence(frags []OpenedFragment, first uint64) error {
	want := first
	for _, f := range frags {
		if err := f.FirstFailure(); err != nil {
			return err
		}
		for _, fr := range f.Frames {
			if fr.Seq != want {
				return fmt.Errorf("fragment %s at %d ms, frame %d: sequence number %d, want %d (fragments out of order, repeated or missing)",
					f.Number, f.Timecode, fr.Index, fr.Seq, want)
			}
			want++
		}
	}
	return nil
}
