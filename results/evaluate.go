package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ThresholdSpec is one item of a k6 `thresholds` list: an expression, and
// from the object form whether a failure aborts the run and after how much
// test time.
type ThresholdSpec struct {
	Threshold      string `json:"threshold"`
	AbortOnFail    bool   `json:"abortOnFail,omitempty"`
	DelayAbortEval string `json:"delayAbortEval,omitempty"`
}

// UnmarshalJSON accepts "expr" or {threshold, abortOnFail, delayAbortEval};
// delayAbortEval may be a duration string or a number of milliseconds.
// Unknown fields are an error naming them.
func (s *ThresholdSpec) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var expr string
		if err := json.Unmarshal(data, &expr); err != nil {
			return fmt.Errorf("%w: %v", ErrThreshold, err)
		}
		*s = ThresholdSpec{Threshold: expr}
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		return fmt.Errorf("%w: %s: want a string or {threshold, abortOnFail, delayAbortEval}", ErrThreshold, clip(data))
	}
	var unknown []string
	for k := range raw {
		if k != "threshold" && k != "abortOnFail" && k != "delayAbortEval" {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("%w: unknown field %s; want threshold, abortOnFail, delayAbortEval", ErrThreshold, strings.Join(unknown, ", "))
	}
	var out ThresholdSpec
	if err := json.Unmarshal(raw["threshold"], &out.Threshold); err != nil || out.Threshold == "" {
		return fmt.Errorf("%w: %s: \"threshold\" must be a non-empty string", ErrThreshold, clip(data))
	}
	if v, ok := raw["abortOnFail"]; ok {
		if err := json.Unmarshal(v, &out.AbortOnFail); err != nil {
			return fmt.Errorf("%w: %s: \"abortOnFail\" must be true or false", ErrThreshold, clip(data))
		}
	}
	if v, ok := raw["delayAbortEval"]; ok && string(v) != "null" {
		var str string
		var num json.Number
		switch {
		case json.Unmarshal(v, &str) == nil:
			out.DelayAbortEval = str
		case json.Unmarshal(v, &num) == nil:
			out.DelayAbortEval = num.String()
		default:
			return fmt.Errorf("%w: %s: \"delayAbortEval\" must be a duration such as \"10s\"", ErrThreshold, clip(data))
		}
	}
	*s = out
	return nil
}

// MarshalJSON writes the plain string form when nothing else is set.
func (s ThresholdSpec) MarshalJSON() ([]byte, error) {
	type plain ThresholdSpec
	var v any = plain(s)
	if !s.AbortOnFail && s.DelayAbortEval == "" {
		v = s.Threshold
	}
	// Unescaped, so "p(95)<200" reads as written.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

// ParseK6Duration parses a duration as k6 accepts it: a Go duration
// ("1m30s"), the same with days ("1d12h"), or a bare number of
// milliseconds.
func ParseK6Duration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if ms, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(ms) || math.IsInf(ms, 0) || math.Abs(ms) > float64(math.MaxInt64/int64(time.Millisecond)) {
			return 0, fmt.Errorf("duration %q is out of range", s)
		}
		return time.Duration(ms * float64(time.Millisecond)), nil
	}
	var days time.Duration
	if d, rest, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.ParseUint(d, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("duration %q: want e.g. 30s, 1m30s, 1d2h or a number of milliseconds", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		if rest == "" {
			return days, nil
		}
		s = rest
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want e.g. 30s, 1m30s, 1d2h or a number of milliseconds", s)
	}
	return days + d, nil
}

// Thresholds are a run's thresholds, parsed and validated against its
// metrics, ready to judge a Store.
type Thresholds struct {
	specs   map[string][]ThresholdSpec
	entries []thresholdEntry
}

// thresholdEntry is one key with its parsed thresholds.
type thresholdEntry struct {
	key        string
	sel        Selector
	metric     *Metric
	thresholds []Threshold
}

