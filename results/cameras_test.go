package results

import (
	"bytes"
	"strings"
	"testing"
)

func TestWorstCamerasOrderAndMerge(t *testing.T) {
	cams := []CameraSummary{
		{Stream: "c", Reconnects: 5},
		{Stream: "a", Lost: 1},
		{Stream: "b", Lost: 1, Integrity: 2},
		{Stream: "d"},
	}
	got := WorstCameras(cams, 3)
	if len(got) != 3 || got[0].Stream != "b" || got[1].Stream != "a" || got[2].Stream != "c" {
		t.Fatalf("WorstCameras = %+v, want b (lost+integrity), a (lost), c (reconnects)", got)
	}
	reg := NewRegistry()
	a := NewFile(RunInfo{Segment: "0:1/2", Sequence: "0,1/2,1"}, reg, NewStore(), nil, nil)
	a.Cameras = []CameraSummary{{Stream: "x", Lost: 3}}
	b := NewFile(RunInfo{Segment: "1/2:1", Sequence: "0,1/2,1"}, reg, NewStore(), nil, nil)
	b.Cameras = []CameraSummary{{Stream: "y", Lost: 7}}
	m, err := MergeFiles(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Cameras) != 2 || m.Cameras[0].Stream != "y" {
		t.Fatalf("merged cameras %+v, want y then x", m.Cameras)
	}
	var buf bytes.Buffer
	big := NewFile(RunInfo{}, reg, NewStore(), nil, nil)
	for range MaxWorstCameras + 1 {
		big.Cameras = append(big.Cameras, CameraSummary{Stream: "z"})
	}
	if err := WriteFile(&buf, big); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(&buf); err == nil || !strings.Contains(err.Error(), "camera summaries") {
		t.Fatalf("ReadFile of %d camera summaries: %v, want a refusal", MaxWorstCameras+1, err)
	}
}
