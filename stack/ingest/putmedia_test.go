package ingest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/mkv"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const epoch2023 = int64(1_700_000_000_000) // epoch ms the tests' timecodes start at

func TestPutMediaAcksEveryFragmentInOrder(t *testing.T) {
	ti := startTestIngest(t, Config{})
	ti.createStream(t, "cam-1", 24)

	p := ti.putMedia(t, "cam-1", nil) // returns on the 200: no body byte written yet
	if !p.resp.Close {
		t.Errorf("PutMedia response does not close its connection (Connection: close missing)")
	}
	if ct := p.resp.Header.Get("Content-Type"); ct != kvsapi.JSONContentType {
		t.Errorf("Content-Type %q", ct)
	}
	hdr := headerBytes(t, videoHeader())
	p.send(hdr)
	sentBytes := len(hdr)
	var frags []sentFragment
	for i := range 3 {
		// The last one has no END_OF_FRAGMENT: the end of the body completes it.
		f := makeFragment(t, epoch2023+int64(i)*2000, 60, 300, 33, i < 2, mkv.SimpleTag{Name: "N", Value: fmt.Sprint(i)})
		frags = append(frags, f)
		p.send(f.wire)
		sentBytes += len(f.wire)
	}
	p.end()
	acks, err := p.rest(10 * time.Second)
	if err != io.EOF {
		t.Fatalf("response ended with %v, want a clean end", err)
	}

	// Per fragment: BUFFERING, RECEIVED, PERSISTED in that order, one number.
	type seen struct {
		events []kvsapi.EventType
		number string
	}
	byTC := map[int64]*seen{}
	var order []int64
	for _, a := range acks {
		if !a.HasTimecode {
			t.Fatalf("ACK without a timecode: %+v", a)
		}
		s := byTC[a.FragmentTimecode]
		if s == nil {
			s = &seen{number: a.FragmentNumber}
			byTC[a.FragmentTimecode] = s
			order = append(order, a.FragmentTimecode)
		}
		if a.FragmentNumber != s.number {
			t.Errorf("fragment %d: ACK %s carries number %s, BUFFERING carried %s", a.FragmentTimecode, a.EventType, a.FragmentNumber, s.number)
		}
		s.events = append(s.events, a.EventType)
	}
	want := []kvsapi.EventType{kvsapi.EventBuffering, kvsapi.EventReceived, kvsapi.EventPersisted}
	prev := ""
	for i, f := range frags {
		if i >= len(order) || order[i] != f.timecode {
			t.Fatalf("BUFFERING order %v, want fragment %d at position %d", order, f.timecode, i)
		}
		s := byTC[f.timecode]
		if fmt.Sprint(s.events) != fmt.Sprint(want) {
			t.Errorf("fragment %d: ACKs %v, want %v", f.timecode, s.events, want)
		}
		if len(s.number) != 47 || s.number <= prev {
			t.Errorf("fragment %d: number %q not 47 digits increasing after %q", f.timecode, s.number, prev)
		}
		prev = s.number
	}

	out := ti.listFragments(t, kvsapi.ListFragmentsInput{StreamRef: kvsapi.StreamRef{StreamName: "cam-1"}})
	if len(out.Fragments) != 3 {
		t.Fatalf("ListFragments: %d fragments, want 3", len(out.Fragments))
	}
	for i, lf := range out.Fragments {
		f := frags[i]
		if lf.FragmentNumber != byTC[f.timecode].number || lf.ProducerTimestamp.UnixMilli() != f.timecode ||
			lf.FragmentLengthInMilliseconds != 59*33 {
			t.Errorf("ListFragments[%d] = %+v, want number %s, producer %d, length %d", i, lf, byTC[f.timecode].number, f.timecode, 59*33)
		}
	}
	m := ti.srv.metrics
	for outcome, n := range map[string]float64{"received": 3, "persisted": 3, "duplicate": 0} {
		if got := testutil.ToFloat64(m.fragments.WithLabelValues(outcome)); got != n {
			t.Errorf("fragments{outcome=%q} = %v, want %v", outcome, got, n)
		}
	}
	if got := testutil.ToFloat64(m.bytes.WithLabelValues("in")); got != float64(sentBytes) {
		t.Errorf("media bytes in = %v, want %d", got, sentBytes)
	}
	if got := testutil.CollectAndCount(m.ackLatency); got != 3 {
		t.Errorf("ACK latency series = %d, want 3 (BUFFERING, RECEIVED, PERSISTED)", got)
	}
}

