package ingest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/at-wat/ebml-go"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/camstorm/camstorm/stack/pki"
)

// testIngest is a Server behind real TLS listeners on 127.0.0.1:0: one for
// the control plane, one for the data plane, as the stack serves them.
type testIngest struct {
	srv        *Server
	ControlURL string
	DataURL    string
	DataAddr   string
	Client     *http.Client
	ClientTLS  *tls.Config
}

// startTestIngest starts a server with cfg (DataDir defaults to a temporary
// directory) and stops it when the test ends.
func startTestIngest(t testing.TB, cfg Config) *testIngest {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	ca, err := pki.LoadOrCreate(filepath.Join(t.TempDir(), "pki"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(h http.Handler) (*http.Server, string) {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", pki.ServerTLS(cert))
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = hs.Serve(ln) }()
		return hs, ln.Addr().String()
	}
	ctl, ctlAddr := serve(srv.ControlHandler())
	data, dataAddr := serve(srv.DataHandler())
	ti := &testIngest{
		srv:        srv,
		ControlURL: "https://" + ctlAddr,
		DataURL:    "https://" + dataAddr,
		DataAddr:   dataAddr,
		ClientTLS:  ca.ClientTLS(),
	}
	tr := &http.Transport{TLSClientConfig: ca.ClientTLS(), MaxIdleConnsPerHost: 64}
	ti.Client = &http.Client{Transport: tr}
	srv.SetDataEndpoint(ti.DataURL)
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing the server: %v", err)
		}
		// Idle client connections would hold Shutdown up (a connection that
		// never sent a request counts as busy for its first 5 s).
		tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, hs := range []*http.Server{ctl, data} {
			if err := hs.Shutdown(ctx); err != nil {
				t.Errorf("handlers still running after the server closed: %v", err)
				_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
				_ = hs.Close()
			}
		}
	})
	return ti
}

// call POSTs in as JSON to base+path and decodes a 200 body into out. It
// returns the status and the x-amzn-ErrorType of an error.
func (ti *testIngest) call(t testing.TB, base, path string, in, out any) (int, string) {
	t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ti.Client.Post(base+path, kvsapi.JSONContentType, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: reading the response: %v", path, err)
	}
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("POST %s: response %q: %v", path, raw, err)
		}
	}
	return resp.StatusCode, resp.Header.Get(kvsapi.HeaderErrorType)
}

// createStream creates an ACTIVE stream and returns its ARN.
func (ti *testIngest) createStream(t testing.TB, name string, retentionHours int) string {
	t.Helper()
	var out kvsapi.CreateStreamOutput
	if code, typ := ti.call(t, ti.ControlURL, kvsapi.PathCreateStream,
		kvsapi.CreateStreamInput{StreamName: name, DataRetentionInHours: retentionHours, MediaType: "video/h264"}, &out); code != http.StatusOK {
		t.Fatalf("CreateStream %s: %d %s", name, code, typ)
	}
	return out.StreamARN
}

func (ti *testIngest) deleteStream(t testing.TB, arn string) {
	t.Helper()
	if code, typ := ti.call(t, ti.ControlURL, kvsapi.PathDeleteStream, kvsapi.DeleteStreamInput{StreamARN: arn}, nil); code != http.StatusOK {
		t.Fatalf("DeleteStream %s: %d %s", arn, code, typ)
	}
}

// listFragments calls ListFragments and fails the test unless it succeeds.
func (ti *testIngest) listFragments(t testing.TB, in kvsapi.ListFragmentsInput) kvsapi.ListFragmentsOutput {
	t.Helper()
	var out kvsapi.ListFragmentsOutput
	if code, typ := ti.call(t, ti.DataURL, kvsapi.PathListFragments, in, &out); code != http.StatusOK {
		t.Fatalf("ListFragments %+v: %d %s", in, code, typ)
	}
	return out
}

// testClock is an injectable clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock(t time.Time) *testClock { return &testClock{t: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// ackResult is one ACK line as a producer reads it, or the end of the response.
type ackResult struct {
	ack kvsapi.Ack
	err error // io.EOF when the response ended cleanly
}

// producer is a PutMedia client: a real chunked HTTP request whose body is a
// pipe the test writes MKV into, and a reader of the ACK lines.
type producer struct {
	t    testing.TB
	body *io.PipeWriter
	resp *http.Response
	acks chan ackResult
}

