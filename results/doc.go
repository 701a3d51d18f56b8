// Package results holds what runs produce and how it is judged: for now
// k6's threshold grammar (expressions and sub-metric selectors) with the
// per-metric-type rules, exactly as k6 parses them.
package results
