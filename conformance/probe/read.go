package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/at-wat/ebml-go"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/kvsclient"
)

// maxListPages bounds one listing (at 1,000 fragments a page).
const maxListPages = 100

// ListFragments returns every fragment of the stream the target lists, in
// producer-timestamp order.
func (c *Client) ListFragments(ctx context.Context, stream string) ([]kvsapi.Fragment, error) {
	ep, err := c.DataEndpoint(ctx, stream, APIListFragments)
	if err != nil {
		return nil, err
	}
	var all []kvsapi.Fragment
	in := kvsapi.ListFragmentsInput{StreamRef: kvsapi.StreamRef{StreamName: stream}, MaxResults: 1000}
	for page := 0; ; page++ {
		if page == maxListPages {
			return all, fmt.Errorf("ListFragments %s: still more after %d pages (%d fragments); the probe reads at most that many", stream, maxListPages, len(all))
		}
		var out kvsapi.ListFragmentsOutput
		if err := kvsclient.Call(ctx, c.HTTP(), ep, kvsapi.PathListFragments, in, &out); err != nil {
			return all, fmt.Errorf("ListFragments %s: %w", stream, err)
		}
		all = append(all, out.Fragments...)
		if out.NextToken == nil || *out.NextToken == "" {
			break
		}
		in.NextToken = *out.NextToken
	}
	slices.SortStableFunc(all, func(a, b kvsapi.Fragment) int {
		return a.ProducerTimestamp.Compare(b.ProducerTimestamp.Time)
	})
	return all, nil
}

// ListingGrace is how long a fragment acknowledged PERSISTED may take to
// be listed: KVS's ListFragments is eventually consistent, "usually within
// 1 s of PERSISTED" (kvs-protocol.md §3).
const ListingGrace = 1500 * time.Millisecond

// AwaitListed polls ListFragments until a fragment is listed at each of
// the producer timecodes (ms), or ListingGrace has passed. It judges
// nothing: call it after PERSISTED and before reading a listing, so that
// an eventually consistent target is not failed for being slow.
func (c *Client) AwaitListed(ctx context.Context, stream string, timecodes []int64) {
	deadline := time.Now().Add(ListingGrace)
	for {
		list, err := c.ListFragments(ctx, stream)
		if err != nil {
			return
		}
		listed := map[int64]bool{}
		for _, f := range list {
			listed[f.ProducerTimestamp.UnixMilli()] = true
		}
		all := true
		for _, tc := range timecodes {
			all = all && listed[tc]
		}
		if all || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Block is one frame as read back.
type Block struct {
	Track    uint64
	Timecode int64 // absolute, ms (cluster timecode + relative)
	Keyframe bool
	Data     []byte
}

// Track is a TrackEntry as read back.
type Track struct {
	Number  uint64
	CodecID string
	Name    string
	Type    uint64
}

// Chunk is one fragment as a GetMedia-style response carries it: its own
// MKV segment with the service's tags, or an error chunk (tags only).
type Chunk struct {
	Tags     map[string]string
	Tracks   []Track
	Timecode int64 // the cluster's, ms
	Blocks   []Block
	// Offset is where the chunk starts in the response body.
	Offset int64
}

// FragmentNumber is the chunk's AWS_KINESISVIDEO_FRAGMENT_NUMBER.
func (c *Chunk) FragmentNumber() string { return c.Tags[kvsapi.TagFragmentNumber] }

// ErrorID is the chunk's AWS_KINESISVIDEO_ERROR_ID ("" for media).
func (c *Chunk) ErrorID() string { return c.Tags[kvsapi.TagErrorID] }

// ProducerTimestamp is the chunk's producer timestamp in ms (tags carry
// seconds with a fraction), or -1 when it has none.
func (c *Chunk) ProducerTimestamp() int64 {
	s, ok := c.Tags[kvsapi.TagProducerTimestamp]
	if !ok {
		return -1
	}
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return -1
	}
	frac = (frac + "000")[:3]
	ms, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return -1
	}
	return n*1000 + ms
}

// TrackNamed returns the number of the track with this name (0: none).
func (c *Chunk) TrackNamed(name string) uint64 {
	for _, t := range c.Tracks {
		if t.Name == name {
			return t.Number
		}
	}
	return 0
}

// FramesOf returns the data of the track's blocks, in order.
func (c *Chunk) FramesOf(track uint64) [][]byte {
	var out [][]byte
	for _, b := range c.Blocks {
		if b.Track == track {
			out = append(out, b.Data)
		}
	}
	return out
}

// maxMediaBytes bounds one read of media.
const maxMediaBytes = 256 << 20