func TestPutMediaEachAckIsItsOwnSmallChunk(t *testing.T) {
	ti := startTestIngest(t, Config{})
	ti.createStream(t, "raw", 1)
	// The status line and headers are read before any body byte is sent.
	conn, br, h := ti.rawChunkedPutMedia(t, "raw")
	if h.Get("Transfer-Encoding") != "chunked" {
		t.Fatalf("response headers %v, want a chunked body", h)
	}
	if err := writeChunk(conn, headerBytes(t, videoHeader())); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		f := makeFragment(t, epoch2023+int64(i)*2000, 30, 1000, 33, true)
		// Split each fragment over several request chunks, as a camera would.
		for off := 0; off < len(f.wire); off += 4096 {
			if err := writeChunk(conn, f.wire[off:min(off+4096, len(f.wire))]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := io.WriteString(conn, "0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	events := 0
	for {
		data, err := readChunk(br)
		if err != nil {
			t.Fatalf("reading response chunk %d: %v", events, err)
		}
		if len(data) == 0 {
			break
		}
		if len(data) > kvsapi.MaxAckLineLen {
			t.Fatalf("chunk of %d bytes, above %d", len(data), kvsapi.MaxAckLineLen)
		}
		if bytes.Count(data, []byte("\n")) != 1 || !bytes.HasSuffix(data, []byte("\r\n")) {
			t.Fatalf("chunk %q is not exactly one ACK line", data)
		}
		if _, err := kvsapi.ParseAck(bytes.TrimSpace(data)); err != nil {
			t.Fatal(err)
		}
		events++
	}
	if events != 12 {
		t.Errorf("%d ACK chunks, want 12 (3 per fragment)", events)
	}
}

// ebmlElement encodes an element with an 8-byte size, for hand-made MKV.
func ebmlElement(id uint32, body ...[]byte) []byte {
	var out []byte
	switch {
	case id > 0xFFFFFF:
		out = binary.BigEndian.AppendUint32(out, id)
	case id > 0xFFFF:
		out = append(out, byte(id>>16), byte(id>>8), byte(id))
	case id > 0xFF:
		out = append(out, byte(id>>8), byte(id))
	default:
		out = append(out, byte(id))
	}
	n := 0
	for _, b := range body {
		n += len(b)
	}
	out = binary.BigEndian.AppendUint64(out, uint64(n)|1<<56)
	for _, b := range body {
		out = append(out, b...)
	}
	return out
}

func ebmlUint(id uint32, v uint64) []byte {
	return ebmlElement(id, binary.BigEndian.AppendUint64(nil, v))
}

// fourTrackHeader is a stream header declaring four video tracks, which the
// mkv writer refuses to produce.
func fourTrackHeader() []byte {
	var entries [][]byte
	for n := uint64(1); n <= 4; n++ {
		entries = append(entries, ebmlElement(mkv.IDTrackEntry,
			ebmlUint(mkv.IDTrackNumber, n), ebmlUint(mkv.IDTrackUID, n), ebmlUint(mkv.IDTrackType, mkv.TrackVideo),
			ebmlElement(mkv.IDCodecID, []byte(mkv.CodecH264))))
	}
	out := mkv.AppendEBMLHeader(nil)
	out = mkv.AppendSegmentStart(out)
	return append(out, ebmlElement(mkv.IDTracks, entries...)...)
}

// clusterWithBlocks is a Cluster at timecode with one key-frame block per
// (track, relative ms) pair.
func clusterWithBlocks(t *testing.T, timecode int64, blocks ...[2]int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := mkv.NewWriter(&buf)
	if err := w.StartCluster(timecode); err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if err := w.WriteFrame(uint8(b[0]), timecode+b[1], true, framePayload(timecode, int(b[1]), 100)); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestPutMediaErrorsEndTheSession(t *testing.T) {
	ti := startTestIngest(t, Config{})
	video := headerBytes(t, videoHeader())
	good := makeFragment(t, epoch2023, 30, 100, 33, true)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tags := func(tt ...mkv.SimpleTag) []byte { return mkv.AppendTags(nil, tt) }
	manyTags := make([]mkv.SimpleTag, 11)
	for i := range manyTags {
		manyTags[i] = mkv.SimpleTag{Name: fmt.Sprintf("T%d", i), Value: "v"}
	}
	garbage := make([]byte, 4096)
	rand.NewChaCha8([32]byte{1}).Read(garbage)
	truncated := cat(video, good.cluster[:len(good.cluster)-50])
	// A SimpleBlock declaring 60 MB: refused from its size, before any data.
	hugeBlock := cat(video, clusterWithBlocks(t, epoch2023), []byte{mkv.IDSimpleBlock}, binary.BigEndian.AppendUint64(nil, 60<<20|1<<56))

	tc2 := epoch2023 + 2000
	cases := []struct {
		name      string
		body      []byte
		endBody   bool // finish the request body after sending
		want      kvsapi.ErrorID
		wantTC    int64 // -1: the ERROR names no fragment
		prefixAck int   // good fragments acknowledged (B, R, P) before the error
	}{
		{"garbage", garbage, false, kvsapi.ErrInvalidMKV, -1, 0},
		{"truncated", truncated, true, kvsapi.ErrInvalidMKV, epoch2023, 0},
		{"cluster before tracks", cat(mkv.AppendSegmentStart(mkv.AppendEBMLHeader(nil)), good.wire), false, kvsapi.ErrInvalidMKV, epoch2023, 0},
		{"block larger than a fragment", hugeBlock, false, kvsapi.ErrMaxFragmentSize, epoch2023, 0},
		{"fragment over 10 s", cat(video, clusterWithBlocks(t, epoch2023, [2]int64{1, 0}, [2]int64{1, 10_001})), false, kvsapi.ErrMaxFragmentDuration, epoch2023, 0},
		{"timecode not after the previous fragment", cat(video, good.wire, clusterWithBlocks(t, epoch2023+29*33, [2]int64{1, 0})), false,
			kvsapi.ErrFragmentTimecodeLesser, epoch2023 + 29*33, 1},
		{"eleven metadata tags", cat(video, good.cluster, tags(manyTags...)), false, kvsapi.ErrFragmentMetadataLimit, epoch2023, 0},
		{"tag name over 128 bytes", cat(video, good.cluster, tags(mkv.SimpleTag{Name: strings.Repeat("n", 129), Value: "v"})), false,
			kvsapi.ErrFragmentMetadataLimit, epoch2023, 0},
		{"tag value over 256 bytes", cat(video, good.cluster, tags(mkv.SimpleTag{Name: "n", Value: strings.Repeat("v", 257)})), false,
			kvsapi.ErrFragmentMetadataLimit, epoch2023, 0},
		{"reserved tag prefix", cat(video, good.cluster, tags(mkv.SimpleTag{Name: "AWS_KINESISVIDEO_MINE", Value: "v"})), false,
			kvsapi.ErrFragmentMetadataLimit, epoch2023, 0},
		{"undeclared track", cat(video, good.wire, clusterWithBlocks(t, tc2, [2]int64{2, 0})), false, kvsapi.ErrTrackNumberMismatch, tc2, 1},
		{"declared track without frames", cat(headerBytes(t, avHeader()), clusterWithBlocks(t, epoch2023, [2]int64{1, 0}, [2]int64{1, 33}), tags(mkv.SimpleTag{Name: kvsapi.TagEndOfFragment})),
			false, kvsapi.ErrFramesMissingForTrack, epoch2023, 0},
		{"four tracks", fourTrackHeader(), false, kvsapi.ErrMoreThanAllowedTracks, -1, 0},
	}
	t.Run("cases", func(t *testing.T) {
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				stream := fmt.Sprintf("err-%d", i)
				ti.createStream(t, stream, 1)
				p := ti.putMedia(t, stream, nil)
				p.send(tc.body)
				if tc.endBody {
					p.end()
				}
				acks, end := p.rest(10 * time.Second)
				if end != io.EOF {
					t.Fatalf("response ended with %v, want a clean end after the ERROR", end)
				}
				if len(acks) != 3*tc.prefixAck+1 && len(acks) != 3*tc.prefixAck+2 {
					t.Fatalf("ACKs %+v: want %d for earlier fragments, maybe a BUFFERING, then one ERROR", acks, 3*tc.prefixAck)
				}
				last := acks[len(acks)-1]
				if last.EventType != kvsapi.EventError || last.ErrorID != tc.want || last.ErrorCode != tc.want.Code() {
					t.Fatalf("last ACK %+v, want ERROR %v", last, tc.want)
				}
				if tc.wantTC < 0 && last.HasTimecode || tc.wantTC >= 0 && (!last.HasTimecode || last.FragmentTimecode != tc.wantTC) {
					t.Errorf("ERROR names timecode %d (%v), want %d", last.FragmentTimecode, last.HasTimecode, tc.wantTC)
				}
				// Before the ERROR: B, R, P of each earlier fragment, and maybe
				// the failing fragment's BUFFERING (in any interleaving).
				buffered := false
				for _, a := range acks[:len(acks)-1] {
					switch {
					case a.EventType == kvsapi.EventError:
						t.Errorf("early ACK %+v", a)
					case a.EventType == kvsapi.EventBuffering && a.FragmentTimecode == tc.wantTC:
						buffered = true
						if a.FragmentNumber != last.FragmentNumber {
							t.Errorf("BUFFERING %+v and ERROR %+v name different fragments", a, last)
						}
					}
				}
				if buffered != (len(acks) == 3*tc.prefixAck+2) {
					t.Errorf("ACKs %+v: an extra ACK that is not the failing fragment's BUFFERING", acks)
				}
				// The failing fragment is not stored; earlier ones are.
				out := ti.listFragments(t, kvsapi.ListFragmentsInput{StreamRef: kvsapi.StreamRef{StreamName: stream}})
				if len(out.Fragments) != tc.prefixAck {
					t.Errorf("%d fragments stored, want %d", len(out.Fragments), tc.prefixAck)
				}
				// The connection is closed: writing more eventually fails.
				failed := false
				for range 200 {
					if p.trySend(make([]byte, 64<<10)) != nil {
						failed = true
						break
					}
				}
				if !failed {
					t.Errorf("the server kept reading after the ERROR")
				}
			})
		}
	})
	for _, id := range []kvsapi.ErrorID{kvsapi.ErrInvalidMKV, kvsapi.ErrMaxFragmentSize, kvsapi.ErrFragmentMetadataLimit} {
		if got := testutil.ToFloat64(ti.srv.metrics.ackErrors.WithLabelValues(fmt.Sprint(int(id)), id.Code())); got == 0 {
			t.Errorf("ack errors metric for %v is 0", id)
		}
	}
}

func TestPutMediaFragmentOverFiftyMegabytes(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 51 MB")
	}
	ti := startTestIngest(t, Config{})
	ti.createStream(t, "big", 1)
	p := ti.putMedia(t, "big", nil)
	p.send(headerBytes(t, videoHeader()))
	var buf bytes.Buffer
	w := mkv.NewWriter(&buf)
	if err := w.StartCluster(epoch2023); err != nil {
		t.Fatal(err)
	}
	p.send(buf.Bytes())
	frame := framePayload(0, 0, 1<<20)
	sendErr := make(chan error, 1)
	go func() {
		defer close(sendErr)
		for i := range 60 { // 60 MiB if the server never stopped reading
			buf.Reset()
			if err := w.WriteFrame(1, epoch2023+int64(i), i == 0, frame); err != nil {
				sendErr <- err
				return
			}
			if p.trySend(buf.Bytes()) != nil {
				return
			}
		}
	}()
	p.expect(kvsapi.EventBuffering, epoch2023)
	a, err := p.next(20 * time.Second)
	if err != nil || a.EventType != kvsapi.EventError || a.ErrorID != kvsapi.ErrMaxFragmentSize || a.FragmentTimecode != epoch2023 {
		t.Fatalf("got %+v (%v), want ERROR 4001 for the fragment", a, err)
	}
	if _, err := p.next(10 * time.Second); !closedAfterError(err) {
		t.Fatalf("after the ERROR: %v, want the end of the response", err)
	}
	if got := testutil.ToFloat64(ti.srv.metrics.bytes.WithLabelValues("in")); got > kvsapi.MaxFragmentSize+2<<20 {
		t.Errorf("the server read %v bytes, well past the limit", got)
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
}

func TestPutMediaPersistsEarlierFragmentsBeforeTheError(t *testing.T) {
	ti := startTestIngest(t, Config{})
	ti.createStream(t, "partial", 1)
	p := ti.putMedia(t, "partial", nil)
	p.send(headerBytes(t, videoHeader()))
	f1 := makeFragment(t, epoch2023, 30, 100, 33, false)
	f2 := makeFragment(t, epoch2023+2000, 30, 100, 33, false)
	p.send(f1.wire)
	p.send(f2.wire)
	p.send(clusterWithBlocks(t, epoch2023+4000, [2]int64{3, 0})) // track 3 is not declared
	acks, end := p.rest(10 * time.Second)
	if end != io.EOF {
		t.Fatal(end)
	}
	var persisted, errorAt int
	for i, a := range acks {
		switch a.EventType {
		case kvsapi.EventPersisted:
			persisted++
			if errorAt > 0 {
				t.Errorf("PERSISTED after the ERROR: %+v", acks)
			}
		case kvsapi.EventError:
			errorAt = i
		}
	}
	if persisted != 2 || acks[len(acks)-1].ErrorID != kvsapi.ErrTrackNumberMismatch {
		t.Fatalf("ACKs %+v: want both earlier fragments PERSISTED, then ERROR 4010", acks)
	}
	if out := ti.listFragments(t, kvsapi.ListFragmentsInput{StreamRef: kvsapi.StreamRef{StreamName: "partial"}}); len(out.Fragments) != 2 {
		t.Errorf("%d fragments stored, want 2", len(out.Fragments))
	}
}

func TestPutMediaRejectsBadRequestsBeforeThe200(t *testing.T) {
	ti := startTestIngest(t, Config{})
	arn := ti.createStream(t, "known", 1)
	cases := []struct {
		name   string
		stream string
		header map[string]string
		status int
		typ    string
	}{
		{"unknown stream", "nope", nil, http.StatusNotFound, kvsapi.ExcResourceNotFound},
		{"no stream", "", map[string]string{kvsapi.HeaderStreamName: ""}, http.StatusBadRequest, kvsapi.ExcInvalidArgument},
		{"name and ARN", "known", map[string]string{kvsapi.HeaderStreamARN: arn}, http.StatusBadRequest, kvsapi.ExcInvalidArgument},
		{"unknown ARN", "", map[string]string{kvsapi.HeaderStreamName: "", kvsapi.HeaderStreamARN: strings.Replace(arn, "known", "other", 1)},
			http.StatusNotFound, kvsapi.ExcResourceNotFound},
		{"no timecode type", "known", map[string]string{kvsapi.HeaderFragmentTimecodeType: ""}, http.StatusBadRequest, kvsapi.ExcInvalidArgument},
		{"bad timecode type", "known", map[string]string{kvsapi.HeaderFragmentTimecodeType: "absolute"}, http.StatusBadRequest, kvsapi.ExcInvalidArgument},
		{"bad start timestamp", "known", map[string]string{kvsapi.HeaderProducerStartTime: "yesterday"}, http.StatusBadRequest, kvsapi.ExcInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, resp := ti.tryPutMedia(t, tc.stream, tc.header)
			if resp.StatusCode != tc.status || resp.Header.Get(kvsapi.HeaderErrorType) != tc.typ {
				t.Errorf("PutMedia: %d %s, want %d %s", resp.StatusCode, resp.Header.Get(kvsapi.HeaderErrorType), tc.status, tc.typ)
			}
		})
	}
	// By ARN alone it works.
	p := ti.putMedia(t, "", map[string]string{kvsapi.HeaderStreamName: "", kvsapi.HeaderStreamARN: arn})
	p.send(headerBytes(t, videoHeader()))
	p.send(makeFragment(t, epoch2023, 10, 10, 33, true).wire)
	p.expect(kvsapi.EventBuffering, epoch2023)
}

