package capacity

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestParseSLO(t *testing.T) {
	tests := []struct {
		in   string
		want []Term
	}{
		{"persisted_p99<2s,error_rate<0.1%", []Term{
			{Name: TermPersistedP99, Limit: 2000, Text: "persisted_p99<2s"},
			{Name: TermErrorRate, Limit: 0.001, Text: "error_rate<0.1%"}}},
		{" persisted_p999 <= 3500ms , buffering_p99<1s,error_rate<0.01,lost<=0", []Term{
			{Name: TermPersistedP999, Limit: 3500, OrEqual: true, Text: "persisted_p999 <= 3500ms"},
			{Name: TermBufferingP99, Limit: 1000, Text: "buffering_p99<1s"},
			{Name: TermErrorRate, Limit: 0.01, Text: "error_rate<0.01"},
			{Name: TermLost, Limit: 0, OrEqual: true, Text: "lost<=0"}}},
	}
	for _, tt := range tests {
		got, err := ParseSLO(tt.in)
		if err != nil || !reflect.DeepEqual(got.Terms, tt.want) {
			t.Errorf("ParseSLO(%q) = %+v, %v; want %+v", tt.in, got.Terms, err, tt.want)
		}
	}
}

func TestParseSLOReportsEveryProblem(t *testing.T) {
	tests := []struct {
		in   string
		want []string // substrings of the error, all present
	}{
		{"", []string{"empty", "persisted_p99 (duration)", "lost (count)"}},
		{"p99<2s", []string{`unknown term "p99"`, "persisted_p99 (duration)"}},
		{"persisted_p99>2s", []string{"no '<'"}},
		{"persisted_p99<2,error_rate<5x,lost<1.5", []string{`"persisted_p99<2"`, `"error_rate<5x"`, `"lost<1.5"`}},
		{"persisted_p99<2s,persisted_p99<3s", []string{"given twice"}},
		{"error_rate<150%", []string{"above 100%"}},
		{"persisted_p99<2s,,lost<0", []string{"empty term"}},
		{"persisted_p99<-1s", []string{"positive duration"}},
	}
	for _, tt := range tests {
		_, err := ParseSLO(tt.in)
		if !errors.Is(err, ErrInvalidSLO) {
			t.Errorf("ParseSLO(%q) error %v, want one wrapping ErrInvalidSLO", tt.in, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseSLO(%q) error %q, want it to mention %q", tt.in, err, w)
			}
		}
	}
}

func TestSLOJudge(t *testing.T) {
	slo, err := ParseSLO("persisted_p99<2s,error_rate<=0.1%,lost<1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		m    Measure
		want []string
	}{
		{Measure{PersistedP99: 1999, ErrorRate: 0.001}, nil},
		{Measure{PersistedP99: 2000, ErrorRate: 0.0011, Lost: 1}, []string{"persisted_p99<2s", "error_rate<=0.1%", "lost<1"}},
		{Measure{PersistedP99: math.Inf(1)}, []string{"persisted_p99<2s"}},
	}
	for _, tt := range tests {
		if got := slo.Judge(tt.m); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Judge(%+v) = %q, want %q", tt.m, got, tt.want)
		}
	}
	if got, want := slo.String(), "persisted_p99<2s,error_rate<=0.1%,lost<1"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestSizes(t *testing.T) {
	tests := []struct {
		start, step, max int
		want             []int
	}{
		{50, 50, 200, []int{50, 100, 150, 200}},
		{2, 2, 5, []int{2, 4, 5}},
		{10, 5, 10, []int{10}},
	}
	for _, tt := range tests {
		c := Config{Start: tt.start, Step: tt.step, Max: tt.max}
		if got := c.sizes(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("sizes(start %d, step %d, max %d) = %v, want %v", tt.start, tt.step, tt.max, got, tt.want)
		}
	}
}

func FuzzParseSLO(f *testing.F) {
	for _, s := range []string{"persisted_p99<2s,error_rate<0.1%", "lost<=0", "buffering_p99<1s,,", "error_rate<1e400%", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		slo, err := ParseSLO(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidSLO) {
				t.Fatalf("ParseSLO(%q) error %v does not wrap ErrInvalidSLO", s, err)
			}
			return
		}
		for _, term := range slo.Terms {
			if math.IsNaN(term.Limit) || term.Limit < 0 {
				t.Fatalf("ParseSLO(%q) term %+v has a bad limit", s, term)
			}
		}
		again, err := ParseSLO(slo.String())
		if err != nil || !reflect.DeepEqual(again.Terms, slo.Terms) {
			t.Fatalf("ParseSLO(%q).String() = %q does not parse back: %+v, %v", s, slo.String(), again.Terms, err)
		}
	})
}
