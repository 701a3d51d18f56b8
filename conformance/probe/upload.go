package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/simulator/media"
)

// Frame is one frame of a fragment the probe sends.
type Frame struct {
	Data []byte
	// Track is the track number; 0 means 1 (video).
	Track uint8
}

// Fragment is one cluster: frames FrameSpacing apart from Timecode (ms
// since the epoch, absolute timecodes), the first of each track a key frame.
type Fragment struct {
	Timecode int64
	Frames   []Frame
	// FrameSpacing in ms; 0 means 40 (25 fps).
	FrameSpacing int64
}

// VideoTrack is the H.264 track the probe's streams declare.
var VideoTrack = func() mkv.TrackSpec {
	src, err := media.NewSynthetic(media.SyntheticConfig{BitrateBps: 64_000, FPS: 25, GOP: time.Second, Width: 320, Height: 240})
	if err != nil {
		panic("probe: synthetic track: " + err.Error())
	}
	return src.Track()
}()

// Header returns the MKV header of a stream with the given tracks (none:
// VideoTrack alone).
func Header(tracks ...mkv.TrackSpec) []byte {
	if len(tracks) == 0 {
		tracks = []mkv.TrackSpec{VideoTrack}
	}
	b, err := mkv.AppendHeader(nil, mkv.Header{Tracks: tracks})
	if err != nil {
		panic("probe: header: " + err.Error()) // the tracks are the caller's constants
	}
	return b
}

// Encode returns the fragment as one Cluster.
func (f Fragment) Encode() []byte {
	var buf sliceWriter
	w := mkv.NewWriter(&buf)
	spacing := f.FrameSpacing
	if spacing == 0 {
		spacing = 40
	}
	if err := w.StartCluster(f.Timecode); err != nil {
		panic("probe: cluster: " + err.Error())
	}
	var keyed [256]bool
	for i, fr := range f.Frames {
		track := fr.Track
		if track == 0 {
			track = 1
		}
		key := !keyed[track]
		keyed[track] = true
		if err := w.WriteFrame(track, f.Timecode+int64(i)*spacing, key, fr.Data); err != nil {
			panic("probe: frame: " + err.Error())
		}
	}
	if err := w.EndFragment(); err != nil {
		panic("probe: end of fragment: " + err.Error())
	}
	return buf.b
}

type sliceWriter struct{ b []byte }

func (s *sliceWriter) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }

// TimedAck is an ACK with when it arrived.
type TimedAck struct {
	kvsapi.Ack
	At time.Time
}

func (a TimedAck) String() string {
	s := fmt.Sprintf("%s timecode=%d fragment=%s", a.EventType, a.FragmentTimecode, a.FragmentNumber)
	if a.EventType == kvsapi.EventError {
		s += fmt.Sprintf(" error=%d %s", a.ErrorID, a.ErrorCode)
	}
	return s
}

// Upload is one open PutMedia connection whose ACKs are all kept.
type Upload struct {
	pm *kvsclient.PutMedia

	mu          sync.Mutex
	acks        []TimedAck
	acksDropped int   // beyond maxAcksKept
	ended       error // why the ACK stream ended (io.EOF: the service closed it)
	notify      chan struct{}
}

// maxAcksKept bounds the ACKs an Upload keeps (a session of a case sends a
// few dozen); the rest are counted.
const maxAcksKept = 10_000

// AcksDropped is how many ACKs arrived beyond the ones kept.
func (u *Upload) AcksDropped() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.acksDropped
}

// ErrAckTimeout is returned when an awaited ACK does not come in time.
var ErrAckTimeout = errors.New("no such ACK in time")

// StartUpload opens PutMedia for stream (asking the control plane for the
// data endpoint) and sends the header. A refusal before the body — an HTTP
// error status — comes back as *kvsapi.Exception.
func (c *Client) StartUpload(ctx context.Context, stream string, header []byte) (*Upload, error) {
	ep, err := c.DataEndpoint(ctx, stream, APIPutMedia)
	if err != nil {
		return nil, err
	}
	return c.StartUploadAt(ctx, ep, stream, header)
}

// StartUploadAt is StartUpload against a known data endpoint.
func (c *Client) StartUploadAt(ctx context.Context, endpoint, stream string, header []byte) (*Upload, error) {
	pm, err := kvsclient.StartPutMedia(ctx, c.HTTP(), endpoint, kvsclient.PutMediaOptions{StreamName: stream})
	if err != nil {
		return nil, err
	}
	u := &Upload{pm: pm, notify: make(chan struct{}, 1)}
	go u.readAcks()
	if header != nil {
		if _, err := pm.Write(header); err != nil {
			pm.Close()
			return nil, fmt.Errorf("sending the MKV header: %w", err)
		}
	}
	return u, nil
}