// putMedia opens a PutMedia session and returns once the 200 has arrived —
// before a single body byte was written. header overrides or adds headers
// ("" deletes one).
func (ti *testIngest) putMedia(t testing.TB, stream string, header map[string]string) *producer {
	t.Helper()
	p, resp := ti.tryPutMedia(t, stream, header)
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("PutMedia %s: status %d %s %s", stream, resp.StatusCode, resp.Header.Get(kvsapi.HeaderErrorType), raw)
	}
	return p
}

func (ti *testIngest) tryPutMedia(t testing.TB, stream string, header map[string]string) (*producer, *http.Response) {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, ti.DataURL+kvsapi.PathPutMedia, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(kvsapi.HeaderStreamName, stream)
	req.Header.Set(kvsapi.HeaderFragmentTimecodeType, kvsapi.TimecodeTypeAbsolute)
	req.Header.Set(kvsapi.HeaderProducerStartTime, "1700000000.000")
	req.Header.Set(kvsapi.HeaderAckRequired, "1")
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := ti.Client.Do(req)
	if err != nil {
		t.Fatalf("PutMedia %s: %v", stream, err)
	}
	p := &producer{t: t, body: pw, resp: resp, acks: make(chan ackResult, 4096)}
	t.Cleanup(func() {
		_ = pw.Close()
		resp.Body.Close()
	})
	if resp.StatusCode == http.StatusOK {
		go p.readAcks()
	}
	return p, resp
}

func (p *producer) readAcks() {
	br := bufio.NewReader(p.resp.Body)
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			ack, perr := kvsapi.ParseAck(bytes.TrimSpace(line))
			if perr != nil {
				p.acks <- ackResult{err: perr}
				close(p.acks)
				return
			}
			p.acks <- ackResult{ack: ack}
		}
		if err != nil {
			p.acks <- ackResult{err: err}
			close(p.acks)
			return
		}
	}
}

// closedAfterError reports whether a response ended the way a server that
// stopped reading ends it: cleanly, or with a reset when the client had sent
// bytes the server never read (Go's server lingers 500 ms before closing, so
// a client that reads its ACKs promptly sees the clean end).
func closedAfterError(err error) bool {
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET)
}

// send writes MKV bytes into the request body.
func (p *producer) send(b []byte) {
	p.t.Helper()
	if _, err := p.body.Write(b); err != nil {
		p.t.Fatalf("writing the PutMedia body: %v", err)
	}
}

// trySend writes MKV bytes and reports a failure instead of failing the test
// (the server may have closed the connection).
func (p *producer) trySend(b []byte) error {
	_, err := p.body.Write(b)
	return err
}

// end finishes the request body cleanly.
func (p *producer) end() { _ = p.body.Close() }

// next returns the next ACK other than IDLE; ok is false at the end of the
// response. It fails the test after timeout.
func (p *producer) next(timeout time.Duration) (kvsapi.Ack, error) {
	p.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case r, ok := <-p.acks:
			if !ok {
				return kvsapi.Ack{}, io.EOF
			}
			if r.err != nil {
				return kvsapi.Ack{}, r.err
			}
			if r.ack.EventType == kvsapi.EventIdle {
				continue
			}
			return r.ack, nil
		case <-deadline:
			p.t.Fatalf("no ACK within %v", timeout)
			return kvsapi.Ack{}, nil
		}
	}
}

// rest returns the remaining non-IDLE ACKs until the response ends, and the
// error that ended it (io.EOF for a clean end).
func (p *producer) rest(timeout time.Duration) ([]kvsapi.Ack, error) {
	p.t.Helper()
	var out []kvsapi.Ack
	for {
		a, err := p.next(timeout)
		if err != nil {
			return out, err
		}
		out = append(out, a)
	}
}

// expect reads the next ACK and checks its event type and timecode.
func (p *producer) expect(ev kvsapi.EventType, timecode int64) kvsapi.Ack {
	p.t.Helper()
	a, err := p.next(10 * time.Second)
	if err != nil {
		p.t.Fatalf("want %s %d, the response ended: %v", ev, timecode, err)
	}
	if a.EventType != ev || !a.HasTimecode || a.FragmentTimecode != timecode {
		p.t.Fatalf("got ACK %+v, want %s for timecode %d", a, ev, timecode)
	}
	return a
}

// --- MKV the tests send -----------------------------------------------------

// videoHeader is a one-track H.264 stream header.
func videoHeader() mkv.Header {
	return mkv.Header{Tracks: []mkv.TrackSpec{{
		Number: 1, UID: 0x1001, Type: mkv.TrackVideo, CodecID: mkv.CodecH264,
		CodecPrivate: []byte{0x01, 0x64, 0x00, 0x1f, 0xff}, Width: 640, Height: 360,
	}}}
}

