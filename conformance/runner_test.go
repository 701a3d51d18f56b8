package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func testCase(id string, run func(context.Context, *T)) *Case {
	return &Case{ID: id, Title: "t " + id, Requirement: "R-TLS-1", Stimulus: "s", Expected: "e", Run: run}
}

// TestVerdicts shows each way a case can end maps to its own verdict.
func TestVerdicts(t *testing.T) {
	suite := &Suite{Name: "demo", Title: "Demo", Cases: []*Case{
		testCase("DEMO-A-001", func(context.Context, *T) {}),
		testCase("DEMO-A-002", func(_ context.Context, t *T) {
			t.Evidence("ack", "ERROR 4006")
			t.Fail("got %d", 1)
			t.Fail("and %d", 2)
		}),
		testCase("DEMO-A-003", func(_ context.Context, t *T) { t.Skip("no %s", "restart"); t.Fail("not reached") }),
		testCase("DEMO-A-004", func(_ context.Context, t *T) { t.Must(errors.New("dial refused"), "creating the stream") }),
		testCase("DEMO-A-005", func(context.Context, *T) { panic("boom") }),
		testCase("DEMO-A-006", func(ctx context.Context, _ *T) { <-ctx.Done() }),
		{ID: "DEMO-A-007", Title: "needs", Requirement: "R-AUD-2", Stimulus: "s", Expected: "e", Needs: []Capability{NeedAudit},
			Run: func(_ context.Context, t *T) { t.Fail("must not run") }},
		testCase("DEMO-A-008", func(_ context.Context, t *T) { t.Fatal("stop"); t.Fail("not reached") }),
		testCase("DEMO-A-009", func(_ context.Context, t *T) { t.Fail("deleted"); t.Harnessf("nothing left to read") }),
	}}
	suite.Cases[5].Timeout = 50 * time.Millisecond
	var cleaned atomic.Int32
	suite.Cases[1].Run = func(_ context.Context, t *T) {
		t.Cleanup(func(context.Context) { cleaned.Add(1) })
		t.Evidence("ack", "ERROR 4006")
		t.Fail("got %d", 1)
		t.Fail("and %d", 2)
	}
	var events int
	r := &Runner{Target: &Target{Name: "x"}, Observe: func(e Event) { events++ }}
	rep, err := r.Run(context.Background(), suite)
	if err != nil {
		t.Fatal(err)
	}
	want := []Verdict{Pass, Fail, Skip, Harness, Harness, Harness, Skip, Fail, Fail}
	for i, res := range rep.Results {
		if res.Verdict != want[i] {
			t.Errorf("%s: verdict %s (%s %v), want %s", res.ID, res.Verdict, res.Reason, res.Actual, want[i])
		}
	}
	if got := rep.Results[1].Actual; len(got) != 2 || got[0] != "got 1" || len(rep.Results[1].Evidence) != 1 {
		t.Errorf("failure details %v %v", got, rep.Results[1].Evidence)
	}
	if r := rep.Results[8]; r.Actual[0] != "deleted" || !strings.Contains(r.Reason, "nothing left to read") {
		t.Errorf("a failure followed by a harness error: %+v", r)
	}
	if cleaned.Load() != 1 {
		t.Errorf("cleanup ran %d times, want 1", cleaned.Load())
	}
	if !strings.Contains(rep.Results[4].Reason, "boom") || !strings.Contains(rep.Results[3].Reason, "dial refused") {
		t.Errorf("reasons %q %q", rep.Results[4].Reason, rep.Results[3].Reason)
	}
	if !strings.Contains(rep.Results[6].Reason, "audit") {
		t.Errorf("skip reason %q should name the capability", rep.Results[6].Reason)
	}
	if events != 2*len(suite.Cases) {
		t.Errorf("%d events, want %d", events, 2*len(suite.Cases))
	}
	c := rep.Counts()
	if c.Pass != 1 || c.Fail != 3 || c.MustFail != 3 || c.Skip != 2 || c.Harness != 3 {
		t.Errorf("counts %+v", c)
	}
}

