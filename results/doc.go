// Package results holds what runs produce and how it is judged: metrics
// and samples, per-series aggregation with HDR histograms, k6's threshold
// grammar and evaluation, checks, k6's NDJSON and CSV outputs and
// summaries, and the mergeable results file shards write.
package results
