package segment

import (
	"errors"
	"testing"
)

func TestParseSequence(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantLen int
	}{
		{"", "", 0},
		{"0,1", "0,1", 1},
		{"0,1/4,2/4,3/4,1", "0,1/4,1/2,3/4,1", 4},
		{"0,0.25,0.5,0.75,1", "0,1/4,1/2,3/4,1", 4},
		{"0%,25%,50%,75%,100%", "0,1/4,1/2,3/4,1", 4},
		{" 0 , 1/3 , 1 ", "0,1/3,1", 2},
	}
	for _, tc := range tests {
		got, err := ParseSequence(tc.in)
		if err != nil {
			t.Errorf("ParseSequence(%q) error %v, want %s", tc.in, err, tc.want)
			continue
		}
		if got.String() != tc.want || got.Len() != tc.wantLen {
			t.Errorf("ParseSequence(%q) = %q (len %d), want %q (len %d)", tc.in, got, got.Len(), tc.want, tc.wantLen)
		}
	}
}

func TestParseSequenceErrors(t *testing.T) {
	tests := []string{
		"0",            // one point
		"1",            // one point
		"1/4,1",        // gap at the start
		"0,1/4,3/4",    // gap at the end
		"0,1/2,1/2,1",  // empty segment
		"0,3/4,1/4,1",  // decreasing
		"0,1/2,2",      // beyond 1
		"0,,1",         // empty point
		"0,a,1",        // not a number
		"0,1/2,1,",     // trailing comma
		"-1/2,0,1/2,1", // negative
		"0,1/0,1",      // zero denominator
	}
	for _, in := range tests {
		got, err := ParseSequence(in)
		if err == nil {
			t.Errorf("ParseSequence(%q) = %s, want an error", in, got)
			continue
		}
		if !errors.Is(err, ErrInvalidSequence) {
			t.Errorf("ParseSequence(%q) error %v does not wrap ErrInvalidSequence", in, err)
		}
	}
}