func TestPutMediaRelativeTimecodes(t *testing.T) {
	ti := startTestIngest(t, Config{})
	ti.createStream(t, "rel", 1)
	p := ti.putMedia(t, "rel", map[string]string{
		kvsapi.HeaderFragmentTimecodeType: kvsapi.TimecodeTypeRelative,
		kvsapi.HeaderProducerStartTime:    "1700000123.456",
	})
	p.send(headerBytes(t, videoHeader()))
	for i := range 2 {
		p.send(makeFragment(t, int64(i)*5080, 10, 10, 33, true).wire)
	}
	p.end()
	acks, _ := p.rest(10 * time.Second)
	if len(acks) != 6 || acks[0].FragmentTimecode != 0 || acks[5].FragmentTimecode != 5080 {
		t.Fatalf("ACKs %+v: want timecodes as received (0, 5080)", acks)
	}
	out := ti.listFragments(t, kvsapi.ListFragmentsInput{StreamRef: kvsapi.StreamRef{StreamName: "rel"}})
	if len(out.Fragments) != 2 || out.Fragments[0].ProducerTimestamp.UnixMilli() != 1700000123456 ||
		out.Fragments[1].ProducerTimestamp.UnixMilli() != 1700000123456+5080 {
		t.Fatalf("producer timestamps %+v, want start + cluster timecode", out.Fragments)
	}
}