// avHeader declares a video and an audio track.
func avHeader() mkv.Header {
	h := videoHeader()
	h.Tracks = append(h.Tracks, mkv.TrackSpec{Number: 2, UID: 0x2002, Type: mkv.TrackAudio, CodecID: mkv.CodecAAC,
		SamplingFrequency: 48000, Channels: 2})
	return h
}

func headerBytes(t testing.TB, h mkv.Header) []byte {
	t.Helper()
	b, err := mkv.AppendHeader(nil, h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sentFragment is one fragment as the test sent it.
type sentFragment struct {
	timecode int64    // Cluster timecode (epoch ms in ABSOLUTE mode)
	cluster  []byte   // the Cluster bytes exactly as sent
	frames   [][]byte // frame payloads, in order
	tags     []mkv.SimpleTag
	wire     []byte // cluster, then Tags (user tags and END_OF_FRAGMENT) if any
}

// framePayload is frame data that never contains 0x1A, the first byte of an
// EBML header, so a test can find chunk boundaries in raw output.
func framePayload(seed int64, i, size int) []byte {
	b := make([]byte, size)
	for j := range b {
		b[j] = 'a' + byte((int64(j)+int64(i)*7+seed)%26)
	}
	return b
}

// makeFragment builds a Cluster at timecode with frames frames every step ms
// (the first a key frame) on track 1, followed by a Tags element with tags
// and, when end is set, AWS_KINESISVIDEO_END_OF_FRAGMENT.
func makeFragment(t testing.TB, timecode int64, frames, frameSize int, step int64, end bool, tags ...mkv.SimpleTag) sentFragment {
	t.Helper()
	var buf bytes.Buffer
	w := mkv.NewWriter(&buf)
	if err := w.StartCluster(timecode); err != nil {
		t.Fatal(err)
	}
	f := sentFragment{timecode: timecode, tags: tags}
	for i := range frames {
		data := framePayload(timecode, i, frameSize)
		if err := w.WriteFrame(1, timecode+int64(i)*step, i == 0, data); err != nil {
			t.Fatal(err)
		}
		f.frames = append(f.frames, data)
	}
	f.cluster = append([]byte(nil), buf.Bytes()...)
	all := append([]mkv.SimpleTag(nil), tags...)
	if end {
		all = append(all, mkv.SimpleTag{Name: kvsapi.TagEndOfFragment})
	}
	f.wire = mkv.AppendTags(append([]byte(nil), f.cluster...), all)
	return f
}

// seedStream sends n two-second fragments (60 frames) over one PutMedia
// session starting at epoch ms base, waits for every PERSISTED, and returns
// the fragments with the numbers they were stored under.
func seedStream(t testing.TB, ti *testIngest, stream string, base int64, n int, clock *testClock) ([]sentFragment, []string) {
	t.Helper()
	p := ti.putMedia(t, stream, nil)
	p.send(headerBytes(t, videoHeader()))
	var sent []sentFragment
	var numbers []string
	for i := range n {
		tc := base + int64(i)*2000
		if clock != nil {
			clock.Set(time.UnixMilli(tc + 150))
		}
		var tags []mkv.SimpleTag
		if i%2 == 1 {
			tags = []mkv.SimpleTag{{Name: "CAMERA", Value: fmt.Sprintf("cam-%d", i)}}
		}
		f := makeFragment(t, tc, 60, 200, 33, true, tags...)
		p.send(f.wire)
		p.expect(kvsapi.EventBuffering, tc)
		p.expect(kvsapi.EventReceived, tc)
		a := p.expect(kvsapi.EventPersisted, tc)
		sent = append(sent, f)
		numbers = append(numbers, a.FragmentNumber)
	}
	p.end()
	if rest, err := p.rest(5 * time.Second); len(rest) != 0 || err != io.EOF {
		t.Fatalf("after a clean end: ACKs %+v, end %v", rest, err)
	}
	return sent, numbers
}

// --- media chunks, read with ebml-go (an independent parser) -----------------

type chunkTags struct {
	Tag []struct {
		SimpleTag []struct {
			TagName   string `ebml:"TagName"`
			TagString string `ebml:"TagString"`
		} `ebml:"SimpleTag"`
	} `ebml:"Tag"`
}

// chunkSegment is the Segment of one media chunk.
type chunkSegment struct {
	Info []struct {
		TimecodeScale uint64 `ebml:"TimecodeScale"`
	} `ebml:"Info"`
	Tracks []struct {
		TrackEntry []struct {
			TrackNumber uint64 `ebml:"TrackNumber"`
			CodecID     string `ebml:"CodecID"`
		} `ebml:"TrackEntry"`
	} `ebml:"Tracks"`
	Tags    []chunkTags `ebml:"Tags"`
	Cluster []struct {
		Timecode    uint64       `ebml:"Timecode"`
		SimpleBlock []ebml.Block `ebml:"SimpleBlock"`
	} `ebml:"Cluster"`
}

// tagMaps returns the name/value pairs of each Tags element in order.
func (c chunkSegment) tagMaps() []map[string]string {
	var out []map[string]string
	for _, tags := range c.Tags {
		m := map[string]string{}
		for _, tag := range tags.Tag {
			for _, st := range tag.SimpleTag {
				m[st.TagName] = st.TagString
			}
		}
		out = append(out, m)
	}
	return out
}

// mediaReader reads a media response (GetMedia or GetMediaForFragmentList)
// as it streams: ebml-go parses it chunk by chunk (a chunk arrives on
// chunks once the next one starts or the response ends), and the raw bytes
// are kept for byte-level checks.
type mediaReader struct {
	resp   *http.Response
	chunks chan chunkSegment
	done   chan struct{}
	err    error // the parse result, valid once done is closed

	mu  sync.Mutex
	raw []byte
}

func (m *mediaReader) Write(b []byte) (int, error) {
	m.mu.Lock()
	m.raw = append(m.raw, b...)
	m.mu.Unlock()
	return len(b), nil
}

func (m *mediaReader) rawBytes() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.raw...)
}

