package conformance

import (
	"context"
	"fmt"
	"regexp"
	"time"
)

// Case is one conformance check, declared as data: a stable ID, the
// requirement it checks, what it does to the target and what it expects.
// Run performs the stimulus and judges the outcome through T.
type Case struct {
	// ID is stable across releases: SUITE-AREA-NNN, e.g. ENC-AT-REST-003.
	ID string
	// Title says in a few words what is checked.
	Title string
	// Requirement is the ID of the catalogue entry the case checks
	// (Requirements); the requirement text travels with every result.
	Requirement string
	// Level overrides the requirement's level when the case checks a
	// weaker reading of it (a SHOULD under a MUST); empty means the
	// requirement's.
	Level Level
	// Source quotes where the claim comes from beyond the catalogue, e.g.
	// the KVS documentation's sentence; optional.
	Source string
	// Stimulus is what the case does to the target; Expected is the
	// outcome a conformant target shows.
	Stimulus string
	Expected string
	// Needs lists the capabilities the target must offer; without them the
	// case is skipped with the reason.
	Needs []Capability
	// Timeout bounds the case (the watchdog); zero means the runner's.
	Timeout time.Duration
	// Parallel cases touch no state other cases see (no restarts, no
	// partitions, no clock shifts, no account-wide settings), so the
	// runner may run them side by side.
	Parallel bool
	// Run performs the case. It reports through t and returns when done.
	Run func(ctx context.Context, t *T)
}

// Suite is a named set of cases.
type Suite struct {
	// Name is what --suite selects, e.g. "encryption".
	Name  string
	Title string
	Cases []*Case
}

var caseID = regexp.MustCompile(`^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*-[0-9]{3}$`)

// Validate reports every problem of the suites' declarations at once:
// malformed or duplicate IDs, unknown requirements, missing fields.
func Validate(suites ...*Suite) error {
	var problems []error
	seen := map[string]string{}
	for _, s := range suites {
		if s.Name == "" {
			problems = append(problems, fmt.Errorf("a suite has no name"))
		}
		for _, c := range s.Cases {
			where := fmt.Sprintf("suite %s case %q", s.Name, c.ID)
			if !caseID.MatchString(c.ID) {
				problems = append(problems, fmt.Errorf("%s: ID must look like SUITE-AREA-NNN", where))
			}
			if prev, dup := seen[c.ID]; dup {
				problems = append(problems, fmt.Errorf("%s: ID also used in suite %s", where, prev))
			}
			seen[c.ID] = s.Name
			if _, ok := LookupRequirement(c.Requirement); !ok {
				problems = append(problems, fmt.Errorf("%s: unknown requirement %q", where, c.Requirement))
			}
			if c.Level != "" && c.Level != Must && c.Level != Should {
				problems = append(problems, fmt.Errorf("%s: level %q, want MUST or SHOULD", where, c.Level))
			}
			if c.Title == "" || c.Stimulus == "" || c.Expected == "" {
				problems = append(problems, fmt.Errorf("%s: title, stimulus and expected are required", where))
			}
			if c.Run == nil {
				problems = append(problems, fmt.Errorf("%s: no Run", where))
			}
		}
	}
	return joinProblems(problems)
}

// level is the case's effective level.
func (c *Case) level() Level {
	if c.Level != "" {
		return c.Level
	}
	r, _ := LookupRequirement(c.Requirement)
	return r.Level
}
