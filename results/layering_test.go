package results

import (
	"os/exec"
	"strings"
	"testing"
)

// TestResultsImportsNothingAbove holds DESIGN's tiers: results and
// results/report are tier 1, so they import no simulator, stack,
// conformance or scenarios package (producers hand their formats in).
func TestResultsImportsNothingAbove(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/camstorm/camstorm/results/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		rest, ok := strings.CutPrefix(dep, "github.com/camstorm/camstorm/")
		if !ok {
			continue
		}
		if !strings.HasPrefix(rest, "results") && !strings.HasPrefix(rest, "internal/") {
			t.Errorf("results depends on %s, a package of a higher tier", dep)
		}
	}
}