func TestPutMediaIdleAcksThenClose(t *testing.T) {
	ti := startTestIngest(t, Config{IdleAckInterval: 50 * time.Millisecond, IdleTimeout: 400 * time.Millisecond})
	ti.createStream(t, "idle", 1)
	p := ti.putMedia(t, "idle", nil)
	p.send(headerBytes(t, videoHeader()))
	p.send(makeFragment(t, epoch2023, 10, 10, 33, true).wire)
	lastData := time.Now()
	idle, persisted := 0, false
	for r := range p.acks {
		switch {
		case r.err == io.EOF:
		case r.err != nil:
			t.Fatal(r.err)
		case r.ack.EventType == kvsapi.EventIdle:
			if r.ack.HasTimecode || r.ack.FragmentNumber != "" {
				t.Errorf("IDLE ACK %+v carries fragment fields", r.ack)
			}
			idle++
		case r.ack.EventType == kvsapi.EventPersisted:
			persisted = true
		case r.ack.EventType == kvsapi.EventError:
			t.Fatalf("idle session got %+v", r.ack)
		}
	}
	closedAfter := time.Since(lastData)
	if !persisted || idle < 4 {
		t.Errorf("persisted=%v, %d IDLE ACKs; want PERSISTED and about 8 IDLE in 400 ms", persisted, idle)
	}
	if closedAfter < 400*time.Millisecond || closedAfter > 5*time.Second {
		t.Errorf("closed %v after the last data, want about the 400 ms IdleTimeout", closedAfter)
	}
}

