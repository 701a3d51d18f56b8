package ingest

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestGetMediaStartSelectors(t *testing.T) {
	clock := newTestClock(time.UnixMilli(epoch2023))
	ti := startTestIngest(t, Config{Now: clock.Now})
	at := func(ms int64) *kvsapi.Timestamp { return kvsapi.Ts(time.UnixMilli(ms)) }
	const base = epoch2023
	cases := []struct {
		name string
		sel  func(numbers []string) kvsapi.StartSelector
		want []int // seeded fragments expected, in order
	}{
		{"EARLIEST", func([]string) kvsapi.StartSelector {
			return kvsapi.StartSelector{StartSelectorType: kvsapi.StartEarliest}
		}, []int{0, 1, 2, 3}},
		{"NOW", func([]string) kvsapi.StartSelector { return kvsapi.StartSelector{StartSelectorType: kvsapi.StartNow} }, []int{3}},
		{"FRAGMENT_NUMBER", func(n []string) kvsapi.StartSelector {
			return kvsapi.StartSelector{StartSelectorType: kvsapi.StartFragmentNumber, AfterFragmentNumber: n[1]}
		}, []int{2, 3}},
		{"CONTINUATION_TOKEN", func(n []string) kvsapi.StartSelector {
			return kvsapi.StartSelector{StartSelectorType: kvsapi.StartContinuationToken, ContinuationToken: n[2]}
		}, []int{3}},
		{"PRODUCER_TIMESTAMP inside a fragment", func([]string) kvsapi.StartSelector {
			return kvsapi.StartSelector{StartSelectorType: kvsapi.StartProducerTimestamp, StartTimestamp: at(base + 2000 + 500)}
		}, []int{1, 2, 3}},
		{"PRODUCER_TIMESTAMP before the stream", func([]string) kvsapi.StartSelector {
			return kvsapi.StartSelector{StartSelectorType: kvsapi.StartProducerTimestamp, StartTimestamp: at(base - 60_000)}
		}, []int{0, 1, 2, 3}},
		{"SERVER_TIMESTAMP", func([]string) kvsapi.StartSelector {
			// seedStream sets the clock 150 ms after each fragment's timecode.
			return kvsapi.StartSelector{StartSelectorType: kvsapi.StartServerTimestamp, StartTimestamp: at(base + 4000 + 150)}
		}, []int{2, 3}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := fmt.Sprintf("sel-%d", i)
			arn := ti.createStream(t, stream, 24)
			sent, numbers := seedStream(t, ti, stream, base, 4, clock)
			m, resp := ti.openMedia(t, kvsapi.PathGetMedia, kvsapi.GetMediaInput{
				StreamRef: kvsapi.StreamRef{StreamName: stream}, StartSelector: tc.sel(numbers)})
			if m == nil {
				t.Fatalf("GetMedia: status %d %s", resp.StatusCode, resp.Header.Get(kvsapi.HeaderErrorType))
			}
			var want [][]byte
			for _, j := range tc.want {
				want = append(want, sent[j].cluster)
			}
			m.waitRaw(t, 10*time.Second, want...)
			// Deleting the stream ends the GetMedia response.
			ti.deleteStream(t, arn)
			chunks := m.all(t, 10*time.Second)
			if len(chunks) != len(tc.want) {
				var got []string
				for _, c := range chunks {
					got = append(got, chunkNumber(c))
				}
				t.Fatalf("chunks %v, want fragments %v of %v", got, tc.want, numbers)
			}
			raw := m.rawBytes()
			prev := -1
			for k, j := range tc.want {
				checkChunk(t, chunks[k], sent[j], numbers[j], true)
				pos := bytes.Index(raw, sent[j].cluster)
				if pos <= prev {
					t.Errorf("Cluster of fragment %d not byte-identical or out of order", j)
				}
				prev = pos
			}
			// MILLIS_BEHIND_NOW: behind the newest fragment (2 s apart).
			tail := chunks[0].tagMaps()
			behind, _ := strconv.Atoi(tail[len(tail)-1][kvsapi.TagMillisBehindNow])
			if want := (3 - tc.want[0]) * 2000; behind != want {
				t.Errorf("MILLIS_BEHIND_NOW %d, want %d", behind, want)
			}
		})
	}
}

