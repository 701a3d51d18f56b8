package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// k6CSV writes a small k6 CSV run: latency samples over a few seconds,
// slower by factor in the candidate.
func k6CSV(t *testing.T, dir, name string, factor float64) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("metric_name,timestamp,metric_value,check,error,error_code,expected_response,group,method,name,proto,scenario,service,status,subproto,tls_version,url,extra_tags,metadata\n")
	for s := range 5 {
		for i := range 4 {
			fmt.Fprintf(&b, "camera_ack_latency,%d,%g,,,,,,,,,cameras,,,,,,ack=persisted&profile=perfect,\n", 1800000000+s, (100+10*float64(i))*factor)
		}
		fmt.Fprintf(&b, "camera_fragments,%d,4,,,,,,,,,cameras,,,,,,profile=perfect,\n", 1800000000+s)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	base := k6CSV(t, dir, "base.csv", 1)
	cand := k6CSV(t, dir, "cand.csv", 2)
	junk := filepath.Join(dir, "junk.txt")
	if err := os.WriteFile(junk, []byte("not a report\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := func(name string) string { return filepath.Join(dir, name) }
	for _, tc := range []struct {
		args       []string
		code       int
		stderrHas  string
		htmlFile   string
		htmlHas    []string
		jsonFile   string
		comparison bool
	}{
		{args: []string{"report", cand, "--html", out("one.html"), "--json", out("one.json")}, code: exitOK,
			htmlFile: out("one.html"), htmlHas: []string{`data-chart="latency-persisted"`, "Latency percentiles over time"}, jsonFile: out("one.json")},
		{args: []string{"report", cand, "--compare", base, "--html", out("cmp.html"), "--json", out("cmp.json")}, code: exitOK,
			htmlFile: out("cmp.html"), htmlHas: []string{"Baseline against candidate", `class="regression"`, "Baseline: ", "Candidate: "},
			jsonFile: out("cmp.json"), comparison: true, stderrHas: "regressions"},
		{args: []string{"report", cand}, code: exitUsage, stderrHas: "--html FILE and/or --json FILE"},
		{args: []string{"report", "--html", out("x.html")}, code: exitUsage, stderrHas: "at least one results file"},
		{args: []string{"report", cand, "--html", "-", "--json", "-"}, code: exitUsage, stderrHas: "both write to stdout"},
		{args: []string{"report", cand, "--bogus"}, code: exitUsage, stderrHas: "unknown flag"},
		{args: []string{"report", filepath.Join(dir, "missing.json"), "--html", out("m.html")}, code: exitFailure, stderrHas: "missing.json"},
		{args: []string{"report", junk, "--html", out("j.html")}, code: exitFailure, stderrHas: "junk.txt"},
		{args: []string{"report", cand, "--compare", junk, "--html", out("j2.html")}, code: exitFailure, stderrHas: "junk.txt"},
	} {
		_, stderr, code := runCamstorm(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.stderrHas) {
			t.Errorf("camstorm %s: exit %d, stderr %q; want exit %d and stderr containing %q", strings.Join(tc.args, " "), code, stderr, tc.code, tc.stderrHas)
			continue
		}
		if tc.htmlFile != "" {
			page, err := os.ReadFile(tc.htmlFile)
			if err != nil {
				t.Errorf("camstorm %s: %v", strings.Join(tc.args, " "), err)
				continue
			}
			for _, want := range tc.htmlHas {
				if !strings.Contains(string(page), want) {
					t.Errorf("camstorm %s: the HTML lacks %q", strings.Join(tc.args, " "), want)
				}
			}
		}
		if tc.jsonFile != "" {
			b, err := os.ReadFile(tc.jsonFile)
			if err != nil {
				t.Errorf("camstorm %s: %v", strings.Join(tc.args, " "), err)
				continue
			}
			var doc struct {
				Runs       []json.RawMessage `json:"runs"`
				Comparison *struct {
					Regressions int `json:"regressions"`
				} `json:"comparison"`
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Errorf("camstorm %s: --json is not JSON: %v", strings.Join(tc.args, " "), err)
				continue
			}
			wantRuns := 1
			if tc.comparison {
				wantRuns = 2
			}
			if len(doc.Runs) != wantRuns || (doc.Comparison != nil) != tc.comparison {
				t.Errorf("camstorm %s: --json has %d runs and comparison %v; want %d runs, comparison %v",
					strings.Join(tc.args, " "), len(doc.Runs), doc.Comparison != nil, wantRuns, tc.comparison)
			}
			if tc.comparison && doc.Comparison.Regressions == 0 {
				t.Errorf("camstorm %s: latency doubled but no regression flagged", strings.Join(tc.args, " "))
			}
		}
	}
}

func TestReportHelpTeachesInputs(t *testing.T) {
	stdout, _, code := runCamstorm(t, "report", "--help")
	if code != exitOK {
		t.Fatalf("camstorm report --help: exit %d", code)
	}
	for _, want := range []string{"results files", "k6 NDJSON and CSV", "camstorm fleet --json", "camstorm conform --json", "--compare", "Exit status"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("camstorm report --help lacks %q", want)
		}
	}
}
