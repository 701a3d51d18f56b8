package netem

import (
	"hash/fnv"
	"math/rand/v2"
)

// mix64 is the SplitMix64 finaliser: it spreads structured inputs (seed, index,
// name hash) into unrelated-looking generator seeds.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// derive folds parts into seed, so each (link, connection, fault, direction)
// gets its own stream that does not move when another one draws more numbers.
func derive(seed uint64, parts ...uint64) uint64 {
	h := mix64(seed)
	for _, p := range parts {
		h = mix64(h ^ p)
	}
	return h
}

func nameHash(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

func newRand(seed uint64, parts ...uint64) *rand.Rand {
	s := derive(seed, parts...)
	return rand.New(rand.NewPCG(s, mix64(s)))
}
