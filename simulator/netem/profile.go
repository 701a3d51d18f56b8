package netem

import (
	"errors"
	"fmt"
	"reflect"
)

// Profile is a network as data: the continuous faults every connection suffers and
// the recurring scheduled events. Name and Source are documentation. A Profile with
// no Faults and no Events is perfect: a Link dials raw connections for it.
type Profile struct {
	Name string
	// Source names the published figures the profile is derived from.
	Source string
	// Faults act on every connection, in order (put stalls before bandwidth and
	// bandwidth before latency, as on a real path: loss recovery, then the bottleneck,
	// then propagation).
	Faults []Fault
	Events []EventSpec
}

// ErrInvalidProfile wraps every profile validation failure.
var ErrInvalidProfile = errors.New("netem: invalid profile")

// Perfect reports whether the profile injects nothing.
func (p Profile) Perfect() bool { return len(p.Faults) == 0 && len(p.Events) == 0 }

// Validate reports every problem with the profile at once.
func (p Profile) Validate() error {
	var errs []error
	for i, f := range p.Faults {
		if f == nil || (reflect.ValueOf(f).Kind() == reflect.Pointer && reflect.ValueOf(f).IsNil()) {
			errs = append(errs, fmt.Errorf("faults[%d]: nil", i))
			continue
		}
		if v, ok := f.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("faults[%d] (%T): %w", i, f, err))
			}
		}
	}
	for i, s := range p.Events {
		for _, err := range s.validate() {
			errs = append(errs, fmt.Errorf("events[%d] (%s): %w", i, s.Kind, err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w %q: %w", ErrInvalidProfile, p.Name, errors.Join(errs...))
}
