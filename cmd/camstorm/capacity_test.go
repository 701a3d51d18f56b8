package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camstorm/camstorm/results/report"
)

func TestCapacityEmbeddedSearchWritesReports(t *testing.T) {
	dir := t.TempDir()
	jsonFile, htmlFile := filepath.Join(dir, "cap.json"), filepath.Join(dir, "cap.html")
	args := []string{"capacity", "--start", "2", "--step", "2", "--max", "6", "--hold", "3s", "--warmup", "1s",
		"--slo", "persisted_p99<10s,error_rate<1%", "--json", jsonFile, "--html", htmlFile}
	stdout, stderr, code := runCamstorm(t, args...)
	if code != exitOK {
		t.Fatalf("camstorm %s exit %d, want 0; stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	for _, want := range []string{"sustainable: at least 6 cameras", "knee:", "USL fit:", "stopped:     max reached"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("camstorm %s stdout lacks %q:\n%s", strings.Join(args, " "), want, stdout)
		}
	}
	for _, want := range []string{"2 cameras", "4 cameras", "6 cameras", "fragments/s"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("camstorm %s progress (stderr) lacks %q:\n%s", strings.Join(args, " "), want, stderr)
		}
	}
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var run report.Run
	if err := json.Unmarshal(b, &run); err != nil {
		t.Fatalf("--json file is not a report.Run: %v\n%s", err, b)
	}
	c := run.Capacity
	if run.Kind != report.KindCapacity || run.Schema != report.SchemaVersion || c == nil || len(c.Steps) != 3 || c.Sustainable != 6 ||
		run.Meta.Machine == "" || run.Meta.Start.IsZero() || !strings.Contains(run.Meta.Scenario, "--max 6") {
		t.Errorf("--json report = %s; want kind capacity, meta filled, 3 steps, sustainable 6", b)
	}
	if html, err := os.ReadFile(htmlFile); err != nil || !strings.Contains(string(html), "<svg") {
		t.Errorf("--html file: %v, want an HTML page with charts (%d bytes)", err, len(html))
	}
}

func TestCapacityUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"capacity", "--slo", "p99<2s", "--start", "0", "--max", "-1", "--resolution", "big"},
			[]string{`unknown term "p99"`, "--start is 0", "--max -1", "--resolution"}},
		{[]string{"capacity", "--stack", "cloud"}, []string{"--stack"}},
		{[]string{"capacity", "--ca", "x.pem"}, []string{"--ca is for --target"}},
		{[]string{"capacity", "extra"}, []string{"takes 0 arguments"}},
	}
	for _, tt := range tests {
		_, stderr, code := runCamstorm(t, tt.args...)
		if code != exitUsage {
			t.Errorf("camstorm %s exit %d, want %d; stderr:\n%s", strings.Join(tt.args, " "), code, exitUsage, stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("camstorm %s stderr lacks %q:\n%s", strings.Join(tt.args, " "), w, stderr)
			}
		}
	}
}
