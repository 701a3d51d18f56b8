package segment

import (
	"errors"
	"testing"
)

func TestParseSegment(t *testing.T) {
	tests := []struct {
		in   string
		want string // String() of the result
	}{
		{"", "0:1"},
		{"  ", "0:1"},
		{"0:1", "0:1"},
		{"1/4:2/4", "1/4:1/2"},
		{"0.25:0.5", "1/4:1/2"},
		{"25%:50%", "1/4:1/2"},
		{"2/4:75%", "1/2:3/4"},
		{"12.5%:0.25", "1/8:1/4"},
		{"1/2", "0:1/2"},
		{"0.5", "0:1/2"},
		{"50%", "0:1/2"},
		{"100%", "0:1"},
		{".5:1.", "1/2:1"},
		{" 1/3 : 2/3 ", "1/3:2/3"},
		{"0:0.0001", "0:1/10000"},
	}
	for _, tc := range tests {
		got, err := ParseSegment(tc.in)
		if err != nil {
			t.Errorf("ParseSegment(%q) error %v, want %s", tc.in, err, tc.want)
			continue
		}
		if got.String() != tc.want {
			t.Errorf("ParseSegment(%q) = %s, want %s", tc.in, got, tc.want)
		}
		back, err := ParseSegment(got.String())
		if err != nil || !back.Equal(got) {
			t.Errorf("ParseSegment(%q).String() = %q does not parse back: %v, %v", tc.in, got, back, err)
		}
	}
}

func TestParseSegmentErrors(t *testing.T) {
	tests := []string{
		"1:0", "0:2", "a:b", "1/2:1/2", "0:0", "-1/4:1/2", "0:-1", "1/0", "0:1/0",
		"1e-1:1", "0x1:1", ":", "1/4:", ":1/4", "0:1:2", "1/2/3", "..5", "5%%", "%",
		"1.5%:2", "0:101%", "0:1/", "/2", "0:1234567890123456789012345678901234567890123",
	}
	for _, in := range tests {
		got, err := ParseSegment(in)
		if err == nil {
			t.Errorf("ParseSegment(%q) = %s, want an error", in, got)
			continue
		}
		if !errors.Is(err, ErrInvalidSegment) {
			t.Errorf("ParseSegment(%q) error %v does not wrap ErrInvalidSegment", in, err)
		}
	}
}

func TestParseSegmentErrorNamesInput(t *testing.T) {
	_, err := ParseSegment("3/4:1/4")
	want := `invalid execution segment "3/4:1/4": start 3/4 is not below end 1/4; write from:to with 0 ≤ from < to ≤ 1`
	if err == nil || err.Error() != want {
		t.Errorf("ParseSegment(%q) error = %v, want %s", "3/4:1/4", err, want)
	}
}

func TestZeroSegmentIsWhole(t *testing.T) {
	var s Segment
	if !s.IsWhole() || s.String() != "0:1" || s.Length().Cmp(one) != 0 {
		t.Errorf("zero Segment = %s (whole %v), want 0:1", s, s.IsWhole())
	}
}
