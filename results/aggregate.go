package results

import "time"

// Aggregate is a metric (or sub-metric) summed over every series a
// selector matches: what thresholds judge and summaries print.
type Aggregate struct {
	Type     MetricType
	Contains Contains
	// Samples is how many samples fed it.
	Samples int64
	// Sum is a Counter's total, a Trend's sum of values.
	Sum float64
	// Last, Min and Max: a Gauge's last value written and its extremes;
	// Min and Max are also a Trend's exact extremes.
	Last, Min, Max float64
	// Passes and Fails count a Rate's non-zero and zero samples.
	Passes, Fails int64
	// Elapsed is the test time a Counter's rate is taken over.
	Elapsed time.Duration
	// Quantile returns a Trend's q-quantile (0 ≤ q ≤ 1) from its histogram,
	// within RelativeError; nil for other types.
	Quantile func(q float64) float64
}

// RelativeError bounds how far a Trend percentile may be from the exact
// value k6 would compute from every sample: HDR histograms with three
// significant digits.
const RelativeError = 0.001

// Stat returns one summary statistic by its k6 name: count and rate for a
// Counter; value, min and max for a Gauge; rate, passes and fails for a
// Rate; avg, min, med, max, count and p(N) for a Trend. ok is false for a
// name the type does not have.
func (a Aggregate) Stat(name string) (v float64, ok bool) {
	switch a.Type {
	case Counter:
		switch name {
		case "count":
			return a.Sum, true
		case "rate":
			if a.Elapsed <= 0 {
				return 0, true
			}
			return a.Sum / a.Elapsed.Seconds(), true
		}
	case Gauge:
		switch name {
		case "value":
			return a.Last, true
		case "min":
			return a.Min, true
		case "max":
			return a.Max, true
		}
	case Rate:
		switch name {
		case "rate":
			if a.Passes+a.Fails == 0 {
				return 0, true
			}
			return float64(a.Passes) / float64(a.Passes+a.Fails), true
		case "passes":
			return float64(a.Passes), true
		case "fails":
			return float64(a.Fails), true
		}
	case Trend:
		switch name {
		case "count":
			return float64(a.Samples), true
		case "avg":
			if a.Samples == 0 {
				return 0, true
			}
			return a.Sum / float64(a.Samples), true
		case "min":
			return a.Min, true
		case "max":
			return a.Max, true
		case "med":
			return a.quantile(0.5), true
		}
		if agg, err := parseAggregation(name); err == nil && agg.Name == "p" {
			return a.quantile(agg.Percentile / 100), true
		}
	}
	return 0, false
}

func (a Aggregate) quantile(q float64) float64 {
	if a.Quantile == nil || a.Samples == 0 {
		return 0
	}
	return a.Quantile(q)
}

// Verdict is one threshold judged at one evaluation.
type Verdict struct {
	// Key is the threshold's metric selector as written.
	Key       string
	Threshold Threshold
	// Got is the aggregation's value; Empty is set when no sample matched
	// (k6: a Rate with no samples passes, other types are judged as 0).
	Got   float64
	Empty bool
	OK    bool
}

// Group is a k6 group with the checks run in it, as the end-of-test
// summary shows them. The root group has Name "" and Path "".
type Group struct {
	Name string `json:"name"`
	// Path is the "::"-joined path, e.g. "::outer::inner".
	Path   string   `json:"path"`
	Groups []*Group `json:"groups"`
	Checks []*Check `json:"checks"`
}

// Check is one named check within a group and how often it held.
type Check struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Passes int64  `json:"passes"`
	Fails  int64  `json:"fails"`
}
