// Package suites lists every conformance suite camstorm ships, in the
// order `camstorm conform` runs them.
package suites

import (
	"github.com/camstorm/camstorm/conformance"
	"github.com/camstorm/camstorm/conformance/access"
	"github.com/camstorm/camstorm/conformance/encryption"
	"github.com/camstorm/camstorm/conformance/resume"
	"github.com/camstorm/camstorm/conformance/rotation"
)

// All returns the suites that judge an ingest (the device suite judges a
// device and runs under `camstorm device-check`).
func All() []*conformance.Suite {
	return []*conformance.Suite{encryption.Suite(), rotation.Suite(), resume.Suite(), access.Suite()}
}
