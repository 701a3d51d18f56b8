package segment

import "testing"

func FuzzParseSegment(f *testing.F) {
	for _, s := range []string{"", "1/4:2/4", "0.25:0.5", "25%:50%", "1/2", "1:0", "0:2", "a:b", "1e9", "0x1/2", "1/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seg, err := ParseSegment(s)
		if err != nil {
			return
		}
		back, err := ParseSegment(seg.String())
		if err != nil || !back.Equal(seg) {
			t.Fatalf("ParseSegment(%q) = %s, which parses back as %s, %v", s, seg, back, err)
		}
		if _, err := NewTuple(seg, Sequence{}); err != nil {
			return // e.g. period too large
		}
	})
}

func FuzzParseSequence(f *testing.F) {
	for _, s := range []string{"", "0,1", "0,1/4,2/4,3/4,1", "0,25%,1", "0,0.3,1", "1/4,1", "0,1/2,1/2,1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seq, err := ParseSequence(s)
		if err != nil || seq.IsZero() {
			return
		}
		back, err := ParseSequence(seq.String())
		if err != nil || back.String() != seq.String() {
			t.Fatalf("ParseSequence(%q) = %s, which parses back as %s, %v", s, seq, back, err)
		}
		if seq.Len() <= 64 {
			_, _ = NewTuple(seq.Segment(0), seq)
		}
	})
}
