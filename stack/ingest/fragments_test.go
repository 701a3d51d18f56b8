package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/at-wat/ebml-go"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/mkv"
)

func TestListFragmentsSelectorsAndPages(t *testing.T) {
	clock := newTestClock(time.UnixMilli(epoch2023))
	ti := startTestIngest(t, Config{Now: clock.Now})
	ti.createStream(t, "lf", 24)
	ti.createStream(t, "other", 24)
	sent, numbers := seedStream(t, ti, "lf", epoch2023, 5, clock)
	ref := kvsapi.StreamRef{StreamName: "lf"}
	rangeOf := func(typ string, startMs, endMs int64) *kvsapi.FragmentSelector {
		sel := &kvsapi.FragmentSelector{FragmentSelectorType: typ}
		sel.TimestampRange.StartTimestamp = kvsapi.Timestamp{Time: time.UnixMilli(startMs)}
		sel.TimestampRange.EndTimestamp = kvsapi.Timestamp{Time: time.UnixMilli(endMs)}
		return sel
	}
	// listAll pages through with max results per call and returns the
	// numbers seen and the number of calls.
	listAll := func(sel *kvsapi.FragmentSelector, max int) ([]string, int) {
		in := kvsapi.ListFragmentsInput{StreamRef: ref, FragmentSelector: sel, MaxResults: max}
		var got []string
		for calls := 1; ; calls++ {
			out := ti.listFragments(t, in)
			if max > 0 && len(out.Fragments) > max {
				t.Fatalf("page of %d fragments, MaxResults %d", len(out.Fragments), max)
			}
			for _, f := range out.Fragments {
				got = append(got, f.FragmentNumber)
			}
			if out.NextToken == nil {
				return got, calls
			}
			if calls > 10 {
				t.Fatal("pagination does not end")
			}
			in = kvsapi.ListFragmentsInput{StreamRef: ref, NextToken: *out.NextToken, MaxResults: max}
		}
	}

	out := ti.listFragments(t, kvsapi.ListFragmentsInput{StreamRef: ref})
	if len(out.Fragments) != 5 || out.NextToken != nil {
		t.Fatalf("all fragments: %d, NextToken %v", len(out.Fragments), out.NextToken)
	}
	for i, f := range out.Fragments {
		if f.FragmentNumber != numbers[i] || f.ProducerTimestamp.UnixMilli() != sent[i].timecode ||
			f.ServerTimestamp.UnixMilli() != sent[i].timecode+150 || f.FragmentSizeInBytes < int64(len(sent[i].cluster)) {
			t.Errorf("fragment %d: %+v", i, f)
		}
	}
	// The wire form carries epoch seconds.
	var raw map[string][]map[string]any
	body, _ := json.Marshal(out)
	_ = json.Unmarshal(body, &raw)
	if ts, ok := raw["Fragments"][0]["ProducerTimestamp"].(float64); !ok || ts != float64(sent[0].timecode)/1000 {
		t.Errorf("ProducerTimestamp on the wire: %v", raw["Fragments"][0]["ProducerTimestamp"])
	}

	cases := []struct {
		name      string
		sel       *kvsapi.FragmentSelector
		max       int
		want      []int
		wantCalls int
	}{
		{"all, two per page", nil, 2, []int{0, 1, 2, 3, 4}, 3},
		{"all, exactly one page", nil, 5, []int{0, 1, 2, 3, 4}, 1},
		{"producer range, inclusive ends", rangeOf(kvsapi.SelectProducerTimestamp, epoch2023+2000, epoch2023+6000), 0, []int{1, 2, 3}, 1},
		{"producer range, one per page", rangeOf(kvsapi.SelectProducerTimestamp, epoch2023+2000, epoch2023+6000), 1, []int{1, 2, 3}, 3},
		{"producer range inside a fragment", rangeOf(kvsapi.SelectProducerTimestamp, epoch2023+2001, epoch2023+3999), 0, nil, 1},
		{"server range", rangeOf(kvsapi.SelectServerTimestamp, epoch2023+150, epoch2023+2150), 0, []int{0, 1}, 1},
		{"server range after everything", rangeOf(kvsapi.SelectServerTimestamp, epoch2023+60_000, epoch2023+70_000), 0, nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, calls := listAll(tc.sel, tc.max)
			var want []string
			for _, i := range tc.want {
				want = append(want, numbers[i])
			}
			if !slices.Equal(got, want) || calls != tc.wantCalls {
				t.Errorf("got %v in %d calls, want %v in %d", got, calls, want, tc.wantCalls)
			}
		})
	}

	first := ti.listFragments(t, kvsapi.ListFragmentsInput{StreamRef: ref, MaxResults: 1})
	bad := []struct {
		name   string
		in     kvsapi.ListFragmentsInput
		status int
	}{
		{"MaxResults above 1000", kvsapi.ListFragmentsInput{StreamRef: ref, MaxResults: 1001}, http.StatusBadRequest},
		{"negative MaxResults", kvsapi.ListFragmentsInput{StreamRef: ref, MaxResults: -1}, http.StatusBadRequest},
		{"garbage token", kvsapi.ListFragmentsInput{StreamRef: ref, NextToken: "bm90IGEgdG9rZW4="}, http.StatusBadRequest},
		{"not base64", kvsapi.ListFragmentsInput{StreamRef: ref, NextToken: "%%%"}, http.StatusBadRequest},
		{"token of another stream", kvsapi.ListFragmentsInput{StreamRef: kvsapi.StreamRef{StreamName: "other"}, NextToken: *first.NextToken}, http.StatusBadRequest},
		{"unknown selector type", kvsapi.ListFragmentsInput{StreamRef: ref, FragmentSelector: rangeOf("ARRIVAL", epoch2023, epoch2023+1)}, http.StatusBadRequest},
		{"range without timestamps", kvsapi.ListFragmentsInput{StreamRef: ref, FragmentSelector: &kvsapi.FragmentSelector{FragmentSelectorType: kvsapi.SelectServerTimestamp}}, http.StatusBadRequest},
		{"range ending before it starts", kvsapi.ListFragmentsInput{StreamRef: ref, FragmentSelector: rangeOf(kvsapi.SelectServerTimestamp, epoch2023+10, epoch2023)}, http.StatusBadRequest},
		{"unknown stream", kvsapi.ListFragmentsInput{StreamRef: kvsapi.StreamRef{StreamName: "nope"}}, http.StatusNotFound},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if code, typ := ti.call(t, ti.DataURL, kvsapi.PathListFragments, tc.in, nil); code != tc.status {
				t.Errorf("ListFragments %+v: %d %s, want %d", tc.in, code, typ, tc.status)
			}
		})
	}
}