func TestPutMediaSlowClientIsClosed(t *testing.T) {
	ti := startTestIngest(t, Config{MinReadBytes: 64 << 10, SlowReadWindow: 200 * time.Millisecond, IdleTimeout: 10 * time.Second})
	ti.createStream(t, "slow", 1)
	p := ti.putMedia(t, "slow", nil)
	stream := append(headerBytes(t, videoHeader()), makeFragment(t, epoch2023, 100, 1000, 33, true).wire...)
	start := time.Now()
	stop := make(chan struct{})
	go func() {
		for off := 0; off < len(stream); off += 100 {
			select {
			case <-stop: // a producer stops sending once it has an ERROR
				return
			case <-time.After(10 * time.Millisecond): // 10 KB/s, far below 64 KiB per 200 ms
			}
			if p.trySend(stream[off:min(off+100, len(stream))]) != nil {
				return
			}
		}
	}()
	var last kvsapi.Ack
	for {
		a, err := p.next(10 * time.Second)
		if err != nil {
			if !closedAfterError(err) {
				t.Fatalf("response ended with %v", err)
			}
			break
		}
		if last.EventType == kvsapi.EventError {
			t.Fatalf("ACK %+v after the ERROR", a)
		}
		last = a
		if a.EventType == kvsapi.EventError {
			close(stop)
		}
	}
	if last.EventType != kvsapi.EventError || last.ErrorID != kvsapi.ErrStreamRead {
		t.Fatalf("last ACK %+v: want ERROR 4000 and the end of the response", last)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("slow client closed after %v", d)
	}
}