// TestParallelCasesOverlapExclusiveDoNot runs parallel cases side by side
// and exclusive ones alone.
func TestParallelCasesOverlapExclusiveDoNot(t *testing.T) {
	var running, maxPar atomic.Int32
	var exclusiveOverlap atomic.Bool
	par := func(ctx context.Context, _ *T) {
		n := running.Add(1)
		for {
			m := maxPar.Load()
			if n <= m || maxPar.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		running.Add(-1)
	}
	excl := func(ctx context.Context, _ *T) {
		if running.Add(1) != 1 {
			exclusiveOverlap.Store(true)
		}
		time.Sleep(10 * time.Millisecond)
		running.Add(-1)
	}
	s := &Suite{Name: "p"}
	for i, run := range []func(context.Context, *T){par, par, par, excl, par, par, excl} {
		c := testCase("P-X-00"+string(rune('1'+i)), run)
		c.Parallel = i != 3 && i != 6
		s.Cases = append(s.Cases, c)
	}
	rep, err := (&Runner{Target: &Target{}, Parallel: 3}).Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if maxPar.Load() < 2 || maxPar.Load() > 3 {
		t.Errorf("at most %d cases ran at once, want 2..3", maxPar.Load())
	}
	if exclusiveOverlap.Load() {
		t.Error("an exclusive case ran beside another")
	}
	for i, res := range rep.Results {
		if res.ID != s.Cases[i].ID || res.Verdict != Pass {
			t.Errorf("result %d: %s %s", i, res.ID, res.Verdict)
		}
	}
}

func TestSelectAndValidate(t *testing.T) {
	noop := func(context.Context, *T) {}
	a := &Suite{Name: "alpha", Cases: []*Case{testCase("AL-X-001", noop), testCase("AL-Y-001", noop)}}
	b := &Suite{Name: "beta", Cases: []*Case{testCase("BE-X-001", noop)}}
	got, err := Select([]*Suite{a, b}, []string{"al-y", "beta"})
	if err != nil || len(got) != 2 || len(got[0].Cases) != 1 || got[0].Cases[0].ID != "AL-Y-001" || got[1].Name != "beta" {
		t.Fatalf("Select: %v %v", got, err)
	}
	if _, err := Select([]*Suite{a, b}, []string{"gamma"}); !errors.Is(err, ErrNothingSelected) || !strings.Contains(err.Error(), `"gamma"`) {
		t.Errorf("unknown selection: %v", err)
	}
	bad := &Suite{Name: "bad", Cases: []*Case{testCase("lower-001", noop), testCase("AL-X-001", noop),
		{ID: "BAD-X-002", Requirement: "R-NOPE", Run: noop}}}
	err = Validate(a, bad)
	for _, want := range []string{"SUITE-AREA-NNN", "also used in suite alpha", `unknown requirement "R-NOPE"`, "title, stimulus and expected"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v; want it to mention %q", err, want)
		}
	}
}

// TestReportsParse writes JSON and JUnit and reads them back as a consumer
// would.
func TestReportsParse(t *testing.T) {
	s := &Suite{Name: "demo", Cases: []*Case{
		testCase("D-A-001", func(context.Context, *T) {}),
		testCase("D-A-002", func(_ context.Context, t *T) { t.Evidence("bytes", "offset 12 <&>"); t.Fail("plaintext at offset 12") }),
		testCase("D-A-003", func(_ context.Context, t *T) { t.Skip("cannot restart") }),
		testCase("D-A-004", func(_ context.Context, t *T) { t.Harnessf("no network") }),
	}}
	rep, err := (&Runner{Target: &Target{Name: "embedded"}}).Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Schema  string   `json:"schema"`
		Results []Result `json:"results"`
		Summary struct{ Pass, Fail, Skip, Error int }
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Schema != ReportSchema || len(back.Results) != 4 || back.Results[1].Verdict != Fail ||
		back.Results[1].Requirement.Text == "" || back.Summary.Fail != 1 || back.Summary.Error != 1 {
		t.Errorf("JSON round trip: %+v", back)
	}
	var xb bytes.Buffer
	if err := WriteJUnit(&xb, rep); err != nil {
		t.Fatal(err)
	}
	var ju junitSuites
	if err := xml.Unmarshal(xb.Bytes(), &ju); err != nil {
		t.Fatalf("JUnit does not parse: %v\n%s", err, xb.String())
	}
	if ju.Tests != 4 || ju.Failures != 1 || ju.Errors != 1 || ju.Skipped != 1 || len(ju.Suites) != 1 ||
		ju.Suites[0].Cases[1].Failure == nil || !strings.Contains(ju.Suites[0].Cases[1].Failure.Text, "offset 12 <&>") {
		t.Errorf("JUnit: %+v", ju)
	}
	var txt bytes.Buffer
	if err := WriteText(&txt, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FAIL D-A-002", "Requirement R-TLS-1 (MUST)", "Actual: plaintext at offset 12", "1 passed, 1 failed (1 MUST), 1 skipped, 1 harness errors"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, txt.String())
		}
	}
}

// TestWatchdogGivesUpOnAStuckCase: a case that ignores its context does not
// hold the run; it ends as a harness error and the next case runs.
func TestWatchdogGivesUpOnAStuckCase(t *testing.T) {
	defer func(g time.Duration) { watchdogGrace = g }(watchdogGrace)
	watchdogGrace = 20 * time.Millisecond
	release := make(chan struct{})
	cleaned := make(chan struct{})
	stuck := testCase("W-A-001", func(_ context.Context, t *T) {
		t.Cleanup(func(context.Context) { close(cleaned) })
		<-release
	})
	stuck.Timeout = 20 * time.Millisecond
	s := &Suite{Name: "w", Cases: []*Case{stuck, testCase("W-A-002", func(context.Context, *T) {})}}
	rep, err := (&Runner{Target: &Target{}}).Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Results[0].Verdict != Harness || !strings.Contains(rep.Results[0].Reason, "watchdog") || rep.Results[1].Verdict != Pass ||
		time.Duration(rep.Results[0].Duration) < 40*time.Millisecond {
		t.Errorf("results %+v", rep.Results)
	}
	close(release)
	select {
	case <-cleaned:
	case <-time.After(5 * time.Second):
		t.Error("the stuck case's cleanup did not run once it ended")
	}
}
