package segment

import "errors"

// Sentinel errors; every error this package returns wraps one of them.
var (
	// ErrInvalidSegment reports a segment string that does not parse or
	// violates 0 ≤ from < to ≤ 1.
	ErrInvalidSegment = errors.New("invalid execution segment")
	// ErrInvalidSequence reports a sequence string that does not parse, does
	// not run from 0 to 1 or is not strictly increasing.
	ErrInvalidSequence = errors.New("invalid execution segment sequence")
	// ErrSegmentNotInSequence reports a segment that is not one of the
	// intervals between two adjacent points of the sequence.
	ErrSegmentNotInSequence = errors.New("execution segment is not in the sequence")
	// ErrPeriodTooLarge reports a sequence whose segment lengths need a
	// striping period (their least common denominator) above MaxPeriod.
	ErrPeriodTooLarge = errors.New("execution segment sequence period too large")
	// ErrInvalidShard reports a --shard value that is not "i/n" with 0 ≤ i < n.
	ErrInvalidShard = errors.New("invalid shard")
)
