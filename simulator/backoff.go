package simulator

import (
	"math/rand/v2"
	"time"
)

// backoff is exponential backoff with full jitter, as the SDK's state
// machine uses it (kvs-protocol.md §4.1): the n-th consecutive retry
// waits a uniformly random time in [0, min(cap, base·2^(n-1))).
type backoff struct {
	base, cap time.Duration
	rng       *rand.Rand
	attempt   int
}

// next returns the wait before the next retry and counts it.
func (b *backoff) next() time.Duration {
	ceiling := b.cap
	if b.attempt < 30 {
		ceiling = min(b.cap, b.base<<b.attempt)
	}
	b.attempt++
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(b.rng.Int64N(int64(ceiling)))
}

// reset starts over after progress (a session that got an ACK).
func (b *backoff) reset() { b.attempt = 0 }