// ReadFragments reads the fragments by number with GetMediaForFragmentList
// and parses the response; chunks come in the order the target sends them.
func (c *Client) ReadFragments(ctx context.Context, stream string, numbers []string) ([]Chunk, []byte, error) {
	ep, err := c.DataEndpoint(ctx, stream, APIGetMediaForFragmentList)
	if err != nil {
		return nil, nil, err
	}
	in := kvsapi.GetMediaForFragmentListInput{StreamRef: kvsapi.StreamRef{StreamName: stream}, Fragments: numbers}
	body, err := c.postMedia(ctx, ep+kvsapi.PathGetMediaForFragmentList, in)
	if err != nil {
		return nil, nil, fmt.Errorf("GetMediaForFragmentList %s: %w", stream, err)
	}
	chunks, err := ParseChunks(body)
	return chunks, body, err
}

// ReadAll lists the stream's fragments and reads them all back.
func (c *Client) ReadAll(ctx context.Context, stream string) ([]kvsapi.Fragment, []Chunk, error) {
	frags, err := c.ListFragments(ctx, stream)
	if err != nil || len(frags) == 0 {
		return frags, nil, err
	}
	var numbers []string
	for _, f := range frags {
		numbers = append(numbers, f.FragmentNumber)
	}
	var chunks []Chunk
	for batch := range slices.Chunk(numbers, 1000) {
		got, _, err := c.ReadFragments(ctx, stream, batch)
		chunks = append(chunks, got...)
		if err != nil {
			return frags, chunks, err
		}
	}
	return frags, chunks, nil
}

// GetMedia reads the stream with GetMedia from start for at most window,
// or until want chunks have arrived, and returns the whole chunks read.
func (c *Client) GetMedia(ctx context.Context, stream string, start kvsapi.StartSelector, window time.Duration, want int) ([]Chunk, error) {
	ep, err := c.DataEndpoint(ctx, stream, APIGetMedia)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	resp, err := c.post(wctx, ep+kvsapi.PathGetMedia, kvsapi.GetMediaInput{StreamRef: kvsapi.StreamRef{StreamName: stream}, StartSelector: start})
	if err != nil {
		return nil, fmt.Errorf("GetMedia %s: %w", stream, err)
	}
	defer resp.Body.Close()
	var body []byte
	buf := make([]byte, 32<<10)
	starts, scanned := 0, 0 // chunk starts found in body[:scanned]
	for len(body) < maxMediaBytes {
		n, rerr := resp.Body.Read(buf)
		body = append(body, buf[:n]...)
		if want > 0 {
			starts, scanned = countChunkStarts(body, starts, scanned)
			if starts > want {
				break // the start of chunk want+1 means chunk want is whole
			}
		}
		if rerr != nil {
			break
		}
	}
	chunks, err := ParseChunks(body)
	var ce *ChunkError
	if errors.As(err, &ce) && ce.Index < len(chunkStarts(body))-1 {
		// Not the last chunk, which the window may have cut: the target
		// sent media that does not parse.
		return chunks, fmt.Errorf("GetMedia %s: %w", stream, err)
	}
	if want > 0 && len(chunks) > want {
		chunks = chunks[:want]
	}
	return chunks, nil
}

// countChunkStarts continues counting chunk starts in body from scanned,
// where an earlier call stopped, and returns the new count and position; a
// start whose header is not all there yet is looked at again next time.
func countChunkStarts(body []byte, starts, scanned int) (int, int) {
	for {
		i := bytes.Index(body[scanned:], ebmlMagic)
		if i < 0 {
			return starts, max(scanned, len(body)-len(ebmlMagic)+1)
		}
		at := scanned + i
		// plausibleHeader needs the size's first byte, then the whole size
		// and the first child's ID.
		if len(body)-at < 5 {
			return starts, at
		}
		if width := sizeWidth(body[at+4]); width <= 8 && len(body)-at < 4+width+2 {
			return starts, at
		}
		if plausibleHeader(body[at:]) {
			starts++
		}
		scanned = at + len(ebmlMagic)
	}
}

func (c *Client) post(ctx context.Context, url string, in any) (*http.Response, error) {
	b, err := jsonBody(in)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", kvsapi.JSONContentType)
	resp, err := c.HTTP().Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, &kvsapi.Exception{Status: resp.StatusCode, Type: resp.Header.Get(kvsapi.HeaderErrorType), Message: strings.TrimSpace(string(data))}
	}
	return resp, nil
}

func (c *Client) postMedia(ctx context.Context, url string, in any) ([]byte, error) {
	resp, err := c.post(ctx, url, in)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMediaBytes+1))
	if err != nil {
		return body, err
	}
	if len(body) > maxMediaBytes {
		return nil, fmt.Errorf("response larger than %d bytes", maxMediaBytes)
	}
	return body, nil
}

// ebmlMagic starts every chunk (the EBML header's ID).
var ebmlMagic = []byte{0x1A, 0x45, 0xDF, 0xA3}

