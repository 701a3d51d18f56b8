package segment

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// MaxShards caps the shard count of ParseShard; the sequence it builds has
// one point per shard.
const MaxShards = 10_000

// ParseShard reads camstorm's --shard "i/n" (0 ≤ i < n, n ≥ 1) and returns
// the tuple of segment i/n:(i+1)/n in the even sequence 0,1/n,…,1 — the k6
// equivalent of --execution-segment=i/n:(i+1)/n with that sequence. Shard i
// owns global items i, i+n, i+2n, ….
func ParseShard(s string) (*Tuple, error) {
	text := strings.TrimSpace(s)
	iText, nText, ok := strings.Cut(text, "/")
	if !ok {
		return nil, fmt.Errorf("%w %q: want i/n with 0 ≤ i < n, e.g. 0/4 for the first of four shards", ErrInvalidShard, s)
	}
	i, errI := strconv.ParseInt(strings.TrimSpace(iText), 10, 64)
	n, errN := strconv.ParseInt(strings.TrimSpace(nText), 10, 64)
	switch {
	case errI != nil || errN != nil:
		return nil, fmt.Errorf("%w %q: i and n must be whole numbers, e.g. 0/4", ErrInvalidShard, s)
	case n < 1:
		return nil, fmt.Errorf("%w %q: shard count %d must be at least 1", ErrInvalidShard, s, n)
	case n > MaxShards:
		return nil, fmt.Errorf("%w %q: shard count %d is above the maximum %d", ErrInvalidShard, s, n, MaxShards)
	case i < 0 || i >= n:
		return nil, fmt.Errorf("%w %q: shard index %d must be in 0..%d (indices start at 0)", ErrInvalidShard, s, i, n-1)
	}
	seg := Segment{from: big.NewRat(i, n), to: big.NewRat(i+1, n)}
	return NewTuple(seg, evenSequence(n))
}