// waitRaw waits until the raw output contains every one of want.
func (m *mediaReader) waitRaw(t testing.TB, timeout time.Duration, want ...[]byte) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		raw := m.rawBytes()
		missing := 0
		for _, w := range want {
			if !bytes.Contains(raw, w) {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("media output (%d bytes) still lacks %d of %d expected byte runs after %v", len(raw), missing, len(want), timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// openMedia POSTs a GetMedia-style request and starts parsing its response.
// A non-200 response is returned with a nil reader.
func (ti *testIngest) openMedia(t testing.TB, path string, in any) (*mediaReader, *http.Response) {
	t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ti.DataURL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", kvsapi.JSONContentType)
	resp, err := ti.Client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("POST %s: %v", path, err)
	}
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
	})
	if resp.StatusCode != http.StatusOK {
		return nil, resp
	}
	if ct := resp.Header.Get("Content-Type"); ct != kvsapi.MediaContentType {
		t.Errorf("%s Content-Type %q, want %q", path, ct, kvsapi.MediaContentType)
	}
	m := &mediaReader{resp: resp, chunks: make(chan chunkSegment, 1024), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		defer close(m.chunks)
		doc := struct {
			EBML []struct {
				DocType string `ebml:"EBMLDocType"`
			} `ebml:"EBML"`
			Segment chan chunkSegment `ebml:"Segment"`
		}{Segment: m.chunks}
		body := &endOnError{r: resp.Body}
		m.err = ebml.Unmarshal(io.TeeReader(body, m), &doc, ebml.WithIgnoreUnknown(true))
		if m.err == nil {
			m.err = body.err
		}
	}()
	return m, resp
}

// endOnError turns a read error into io.EOF, keeping the error: with
// WithIgnoreUnknown, ebml-go v0.19.4 retries a failing reader forever.
type endOnError struct {
	r   io.Reader
	err error
}

func (e *endOnError) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, io.EOF
	}
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
		err = io.EOF
	}
	return n, err
}

// all waits for the response to end and returns every chunk.
func (m *mediaReader) all(t testing.TB, timeout time.Duration) []chunkSegment {
	t.Helper()
	var out []chunkSegment
	deadline := time.After(timeout)
	for {
		select {
		case c, ok := <-m.chunks:
			if !ok {
				<-m.done
				if m.err != nil {
					t.Fatalf("ebml-go could not parse the media response: %v", m.err)
				}
				return out
			}
			out = append(out, c)
		case <-deadline:
			t.Fatalf("media response did not end within %v (%d chunks so far)", timeout, len(out))
		}
	}
}

