package live

import (
	"strings"

	"github.com/camstorm/camstorm/results"
)

// Namespace prefixes every exported metric name.
const Namespace = "camstorm"

// allowedTags are the sample tags that may become labels, in label order.
// Everything else (url, camera, vu, iter and any script tag) is left out:
// each distinct value would be a new series.
var allowedTags = []string{
	"scenario", "ack", "profile", "kind", "error_id", "reason",
	"status", "method", "name", "expected_response", "check", "group",
}

// metricTags narrows the labels of the metrics camstorm itself defines to
// the tags that mean something on them; other metrics get allowedTags.
var metricTags = map[string][]string{
	"camera_ack_latency":         {"scenario", "ack", "profile", "kind"},
	"camera_fragments":           {"scenario", "profile", "kind"},
	"camera_fragments_persisted": {"scenario", "profile", "kind"},
	"camera_bytes":               {"scenario", "profile", "kind"},
	"camera_reconnects":          {"scenario", "profile", "kind"},
	"camera_ack_errors":          {"scenario", "error_id", "profile", "kind"},
	"camera_drops":               {"scenario", "reason", "profile", "kind"},
	"camera_lost":                {"scenario", "profile", "kind"},
	"camera_integrity_failures":  {"scenario", "profile", "kind"},
	"camera_unverified":          {"scenario", "profile", "kind"},
	"vus":                        {},
	"vus_max":                    {},
	"cameras":                    {},
	"camera_starts":              {"scenario", "profile", "kind"},
	"iterations":                 {"scenario", "group"},
	"iteration_duration":         {"scenario", "group"},
	"checks":                     {"scenario", "check", "group"},
	"group_duration":             {"scenario", "group"},
}

// fixedLabels are labels a metric always carries: the runner's cameras
// gauge counts the cameras streaming, one state of "cameras by state".
var fixedLabels = map[string][][2]string{
	"cameras": {{"state", "streaming"}},
}

// labelsOf returns the tags metric name may export as labels.
func labelsOf(name string) []string {
	if l, ok := metricTags[name]; ok {
		return l
	}
	return allowedTags
}

// Names returns the Prometheus names m is exported under: one for a
// counter or gauge, two for a rate (passes, fails) and one for a trend,
// whose series are that name with _bucket, _sum and _count.
func Names(m *results.Metric) []string {
	base := Namespace + "_" + m.Name
	unit := ""
	switch m.Contains {
	case results.Time:
		unit = "_seconds"
	case results.Data:
		unit = "_bytes"
	}
	if unit != "" && strings.HasSuffix(base, unit) {
		unit = ""
	}
	switch m.Type {
	case results.Counter:
		return []string{base + unit + "_total"}
	case results.Rate:
		return []string{base + "_passes_total", base + "_fails_total"}
	}
	return []string{base + unit}
}

// scale converts a sample value to the exported unit: results keep time
// in milliseconds, Prometheus wants seconds.
func scale(c results.Contains) float64 {
	if c == results.Time {
		return 1e-3
	}
	return 1
}

// Bucket upper bounds of the exported histograms.
var (
	// timeBuckets span 1 ms to 60 s, finer from 0.5 s to 10 s where
	// fragment ACKs land (a fragment is one GOP, often 1–4 s).
	timeBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 15, 20, 30, 60}
	// dataBuckets span 64 B to 1 GiB, a factor of 4 apart.
	dataBuckets = []float64{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20, 1 << 30}
	// plainBuckets span 0.001 to 1e6, a decade apart with a 2.5 and 5 step.
	plainBuckets = []float64{0.001, 0.01, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 1e4, 1e5, 1e6}
)

func bucketsOf(c results.Contains) []float64 {
	switch c {
	case results.Time:
		return timeBuckets
	case results.Data:
		return dataBuckets
	}
	return plainBuckets
}
