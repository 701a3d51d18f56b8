package resume_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/reftarget"
	"github.com/camstorm/camstorm/conformance/resume"
	"github.com/camstorm/camstorm/stack"
)

// run runs the suite (or the cases selected) against a fresh embedded
// stack with the defects and returns the report.
func run(t *testing.T, selectIDs []string, defects ...stack.Defect) *conformance.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := reftarget.Judge(ctx, defects, selectIDs, resume.Suite())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func describe(rep *conformance.Report) string {
	var b strings.Builder
	for _, r := range rep.Results {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}

// TestCleanStackPasses: every case passes against the reference stack,
// within the suite's time budget.
func TestCleanStackPasses(t *testing.T) {
	start := time.Now()
	rep := run(t, nil)
	took := time.Since(start)
	t.Logf("clean stack: suite %v (%v with the stack's start)\n%s", time.Duration(rep.Duration), took, describe(rep))
	for _, r := range rep.Results {
		if r.Verdict != conformance.Pass {
			t.Errorf("%s %s: %s %v\nevidence %v\nlog %v", r.ID, r.Verdict, r.Reason, r.Actual, r.Evidence, r.Log)
		}
	}
	if d := time.Duration(rep.Duration); d > 20*time.Second {
		t.Errorf("the suite took %v, over its budget", d)
	}
}

// defectTable is which cases each defect the suite is meant to catch
// fails: exactly these, no others.
var defectTable = map[stack.Defect][]string{
	// A fragment cut off and resent is acknowledged but never stored.
	stack.DefectDropResentFragment: {"RES-DROP-002", "RES-DROP-004", "RES-HALF-001", "RES-ORDER-001", "RES-ACK-002",
		"RES-CRED-001", "RES-OUT-001", "RES-HALF-002"},
	// A fragment stored and sent again is stored twice.
	stack.DefectDuplicateResentFragment: {"RES-DROP-003", "RES-DROP-005", "RES-RESTART-001"},
	// Acknowledged fragments are written 3 s late: every case that reads
	// back within the 1.5 s listing grace misses them (GetMedia, which
	// waits up to 5 s for its fragments, does not), and the crash loses
	// them for good.
	stack.DefectPersistedBeforeDurable: {"RES-DROP-001", "RES-DROP-002", "RES-DROP-003", "RES-DROP-004", "RES-DROP-005",
		"RES-HALF-001", "RES-ACK-001", "RES-ACK-002", "RES-ACK-003", "RES-OUT-001", "RES-OUT-002", "RES-HALF-002",
		"RES-RESTART-001", "RES-RESTART-002", "RES-CRED-001"},
	stack.DefectAcceptExpiredCredentials: {"RES-CRED-001"},
	// Every probe-level read-back compares the frames with those sent.
	stack.DefectTamperMedia: {"RES-DROP-001", "RES-DROP-002", "RES-DROP-003", "RES-DROP-004", "RES-DROP-005", "RES-HALF-001",
		"RES-ORDER-001", "RES-ACK-002", "RES-ACK-003", "RES-RESTART-001", "RES-RESTART-002", "RES-CRED-001", "RES-FAN-001"},
	// Every read-back checks the order.
	stack.DefectReorderFragments: {"RES-DROP-001", "RES-DROP-002", "RES-DROP-003", "RES-DROP-004", "RES-DROP-005", "RES-HALF-001",
		"RES-ORDER-001", "RES-ACK-001", "RES-ACK-002", "RES-ACK-003", "RES-OUT-001", "RES-OUT-002", "RES-HALF-002",
		"RES-RESTART-001", "RES-RESTART-002", "RES-CRED-001", "RES-FAN-001"},
}

// TestDefectsAreCaught: against the stack with each defect, exactly the
// table's cases fail, and every case of the suite fails for some defect.
func TestDefectsAreCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a stack per defect")
	}
	caught := map[string]bool{}
	for d, want := range defectTable {
		for _, id := range want {
			caught[id] = true
		}
		t.Run(string(d), func(t *testing.T) {
			rep := run(t, nil, d)
			var failed []string
			for _, r := range rep.Results {
				switch r.Verdict {
				case conformance.Fail:
					failed = append(failed, r.ID)
				case conformance.Pass:
				default:
					t.Errorf("%s: %s %s", r.ID, r.Verdict, r.Reason)
				}
			}
			slices.Sort(failed)
			w := slices.Clone(want)
			slices.Sort(w)
			if !slices.Equal(failed, w) {
				t.Errorf("with %s failing cases %v, want %v\n%s", d, failed, w, describe(rep))
			}
		})
	}
	for _, c := range resume.Suite().Cases {
		if !caught[c.ID] {
			t.Errorf("case %s fails for no defect in the table", c.ID)
		}
	}
}
