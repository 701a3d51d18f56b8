// Package mkv writes and reads the Matroska profile Kinesis Video Streams
// producers send: a zero-allocation live writer for the per-frame path and a
// bounded, incremental demuxer a server can run over an untrusted network
// stream. See ../shared/reference/kvs-protocol.md §2 for the profile.
package mkv