func TestGetMediaForFragmentList(t *testing.T) {
	ti := startTestIngest(t, Config{})
	ti.createStream(t, "gm", 1)
	sent, numbers := seedStream(t, ti, "gm", epoch2023, 3, nil)
	ref := kvsapi.StreamRef{StreamName: "gm"}

	order := []int{2, 0, 1}
	var req []string
	for _, i := range order {
		req = append(req, numbers[i])
	}
	m, resp := ti.openMedia(t, kvsapi.PathGetMediaForFragmentList, kvsapi.GetMediaForFragmentListInput{StreamRef: ref, Fragments: req})
	if m == nil {
		t.Fatalf("status %d", resp.StatusCode)
	}
	chunks := m.all(t, 10*time.Second)
	if len(chunks) != 3 {
		t.Fatalf("%d chunks, want 3", len(chunks))
	}
	raw := m.rawBytes()
	prev := -1
	for k, i := range order {
		checkChunk(t, chunks[k], sent[i], numbers[i], false)
		pos := bytes.Index(raw, sent[i].cluster)
		if pos <= prev {
			t.Errorf("Cluster of fragment %d missing, altered or out of the requested order", i)
		}
		prev = pos
	}

	missing := strings.Repeat("9", 47)
	tooMany := make([]string, 1001)
	for i := range tooMany {
		tooMany[i] = numbers[0]
	}
	bad := []struct {
		name      string
		fragments []string
		status    int
		typ       string
	}{
		{"a number that is not stored", []string{numbers[0], missing}, http.StatusNotFound, kvsapi.ExcResourceNotFound},
		{"no numbers", nil, http.StatusBadRequest, kvsapi.ExcInvalidArgument},
		{"1001 numbers", tooMany, http.StatusBadRequest, kvsapi.ExcInvalidArgument},
		{"not a number", []string{"12x"}, http.StatusBadRequest, kvsapi.ExcInvalidArgument},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			code, typ := ti.call(t, ti.DataURL, kvsapi.PathGetMediaForFragmentList,
				kvsapi.GetMediaForFragmentListInput{StreamRef: ref, Fragments: tc.fragments}, nil)
			if code != tc.status || typ != tc.typ {
				t.Errorf("%d %s, want %d %s", code, typ, tc.status, tc.typ)
			}
		})
	}
}

