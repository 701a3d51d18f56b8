// Package scenarios runs k6-style JavaScript load scenarios on grafana/sobek:
// options, executors (including camera executors that run cameras as
// goroutines), checks, custom metrics and thresholds, with k6's semantics
// and exit codes but no k6 code.
package scenarios

import _ "github.com/grafana/sobek" // the JS engine; imported for real by the runner
