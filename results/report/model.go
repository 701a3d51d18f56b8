// Package report turns what camstorm runs produce — scenario results
// files, k6 NDJSON and CSV, fleet reports, conformance reports, capacity
// searches — into one model, and renders it as a self-contained HTML page
// or JSON.
package report

import "time"

// SchemaVersion names the JSON form of Run.
const SchemaVersion = "camstorm.report/v1"

// Kinds of run a report describes.
const (
	KindScenario    = "scenario"
	KindFleet       = "fleet"
	KindConformance = "conformance"
	KindCapacity    = "capacity"
)

// Run is everything a report shows of one run, whatever produced it.
// Sections a source cannot fill are left empty and not rendered.
type Run struct {
	Schema string `json:"schema"`
	Kind   string `json:"kind"`
	Meta   Meta   `json:"meta"`
	// Verdicts are thresholds and SLOs, each with what was measured.
	Verdicts []Verdict `json:"verdicts,omitempty"`
	// Metrics are whole-run figures, one row per metric or sub-series.
	Metrics []MetricRow `json:"metrics,omitempty"`
	// Charts are the over-time views, each a set of lines on one axis.
	Charts []Chart `json:"charts,omitempty"`
	// Profiles breaks the cameras down by network profile.
	Profiles []ProfileRow `json:"profiles,omitempty"`
	// Worst are the cameras that fared worst (most lost, then most
	// reconnects, then slowest PERSISTED).
	Worst []CameraRow `json:"worst,omitempty"`
	// Cases are a conformance run's cases.
	Cases []CaseRow `json:"cases,omitempty"`
	// Capacity is a capacity search's outcome.
	Capacity *Capacity `json:"capacity,omitempty"`
	// Notes are facts about the data a reader should know (clamped
	// histograms, merged shards, unreadable lines skipped).
	Notes []string `json:"notes,omitempty"`
}

// Meta says what ran, where, and when.
type Meta struct {
	Title    string    `json:"title"`
	Version  string    `json:"version,omitempty"`
	Scenario string    `json:"scenario,omitempty"` // script path or command
	Target   string    `json:"target,omitempty"`
	Seed     int64     `json:"seed,omitempty"`
	Segment  string    `json:"segment,omitempty"`
	Machine  string    `json:"machine,omitempty"` // OS/arch, CPUs, Go version
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Sources  []string  `json:"sources,omitempty"` // the files read
}

// Verdict is one threshold or SLO.
type Verdict struct {
	Name string  `json:"name"` // metric selector or SLO name
	Expr string  `json:"expr"` // as written, e.g. "p(99)<2000"
	Got  float64 `json:"got"`
	Unit string  `json:"unit,omitempty"`
	OK   bool    `json:"ok"`
}

// MetricRow is one metric (or tagged sub-series) over the whole run.
type MetricRow struct {
	Name string `json:"name"` // e.g. camera_ack_latency{ack:persisted}
	Type string `json:"type"` // counter, gauge, rate, trend
	Unit string `json:"unit,omitempty"`
	// Values by stat name: count, rate; value, min, max; rate, passes,
	// fails; avg, min, med, max, p(90), p(99), p(99.9).
	Values map[string]float64 `json:"values"`
}

// Chart is one over-time view: lines sharing an axis.
type Chart struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Unit  string `json:"unit,omitempty"` // ms, /s, cameras, count
	Lines []Line `json:"lines"`
}

// Line is one labelled series of points.
type Line struct {
	Label  string  `json:"label"`
	Points []Point `json:"points"`
}

// Point is a value at an instant (a time bucket's start).
type Point struct {
	T time.Time `json:"t"`
	V float64   `json:"v"`
}

// ProfileRow is one network profile's cameras over the run.
type ProfileRow struct {
	Profile       string  `json:"profile"`
	Cameras       int64   `json:"cameras,omitempty"`
	Fragments     float64 `json:"fragments"`
	Persisted     float64 `json:"persisted"`
	PersistedP99  float64 `json:"persisted_p99_ms"`
	Reconnects    float64 `json:"reconnects"`
	Drops         float64 `json:"drops"`
	Lost          float64 `json:"lost"`
	AckErrors     float64 `json:"ack_errors"`
	IntegrityFail float64 `json:"integrity_failures"`
}

// CameraRow is one camera's outcome.
type CameraRow struct {
	Stream       string  `json:"stream"`
	Profile      string  `json:"profile,omitempty"`
	Kind         string  `json:"kind,omitempty"`
	Fragments    int64   `json:"fragments"`
	Lost         int64   `json:"lost"`
	Reconnects   int64   `json:"reconnects"`
	AckErrors    int64   `json:"ack_errors"`
	PersistedP99 float64 `json:"persisted_p99_ms"`
	Problem      string  `json:"problem,omitempty"`
}

// CaseRow is one conformance case.
type CaseRow struct {
	ID          string   `json:"id"`
	Suite       string   `json:"suite"`
	Requirement string   `json:"requirement"`
	Level       string   `json:"level"` // MUST, SHOULD
	Verdict     string   `json:"verdict"`
	Reason      string   `json:"reason,omitempty"`
	Evidence    []string `json:"evidence,omitempty"`
	DurationMS  float64  `json:"duration_ms"`
}

// Capacity is the outcome of a capacity search.
type Capacity struct {
	SLO string `json:"slo"`
	// Steps are the fleet sizes tried, in order.
	Steps []CapacityStep `json:"steps"`
	// Sustainable is the largest fleet that met the SLO (0: none did).
	Sustainable int `json:"sustainable"`
	// Knee is where throughput stops growing with load, by the knee
	// detection in the report (0 if not reached).
	Knee int       `json:"knee"`
	USL  *USLFit   `json:"usl,omitempty"`
	Stop string    `json:"stop"` // why the search stopped
	At   time.Time `json:"at"`
}

// CapacityStep is one fleet size held for a while.
type CapacityStep struct {
	Cameras      int      `json:"cameras"`
	Throughput   float64  `json:"throughput"` // PERSISTED fragments per second
	PersistedP99 float64  `json:"persisted_p99_ms"`
	ErrorRate    float64  `json:"error_rate"`
	OK           bool     `json:"ok"`
	Failed       []string `json:"failed,omitempty"` // SLO terms it broke
}

// USLFit is a Universal Scalability Law fit X(N) = λN / (1 + σ(N−1) + κN(N−1)).
type USLFit struct {
	Lambda float64 `json:"lambda"` // throughput of one unit
	Sigma  float64 `json:"sigma"`  // contention
	Kappa  float64 `json:"kappa"`  // coherency
	// PeakN is where the fitted curve peaks, sqrt((1−σ)/κ); PeakX its throughput.
	PeakN float64 `json:"peak_n"`
	PeakX float64 `json:"peak_x"`
	// R2 and RMSE say how well the curve fits the steps.
	R2   float64 `json:"r2"`
	RMSE float64 `json:"rmse"`
}