func TestGetMediaTailsALiveStream(t *testing.T) {
	ti := startTestIngest(t, Config{})
	arn := ti.createStream(t, "live", 1)
	early, resp := ti.openMedia(t, kvsapi.PathGetMedia, kvsapi.GetMediaInput{
		StreamRef: kvsapi.StreamRef{StreamName: "live"}, StartSelector: kvsapi.StartSelector{StartSelectorType: kvsapi.StartNow}})
	if early == nil {
		t.Fatalf("GetMedia on an empty stream: %d", resp.StatusCode)
	}
	p := ti.putMedia(t, "live", nil)
	p.send(headerBytes(t, videoHeader()))
	var sent []sentFragment
	var numbers []string
	for i := range 4 {
		f := makeFragment(t, epoch2023+int64(i)*2000, 30, 400, 33, true)
		p.send(f.wire)
		p.expect(kvsapi.EventBuffering, f.timecode)
		p.expect(kvsapi.EventReceived, f.timecode)
		numbers = append(numbers, p.expect(kvsapi.EventPersisted, f.timecode).FragmentNumber)
		sent = append(sent, f)
		// Each fragment reaches the tailing reader as soon as it is stored.
		early.waitRaw(t, 5*time.Second, f.cluster)
	}
	// A reader that starts now gets the latest fragment first, then tails.
	late, _ := ti.openMedia(t, kvsapi.PathGetMedia, kvsapi.GetMediaInput{
		StreamRef: kvsapi.StreamRef{StreamARN: arn}, StartSelector: kvsapi.StartSelector{StartSelectorType: kvsapi.StartNow}})
	late.waitRaw(t, 5*time.Second, sent[3].cluster)
	f := makeFragment(t, epoch2023+8000, 30, 400, 33, true)
	p.send(f.wire)
	p.expect(kvsapi.EventBuffering, f.timecode)
	p.expect(kvsapi.EventReceived, f.timecode)
	numbers = append(numbers, p.expect(kvsapi.EventPersisted, f.timecode).FragmentNumber)
	sent = append(sent, f)
	early.waitRaw(t, 5*time.Second, f.cluster)
	late.waitRaw(t, 5*time.Second, f.cluster)
	if got := testutil.ToFloat64(ti.srv.metrics.connections.WithLabelValues("get_media")); got != 2 {
		t.Errorf("open get_media connections = %v, want 2", got)
	}

	ti.deleteStream(t, arn)
	chunks := early.all(t, 10*time.Second)
	if len(chunks) != 5 {
		t.Fatalf("tailing reader got %d chunks, want 5", len(chunks))
	}
	for i, c := range chunks {
		checkChunk(t, c, sent[i], numbers[i], true)
	}
	lateChunks := late.all(t, 10*time.Second)
	if len(lateChunks) != 2 || chunkNumber(lateChunks[0]) != numbers[3] || chunkNumber(lateChunks[1]) != numbers[4] {
		t.Fatalf("NOW reader got %d chunks, want fragments %v", len(lateChunks), numbers[3:])
	}
	if got := testutil.ToFloat64(ti.srv.metrics.bytes.WithLabelValues("out")); got < float64(len(early.rawBytes())+len(late.rawBytes())) {
		t.Errorf("media bytes out = %v, below the %d bytes the readers got", got, len(early.rawBytes())+len(late.rawBytes()))
	}
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(ti.srv.metrics.connections.WithLabelValues("get_media")) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("get_media connections gauge did not return to 0")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGetMediaRejectsBadRequests(t *testing.T) {
	ti := startTestIngest(t, Config{MaxGetMediaPerStream: 2})
	ti.createStream(t, "g", 1)
	ref := kvsapi.StreamRef{StreamName: "g"}
	cases := []struct {
		name   string
		in     kvsapi.GetMediaInput
		status int
		typ    string
	}{
		{"unknown stream", kvsapi.GetMediaInput{StreamRef: kvsapi.StreamRef{StreamName: "nope"}, StartSelector: kvsapi.StartSelector{StartSelectorType: kvsapi.StartNow}},
			http.StatusNotFound, kvsapi.ExcResourceNotFound},
		{"no selector", kvsapi.GetMediaInput{StreamRef: ref}, http.StatusBadRequest, kvsapi.ExcInvalidArgument},
		{"unknown selector", kvsapi.GetMediaInput{StreamRef: ref, StartSelector: kvsapi.StartSelector{StartSelectorType: "LATEST"}},
			http.StatusBadRequest, kvsapi.ExcInvalidArgument},
		{"fragment number missing", kvsapi.GetMediaInput{StreamRef: ref, StartSelector: kvsapi.StartSelector{StartSelectorType: kvsapi.StartFragmentNumber}},
			http.StatusBadRequest, kvsapi.ExcInvalidArgument},
		{"fragment number not digits", kvsapi.GetMediaInput{StreamRef: ref, StartSelector: kvsapi.StartSelector{StartSelectorType: kvsapi.StartFragmentNumber, AfterFragmentNumber: "12a"}},
			http.StatusBadRequest, kvsapi.ExcInvalidArgument},
		{"timestamp missing", kvsapi.GetMediaInput{StreamRef: ref, StartSelector: kvsapi.StartSelector{StartSelectorType: kvsapi.StartServerTimestamp}},
			http.StatusBadRequest, kvsapi.ExcInvalidArgument},
		{"foreign token", kvsapi.GetMediaInput{StreamRef: ref, StartSelector: kvsapi.StartSelector{StartSelectorType: kvsapi.StartContinuationToken, ContinuationToken: "abc.def"}},
			http.StatusBadRequest, kvsapi.ExcInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if m, resp := ti.openMedia(t, kvsapi.PathGetMedia, tc.in); m != nil || resp.StatusCode != tc.status || resp.Header.Get(kvsapi.HeaderErrorType) != tc.typ {
				t.Errorf("GetMedia %+v: %d %s, want %d %s", tc.in, resp.StatusCode, resp.Header.Get(kvsapi.HeaderErrorType), tc.status, tc.typ)
			}
		})
	}

	t.Run("connection limit", func(t *testing.T) {
		now := kvsapi.GetMediaInput{StreamRef: ref, StartSelector: kvsapi.StartSelector{StartSelectorType: kvsapi.StartNow}}
		first, _ := ti.openMedia(t, kvsapi.PathGetMedia, now)
		second, _ := ti.openMedia(t, kvsapi.PathGetMedia, now)
		if first == nil || second == nil {
			t.Fatal("the first two readers were refused")
		}
		if m, resp := ti.openMedia(t, kvsapi.PathGetMedia, now); m != nil || resp.StatusCode != http.StatusBadRequest ||
			resp.Header.Get(kvsapi.HeaderErrorType) != kvsapi.ExcConnectionLimitExceeded {
			t.Fatalf("third reader: %d %s, want 400 %s", resp.StatusCode, resp.Header.Get(kvsapi.HeaderErrorType), kvsapi.ExcConnectionLimitExceeded)
		}
		// When a reader goes away its place frees up.
		first.resp.Body.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			m, resp := ti.openMedia(t, kvsapi.PathGetMedia, now)
			if m != nil {
				break
			}
			if resp.StatusCode != http.StatusBadRequest || time.Now().After(deadline) {
				t.Fatalf("after a reader left: %d %s", resp.StatusCode, resp.Header.Get(kvsapi.HeaderErrorType))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
