package encryption_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/encryption"
	"github.com/camstorm/camstorm/conformance/reftarget"
	"github.com/camstorm/camstorm/stack"
)

// runSuite runs the encryption suite against the embedded stack with the
// given defects and returns its report.
func runSuite(t *testing.T, defects ...stack.Defect) *conformance.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := reftarget.Judge(ctx, defects, nil, encryption.Suite())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func describe(r conformance.Result) string { return r.Describe() }

// suiteBudget is the suite's share of `camstorm conform`'s minute.
const suiteBudget = 12 * time.Second

// TestCleanStackPasses runs every case against the clean reference stack:
// all must pass, and the suite must stay within its time budget.
func TestCleanStackPasses(t *testing.T) {
	start := time.Now()
	rep := runSuite(t)
	for _, r := range rep.Results {
		if r.Verdict != conformance.Pass {
			t.Errorf("clean stack: %s", describe(r))
		}
	}
	took := time.Duration(rep.Duration)
	t.Logf("%d cases in %v (%v with the stack's start and stop)", len(rep.Results), took.Round(time.Millisecond),
		time.Since(start).Round(time.Millisecond))
	if took > suiteBudget {
		t.Errorf("the suite took %v on the embedded stack; its budget is %v", took, suiteBudget)
	}
}

// caughtBy is which cases each defect the suite is meant to catch must
// fail, exactly.
var caughtBy = map[stack.Defect][]string{
	stack.DefectPlainHTTP:               {"ENC-TLS-001", "ENC-TLS-002"},
	stack.DefectWeakTLS:                 {"ENC-TLS-003"},
	stack.DefectPlaintextAtRest:         {"ENC-REST-001", "ENC-REST-002", "ENC-REST-003", "ENC-REST-004", "ENC-KMS-001"},
	stack.DefectPlaintextDataKeys:       {"ENC-REST-004"},
	stack.DefectReuseNonce:              {"ENC-REST-003"},
	stack.DefectIgnoreEncryptionContext: {"ENC-KMS-002"},
	stack.DefectNoAuditOnDenial:         {"ENC-KMS-003"},
	stack.DefectTamperMedia: {"ENC-E2E-001", "ENC-E2E-002", "ENC-E2E-003", "ENC-E2E-004", "ENC-E2E-005",
		"ENC-E2E-006", "ENC-E2E-007", "ENC-E2E-008", "ENC-E2E-009", "ENC-E2E-010"},
	stack.DefectReorderFragments: {"ENC-E2E-004", "ENC-E2E-005", "ENC-E2E-006", "ENC-E2E-007", "ENC-E2E-008", "ENC-E2E-009", "ENC-E2E-010"},
}

// TestDefectsCaught starts the stack with each defect the suite targets
// and checks that exactly the expected cases fail (and nothing ends in a
// harness error), and that every case fails against some defect.
func TestDefectsCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the stack once per defect")
	}
	proven := map[string]bool{}
	for _, d := range slices.Sorted(func(yield func(stack.Defect) bool) {
		for d := range caughtBy {
			if !yield(d) {
				return
			}
		}
	}) {
		want := caughtBy[d]
		for _, id := range want {
			proven[id] = true
		}
		t.Run(string(d), func(t *testing.T) {
			rep := runSuite(t, d)
			var failed []string
			for _, r := range rep.Results {
				switch r.Verdict {
				case conformance.Fail:
					failed = append(failed, r.ID)
					if slices.Contains(want, r.ID) {
						t.Logf("%s", describe(r))
					}
				case conformance.Harness, conformance.Skip:
					t.Errorf("%s", describe(r))
				}
			}
			if !slices.Equal(failed, want) {
				t.Errorf("with %s: failed %v, want %v", d, failed, want)
				for _, r := range rep.Results {
					if r.Verdict == conformance.Fail && !slices.Contains(want, r.ID) {
						t.Logf("unexpected: %s", describe(r))
					}
				}
			}
		})
	}
	for _, c := range encryption.Suite().Cases {
		if !proven[c.ID] {
			t.Errorf("%s fails against no defect in the table", c.ID)
		}
	}
}
