package media

import (
	"time"

	"github.com/camstorm/camstorm/fixtures"
	"github.com/camstorm/camstorm/internal/mkv"
)

// clipSource loops a clip, shifting each pass by the clip's duration so that
// time runs on evenly across the seam.
type clipSource struct {
	clip     *fixtures.Clip
	track    mkv.TrackSpec
	duration time.Duration // of one pass
	start    time.Duration // PTS of the clip's first frame
	index    int           // next frame within the pass
	offset   time.Duration // added to every PTS of the current pass
}

var _ Source = (*clipSource)(nil)

// NewClip returns a Source that plays c forever with continuous, increasing
// timestamps starting at 0 and the clip's GOP structure. Frames share c's
// memory, which must not be modified. c must have at least one frame (clips
// from package fixtures always do); NewClip panics otherwise, as that is a
// programming error rather than bad input.
func NewClip(c *fixtures.Clip) Source {
	if c == nil || len(c.Frames) == 0 {
		panic("media: NewClip needs a clip with frames")
	}
	return &clipSource{
		clip: c,
		track: mkv.TrackSpec{
			Number:       1,
			UID:          1,
			Type:         mkv.TrackVideo,
			CodecID:      c.CodecID,
			Name:         "video",
			CodecPrivate: c.CodecPrivate,
			Width:        uint32(c.Width),
			Height:       uint32(c.Height),
		},
		duration: clipDuration(c),
		start:    c.Frames[0].PTS,
	}
}

// clipDuration is one pass of c: frame count over frame rate when the rate is
// known, otherwise the span of the timestamps plus one average frame interval.
func clipDuration(c *fixtures.Clip) time.Duration {
	if d := c.Duration(); d > 0 {
		return d
	}
	n := len(c.Frames)
	span := c.Frames[n-1].PTS - c.Frames[0].PTS
	if n == 1 || span <= 0 {
		return time.Second / 30 // a single still frame: repeat it at 30 fps
	}
	return span + span/time.Duration(n-1)
}

func (s *clipSource) Next() Frame {
	f := s.clip.Frames[s.index]
	out := Frame{PTS: f.PTS - s.start + s.offset, Key: f.Key, Data: f.Data}
	s.index++
	if s.index == len(s.clip.Frames) {
		s.index = 0
		s.offset += s.duration
	}
	return out
}

func (s *clipSource) Peek() (time.Duration, bool) {
	f := s.clip.Frames[s.index]
	return f.PTS - s.start + s.offset, f.Key
}

func (s *clipSource) Track() mkv.TrackSpec { return s.track }
