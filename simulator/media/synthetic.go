package media

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/camstorm/camstorm/internal/mkv"
)

// ErrInvalidConfig wraps every problem NewSynthetic finds in its config.
var ErrInvalidConfig = errors.New("media: invalid synthetic source config")

// KeyFrameWeight is how many times larger a synthetic key frame is than a
// P-frame on average, roughly what a real encoder produces.
const KeyFrameWeight = 5

// SyntheticSEIUUID identifies the SEI user_data_unregistered message that
// starts every synthetic frame and carries its sequence number.
var SyntheticSEIUUID = [16]byte{'c', 'a', 'm', 's', 't', 'o', 'r', 'm', '-', 's', 'y', 'n', 't', 'h', '0', '1'}

const (
	// sizeJitter varies each frame's size by up to ±20% around its target.
	sizeJitter = 0.2
	// MaxSyntheticFrame bounds the one buffer a synthetic source holds.
	MaxSyntheticFrame = 16 << 20

	maxSyntheticFPS = 240
	maxPictureSide  = 8192

	// SEI NAL: length, header, payloadType 5, payloadSize 24, UUID, 8
	// sequence bytes, rbsp trailing bits.
	seqBytes      = 8
	seiPayloadLen = 16 + seqBytes
	seiNALLen     = 4 + 1 + 1 + 1 + seiPayloadLen + 1
	seqOffset     = 4 + 1 + 1 + 1 + 16
	// A padding NAL: length, header, random bytes, a final 0x80.
	minFillerNAL = 4 + 1 + 1
)

// SyntheticConfig describes a synthetic camera stream.
type SyntheticConfig struct {
	BitrateBps    int           // average bitrate of the encoded frames
	FPS           int           // frames per second, 1..240
	GOP           time.Duration // key-frame interval; rounded to whole frames
	Seed          int64         // same seed, same frame sizes
	Width, Height int           // even, up to 8192
}

// framesPerGOP is the key-frame interval in frames.
func (c SyntheticConfig) framesPerGOP() int {
	return max(1, int(math.Round(c.GOP.Seconds()*float64(c.FPS))))
}

// frameTargets returns the average P-frame and key-frame sizes that make the
// stream average c.BitrateBps.
func (c SyntheticConfig) frameTargets() (pFrame, keyFrame float64) {
	g := float64(c.framesPerGOP())
	bytesPerGOP := float64(c.BitrateBps) / 8 / float64(c.FPS) * g
	pFrame = bytesPerGOP / (g - 1 + KeyFrameWeight)
	return pFrame, pFrame * KeyFrameWeight
}

func (c SyntheticConfig) macroblocks() int {
	return ((c.Width + 15) / 16) * ((c.Height + 15) / 16)
}

