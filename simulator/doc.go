// Package simulator runs simulated KVS cameras: a Camera creates or finds its
// stream, streams MKV fragments over PutMedia and records every outcome.
package simulator