// NewThresholds parses every key and expression, checks each key names a
// metric in reg and each aggregation suits its type, and records the
// thresholds on the metrics (replacing what was there). Every problem is
// reported at once, each wrapping ErrThreshold; nothing is recorded then.
func NewThresholds(specs map[string][]ThresholdSpec, reg *Registry) (*Thresholds, error) {
	if reg == nil {
		return nil, fmt.Errorf("%w: no metric registry", ErrThreshold)
	}
	th := &Thresholds{specs: cloneSpecs(specs)}
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(specs)) {
		sel, err := ParseSelector(key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m := reg.Get(sel.Metric)
		if m == nil {
			errs = append(errs, fmt.Errorf("%w: %q: no metric %q; the run has %s", ErrThreshold, key, sel.Metric, metricNames(reg)))
			continue
		}
		e := thresholdEntry{key: key, sel: sel, metric: m}
		for _, spec := range specs[key] {
			t, err := ParseThreshold(spec.Threshold)
			if err == nil {
				err = t.AllowedFor(m.Type)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%q: %w", key, err))
				continue
			}
			t.AbortOnFail = spec.AbortOnFail
			if spec.DelayAbortEval != "" {
				d, err := ParseK6Duration(spec.DelayAbortEval)
				if err != nil || d < 0 {
					errs = append(errs, fmt.Errorf("%w: %q %q: delayAbortEval %q: want a duration such as \"10s\"",
						ErrThreshold, key, spec.Threshold, spec.DelayAbortEval))
					continue
				}
				t.DelayAbortEval = d
			}
			e.thresholds = append(e.thresholds, t)
		}
		th.entries = append(th.entries, e)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	record(th.entries)
	return th, nil
}

// record sets Metric.Thresholds and Metric.Submetrics from the entries.
func record(entries []thresholdEntry) {
	own := map[*Metric][]Threshold{}
	subs := map[*Metric][]Submetric{}
	for _, e := range entries {
		if _, seen := own[e.metric]; !seen {
			own[e.metric] = nil
		}
		if e.sel.Tags == nil {
			own[e.metric] = append(own[e.metric], e.thresholds...)
		} else {
			subs[e.metric] = append(subs[e.metric], Submetric{Name: e.key, Selector: e.sel, Thresholds: e.thresholds})
		}
	}
	for m := range own {
		m.Thresholds, m.Submetrics = own[m], subs[m]
	}
}

func metricNames(reg *Registry) string {
	var names []string
	for _, m := range reg.All() {
		names = append(names, m.Name)
	}
	if len(names) == 0 {
		return "no metrics"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func cloneSpecs(specs map[string][]ThresholdSpec) map[string][]ThresholdSpec {
	out := make(map[string][]ThresholdSpec, len(specs))
	for k, v := range specs {
		out[k] = slices.Clone(v)
	}
	return out
}

// Keys returns the threshold keys, sorted.
func (th *Thresholds) Keys() []string {
	keys := make([]string, len(th.entries))
	for i, e := range th.entries {
		keys[i] = e.key
	}
	return keys
}

// Specs returns a copy of the thresholds as written, for results files.
func (th *Thresholds) Specs() map[string][]ThresholdSpec { return cloneSpecs(th.specs) }

// Evaluate judges every threshold against the store, in key order. During
// the run (final false) a key with no samples yet is left out, as k6 skips
// empty sinks; at the final pass it is judged with Empty set: a Rate
// passes, other types are judged as 0.
func (th *Thresholds) Evaluate(s *Store, elapsed time.Duration, final bool) []Verdict {
	var out []Verdict
	for _, e := range th.entries {
		a, ok := s.Aggregate(e.sel.Metric, e.sel, elapsed)
		if !ok && !final {
			continue
		}
		if !ok {
			a = Aggregate{Type: e.metric.Type, Contains: e.metric.Contains, Elapsed: elapsed}
		}
		for _, t := range e.thresholds {
			v := Verdict{Key: e.key, Threshold: t, Empty: !ok}
			if !ok && e.metric.Type == Rate {
				v.OK = true
			} else {
				v.Got, _ = a.Stat(t.Aggregation.String())
				v.OK = t.Passes(v.Got)
			}
			out = append(out, v)
		}
	}
	return out
}

// AbortNow reports whether a failed verdict aborts the run: its threshold
// has AbortOnFail and elapsed has reached its DelayAbortEval.
func AbortNow(v []Verdict, elapsed time.Duration) bool {
	for _, x := range v {
		if !x.OK && x.Threshold.AbortOnFail && elapsed >= x.Threshold.DelayAbortEval {
			return true
		}
	}
	return false
}

// Failed reports whether any verdict failed.
func Failed(v []Verdict) bool {
	for _, x := range v {
		if !x.OK {
			return true
		}
	}
	return false
}
