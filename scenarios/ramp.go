package scenarios

import (
	"fmt"
	"time"
)

// step is a planned count (VUs or cameras) from an offset on.
type step struct {
	At    time.Duration
	Count int64
}

// rampSteps is k6's ramping plan: the count starts at start and moves
// linearly through the stages one unit at a time. On the way up unit i is
// added when the line reaches it (the first after D/(b-a), not at the
// stage start); on the way down a unit goes when the line passes below it,
// so rising counts round down and falling ones round up. A zero-length
// stage jumps. The plan ends with 0 at the end of the stages.
func rampSteps(start int64, stages []Stage) []step {
	steps := []step{{0, start}}
	add := func(at time.Duration, n int64) {
		if steps[len(steps)-1].Count != n {
			steps = append(steps, step{at, n})
		}
	}
	from := start
	var s time.Duration
	for _, st := range stages {
		d, to := st.Duration.D(), st.Target
		end := s + d
		switch {
		case to == from:
		case d == 0:
			add(end, to)
		case to > from:
			for i := from + 1; i <= to; i++ {
				add(end-time.Duration(float64(d)*float64(to-i)/float64(to-from)), i)
			}
		default:
			for j := from - 1; j >= to; j-- {
				add(end-time.Duration(float64(d)*float64(j-to)/float64(from-to)), j)
			}
		}
		from, s = to, end
	}
	add(s, 0)
	return steps
}

// maxCount is the largest count a plan reaches.
func maxCount(steps []step) int64 {
	var m int64
	for _, s := range steps {
		m = max(m, s.Count)
	}
	return m
}

// stagesTotal is the length of the stages.
func stagesTotal(stages []Stage) time.Duration {
	var d time.Duration
	for _, s := range stages {
		d += s.Duration.D()
	}
	return d
}

// Bounds on ramping plans: a plan holds one step per unit it moves.
const (
	maxPlanUnits = 100_000_000
	maxPlanSteps = 5_000_000
)

// validateStages checks a ramp: at least one stage, durations and targets
// not negative, and something to run.
func validateStages(start int64, stages []Stage, unit string) []string {
	var p []string
	if len(stages) == 0 {
		p = append(p, "stages is required: at least one {duration, target}")
	}
	if start < 0 {
		p = append(p, fmt.Sprintf("the start %s must be 0 or more (got %d)", unit, start))
	}
	anything := start > 0
	if start > maxPlanUnits {
		p = append(p, fmt.Sprintf("the start %s must be at most %d (got %d)", unit, maxPlanUnits, start))
	}
	changes, from := int64(0), start
	for i, s := range stages {
		if s.Target >= 0 && s.Target <= maxPlanUnits {
			changes += max(s.Target-from, from-s.Target)
			from = s.Target
		}
		if s.Duration < 0 {
			p = append(p, fmt.Sprintf("stages[%d].duration must be 0 or more (got %s)", i, s.Duration))
		}
		if s.Target < 0 {
			p = append(p, fmt.Sprintf("stages[%d].target must be 0 or more (got %d)", i, s.Target))
		}
		if s.Target > maxPlanUnits {
			p = append(p, fmt.Sprintf("stages[%d].target must be at most %d (got %d)", i, maxPlanUnits, s.Target))
		}
		anything = anything || s.Target > 0
	}
	if changes > maxPlanSteps {
		p = append(p, fmt.Sprintf("the stages move the %s by %d in all; at most %d steps fit one plan", unit, changes, maxPlanSteps))
	}
	if len(stages) > 0 && !anything {
		p = append(p, fmt.Sprintf("either the start %s or some stage target must be more than 0", unit))
	}
	return p
}