func TestPutMediaMaxConnectionDuration(t *testing.T) {
	ti := startTestIngest(t, Config{MaxConnectionDuration: 300 * time.Millisecond})
	ti.createStream(t, "old", 1)
	p := ti.putMedia(t, "old", nil)
	p.send(headerBytes(t, videoHeader()))
	p.send(makeFragment(t, epoch2023, 10, 10, 33, true).wire)
	p.expect(kvsapi.EventBuffering, epoch2023)
	p.expect(kvsapi.EventReceived, epoch2023)
	p.expect(kvsapi.EventPersisted, epoch2023)
	open := makeFragment(t, epoch2023+2000, 10, 10, 33, false)
	p.send(open.cluster) // still open when the connection ages out
	b := p.expect(kvsapi.EventBuffering, open.timecode)
	acks, end := p.rest(10 * time.Second)
	if end != io.EOF || len(acks) != 1 {
		t.Fatalf("ACKs %+v, end %v: want one ERROR, then the end", acks, end)
	}
	if last := acks[0]; last.ErrorID != kvsapi.ErrMaxConnectionDuration || last.FragmentTimecode != open.timecode || last.FragmentNumber != b.FragmentNumber {
		t.Errorf("final ACK %+v, want ERROR 4003 naming the open fragment", last)
	}
}

func TestPutMediaNewestSessionWins(t *testing.T) {
	ti := startTestIngest(t, Config{})
	ti.createStream(t, "rotate", 1)
	hdr := headerBytes(t, videoHeader())
	f1 := makeFragment(t, epoch2023, 10, 10, 33, true)
	f2 := makeFragment(t, epoch2023+2000, 10, 10, 33, true)
	f3 := makeFragment(t, epoch2023+4000, 10, 10, 33, true)

	old := ti.putMedia(t, "rotate", nil)
	old.send(hdr)
	old.send(f1.wire)
	old.expect(kvsapi.EventBuffering, f1.timecode)
	old.expect(kvsapi.EventReceived, f1.timecode)
	old.expect(kvsapi.EventPersisted, f1.timecode)
	old.send(f2.cluster) // f2 is in progress when the new session arrives
	old.expect(kvsapi.EventBuffering, f2.timecode)

	newer := ti.putMedia(t, "rotate", nil)
	// The old session: no RECEIVED for f2, no ERROR, the response ends.
	if rest, end := old.rest(10 * time.Second); len(rest) != 0 || end != io.EOF {
		t.Fatalf("superseded session got %+v and ended with %v; want a plain end", rest, end)
	}
	newer.send(hdr)
	newer.send(f2.wire)
	newer.send(f3.wire)
	newer.end()
	acks, end := newer.rest(10 * time.Second)
	if end != io.EOF || len(acks) != 6 {
		t.Fatalf("newer session ACKs %+v, end %v", acks, end)
	}
	out := ti.listFragments(t, kvsapi.ListFragmentsInput{StreamRef: kvsapi.StreamRef{StreamName: "rotate"}})
	if len(out.Fragments) != 3 {
		t.Fatalf("%d fragments stored, want 3", len(out.Fragments))
	}
}