// A fragment that expires while earlier ones are being sent is reported with
// an error chunk; the response goes on.
func TestGetMediaForFragmentListFragmentExpiresMidway(t *testing.T) {
	if testing.Short() {
		t.Skip("sends a 16 MB fragment")
	}
	clock := newTestClock(time.UnixMilli(epoch2023))
	ti := startTestIngest(t, Config{Now: clock.Now})
	ti.createStream(t, "exp", 1)
	p := ti.putMedia(t, "exp", nil)
	p.send(headerBytes(t, videoHeader()))
	// 16 MiB: far more than the socket buffers hold, so the server is still
	// writing it when the test moves the clock.
	big := makeFragment(t, epoch2023, 16, 1<<20, 100, true)
	small := []sentFragment{makeFragment(t, epoch2023+2000, 5, 100, 33, true), makeFragment(t, epoch2023+4000, 5, 100, 33, true)}
	var numbers []string
	for _, f := range append([]sentFragment{big}, small...) {
		p.send(f.wire)
		p.expect(kvsapi.EventBuffering, f.timecode)
		p.expect(kvsapi.EventReceived, f.timecode)
		numbers = append(numbers, p.expect(kvsapi.EventPersisted, f.timecode).FragmentNumber)
	}
	p.end()

	body, _ := json.Marshal(kvsapi.GetMediaForFragmentListInput{StreamRef: kvsapi.StreamRef{StreamName: "exp"}, Fragments: numbers})
	resp, err := ti.Client.Post(ti.DataURL+kvsapi.PathGetMediaForFragmentList, kvsapi.JSONContentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// The first bytes of the first chunk prove the server has looked the
	// first fragment up; then the retention hour passes.
	head := make([]byte, 64)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	all := append(head, rest...)
	if !bytes.Contains(all, big.cluster) {
		t.Fatal("the fragment being sent was cut short")
	}
	var doc struct {
		Segment []chunkSegment `ebml:"Segment"`
	}
	if err := ebml.Unmarshal(bytes.NewReader(all), &doc, ebml.WithIgnoreUnknown(true)); err != nil {
		t.Fatal(err)
	}
	if len(doc.Segment) != 3 {
		t.Fatalf("%d chunks, want 3", len(doc.Segment))
	}
	for i, c := range doc.Segment[1:] {
		tags := c.tagMaps()
		if len(c.Cluster) != 0 || len(tags) != 1 || tags[0][kvsapi.TagFragmentNumber] != numbers[i+1] ||
			tags[0][kvsapi.TagErrorID] != fmt.Sprint(chunkErrFragmentNotFound) || tags[0][kvsapi.TagErrorCode] == "" {
			t.Errorf("chunk for expired fragment %s: tags %v, %d clusters; want an error chunk", numbers[i+1], tags, len(c.Cluster))
		}
	}
}

func TestStoredPayloadRoundTrip(t *testing.T) {
	header := []byte("header-bytes")
	cluster := bytes.Repeat([]byte{0x1F, 0x43}, 1000)
	tags := []mkv.SimpleTag{{Name: "A", Value: "1"}, {Name: "", Value: strings.Repeat("v", 300)}, {Name: "C", Value: ""}}
	meta := appendPayloadHead(nil, len(header), len(cluster), tagListLen(tags))
	payload := slices.Concat(meta, header, cluster, appendTagList(nil, tags))
	p, err := decodePayload(payload)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.header, header) || !bytes.Equal(p.cluster, cluster) || !slices.Equal(p.tags, tags) {
		t.Fatalf("round trip changed the payload: %+v", p)
	}
	// Every truncation and every single-byte change is either rejected or
	// decodes without panicking.
	for i := range payload {
		if _, err := decodePayload(payload[:i]); err == nil {
			t.Fatalf("payload cut at %d decoded", i)
		}
		mut := slices.Clone(payload)
		mut[i] ^= 0xFF
		_, _ = decodePayload(mut)
	}
}

func FuzzDecodePayload(f *testing.F) {
	meta := appendPayloadHead(nil, 3, 4, tagListLen([]mkv.SimpleTag{{Name: "n", Value: "v"}}))
	f.Add(slices.Concat(meta, []byte("hdrclus"), appendTagList(nil, []mkv.SimpleTag{{Name: "n", Value: "v"}})))
	f.Add([]byte{payloadMagic, payloadVersion, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePayload(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		again := slices.Concat(appendPayloadHead(nil, len(p.header), len(p.cluster), tagListLen(p.tags)), p.header, p.cluster, appendTagList(nil, p.tags))
		q, err := decodePayload(again)
		if err != nil || !bytes.Equal(p.header, q.header) || !bytes.Equal(p.cluster, q.cluster) || !slices.Equal(p.tags, q.tags) {
			t.Fatalf("re-encoding %x gave %x (%v)", b, again, err)
		}
	})
}
