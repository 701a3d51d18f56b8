// Package live exports a run's samples as Prometheus metrics while it
// runs, so a dashboard can watch a load test next to the stack it drives.
package live
