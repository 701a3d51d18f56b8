package consumer

import (
	"errors"
	"fmt"

	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/simulator/media"
)

// Integrity failures that are not the e2ee package's own.
var (
	// ErrNotEncrypted: an Opener was given, but the fragment has no E2EE key
	// track (plaintext where ciphertext was expected).
	ErrNotEncrypted = errors.New("consumer: fragment is not end-to-end encrypted")
	// ErrEnvelope: the key track does not hold exactly one envelope block.
	ErrEnvelope = errors.New("consumer: fragment does not carry exactly one envelope")
)

// sealedOpener is what opening needs of *e2ee.Opener.
type sealedOpener interface {
	BeginFragment(tc int64, envelope []byte) error
	OpenFrame(dst []byte, index uint32, final bool, sealed []byte) (seq uint64, frame []byte, err error)
}

var _ sealedOpener = (*e2ee.Opener)(nil)

// keyTrack is the fragment's E2EE key track, or nil.
func (f *Fragment) keyTrack() *Track {
	for i := range f.Tracks {
		if f.Tracks[i].CodecID == e2ee.CodecID {
			return &f.Tracks[i]
		}
	}
	return nil
}

// open authenticates and decrypts f's video frames in place of their sealed
// bytes, appending plaintext to plain (which must have room for every sealed
// byte, so that earlier frames never move) and returning it. Every failure
// is recorded in f (Integrity, FailedFrames, the frames' Err), never returned.
func open(o sealedOpener, f *Fragment, plain []byte) []byte {
	if f.Err != nil {
		return plain
	}
	key := f.keyTrack()
	f.Encrypted = key != nil
	video := f.Video()
	if video == nil {
		if key != nil || len(f.Tracks) > 0 {
			f.Opened = true
		}
		return plain
	}
	f.Opened = true
	fail := func(err error) {
		f.Integrity = err
		f.FailedFrames = len(video.Frames)
		for i := range video.Frames {
			video.Frames[i].Err = err
		}
	}
	switch {
	case key == nil:
		fail(fmt.Errorf("fragment %s: %w", f.Number, ErrNotEncrypted))
		return plain
	case len(key.Frames) != 1:
		fail(fmt.Errorf("fragment %s: %d blocks on the key track: %w", f.Number, len(key.Frames), ErrEnvelope))
		return plain
	}
	if err := o.BeginFragment(f.Timecode, key.Frames[0].Data); err != nil {
		fail(fmt.Errorf("fragment %s: envelope: %w", f.Number, err))
		return plain
	}
	n := len(video.Frames)
	for i := range video.Frames {
		fr := &video.Frames[i]
		start := len(plain)
		seq, out, err := o.OpenFrame(plain, uint32(i), i == n-1, fr.Data)
		if err != nil {
			fr.Err = err
			f.FailedFrames++
			if f.Integrity == nil {
				f.Integrity = fmt.Errorf("fragment %s: frame %d of %d: %w", f.Number, i, n, err)
			}
			continue
		}
		plain = out
		fr.Data = plain[start:len(plain):len(plain)]
		fr.Seq, fr.HasSeq = seq, true
	}
	return plain
}

// numberPlaintext reads the synthetic sequence numbers of a plaintext
// fragment's video frames, where the source put them.
func numberPlaintext(f *Fragment) {
	if f.Err != nil {
		return
	}
	f.Encrypted = f.keyTrack() != nil
	if f.Encrypted {
		return // sealed frames carry no readable number without the key
	}
	if video := f.Video(); video != nil {
		for i := range video.Frames {
			fr := &video.Frames[i]
			fr.Seq, fr.HasSeq = media.SyntheticSequence(fr.Data)
		}
	}
}

// sealedBytes is the room open needs in its plaintext buffer.
func sealedBytes(f *Fragment) int {
	n := 0
	if v := f.Video(); v != nil {
		for _, fr := range v.Frames {
			n += len(fr.Data)
		}
	}
	return n
}