// The subset of Matroska the probe reads, decoded by ebml-go.
type (
	ebmlChunk struct {
		Segment ebmlSegment `ebml:"Segment"`
	}
	ebmlSegment struct {
		Tracks  ebmlTracks    `ebml:"Tracks"`
		Tags    []ebmlTags    `ebml:"Tags"`
		Cluster []ebmlCluster `ebml:"Cluster"`
	}
	ebmlTracks struct {
		TrackEntry []struct {
			TrackNumber uint64 `ebml:"TrackNumber"`
			TrackType   uint64 `ebml:"TrackType"`
			CodecID     string `ebml:"CodecID"`
			Name        string `ebml:"Name"`
		} `ebml:"TrackEntry"`
	}
	ebmlTags struct {
		Tag []struct {
			SimpleTag []struct {
				TagName   string `ebml:"TagName"`
				TagString string `ebml:"TagString"`
			} `ebml:"SimpleTag"`
		} `ebml:"Tag"`
	}
	ebmlCluster struct {
		Timecode    uint64       `ebml:"Timecode"`
		SimpleBlock []ebml.Block `ebml:"SimpleBlock"`
	}
)

// ChunkError is a chunk that does not parse: which one, where it starts in
// the body, and why.
type ChunkError struct {
	Index  int
	Offset int64
	Err    error
}

func (e *ChunkError) Error() string {
	return fmt.Sprintf("chunk %d at byte %d: %v", e.Index, e.Offset, e.Err)
}

func (e *ChunkError) Unwrap() error { return e.Err }

// ParseChunks splits a GetMedia-style body into its chunks (each an EBML
// document of its own) and parses each with ebml-go. A chunk that does not
// parse ends the list with an error naming its offset; the chunks before
// it are returned.
func ParseChunks(body []byte) ([]Chunk, error) {
	starts := chunkStarts(body)
	var out []Chunk
	for i, s := range starts {
		end := len(body)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		ch, err := parseChunk(body[s:end])
		if err != nil {
			return out, &ChunkError{Index: i, Offset: int64(s), Err: err}
		}
		ch.Offset = int64(s)
		out = append(out, ch)
	}
	if len(starts) == 0 && len(body) > 0 {
		return nil, fmt.Errorf("no EBML header in %d bytes", len(body))
	}
	return out, nil
}

// chunkStarts finds the EBML headers that begin chunks. A chunk's own
// payload could contain the magic by chance; a start only counts if an
// EBML header element parses there.
func chunkStarts(body []byte) []int {
	var starts []int
	for off := 0; ; {
		i := bytes.Index(body[off:], ebmlMagic)
		if i < 0 {
			return starts
		}
		at := off + i
		if plausibleHeader(body[at:]) {
			starts = append(starts, at)
		}
		off = at + len(ebmlMagic)
	}
}

// plausibleHeader checks that a 1-8 byte size follows the magic and that
// the header's first child is EBMLVersion (0x4286).
func plausibleHeader(b []byte) bool {
	if len(b) < 6 {
		return false
	}
	width := sizeWidth(b[4])
	if width > 8 || len(b) < 4+width+2 {
		return false
	}
	return binary.BigEndian.Uint16(b[4+width:]) == 0x4286
}

// sizeWidth is the length of an EBML size from its first byte (9: invalid).
func sizeWidth(first byte) int {
	width := 1
	for width <= 8 && first&(0x80>>(width-1)) == 0 {
		width++
	}
	return width
}

func parseChunk(b []byte) (Chunk, error) {
	var doc ebmlChunk
	if err := ebml.Unmarshal(bytes.NewReader(b), &doc, ebml.WithIgnoreUnknown(true),
		ebml.WithMaxLeafElementSize(uint64(len(b)))); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return Chunk{}, err
	}
	ch := Chunk{Tags: map[string]string{}}
	for _, t := range doc.Segment.Tracks.TrackEntry {
		ch.Tracks = append(ch.Tracks, Track{Number: t.TrackNumber, CodecID: t.CodecID, Name: t.Name, Type: t.TrackType})
	}
	for _, tags := range doc.Segment.Tags {
		for _, tag := range tags.Tag {
			for _, st := range tag.SimpleTag {
				ch.Tags[st.TagName] = st.TagString
			}
		}
	}
	for i, cl := range doc.Segment.Cluster {
		if i == 0 {
			ch.Timecode = int64(cl.Timecode)
		}
		for _, blk := range cl.SimpleBlock {
			var data []byte
			for _, d := range blk.Data {
				data = append(data, d...)
			}
			ch.Blocks = append(ch.Blocks, Block{Track: blk.TrackNumber, Timecode: int64(cl.Timecode) + int64(blk.Timecode),
				Keyframe: blk.Keyframe, Data: data})
		}
	}
	return ch, nil
}

// Payload returns n bytes that are unique to (label, i) and look random, so
// that a suite can search for them at rest or tell frames apart.
func Payload(label string, i, n int) []byte {
	var seed [32]byte
	copy(seed[:], label)
	binary.BigEndian.PutUint64(seed[24:], uint64(i))
	r := rand.NewChaCha8(seed)
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}