// Validate reports every problem with c at once, each wrapping ErrInvalidConfig.
func (c SyntheticConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.BitrateBps <= 0 {
		bad("BitrateBps is %d, want > 0", c.BitrateBps)
	}
	if c.FPS < 1 || c.FPS > maxSyntheticFPS {
		bad("FPS is %d, want 1..%d", c.FPS, maxSyntheticFPS)
	}
	switch {
	case c.GOP <= 0:
		bad("GOP is %v, want > 0", c.GOP)
	case c.FPS >= 1 && c.GOP < time.Second/time.Duration(2*c.FPS):
		bad("GOP is %v, want at least one frame (%v)", c.GOP, time.Second/time.Duration(c.FPS))
	}
	for _, side := range []struct {
		name string
		v    int
	}{{"Width", c.Width}, {"Height", c.Height}} {
		if side.v < 2 || side.v > maxPictureSide || side.v%2 != 0 {
			bad("%s is %d, want an even number in 2..%d (4:2:0 video)", side.name, side.v, maxPictureSide)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// The jittered targets must leave room for the smallest valid frames.
	p, key := c.frameTargets()
	minP, minKey := minFrameSizes(c.macroblocks())
	if lowest := (1 - sizeJitter) * p; lowest < float64(minP) {
		bad("%d bit/s at %d fps gives P-frames down to %.0f bytes, but the smallest is %d bytes; raise BitrateBps",
			c.BitrateBps, c.FPS, lowest, minP)
	}
	if lowest := (1 - sizeJitter) * key; lowest < float64(minKey) {
		bad("%d bit/s at %d fps gives key frames down to %.0f bytes, but a %dx%d key frame takes at least %d; raise BitrateBps or lower the resolution",
			c.BitrateBps, c.FPS, lowest, c.Width, c.Height, minKey)
	}
	if highest := (1 + sizeJitter) * key; highest > MaxSyntheticFrame/2 {
		bad("%d bit/s at %d fps with a %v GOP gives key frames up to %.0f bytes, over the %d-byte limit",
			c.BitrateBps, c.FPS, c.GOP, highest, MaxSyntheticFrame/2)
	}
	return errors.Join(errs...)
}

// minFrameSizes is the size of a synthetic P-frame and key frame with no
// padding: SEI plus the bare slice.
func minFrameSizes(macroblocks int) (p, key int) {
	return seiNALLen + 4 + len(sliceNAL(macroblocks, false, log2MaxFrameNum, 0)),
		seiNALLen + 4 + len(sliceNAL(macroblocks, true, 0, 1))
}

// syntheticSource produces real, decodable H.264 in AVCC form whose frame
// sizes average the configured bitrate. Each frame holds three NAL units,
// each with a 4-byte length:
//
//  1. SEI user_data_unregistered with SyntheticSEIUUID and the frame's
//     sequence number (from 0, 7 bits in each of 8 bytes with the top bit
//     set), so a consumer can check continuity;
//  2. one slice: on key frames an IDR picture of flat grey, otherwise a P
//     picture with every macroblock skipped;
//  3. padding up to the frame's size, when there is room: a NAL unit of an
//     unspecified type (decoders ignore it) holding a seeded keystream, so
//     frames are as incompressible and unique as real video.
//
// Decoders show a grey picture; the sizes are what matters to a load test.
type syntheticSource struct {
	cfg       SyntheticConfig
	track     mkv.TrackSpec
	gop       uint64
	pTarget   float64
	keyTarget float64
	rng       *rand.Rand
	keystream cipher.Stream                // AES-CTR keyed from the seed: padding bytes
	idr       [2][]byte                    // idr_pic_id 0 and 1, alternating
	p         [1 << log2MaxFrameNum][]byte // by frame_num
	buf       []byte                       // reused for every frame; starts with the SEI
	carry     float64                      // bytes owed to (positive) or by the bitrate target
	seq       uint64
	idrCount  uint64
}

var _ Source = (*syntheticSource)(nil)

// NewSynthetic returns an endless synthetic H.264 source for cfg: a key frame
// every GOP, frame sizes (key frames KeyFrameWeight times a P-frame, each
// jittered by up to ±20%) averaging cfg.BitrateBps, fully determined by
// cfg.Seed. Next does not allocate.
func NewSynthetic(cfg SyntheticConfig) (Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pTarget, keyTarget := cfg.frameTargets()
	mbs := cfg.macroblocks()
	s := &syntheticSource{
		cfg: cfg,
		track: mkv.TrackSpec{
			Number:       1,
			UID:          1,
			Type:         mkv.TrackVideo,
			CodecID:      mkv.CodecH264,
			Name:         "synthetic",
			CodecPrivate: avcConfigFor(cfg.Width, cfg.Height),
			Width:        uint32(cfg.Width),
			Height:       uint32(cfg.Height),
		},
		gop:       uint64(cfg.framesPerGOP()),
		pTarget:   pTarget,
		keyTarget: keyTarget,
		rng:       rand.New(rand.NewPCG(uint64(cfg.Seed), 0x9E3779B97F4A7C15)),
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], uint64(cfg.Seed))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	s.keystream = cipher.NewCTR(block, make([]byte, aes.BlockSize))
	for id := range s.idr {
		s.idr[id] = sliceNAL(mbs, true, 0, uint64(id))
	}
	for frameNum := range s.p {
		s.p[frameNum] = sliceNAL(mbs, false, uint64(frameNum), 0)
	}
	// Room for the largest jittered key frame plus a carried deficit; a frame
	// that would be larger is cut to fit and the rest carried on.
	_, minKey := minFrameSizes(mbs)
	size := max(int(keyTarget*(1+sizeJitter)*2), minKey+minFillerNAL)
	s.buf = make([]byte, size)
	binary.BigEndian.PutUint32(s.buf, seiNALLen-4)
	copy(s.buf[4:], []byte{nalSEI, 5, seiPayloadLen})
	copy(s.buf[7:], SyntheticSEIUUID[:])
	s.buf[seiNALLen-1] = 0x80
	return s, nil
}

func (s *syntheticSource) Next() Frame {
	sinceKey := s.seq % s.gop
	key := sinceKey == 0
	target := s.pTarget
	slice := s.p[sinceKey%uint64(len(s.p))]
	if key {
		target = s.keyTarget
		slice = s.idr[s.idrCount%2]
		s.idrCount++
	}
	want := target + s.carry
	size := int(math.Round(want * (1 + sizeJitter*(2*s.rng.Float64()-1))))

	b := s.buf
	putSequence(b[seqOffset:seqOffset+seqBytes], s.seq)
	n := seiNALLen
	binary.BigEndian.PutUint32(b[n:], uint32(len(slice)))
	n += 4 + copy(b[n+4:], slice)
	if pad := min(size, len(b)) - n; pad >= minFillerNAL {
		binary.BigEndian.PutUint32(b[n:], uint32(pad-4))
		b[n+4] = nalPadding
		s.fillPadding(b[n+5 : n+pad-1])
		b[n+pad-1] = 0x80
		n += pad
	}
	s.carry = want - float64(n)

	pts := s.pts(s.seq)
	s.seq++
	return Frame{PTS: pts, Key: key, Data: b[:n]}
}

// pts is the presentation time of frame seq.
func (s *syntheticSource) pts(seq uint64) time.Duration {
	fps := uint64(s.cfg.FPS)
	return time.Duration(seq/fps)*time.Second + time.Duration(seq%fps)*time.Second/time.Duration(fps)
}

func (s *syntheticSource) Peek() (time.Duration, bool) { return s.pts(s.seq), s.seq%s.gop == 0 }

func (s *syntheticSource) Track() mkv.TrackSpec { return s.track }

// fillPadding fills dst with this source's keystream: bytes that never
// repeat, as in real video, so disks and links that compress or
// de-duplicate see realistic data. Every second byte has its low bit set, so
// the NAL unit never holds two zero bytes in a row (no start-code emulation).
func (s *syntheticSource) fillPadding(dst []byte) {
	s.keystream.XORKeyStream(dst, dst)
	for len(dst) >= 8 {
		binary.LittleEndian.PutUint64(dst, binary.LittleEndian.Uint64(dst)|0x0100010001000100)
		dst = dst[8:]
	}
	for i := range dst {
		dst[i] |= 1
	}
}

// putSequence writes the low 56 bits of seq, 7 bits per byte with the top bit
// set, so the SEI payload never contains a zero byte and needs no
// emulation-prevention bytes.
func putSequence(b []byte, seq uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = 0x80 | byte(seq&0x7F)
		seq >>= 7
	}
}

// SyntheticSequence returns the sequence number carried by a synthetic frame,
// and false if data does not start with the synthetic SEI message.
func SyntheticSequence(data []byte) (uint64, bool) {
	if len(data) < seiNALLen || binary.BigEndian.Uint32(data) != seiNALLen-4 ||
		data[4] != nalSEI || data[5] != 5 || data[6] != seiPayloadLen ||
		[16]byte(data[7:23]) != SyntheticSEIUUID {
		return 0, false
	}
	var seq uint64
	for _, c := range data[seqOffset : seqOffset+seqBytes] {
		seq = seq<<7 | uint64(c&0x7F)
	}
	return seq, true
}
