package conformance

import "errors"

func joinProblems(problems []error) error {
	if len(problems) == 0 {
		return nil
	}
	return errors.Join(problems...)
}
