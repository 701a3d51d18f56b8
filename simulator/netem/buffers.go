package netem

import (
	"math/bits"
	"sync"
)

// Chunk buffers come from size-class pools (powers of two from 512 B to 32 KiB), so a
// queued chunk never holds more than twice its length and a quiet connection holds
// nothing.
const (
	minBufShift = 9
	maxBufShift = 15
)

var bufPools [maxBufShift - minBufShift + 1]sync.Pool

func bufClass(n int) int {
	if n <= 1<<minBufShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minBufShift
}

// getBuf returns a buffer of length n (n <= 32 KiB).
func getBuf(n int) *[]byte {
	c := bufClass(n)
	if v, ok := bufPools[c].Get().(*[]byte); ok {
		*v = (*v)[:n]
		return v
	}
	b := make([]byte, n, 1<<(c+minBufShift))
	return &b
}

func putBuf(b *[]byte) {
	if b == nil {
		return
	}
	c := bufClass(cap(*b))
	if cap(*b) != 1<<(c+minBufShift) {
		return // not one of ours
	}
	bufPools[c].Put(b)
}
