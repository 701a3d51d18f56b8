package report

import (
	"math"
	"slices"
	"strings"
)

// Regression thresholds: how much worse a figure may get before Compare
// flags it.
const (
	// LatencyTolerance: a latency statistic up by more than this fraction.
	LatencyTolerance = 0.10
	// ThroughputTolerance: a throughput rate down by more than this fraction.
	ThroughputTolerance = 0.10
)

// Comparison is a baseline run and a candidate side by side: every
// statistic both report, with its change, and the verdicts that flipped.
type Comparison struct {
	Base      Meta `json:"base"`
	Candidate Meta `json:"candidate"`
	// Metrics are the statistics both runs have, in the baseline's order.
	Metrics []MetricDiff `json:"metrics"`
	// Verdicts are the verdicts both runs judged, flipped ones marked.
	Verdicts []VerdictDiff `json:"verdicts,omitempty"`
	// OnlyBase and OnlyCandidate name metric rows one run lacks.
	OnlyBase      []string `json:"only_base,omitempty"`
	OnlyCandidate []string `json:"only_candidate,omitempty"`
	// Regressions counts the flagged metrics and verdicts that went from
	// passing to failing.
	Regressions int `json:"regressions"`
}

// MetricDiff is one statistic of one metric row in both runs.
type MetricDiff struct {
	Name string  `json:"name"` // the row, e.g. camera_ack_latency{ack:persisted}
	Stat string  `json:"stat"` // e.g. p(99)
	Unit string  `json:"unit,omitempty"`
	Base float64 `json:"base"`
	Cand float64 `json:"candidate"`
	// Delta is Cand − Base; Relative is Delta / |Base| (0 when Base is 0).
	Delta    float64 `json:"delta"`
	Relative float64 `json:"relative"`
	// Worse flags a regression beyond tolerance; Better an improvement
	// beyond it. Why says which rule flagged it.
	Worse  bool   `json:"worse,omitempty"`
	Better bool   `json:"better,omitempty"`
	Why    string `json:"why,omitempty"`
}

// VerdictDiff is one verdict in both runs.
type VerdictDiff struct {
	Name    string  `json:"name"`
	Expr    string  `json:"expr"`
	BaseOK  bool    `json:"base_ok"`
	CandOK  bool    `json:"candidate_ok"`
	BaseGot float64 `json:"base_got"`
	CandGot float64 `json:"candidate_got"`
	Flipped bool    `json:"flipped,omitempty"`
}

// compared are the statistics Compare looks at.
var compared = []string{"count", "rate", "value", "avg", "med", "p(90)", "p(95)", "p(99)", "p(99.9)", "max", "passes", "fails"}

// direction says which way a statistic gets worse.
type direction int

const (
	neutral     direction = iota
	higherWorse           // latency
	lowerWorse            // throughput, pass rates
	badCount              // lost, integrity failures, errors: any increase from 0
)

// Compare sets a candidate run against a baseline: each statistic of each
// metric row both have, its absolute and relative change, flagged when
// worse beyond tolerance (latency up 10 %, throughput down 10 %, any
// lost, integrity or error count rising from 0), and the verdicts that
// flipped.
func Compare(base, cand *Run) Comparison {
	cmp := Comparison{Base: base.Meta, Candidate: cand.Meta}
	candRows := map[string]MetricRow{}
	for _, r := range cand.Metrics {
		candRows[r.Name] = r
	}
	baseNames := map[string]bool{}
	for _, br := range base.Metrics {
		baseNames[br.Name] = true
		cr, ok := candRows[br.Name]
		if !ok && isBad(br.Name) && br.Type == "counter" {
			cr, ok = zeroRow(br), true // a problem counter never counted is 0
		}
		if !ok {
			cmp.OnlyBase = append(cmp.OnlyBase, br.Name)
			continue
		}
		for _, st := range compared {
			bv, okB := br.Values[st]
			cv, okC := cr.Values[st]
			if !okB || !okC {
				continue
			}
			d := diff(br, st, bv, cv)
			if d.Worse {
				cmp.Regressions++
			}
			cmp.Metrics = append(cmp.Metrics, d)
		}
	}
	for _, r := range cand.Metrics {
		if baseNames[r.Name] {
			continue
		}
		if !isBad(r.Name) || r.Type != "counter" {
			cmp.OnlyCandidate = append(cmp.OnlyCandidate, r.Name)
			continue
		}
		// A problem counter the baseline never counted was 0 there.
		for _, st := range compared {
			if cv, ok := r.Values[st]; ok {
				d := diff(r, st, 0, cv)
				if d.Worse {
					cmp.Regressions++
				}
				cmp.Metrics = append(cmp.Metrics, d)
			}
		}
	}
	candV := map[string]Verdict{}
	for _, v := range cand.Verdicts {
		candV[v.Name+"\x00"+v.Expr] = v
	}
	for _, bv := range base.Verdicts {
		cv, ok := candV[bv.Name+"\x00"+bv.Expr]
		if !ok {
			continue
		}
		vd := VerdictDiff{Name: bv.Name, Expr: bv.Expr, BaseOK: bv.OK, CandOK: cv.OK, BaseGot: bv.Got, CandGot: cv.Got, Flipped: bv.OK != cv.OK}
		if bv.OK && !cv.OK {
			cmp.Regressions++
		}
		cmp.Verdicts = append(cmp.Verdicts, vd)
	}
	return cmp
}

