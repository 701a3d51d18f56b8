// Package conformreport reads `camstorm conform --json` reports into the
// report model, for camstorm report.
package conformreport

import (
	"io"
	"strings"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/results/report"
)

// Format lets camstorm report read conform --json reports.
var Format = report.Format{
	Name:   "camstorm conformance report (" + conformance.ReportSchema + ")",
	Detect: func(schema string, _ map[string]bool) bool { return schema == conformance.ReportSchema },
	Decode: func(r io.Reader) (*report.Run, error) {
		var doc struct {
			Schema string `json:"schema"`
			conformance.Report
		}
		if err := report.DecodeDocument(r, &doc); err != nil {
			return nil, err
		}
		return Run(&doc.Report), nil
	},
}

// Run is a conformance run as camstorm report shows it: its cases with
// evidence, verdict counts, and a verdict per suite (every MUST case
// passed and none hit a harness error).
func Run(r *conformance.Report) *report.Run {
	run := &report.Run{Schema: report.SchemaVersion, Kind: report.KindConformance, Meta: report.Meta{
		Title: "camstorm conform", Target: r.Target, Start: r.Started,
		End: r.Started.Add(time.Duration(r.Duration)),
	}}
	type suiteTally struct{ cases, mustFail, harness int }
	tally := map[string]*suiteTally{}
	var order []string
	for _, res := range r.Results {
		t := tally[res.Suite]
		if t == nil {
			t = &suiteTally{}
			tally[res.Suite] = t
			order = append(order, res.Suite)
		}
		t.cases++
		if res.Verdict == conformance.Fail && res.Level == conformance.Must {
			t.mustFail++
		}
		if res.Verdict == conformance.Harness {
			t.harness++
		}
		var ev []string
		for _, a := range res.Actual {
			ev = append(ev, "actual: "+a)
		}
		for _, e := range res.Evidence {
			ev = append(ev, e.Kind+": "+e.Detail)
		}
		req := res.Requirement.ID
		if res.Requirement.Text != "" {
			req += " " + res.Requirement.Text
		}
		run.Cases = append(run.Cases, report.CaseRow{
			ID: res.ID, Suite: res.Suite, Requirement: strings.TrimSpace(req), Level: string(res.Level),
			Verdict: string(res.Verdict), Reason: res.Reason, Evidence: ev,
			DurationMS: float64(time.Duration(res.Duration)) / float64(time.Millisecond),
		})
	}
	for _, s := range order {
		t := tally[s]
		run.Verdicts = append(run.Verdicts, report.Verdict{Name: "suite " + s, Expr: "every MUST case passes",
			Got: float64(t.mustFail + t.harness), OK: t.mustFail == 0 && t.harness == 0})
	}
	c := r.Counts()
	run.Metrics = append(run.Metrics, report.MetricRow{Name: "conformance_cases", Type: "counter", Values: map[string]float64{
		"count": float64(len(r.Results)), "pass": float64(c.Pass), "fail": float64(c.Fail), "skip": float64(c.Skip),
		"error": float64(c.Harness), "must_fail": float64(c.MustFail)}})
	return run
}
