// Package kvsapi holds the Kinesis Video Streams wire vocabulary shared by the
// simulator, the reference stack and the conformance suites: operation paths,
// headers, JSON shapes, ACK events, error ids, tag names and service limits.
//
// Every fact here comes from ../shared/reference/kvs-protocol.md; the section
// numbers in comments point there.
package kvsapi