// zeroRow is row with every value 0.
func zeroRow(row MetricRow) MetricRow {
	z := MetricRow{Name: row.Name, Type: row.Type, Unit: row.Unit, Values: map[string]float64{}}
	for k := range row.Values {
		z.Values[k] = 0
	}
	return z
}

// diff compares one statistic.
func diff(row MetricRow, stat string, bv, cv float64) MetricDiff {
	d := MetricDiff{Name: row.Name, Stat: stat, Unit: statUnitOf(row, stat), Base: bv, Cand: cv, Delta: cv - bv}
	if bv != 0 {
		d.Relative = d.Delta / math.Abs(bv)
	}
	switch directionOf(row, stat) {
	case higherWorse:
		if bv > 0 && d.Relative > LatencyTolerance {
			d.Worse, d.Why = true, "latency up more than 10 %"
		} else if bv > 0 && d.Relative < -LatencyTolerance {
			d.Better = true
		}
	case lowerWorse:
		if bv > 0 && d.Relative < -ThroughputTolerance {
			d.Worse, d.Why = true, "down more than 10 %"
		} else if bv > 0 && d.Relative > ThroughputTolerance {
			d.Better = true
		}
	case badCount:
		switch {
		case bv == 0 && cv > 0:
			d.Worse, d.Why = true, "was 0"
		case bv > 0 && d.Relative > LatencyTolerance:
			d.Worse, d.Why = true, "up more than 10 %"
		case cv < bv:
			d.Better = true
		}
	}
	return d
}

// badWords mark metrics whose every occurrence is a problem.
var badWords = []string{"lost", "integrity", "error", "fail", "drop", "unverified", "reconnect", "refused", "not_verified"}

func isBad(name string) bool {
	base, _, _ := strings.Cut(name, "{")
	return slices.ContainsFunc(badWords, func(w string) bool { return strings.Contains(base, w) })
}

// directionOf decides which way a row's statistic gets worse.
func directionOf(row MetricRow, stat string) direction {
	bad := isBad(row.Name)
	switch row.Type {
	case "trend":
		if row.Unit == "ms" && stat != "count" {
			return higherWorse
		}
	case "counter":
		if bad {
			return badCount
		}
		if stat == "rate" {
			return lowerWorse
		}
	case "rate":
		switch {
		case bad && (stat == "rate" || stat == "passes"):
			return badCount // e.g. http_req_failed: its rate is the failure rate
		case !bad && stat == "rate":
			return lowerWorse // e.g. checks
		case !bad && stat == "fails":
			return badCount
		}
	}
	return neutral
}

// statUnitOf is the unit a row's statistic is in.
func statUnitOf(row MetricRow, stat string) string {
	switch {
	case row.Type == "counter" && stat == "rate":
		return row.Unit + "/s"
	case row.Type == "counter":
		return row.Unit
	case stat == "count" || stat == "passes" || stat == "fails" || row.Type == "rate":
		return ""
	}
	return row.Unit
}
