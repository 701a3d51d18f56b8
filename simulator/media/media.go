// Package media provides frame sources for simulated cameras: a real clip
// looped forever, or synthetic H.264-shaped frames at a chosen bitrate.
package media

import (
	"time"

	"github.com/camstorm/camstorm/internal/mkv"
)

// Frame is one encoded video frame.
type Frame struct {
	PTS  time.Duration // presentation time from the start of the source
	Key  bool
	Data []byte // AVCC (4-byte length-prefixed NAL units); valid until the next call to Next
}

// Source is an endless stream of frames for one track. Sources are not safe
// for concurrent use: each camera owns its own.
type Source interface {
	// Next returns the next frame; PTS increases strictly from one frame to the next.
	Next() Frame
	// Peek tells what the next call to Next will return, without its data
	// (and without invalidating the last frame's): a camera seals the last
	// frame of a fragment differently, so it must know whether a key frame
	// follows.
	Peek() (pts time.Duration, key bool)
	// Track describes the track the frames belong to (track number 1).
	Track() mkv.TrackSpec
}