// checkChunk verifies one chunk against the fragment sent and the number it
// was stored under: the KVS tags before the Cluster, the Cluster's frames as
// ebml-go reads them, and the trailing Tags.
func checkChunk(t testing.TB, c chunkSegment, f sentFragment, number string, getMedia bool) {
	t.Helper()
	if len(c.Tracks) != 1 || len(c.Tracks[0].TrackEntry) == 0 || c.Tracks[0].TrackEntry[0].CodecID != mkv.CodecH264 {
		t.Errorf("chunk %s: stored Tracks not returned: %+v", number, c.Tracks)
	}
	if len(c.Cluster) != 1 {
		t.Fatalf("chunk %s: %d Clusters, want 1", number, len(c.Cluster))
	}
	cl := c.Cluster[0]
	if int64(cl.Timecode) != f.timecode || len(cl.SimpleBlock) != len(f.frames) {
		t.Fatalf("chunk %s: Cluster timecode %d with %d blocks, want %d with %d", number, cl.Timecode, len(cl.SimpleBlock), f.timecode, len(f.frames))
	}
	for i, b := range cl.SimpleBlock {
		if len(b.Data) != 1 || !bytes.Equal(b.Data[0], f.frames[i]) || b.Keyframe != (i == 0) {
			t.Fatalf("chunk %s: block %d differs from the frame sent", number, i)
		}
	}
	maps := c.tagMaps()
	var kvs, tail map[string]string
	for _, m := range maps {
		if _, ok := m[kvsapi.TagFragmentNumber]; ok && kvs == nil {
			kvs = m
		}
	}
	if len(maps) > 0 {
		tail = maps[len(maps)-1]
	}
	if kvs == nil || kvs[kvsapi.TagFragmentNumber] != number ||
		kvs[kvsapi.TagProducerTimestamp] != kvsapi.FormatTagTime(f.timecode) || kvs[kvsapi.TagServerTimestamp] == "" {
		t.Errorf("chunk %s: KVS tags %v, want fragment number %s and producer timestamp %s", number, kvs, number, kvsapi.FormatTagTime(f.timecode))
	}
	for _, ut := range f.tags {
		if tail[ut.Name] != ut.Value {
			t.Errorf("chunk %s: user tag %s=%q missing from the trailing Tags %v", number, ut.Name, ut.Value, tail)
		}
	}
	_, hasToken := tail[kvsapi.TagContinuationToken]
	_, hasBehind := tail[kvsapi.TagMillisBehindNow]
	switch {
	case getMedia && (tail[kvsapi.TagContinuationToken] != number || !hasBehind):
		t.Errorf("chunk %s: trailing Tags %v, want MILLIS_BEHIND_NOW and CONTINUATION_TOKEN=%s", number, tail, number)
	case !getMedia && (hasToken || hasBehind):
		t.Errorf("chunk %s: GetMediaForFragmentList chunk carries GetMedia tags: %v", number, tail)
	}
}

// chunkNumber is the fragment number a chunk carries.
func chunkNumber(c chunkSegment) string {
	for _, m := range c.tagMaps() {
		if n, ok := m[kvsapi.TagFragmentNumber]; ok {
			return n
		}
	}
	return ""
}

// rawChunkedPutMedia opens a PutMedia over a raw TLS connection so a test can
// see the response's chunk framing. It returns the connection and a reader
// positioned after the response headers.
func (ti *testIngest) rawChunkedPutMedia(t testing.TB, stream string) (net.Conn, *bufio.Reader, http.Header) {
	t.Helper()
	conn, err := tls.Dial("tcp", ti.DataAddr, ti.ClientTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n%s: %s\r\n%s: %s\r\n\r\n",
		kvsapi.PathPutMedia, ti.DataAddr, kvsapi.HeaderStreamName, stream, kvsapi.HeaderFragmentTimecodeType, kvsapi.TimecodeTypeAbsolute)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("no status line before any body byte was sent: %v", err)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 200") {
		t.Fatalf("status line %q", status)
	}
	h := http.Header{}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, ":")
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return conn, br, h
}

// writeChunk sends b as one HTTP chunk of a request body.
func writeChunk(w io.Writer, b []byte) error {
	_, err := fmt.Fprintf(w, "%x\r\n%s\r\n", len(b), b)
	return err
}

// readChunk reads one HTTP chunk of a response body; size 0 is the end.
func readChunk(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	var size int
	if _, err := fmt.Sscanf(strings.TrimSpace(line), "%x", &size); err != nil {
		return nil, fmt.Errorf("chunk size line %q: %w", line, err)
	}
	data := make([]byte, size+2)
	if _, err := io.ReadFull(br, data); err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		return nil, errors.New("chunk without its CRLF")
	}
	return data[:size], nil
}
