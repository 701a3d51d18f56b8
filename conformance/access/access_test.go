package access_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/access"
	"github.com/camstorm/camstorm/conformance/reftarget"
	"github.com/camstorm/camstorm/stack"
)

// run runs the suite against the embedded stack with the defects and
// returns the verdicts by case ID.
func run(t *testing.T, defects ...stack.Defect) (*conformance.Report, map[string]conformance.Verdict) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := reftarget.Judge(ctx, defects, nil, access.Suite())
	if err != nil {
		t.Fatal(err)
	}
	verdicts := map[string]conformance.Verdict{}
	for _, r := range rep.Results {
		verdicts[r.ID] = r.Verdict
	}
	return rep, verdicts
}

func explain(rep *conformance.Report, ids ...string) string {
	var b strings.Builder
	for _, r := range rep.Results {
		if len(ids) == 0 || slices.Contains(ids, r.ID) {
			b.WriteString(r.Describe())
		}
	}
	return b.String()
}

// knownStackBugs are cases the reference stack fails today because of a
// bug in the stack, not in the suite; each fails under every defect too.
// When the stack is fixed the clean run says so and the entry goes.
var knownStackBugs = map[string]string{}

// TestCleanStackPasses: every case passes against the reference stack
// (but for its known bugs, which must still fail).
func TestCleanStackPasses(t *testing.T) {
	rep, verdicts := run(t)
	t.Logf("suite ran in %v", time.Duration(rep.Duration))
	for id, v := range verdicts {
		if bug, known := knownStackBugs[id]; known {
			if v != conformance.Fail {
				t.Errorf("%s: %s; it failed because %s — fixed? then remove it from knownStackBugs", id, v, bug)
			}
			continue
		}
		if v != conformance.Pass {
			t.Errorf("%s: %s, want pass", id, v)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Log("\n" + explain(rep))
	}
}

// caught is, for each defect the suite is meant to catch, exactly the
// cases that must fail against it (besides knownStackBugs).
var caught = map[stack.Defect][]string{
	stack.DefectSkipSignatureCheck:       {"ACC-SIG-001", "ACC-SIG-002", "ACC-SIG-003", "ACC-AUD-001"},
	stack.DefectAcceptExpiredCredentials: {"ACC-SIG-005", "ACC-SIG-006"},
	stack.DefectIgnoreStreamOwnership:    {"ACC-BOLA-001", "ACC-BOLA-002", "ACC-BOLA-003", "ACC-AUD-001"},
	stack.DefectIgnoreKeyPolicy:          {"ACC-KEY-001", "ACC-KEY-002"},
	stack.DefectNoAuditOnDenial: {"ACC-BOLA-001", "ACC-BOLA-002", "ACC-BOLA-003", "ACC-SIG-001", "ACC-SIG-002", "ACC-SIG-003",
		"ACC-SIG-004", "ACC-SIG-005", "ACC-SIG-006", "ACC-SIG-007", "ACC-CERT-001", "ACC-PRIV-001", "ACC-PRIV-002", "ACC-PRIV-003",
		"ACC-AUD-001", "ACC-AUD-002"},
	stack.DefectIgnoreRevocation: {"ACC-CERT-001", "ACC-AUD-001"},
	stack.DefectOverbroadRoles:   {"ACC-BOLA-001", "ACC-BOLA-002", "ACC-BOLA-003", "ACC-PRIV-001", "ACC-PRIV-002", "ACC-PRIV-003", "ACC-AUD-001"},
}

// TestDefectsAreCaught starts the stack with each defect and checks that
// exactly the expected cases fail (and the others pass), and that every
// case of the suite fails against at least one defect or known bug.
func TestDefectsAreCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the stack once per defect")
	}
	proven := map[string]bool{}
	for id := range knownStackBugs {
		proven[id] = true
	}
	for _, d := range stack.Defects() {
		want, ok := caught[d]
		if !ok {
			continue
		}
		t.Run(string(d), func(t *testing.T) {
			rep, verdicts := run(t, d)
			for id, v := range verdicts {
				_, bug := knownStackBugs[id]
				switch {
				case slices.Contains(want, id) || bug:
					if v != conformance.Fail {
						t.Errorf("%s: %s against %s; want fail", id, v, d)
					}
				case v != conformance.Pass:
					t.Errorf("%s: %s against %s; want pass (only %s should fail)", id, v, d, strings.Join(want, ", "))
				}
			}
			if t.Failed() || testing.Verbose() {
				t.Log("\n" + explain(rep))
			}
		})
		for _, id := range want {
			proven[id] = true
		}
	}
	for _, c := range access.Suite().Cases {
		if !proven[c.ID] {
			t.Errorf("%s fails against no defect", c.ID)
		}
	}
}
