package rotation_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/reftarget"
	"github.com/camstorm/camstorm/conformance/rotation"
	"github.com/camstorm/camstorm/stack"
)

// runSuite runs the rotation suite against the embedded reference stack
// started with defects.
func runSuite(t *testing.T, defects ...stack.Defect) *conformance.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := reftarget.Judge(ctx, defects, nil, rotation.Suite())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func describe(r conformance.Result) string { return r.String() }

// TestCleanStackPasses: every case passes against the clean reference
// stack, which offers every capability (so nothing is skipped).
func TestCleanStackPasses(t *testing.T) {
	rep := runSuite(t)
	for _, r := range rep.Results {
		t.Log(describe(r))
		if testing.Verbose() {
			for _, e := range r.Evidence {
				t.Logf("    %s: %s", e.Kind, e.Detail)
			}
		}
		if r.Verdict != conformance.Pass {
			t.Errorf("clean stack: %s", describe(r))
		}
	}
	t.Logf("suite ran in %v", time.Duration(rep.Duration))
}

// caughtBy is, for each defect the suite is meant to catch, exactly the
// cases that fail against the stack started with it.
var caughtBy = map[stack.Defect][]string{
	stack.DefectForgetOldKeyVersions:    {"ROT-KMS-001", "ROT-KMS-003", "ROT-KMS-004", "ROT-KMS-005", "ROT-LOAD-001"},
	stack.DefectStaleKeyVersion:         {"ROT-KMS-002", "ROT-KMS-003", "ROT-KMS-005"},
	stack.DefectIgnoreEncryptionContext: {"ROT-KMS-003", "ROT-LOAD-001"},
	// Without encryption at rest the stream's key is never used: disabling
	// it stops nothing, and no wrapped data key is stored.
	stack.DefectPlaintextAtRest:    {"ROT-KMS-003", "ROT-KEY-001", "ROT-KEY-002", "ROT-KEY-003", "ROT-KEY-004", "ROT-LOAD-001"},
	stack.DefectWrongErrorAck:      {"ROT-KEY-001", "ROT-KEY-002", "ROT-KEY-004"},
	stack.DefectDropResentFragment: {"ROT-KEY-001", "ROT-KEY-002", "ROT-KEY-003", "ROT-KEY-004", "ROT-E2E-003", "ROT-LOAD-001", "ROT-LOAD-002"},
	stack.DefectTamperMedia: {"ROT-KMS-003", "ROT-KMS-004", "ROT-KMS-005", "ROT-KEY-001", "ROT-KEY-002", "ROT-KEY-003", "ROT-KEY-004",
		"ROT-E2E-001", "ROT-E2E-002", "ROT-E2E-003", "ROT-E2E-004", "ROT-LOAD-001", "ROT-LOAD-002"},
	stack.DefectReorderFragments: {"ROT-KMS-003", "ROT-KMS-004", "ROT-KMS-005", "ROT-KEY-001", "ROT-KEY-002", "ROT-KEY-003", "ROT-KEY-004",
		"ROT-E2E-001", "ROT-E2E-002", "ROT-E2E-004", "ROT-LOAD-001", "ROT-LOAD-002"},
}

// TestDefectsCaught starts the stack with each defect and checks exactly
// which cases fail; together the defects fail every case.
func TestDefectsCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the stack once per defect")
	}
	covered := map[string]bool{}
	for _, ids := range caughtBy {
		for _, id := range ids {
			covered[id] = true
		}
	}
	for _, c := range rotation.Suite().Cases {
		if !covered[c.ID] {
			t.Errorf("%s fails against none of the defects in the table", c.ID)
		}
	}
	defects := make([]stack.Defect, 0, len(caughtBy))
	for d := range caughtBy {
		defects = append(defects, d)
	}
	slices.Sort(defects)
	for _, d := range defects {
		t.Run(string(d), func(t *testing.T) {
			rep := runSuite(t, d)
			var failed []string
			for _, r := range rep.Results {
				switch r.Verdict {
				case conformance.Fail:
					failed = append(failed, r.ID)
					t.Log(describe(r))
				case conformance.Pass:
				default:
					t.Errorf("%s: %s", d, describe(r))
				}
			}
			want := caughtBy[d]
			if !slices.Equal(failed, want) {
				t.Errorf("%s: failing cases %v, want %v", d, failed, want)
			}
		})
	}
}