func (u *Upload) readAcks() {
	for {
		a, err := u.pm.NextAck()
		u.mu.Lock()
		switch {
		case err != nil:
			u.ended = err
		case len(u.acks) < maxAcksKept:
			u.acks = append(u.acks, TimedAck{Ack: a, At: time.Now()})
		default:
			u.acksDropped++
		}
		u.mu.Unlock()
		select {
		case u.notify <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// Write sends raw bytes (part of a cluster, garbage…).
func (u *Upload) Write(b []byte) error {
	_, err := u.pm.Write(b)
	return err
}

// Send sends a whole fragment.
func (u *Upload) Send(f Fragment) error { return u.Write(f.Encode()) }

// Acks returns the ACKs received so far.
func (u *Upload) Acks() []TimedAck {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]TimedAck(nil), u.acks...)
}

// Ended returns why the ACK stream ended (io.EOF: closed by the service),
// or nil while it is open.
func (u *Upload) Ended() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.ended
}

// Await waits until match accepts an ACK (scanning all ACKs so far, then
// new ones), the ACK stream ends, or timeout passes.
func (u *Upload) Await(ctx context.Context, timeout time.Duration, match func(TimedAck) bool) (TimedAck, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen := 0
	for {
		u.mu.Lock()
		acks, ended := u.acks[seen:], u.ended
		seen = len(u.acks)
		u.mu.Unlock()
		for _, a := range acks {
			if match(a) {
				return a, nil
			}
		}
		if ended != nil {
			if errors.Is(ended, io.EOF) {
				return TimedAck{}, fmt.Errorf("%w: the service closed the ACK stream", ErrAckTimeout)
			}
			return TimedAck{}, fmt.Errorf("%w: the ACK stream ended: %v", ErrAckTimeout, ended)
		}
		select {
		case <-ctx.Done():
			return TimedAck{}, ctx.Err()
		case <-deadline.C:
			return TimedAck{}, fmt.Errorf("%w (waited %v)", ErrAckTimeout, timeout)
		case <-u.notify:
		}
	}
}

// AwaitAck waits for an ACK of type typ for the fragment with this
// timecode; an ERROR ACK for it (or for no timecode) ends the wait with
// *AckError.
func (u *Upload) AwaitAck(ctx context.Context, timeout time.Duration, timecode int64, typ kvsapi.EventType) (TimedAck, error) {
	a, err := u.Await(ctx, timeout, func(a TimedAck) bool {
		return (a.EventType == typ && a.FragmentTimecode == timecode) ||
			(a.EventType == kvsapi.EventError && (!a.HasTimecode || a.FragmentTimecode == timecode))
	})
	if err == nil && a.EventType == kvsapi.EventError && typ != kvsapi.EventError {
		return a, &AckError{Ack: a}
	}
	return a, err
}

// AckError is an ERROR ACK where another was awaited.
type AckError struct{ Ack TimedAck }

func (e *AckError) Error() string { return "ERROR ACK: " + e.Ack.String() }

// Cut closes the connection abruptly, as a network that drops would.
func (u *Upload) Cut() { u.pm.Close() }

// Finish ends the request body and waits (up to timeout) for the service
// to close the ACK stream; it returns every ACK.
func (u *Upload) Finish(ctx context.Context, timeout time.Duration) []TimedAck {
	_ = u.pm.CloseWrite()
	_, _ = u.Await(ctx, timeout, func(TimedAck) bool { return false })
	u.pm.Close()
	return u.Acks()
}

// Put sends fragments over one new connection, waits for each one's
// PERSISTED (or an ERROR), closes, and returns every ACK. The error is the
// first fragment that was not persisted.
func (c *Client) Put(ctx context.Context, stream string, frags ...Fragment) ([]TimedAck, error) {
	return c.PutWithHeader(ctx, stream, Header(), frags...)
}

// PutWithHeader is Put for a stream with other tracks (e.g. SealedHeader).
func (c *Client) PutWithHeader(ctx context.Context, stream string, header []byte, frags ...Fragment) ([]TimedAck, error) {
	u, err := c.StartUpload(ctx, stream, header)
	if err != nil {
		return nil, err
	}
	for _, f := range frags {
		if err := u.Send(f); err != nil {
			u.Cut()
			return u.Acks(), fmt.Errorf("sending fragment %d: %w", f.Timecode, err)
		}
	}
	var firstErr error
	for _, f := range frags {
		if _, err := u.AwaitAck(ctx, 15*time.Second, f.Timecode, kvsapi.EventPersisted); err != nil {
			firstErr = fmt.Errorf("fragment %d: %w", f.Timecode, err)
			break
		}
	}
	return u.Finish(ctx, 5*time.Second), firstErr
}

func jsonBody(in any) ([]byte, error) { return json.Marshal(in) }
