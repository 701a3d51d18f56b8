// Package fleetreport reads `camstorm fleet --json` reports into the
// report model, for camstorm report.
package fleetreport

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/camstorm/camstorm/results/report"
	"github.com/camstorm/camstorm/simulator/fleet"
)

// Format lets camstorm report read fleet --json reports: they are
// known by their config and verification fields.
var Format = report.Format{
	Name: "camstorm fleet report",
	Detect: func(schema string, keys map[string]bool) bool {
		return schema == "" && keys["config"] && keys["verification"]
	},
	Decode: func(r io.Reader) (*report.Run, error) {
		var rep fleet.Report
		if err := report.DecodeDocument(r, &rep); err != nil {
			return nil, err
		}
		return Run(&rep), nil
	},
}

// Run is a fleet run as camstorm report shows it: its figures as metric
// rows, each verification total the run fails on as a verdict, a row per
// network profile and the worst cameras.
func Run(r *fleet.Report) *report.Run {
	c := r.Config
	run := &report.Run{Schema: report.SchemaVersion, Kind: report.KindFleet, Meta: report.Meta{
		Title: "camstorm fleet",
		Scenario: fmt.Sprintf("fleet: %d cameras for %v, mix %s, profiles %s",
			c.Cameras, c.Duration, c.Mix, c.Profiles),
		Seed: c.Seed, Start: r.Start, End: r.End,
	}}
	elapsed := r.End.Sub(r.Start)
	counter := func(name string, n float64) report.MetricRow { return report.CounterRow(name, n, max(elapsed, 0)) }
	for _, ack := range slices.Sorted(maps.Keys(r.AckLatency)) {
		run.Metrics = append(run.Metrics, latencyRow(report.MetricAckLatency+"{ack:"+strings.ToLower(ack)+"}", r.AckLatency[ack]))
	}
	if r.EndToEnd != nil {
		run.Metrics = append(run.Metrics, latencyRow("end_to_end_latency", *r.EndToEnd))
	}
	p, v, n := r.Producer, r.Verification, r.Network
	bytesRow := counter(report.MetricBytes, float64(p.Bytes))
	bytesRow.Unit = "B"
	run.Metrics = append(run.Metrics,
		report.MetricRow{Name: report.MetricCameras, Type: "gauge", Values: map[string]float64{"value": float64(c.Cameras)}},
		counter(report.MetricFragments, float64(p.Fragments)), counter(report.MetricPersisted, float64(v.AckedFragments)), bytesRow,
		counter("camera_sessions", float64(p.Sessions)), counter(report.MetricReconnects, float64(p.Reconnects)),
		counter(report.MetricAckErrors, float64(p.AckErrors)), counter("camera_connect_failures", float64(p.ConnectFailures)),
		counter("camera_resent", float64(p.Resent)),
		counter(report.MetricDrops, float64(v.CameraDroppedFragments)),
		counter("lost_frames", float64(v.LostFrames)), counter(report.MetricLost, float64(v.LostFragments)),
		counter(report.MetricIntegrity, float64(v.IntegrityFailures)),
		counter("stored_fragments", float64(v.Stored)), counter("delivered_frames", float64(v.Delivered)),
		counter("network_faults", float64(n.Faults())), counter("network_dials_refused", float64(n.DialsRefused)),
	)
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		run.Metrics = append(run.Metrics, counter("errors{kind:"+k+"}", float64(r.Errors[k])))
	}
	zero := func(name string, got float64) {
		run.Verdicts = append(run.Verdicts, report.Verdict{Name: name, Expr: "== 0", Got: got, OK: got == 0})
	}
	zero("lost frames", float64(v.LostFrames))
	zero("integrity failures", float64(v.IntegrityFailures))
	zero("duplicate frames after de-duplication", float64(v.DuplicatesDeduped))
	zero("unexplained gaps", float64(v.Gaps))
	zero("out of order", float64(v.OutOfOrder))
	zero("dropped frames delivered", float64(v.DroppedDelivered))
	zero("unexpected frames", float64(v.Unexpected))
	zero("streams not verified", float64(v.NotVerified))
	interrupted := 0.0
	if r.Interrupted {
		interrupted = 1
	}
	zero("interrupted", interrupted)
	// Anything else Problems reports (e.g. cameras with nothing
	// acknowledged) shows as a failed verdict too.
	for _, pr := range r.Problems() {
		if strings.Contains(pr, "cameras got nothing acknowledged") {
			run.Verdicts = append(run.Verdicts, report.Verdict{Name: pr, Expr: "no camera without acknowledgements", Got: 1, OK: false})
		}
	}

	byProfile := map[string]*report.ProfileRow{}
	var worst []report.CameraRow
	for _, cs := range r.PerCamera {
		pr := byProfile[cs.Profile]
		if pr == nil {
			pr = &report.ProfileRow{Profile: cs.Profile}
			byProfile[cs.Profile] = pr
		}
		cr := report.CameraRow{Stream: cs.Stream, Profile: cs.Profile, Kind: cs.Kind, Fragments: int64(cs.Counters.Fragments),
			Reconnects: int64(cs.Counters.Reconnects), AckErrors: int64(cs.Counters.AckErrors)}
		pr.Cameras++
		pr.Fragments += float64(cs.Counters.Fragments)
		pr.Reconnects += float64(cs.Counters.Reconnects)
		pr.AckErrors += float64(cs.Counters.AckErrors)
		if vf := cs.Verification; vf != nil {
			pr.Persisted += float64(vf.AckedFragments)
			pr.Drops += float64(vf.CameraDroppedFragments)
			pr.Lost += float64(vf.LostFragments)
			pr.IntegrityFail += float64(vf.IntegrityFailures)
			cr.Lost = int64(vf.LostFragments)
			if vf.Err != "" {
				cr.Problem = "not verified: " + vf.Err
			}
		}
		if cs.Failure != nil {
			cr.Problem = cs.Failure.String()
		}
		worst = append(worst, cr)
	}
	for _, k := range slices.Sorted(maps.Keys(byProfile)) {
		run.Profiles = append(run.Profiles, *byProfile[k])
	}
	report.SortWorst(worst)
	run.Worst = worst[:min(len(worst), report.MaxWorst)]
	for _, pr := range r.Problems() {
		run.Notes = append(run.Notes, "Problem: "+pr)
	}
	for _, w := range r.Warnings() {
		run.Notes = append(run.Notes, "Warning: "+w)
	}
	run.Notes = append(run.Notes, "A fleet report holds whole-run figures only: no charts over time, and no per-camera latency.")
	return run
}

// latencyRow is a latency summary as a report row.
func latencyRow(name string, l fleet.Latency) report.MetricRow {
	return report.LatencyRow(name, int64(l.Count), l.P50, l.P95, l.P99, l.Max)
}
