package scenarios

import (
	"bytes"
	"context"
	"testing"

	"github.com/camstorm/camstorm/results"
)

func runScript(t *testing.T, path string, mutate func(*Config)) (*Result, string) {
	t.Helper()
	p, err := Compile(path)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cfg := Config{Program: p, Log: &log}
	if mutate != nil {
		mutate(&cfg)
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run(%s): %v\nlog:\n%s", path, err, log.String())
	}
	return res, log.String()
}

func TestBasicScriptRunsAndJudgesThresholds(t *testing.T) {
	res, log := runScript(t, "testdata/basic.js", nil)
	if res.ExitCode != 0 {
		t.Fatalf("exit %d, verdicts %+v\nlog:\n%s", res.ExitCode, res.Verdicts, log)
	}
	if len(res.Verdicts) != 5 {
		t.Fatalf("verdicts = %+v, want 5", res.Verdicts)
	}
	var text bytes.Buffer
	if err := results.WriteTextSummary(&text, res.SummaryInput, false); err != nil {
		t.Fatal(err)
	}
	t.Log(text.String())
	t.Log(log)
}
