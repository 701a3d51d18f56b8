// Package conformance is the engine of camstorm's conformance suites: cases
// declared as data with stable IDs tied to a requirement, a Target that
// describes an ingest only through its endpoints, credentials and the
// misbehaviour it allows, a Runner that judges cases into pass, fail, skip
// or harness error, and reporters for text, JSON and JUnit XML.
//
// The model is h2spec and Autobahn: the requirement text travels with the
// case, and a failure shows expected against actual with evidence. Unlike
// them, nothing in a suite prints or exits, and every case is itself tested
// against a stack with a deliberate defect.
package conformance
