package results

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// MetricType is a k6 metric type; it decides which aggregations a
// threshold may use.
type MetricType int

// The k6 metric types.
const (
	Counter MetricType = iota + 1
	Gauge
	Rate
	Trend
)

func (m MetricType) String() string {
	switch m {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Rate:
		return "rate"
	case Trend:
		return "trend"
	}
	return "unknown"
}

// aggregationsOf lists what a threshold on each metric type may compute
// (k6 metrics/thresholds.go; anything else is exit 104 before the run).
var aggregationsOf = map[MetricType][]string{
	Counter: {"count", "rate"},
	Gauge:   {"value"},
	Rate:    {"rate"},
	Trend:   {"avg", "min", "max", "med", "p(N)"},
}

// Operator compares an aggregation with a threshold's number.
type Operator string

// The operators, in the order k6 looks for them in an expression: the
// first one present splits it, so "<=" wins over "<".
const (
	LessOrEqual    Operator = "<="
	Less           Operator = "<"
	GreaterOrEqual Operator = ">="
	Greater        Operator = ">"
	StrictEqual    Operator = "===" // same as ==
	Equal          Operator = "=="
	NotEqual       Operator = "!="
)

var operatorsInOrder = []Operator{LessOrEqual, Less, GreaterOrEqual, Greater, StrictEqual, Equal, NotEqual}

// Aggregation is what a threshold computes of its metric: "value",
// "count", "rate", "avg", "min", "med", "max", or "p" with Percentile.
type Aggregation struct {
	Name       string
	Percentile float64 // 0..100, for "p"
}

func (a Aggregation) String() string {
	if a.Name == "p" {
		return "p(" + strconv.FormatFloat(a.Percentile, 'f', -1, 64) + ")"
	}
	return a.Name
}

// Threshold is one threshold of a metric: an expression and, from the
// object form, when it aborts the run.
type Threshold struct {
	// Source is the expression as written, the key k6 reports it under.
	Source      string
	Aggregation Aggregation
	Operator    Operator
	Value       float64
	// AbortOnFail ends the run (exit 99) when the threshold fails at an
	// evaluation after DelayAbortEval of test time.
	AbortOnFail    bool
	DelayAbortEval time.Duration
}

// ErrThreshold marks every threshold parse or validation error.
var ErrThreshold = errors.New("invalid threshold")

// ParseThreshold parses "<aggregation> <operator> <number>" as k6 does:
// the first operator found (in k6's order) splits it, whitespace around
// the parts is ignored, the number is a float, p(N) needs 0 ≤ N ≤ 100.
func ParseThreshold(expr string) (Threshold, error) {
	bad := func(format string, args ...any) (Threshold, error) {
		return Threshold{}, fmt.Errorf("%w %q: "+format, append([]any{ErrThreshold, expr}, args...)...)
	}
	for _, op := range operatorsInOrder {
		left, right, found := strings.Cut(expr, string(op))
		if !found {
			continue
		}
		agg, err := parseAggregation(strings.TrimSpace(left))
		if err != nil {
			return bad("%v", err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(right), 64)
		if err != nil {
			return bad("%q is not a number", strings.TrimSpace(right))
		}
		if op == StrictEqual {
			op = Equal
		}
		return Threshold{Source: expr, Aggregation: agg, Operator: op, Value: v}, nil
	}
	return bad("no operator; want one of <= < >= > == === != , e.g. \"p(99)<2000\"")
}

func parseAggregation(s string) (Aggregation, error) {
	switch s {
	case "value", "count", "rate", "avg", "min", "med", "max":
		return Aggregation{Name: s}, nil
	}
	if inner, ok := strings.CutPrefix(s, "p("); ok {
		if num, ok := strings.CutSuffix(inner, ")"); ok {
			p, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || math.IsNaN(p) || p < 0 || p > 100 {
				return Aggregation{}, fmt.Errorf("percentile %q: want a number from 0 to 100", num)
			}
			return Aggregation{Name: "p", Percentile: p}, nil
		}
	}
	return Aggregation{}, fmt.Errorf("aggregation %q: want value, count, rate, avg, min, med, max or p(N)", s)
}

// AllowedFor reports an error when the threshold's aggregation is not one
// k6 allows on a metric of type m, naming the ones it allows.
func (t Threshold) AllowedFor(m MetricType) error {
	allowed := aggregationsOf[m]
	name := t.Aggregation.Name
	if name == "p" {
		name = "p(N)"
	}
	for _, a := range allowed {
		if a == name {
			return nil
		}
	}
	return fmt.Errorf("%w %q: %s is not defined for a %s metric; use %s", ErrThreshold, t.Source, t.Aggregation, m,
		strings.Join(allowed, ", "))
}

// Passes reports whether an aggregated value satisfies the threshold.
func (t Threshold) Passes(got float64) bool {
	switch t.Operator {
	case LessOrEqual:
		return got <= t.Value
	case Less:
		return got < t.Value
	case GreaterOrEqual:
		return got >= t.Value
	case Greater:
		return got > t.Value
	case Equal, StrictEqual:
		return got == t.Value
	case NotEqual:
		return got != t.Value
	}
	return false
}

// Selector names a metric, or a sub-metric of it: "metric" or
// "metric{key:value,...}".
type Selector struct {
	Metric string
	// Tags a sample must carry (among others) to feed the sub-metric.
	Tags map[string]string
}

// ParseSelector parses a threshold key as k6 does: the brace part must end
// the string, each pair splits at its first colon, whitespace and
// surrounding quotes are trimmed, and an empty value is an error.
func ParseSelector(key string) (Selector, error) {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		if strings.TrimSpace(key) == "" || strings.ContainsAny(key, "}") {
			return Selector{}, fmt.Errorf("%w: metric name %q", ErrThreshold, key)
		}
		return Selector{Metric: key}, nil
	}
	if !strings.HasSuffix(key, "}") {
		return Selector{}, fmt.Errorf("%w: selector %q: the tag list must end the name with }", ErrThreshold, key)
	}
	sel := Selector{Metric: key[:open], Tags: map[string]string{}}
	if sel.Metric == "" {
		return Selector{}, fmt.Errorf("%w: selector %q has no metric name", ErrThreshold, key)
	}
	for _, pair := range strings.Split(key[open+1:len(key)-1], ",") {
		k, v, ok := strings.Cut(pair, ":")
		k, v = trimTag(k), trimTag(v)
		if !ok || k == "" || v == "" {
			return Selector{}, fmt.Errorf("%w: selector %q: %q is not key:value with a value", ErrThreshold, key, pair)
		}
		sel.Tags[k] = v
	}
	return sel, nil
}

func trimTag(s string) string {
	return strings.Trim(strings.TrimSpace(s), `"'`)
}

// Matches reports whether a sample with these tags feeds the selector's
// (sub-)metric: it must carry every selector tag with the same value.
func (s Selector) Matches(tags map[string]string) bool {
	for k, v := range s.Tags {
		if tags[k] != v {
			return false
		}
	}
	return true
}