func TestPutMediaResentFragmentIsStoredOnce(t *testing.T) {
	ti := startTestIngest(t, Config{})
	ti.createStream(t, "resend", 1)
	hdr := headerBytes(t, videoHeader())
	f := []sentFragment{
		makeFragment(t, epoch2023, 10, 10, 33, true),
		makeFragment(t, epoch2023+2000, 10, 10, 33, true),
		makeFragment(t, epoch2023+4000, 10, 10, 33, true),
	}
	first := ti.putMedia(t, "resend", nil)
	first.send(hdr)
	first.send(f[0].wire)
	first.send(f[1].wire)
	first.end()
	acks, _ := first.rest(10 * time.Second)
	if len(acks) != 6 {
		t.Fatalf("first session ACKs %+v", acks)
	}
	original := acks[5].FragmentNumber // PERSISTED of f[1]

	// Reconnect and resend from f[1], as the producer SDK rolls back.
	second := ti.putMedia(t, "resend", nil)
	second.send(hdr)
	second.send(f[1].wire)
	second.send(f[2].wire)
	second.end()
	acks, _ = second.rest(10 * time.Second)
	if len(acks) != 6 {
		t.Fatalf("second session ACKs %+v", acks)
	}
	for _, a := range acks {
		if a.FragmentTimecode == f[1].timecode && a.FragmentNumber != original {
			t.Errorf("resent fragment ACK %+v, want the original number %s", a, original)
		}
		if a.FragmentTimecode == f[2].timecode && a.FragmentNumber <= original {
			t.Errorf("new fragment ACK %+v, want a number after %s", a, original)
		}
	}
	out := ti.listFragments(t, kvsapi.ListFragmentsInput{StreamRef: kvsapi.StreamRef{StreamName: "resend"}})
	if len(out.Fragments) != 3 {
		t.Fatalf("%d fragments listed, want 3 (the resend stored once): %+v", len(out.Fragments), out.Fragments)
	}
	if got := testutil.ToFloat64(ti.srv.metrics.fragments.WithLabelValues("duplicate")); got != 1 {
		t.Errorf("duplicate fragments metric = %v, want 1", got)
	}
}

func TestPutMediaRetentionZeroStoresNothing(t *testing.T) {
	ti := startTestIngest(t, Config{})
	ti.createStream(t, "ephemeral", 0)
	p := ti.putMedia(t, "ephemeral", nil)
	p.send(headerBytes(t, videoHeader()))
	for i := range 2 {
		p.send(makeFragment(t, epoch2023+int64(i)*2000, 10, 10, 33, true).wire)
	}
	p.end()
	acks, end := p.rest(10 * time.Second)
	if end != io.EOF {
		t.Fatal(end)
	}
	var got []kvsapi.EventType
	for _, a := range acks {
		got = append(got, a.EventType)
	}
	want := []kvsapi.EventType{kvsapi.EventBuffering, kvsapi.EventReceived, kvsapi.EventBuffering, kvsapi.EventReceived}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ACKs %v, want %v (no PERSISTED without retention)", got, want)
	}
	if out := ti.listFragments(t, kvsapi.ListFragmentsInput{StreamRef: kvsapi.StreamRef{StreamName: "ephemeral"}}); len(out.Fragments) != 0 {
		t.Errorf("%d fragments stored for a stream without retention", len(out.Fragments))
	}
}

func TestPutMediaStreamDeletedMidSession(t *testing.T) {
	ti := startTestIngest(t, Config{})
	arn := ti.createStream(t, "doomed", 1)
	p := ti.putMedia(t, "doomed", nil)
	p.send(headerBytes(t, videoHeader()))
	p.send(makeFragment(t, epoch2023, 10, 10, 33, true).wire)
	p.expect(kvsapi.EventBuffering, epoch2023)
	p.expect(kvsapi.EventReceived, epoch2023)
	p.expect(kvsapi.EventPersisted, epoch2023)
	open := makeFragment(t, epoch2023+2000, 10, 10, 33, false)
	p.send(open.cluster)
	p.expect(kvsapi.EventBuffering, open.timecode)
	ti.deleteStream(t, arn)
	acks, end := p.rest(10 * time.Second)
	if end != io.EOF || len(acks) != 1 || acks[0].ErrorID != kvsapi.ErrStreamNotActive || acks[0].FragmentTimecode != open.timecode {
		t.Fatalf("after DeleteStream: ACKs %+v, end %v; want ERROR 4008 for the open fragment", acks, end)
	}
}

