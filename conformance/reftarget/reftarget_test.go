package reftarget_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/camstorm/camstorm/conformance/probe"
	"github.com/camstorm/camstorm/conformance/reftarget"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/stack"
)

// TestProbeRoundTrip writes fragments as an enrolled camera and reads them
// back as a consumer through the probe, on the embedded stack.
func TestProbeRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := stack.StartEmbedded(ctx, stack.Options{ClockControl: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	tg, err := reftarget.New(st, "embedded")
	if err != nil {
		t.Fatal(err)
	}
	cam, err := tg.Principals.Camera(ctx, "probe-cam")
	if err != nil {
		t.Fatal(err)
	}
	c := probe.New(tg, cam.Credentials)
	if _, err := c.CreateStream(ctx, "probe-cam", ""); err != nil {
		t.Fatal(err)
	}
	base := time.Now().UnixMilli()
	var frags []probe.Fragment
	for i := range 3 {
		frags = append(frags, probe.Fragment{Timecode: base + int64(i)*1000, Frames: []probe.Frame{
			{Data: probe.Payload("rt", i*2, 500)}, {Data: probe.Payload("rt", i*2+1, 300)}}})
	}
	acks, err := c.Put(ctx, "probe-cam", frags...)
	if err != nil {
		t.Fatalf("put: %v (acks %v)", err, acks)
	}
	viewer, err := tg.Principals.Consumer(ctx, "probe-viewer")
	if err != nil {
		t.Fatal(err)
	}
	list, chunks, err := probe.New(tg, viewer.Credentials).ReadAll(ctx, "probe-cam")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || len(chunks) != 3 {
		t.Fatalf("%d listed, %d chunks; want 3 and 3", len(list), len(chunks))
	}
	for i, ch := range chunks {
		if ch.ProducerTimestamp() != frags[i].Timecode || len(ch.Blocks) != 2 ||
			!bytes.Equal(ch.Blocks[0].Data, frags[i].Frames[0].Data) || !ch.Blocks[0].Keyframe {
			t.Errorf("chunk %d: producer ts %d, %d blocks; want %d and the frames sent", i, ch.ProducerTimestamp(), len(ch.Blocks), frags[i].Timecode)
		}
	}
	got, err := probe.New(tg, viewer.Credentials).GetMedia(ctx, "probe-cam",
		kvsapi.StartSelector{StartSelectorType: kvsapi.StartEarliest}, 5*time.Second, 3)
	if err != nil || len(got) != 3 {
		t.Fatalf("GetMedia: %d chunks, %v; want 3", len(got), err)
	}
}
