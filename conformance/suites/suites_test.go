package suites_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/suites"
)

func TestSuitesAreWellFormed(t *testing.T) {
	all := suites.All()
	if err := conformance.Validate(all...); err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if len(s.Cases) < 12 {
			t.Errorf("suite %s has %d cases, want at least 12", s.Name, len(s.Cases))
		}
		// A suite's IDs share its prefix (ENC-, ROT-, RES-, ACC-).
		prefix, _, _ := strings.Cut(s.Cases[0].ID, "-")
		for _, c := range s.Cases {
			if !strings.HasPrefix(c.ID, prefix+"-") {
				t.Errorf("suite %s: case %s does not start with %s-", s.Name, c.ID, prefix)
			}
		}
	}
}

// TestSuitesDoNotImportTheStack holds the rule that suites reach an ingest
// only through a Target: a suite sharing the reference implementation's
// code would share its bugs.
func TestSuitesDoNotImportTheStack(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/camstorm/camstorm/conformance/suites",
		"github.com/camstorm/camstorm/conformance/device").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/camstorm/camstorm/stack" || strings.HasPrefix(dep, "github.com/camstorm/camstorm/stack/") {
			t.Errorf("a suite depends on %s", dep)
		}
	}
}