// Garbage and truncated bodies fail on their own connections while 50 good
// producers carry on, every fragment of theirs persisted and readable.
func TestPutMediaMalformedStreamsDoNotDisturbOthers(t *testing.T) {
	ti := startTestIngest(t, Config{})
	const good, bad, frags = 50, 10, 3
	for i := range good {
		ti.createStream(t, fmt.Sprintf("good-%d", i), 1)
	}
	for i := range bad {
		ti.createStream(t, fmt.Sprintf("bad-%d", i), 1)
	}
	hdr := headerBytes(t, videoHeader())
	sent := make([][]sentFragment, good)
	for i := range good {
		for j := range frags {
			sent[i] = append(sent[i], makeFragment(t, epoch2023+int64(j)*2000+int64(i), 20, 500, 33, true))
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, good+bad)
	for i := range bad {
		wg.Go(func() {
			p := ti.putMedia(t, fmt.Sprintf("bad-%d", i), nil)
			if i%2 == 0 {
				junk := make([]byte, 8192)
				rand.NewChaCha8([32]byte{byte(i), 7}).Read(junk)
				_ = p.trySend(junk)
			} else {
				_ = p.trySend(hdr)
				_ = p.trySend(sent[0][0].cluster[:len(sent[0][0].cluster)/2])
				p.end()
			}
			acks, _ := p.rest(20 * time.Second)
			if len(acks) == 0 || acks[len(acks)-1].ErrorID != kvsapi.ErrInvalidMKV {
				errs <- fmt.Errorf("bad-%d: ACKs %+v, want ERROR 4006", i, acks)
			}
		})
	}
	for i := range good {
		wg.Go(func() {
			p := ti.putMedia(t, fmt.Sprintf("good-%d", i), nil)
			if p.trySend(hdr) != nil {
				errs <- fmt.Errorf("good-%d: write failed", i)
				return
			}
			for _, f := range sent[i] {
				if p.trySend(f.wire) != nil {
					errs <- fmt.Errorf("good-%d: write failed", i)
					return
				}
			}
			p.end()
			acks, end := p.rest(20 * time.Second)
			persisted := 0
			for _, a := range acks {
				if a.EventType == kvsapi.EventPersisted {
					persisted++
				}
				if a.EventType == kvsapi.EventError {
					errs <- fmt.Errorf("good-%d: %+v", i, a)
				}
			}
			if persisted != frags || end != io.EOF {
				errs <- fmt.Errorf("good-%d: %d PERSISTED, end %v", i, persisted, end)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	// Readable: every good stream's fragments come back byte-identical.
	for i := range good {
		stream := fmt.Sprintf("good-%d", i)
		out := ti.listFragments(t, kvsapi.ListFragmentsInput{StreamRef: kvsapi.StreamRef{StreamName: stream}})
		if len(out.Fragments) != frags {
			t.Fatalf("%s: %d fragments listed, want %d", stream, len(out.Fragments), frags)
		}
		var numbers []string
		for _, f := range out.Fragments {
			numbers = append(numbers, f.FragmentNumber)
		}
		m, resp := ti.openMedia(t, kvsapi.PathGetMediaForFragmentList,
			kvsapi.GetMediaForFragmentListInput{StreamRef: kvsapi.StreamRef{StreamName: stream}, Fragments: numbers})
		if m == nil {
			t.Fatalf("%s: GetMediaForFragmentList status %d", stream, resp.StatusCode)
		}
		chunks := m.all(t, 10*time.Second)
		if len(chunks) != frags {
			t.Fatalf("%s: %d chunks, want %d", stream, len(chunks), frags)
		}
		for j, c := range chunks {
			checkChunk(t, c, sent[i][j], numbers[j], false)
		}
		raw := m.rawBytes()
		for _, f := range sent[i] {
			if !bytes.Contains(raw, f.cluster) {
				t.Fatalf("%s: a Cluster does not come back byte-identical", stream)
			}
		}
	}
}

// BenchmarkPutMedia measures one PutMedia session end to end over TLS on
// loopback: 256 KiB fragments (30 frames) parsed, acknowledged and persisted
// with fsync. b.N is the number of fragments.
func BenchmarkPutMedia(b *testing.B) {
	ti := startTestIngest(b, Config{})
	ti.createStream(b, "bench", 1)
	frags := make([][]byte, 64)
	for i := range frags {
		frags[i] = makeFragment(b, epoch2023+int64(i)*2000, 30, 256<<10/30, 33, true).wire
	}
	p := ti.putMedia(b, "bench", nil)
	p.send(headerBytes(b, videoHeader()))
	b.SetBytes(int64(len(frags[0])))
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		var buf []byte
		for i := range b.N {
			// Later laps reuse the frames under new, increasing timecodes.
			buf = append(buf[:0], frags[i%len(frags)]...)
			binary.BigEndian.PutUint64(buf[7:15], uint64(epoch2023+int64(i)*2000))
			if p.trySend(buf) != nil {
				return
			}
		}
		p.end()
	}()
	persisted := 0
	for persisted < b.N {
		a, err := p.next(time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		switch a.EventType {
		case kvsapi.EventPersisted:
			persisted++
		case kvsapi.EventError:
			b.Fatalf("%+v", a)
		}
	}
}
