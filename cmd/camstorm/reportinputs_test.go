package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/results/report"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/fleet"
	"github.com/camstorm/camstorm/simulator/media"
	"github.com/camstorm/camstorm/stack"
)

func writeReportInput(t *testing.T, path string, data []byte) string {
	t.Helper()
	require.NoError(t, os.WriteFile(path, data, 0o644))
	return path
}

func reportRow(r *report.Run, name string) report.MetricRow {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m
		}
	}
	return report.MetricRow{Values: map[string]float64{}}
}

// TestReportLoadsFleetAndConformanceReports: camstorm report reads fleet
// --json and conform --json reports through their packages' Formats.
func TestReportLoadsFleetAndConformanceReports(t *testing.T) {
	st, err := stack.StartEmbedded(context.Background(), stack.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	hc := st.HTTPClient()
	t.Cleanup(hc.CloseIdleConnections)
	target := simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: hc, Credentials: st.AdminCredentials(), Region: st.Region}
	rep, err := fleet.Run(context.Background(), fleet.Config{
		Cameras: 3, Duration: 3 * time.Second, Mix: fleet.Weights{{Name: fleet.KindSynthetic, Weight: 1}}, Seed: 9,
		Synthetic:    media.SyntheticConfig{BitrateBps: 200_000, FPS: 10, GOP: time.Second, Width: 320, Height: 240},
		StreamPrefix: "report", Ramp: fleet.NoRamp,
	}, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fj, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	fleetPath := writeReportInput(t, filepath.Join(dir, "fleet.json"), fj)

	started := time.Unix(1_800_000_000, 0).UTC()
	cr := &conformance.Report{Target: "reference", Started: started, Duration: conformance.Duration(2 * time.Second), Results: []conformance.Result{
		{ID: "ENC-001", Suite: "encryption", Level: conformance.Must, Verdict: conformance.Pass, Requirement: conformance.Requirement{ID: "R-ENC-1", Text: "encrypt at rest"},
			Evidence: []conformance.Evidence{{Kind: "kms", Detail: "GenerateDataKey called"}}, Started: started, Duration: conformance.Duration(time.Second)},
		{ID: "ENC-002", Suite: "encryption", Level: conformance.Should, Verdict: conformance.Fail, Actual: []string{"slow"}, Started: started},
		{ID: "RES-001", Suite: "resume", Level: conformance.Must, Verdict: conformance.Fail, Actual: []string{"frames lost"}, Started: started},
	}}
	var cb bytes.Buffer
	if err := conformance.WriteJSON(&cb, cr); err != nil {
		t.Fatal(err)
	}
	confPath := writeReportInput(t, filepath.Join(dir, "conform.out"), cb.Bytes())

	runs, err := report.LoadWith(reportFormats, fleetPath, confPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].Kind != report.KindFleet || runs[1].Kind != report.KindConformance {
		t.Fatalf("Load(fleet, conformance): %d runs, want a fleet run then a conformance run", len(runs))
	}
	fr := runs[0]
	if len(fr.Worst) != 3 || len(fr.Profiles) == 0 || reportRow(fr, report.MetricPersisted).Values["count"] == 0 {
		t.Errorf("fleet run: %d worst cameras, %d profiles, %v persisted; want 3, some, some", len(fr.Worst), len(fr.Profiles), reportRow(fr, report.MetricPersisted).Values["count"])
	}
	for _, v := range fr.Verdicts {
		if !v.OK {
			t.Errorf("fleet run: verdict %q failed (%v); problems %v", v.Name, v.Got, rep.Problems())
		}
	}
	if reportRow(fr, report.MetricAckLatency+"{ack:persisted}").Values["count"] == 0 {
		t.Errorf("fleet run: no persisted latency row in %v", fr.Metrics)
	}
	c := runs[1]
	want := map[string]bool{"suite encryption": true, "suite resume": false}
	if len(c.Cases) != 3 || len(c.Verdicts) != 2 {
		t.Fatalf("conformance run: %d cases, %d verdicts; want 3 and 2", len(c.Cases), len(c.Verdicts))
	}
	for _, v := range c.Verdicts {
		if want[v.Name] != v.OK {
			t.Errorf("conformance verdict %q OK=%v, want %v", v.Name, v.OK, want[v.Name])
		}
	}
	if ev := c.Cases[0].Evidence; len(ev) != 1 || ev[0] != "kms: GenerateDataKey called" || c.Cases[0].DurationMS != 1000 {
		t.Errorf("case 0 evidence %q, %v ms; want the kms evidence and 1000 ms", ev, c.Cases[0].DurationMS)
	}
}
