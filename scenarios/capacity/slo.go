package capacity

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidSLO wraps every problem ParseSLO finds.
var ErrInvalidSLO = errors.New("capacity: invalid SLO")

// SLO term names.
const (
	// TermPersistedP99 and TermPersistedP999 bound the 99th and 99.9th
	// percentile of PERSISTED ACK latency (a duration).
	TermPersistedP99  = "persisted_p99"
	TermPersistedP999 = "persisted_p999"
	// TermBufferingP99 bounds the 99th percentile of BUFFERING ACK latency.
	TermBufferingP99 = "buffering_p99"
	// TermErrorRate bounds ERROR ACKs over all ACKs: a percentage ("0.1%")
	// or a fraction ("0.001").
	TermErrorRate = "error_rate"
	// TermLost bounds acknowledged fragments missing on read-back (a count).
	TermLost = "lost"
)

// terms lists every term with the kind of its limit, in the order errors
// name them.
var terms = []struct{ name, kind string }{
	{TermPersistedP99, "duration"}, {TermPersistedP999, "duration"}, {TermBufferingP99, "duration"},
	{TermErrorRate, "percent or fraction"}, {TermLost, "count"},
}

// SLO is a set of limits every step of a search must meet.
type SLO struct {
	Terms []Term
}

// Term is one limit: the measured value must be below Limit (or equal to
// it, when OrEqual).
type Term struct {
	Name string
	// Limit is in milliseconds for latencies, a fraction for error_rate
	// and a count for lost.
	Limit   float64
	OrEqual bool
	// Text is the term as written.
	Text string
}

// String is the SLO as written, terms joined by commas.
func (s SLO) String() string {
	parts := make([]string, len(s.Terms))
	for i, t := range s.Terms {
		parts[i] = t.Text
	}
	return strings.Join(parts, ",")
}

// Has reports whether the SLO has a term called name.
func (s SLO) Has(name string) bool {
	for _, t := range s.Terms {
		if t.Name == name {
			return true
		}
	}
	return false
}

// ParseSLO parses comma-separated terms such as
// "persisted_p99<2s,error_rate<0.1%". Each term is NAME<LIMIT or
// NAME<=LIMIT; every problem is reported at once, each wrapping
// ErrInvalidSLO.
func ParseSLO(s string) (SLO, error) {
	var (
		slo  SLO
		errs []error
		seen = map[string]bool{}
	)
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidSLO}, args...)...))
	}
	if strings.TrimSpace(s) == "" {
		bad("empty; want terms like %q (terms: %s)", "persisted_p99<2s,error_rate<0.1%", termList())
		return SLO{}, errors.Join(errs...)
	}
	for raw := range strings.SplitSeq(s, ",") {
		text := strings.TrimSpace(raw)
		if text == "" {
			bad("an empty term in %q", s)
			continue
		}
		i := strings.IndexByte(text, '<')
		if i < 0 {
			bad("term %q has no '<'; want NAME<LIMIT, e.g. persisted_p99<2s", text)
			continue
		}
		t := Term{Name: strings.TrimSpace(text[:i]), Text: text}
		rest := text[i+1:]
		if strings.HasPrefix(rest, "=") {
			t.OrEqual, rest = true, rest[1:]
		}
		rest = strings.TrimSpace(rest)
		kind := ""
		for _, k := range terms {
			if k.name == t.Name {
				kind = k.kind
			}
		}
		if kind == "" {
			bad("unknown term %q in %q (terms: %s)", t.Name, text, termList())
			continue
		}
		if seen[t.Name] {
			bad("term %q given twice", t.Name)
		}
		seen[t.Name] = true
		var err error
		t.Limit, err = parseLimit(kind, rest)
		if err != nil {
			bad("term %q: %v", text, err)
			continue
		}
		slo.Terms = append(slo.Terms, t)
	}
	if err := errors.Join(errs...); err != nil {
		return SLO{}, err
	}
	return slo, nil
}

func parseLimit(kind, s string) (float64, error) {
	switch kind {
	case "duration":
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("limit %q is not a positive duration like 2s or 500ms", s)
		}
		return float64(d) / float64(time.Millisecond), nil
	case "count":
		n, err := strconv.ParseUint(s, 10, 53)
		if err != nil {
			return 0, fmt.Errorf("limit %q is not a whole number >= 0", s)
		}
		return float64(n), nil
	default: // percent or fraction
		pct := strings.HasSuffix(s, "%")
		v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || math.IsNaN(v) || v < 0 {
			return 0, fmt.Errorf("limit %q is not a percentage like 0.1%% or a fraction like 0.001", s)
		}
		if pct {
			v /= 100
		}
		if v > 1 {
			return 0, fmt.Errorf("limit %q is above 100%%", s)
		}
		return v, nil
	}
}

func termList() string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = t.name + " (" + t.kind + ")"
	}
	return strings.Join(parts, ", ")
}

// Measure is what one step measured, in the units of Term.Limit.
type Measure struct {
	PersistedP99, PersistedP999, BufferingP99 float64 // ms; +Inf when none arrived
	ErrorRate                                 float64 // ERROR ACKs over ACKs; 1 when no ACK arrived
	Lost                                      float64
}

// value is the measured value a term judges.
func (m Measure) value(name string) float64 {
	switch name {
	case TermPersistedP99:
		return m.PersistedP99
	case TermPersistedP999:
		return m.PersistedP999
	case TermBufferingP99:
		return m.BufferingP99
	case TermErrorRate:
		return m.ErrorRate
	case TermLost:
		return m.Lost
	}
	return math.NaN()
}

// Judge returns the text of every term m breaks, in the SLO's order (nil
// when it meets them all).
func (s SLO) Judge(m Measure) []string {
	var failed []string
	for _, t := range s.Terms {
		v := m.value(t.Name)
		ok := v < t.Limit || (t.OrEqual && v == t.Limit)
		if !ok {
			failed = append(failed, t.Text)
		}
	}
	return failed
}
