package cameras

import (
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/camstorm/camstorm/simulator/fleet"
)

// Identity is what a camera is, decided by the fleet's Seed and the
// camera's global index alone, so the same index gives the same camera
// however many others run and whichever shard starts it.
type Identity struct {
	Index   int64
	Stream  string
	Kind    string
	Profile string
	// Seed drives its media, its producer's random choices and its faults
	// (the same formula as fleet.Plan: camera i of a fleet with that Seed
	// films the same frames).
	Seed uint64
}

// Identity returns the camera that global index i is. A negative index has
// no valid stream name; Start reports it.
func (f *Fleet) Identity(i int64) Identity {
	return identify(f.cfg.Seed, f.cfg.StreamPrefix, f.cfg.Mix, f.cfg.Profiles, i)
}

func identify(seed int64, prefix string, mix, profiles fleet.Weights, i int64) Identity {
	// Both PCG words come from a mixing hash, so neighbouring indices draw
	// unrelated numbers.
	rng := rand.New(rand.NewPCG(mix64(uint64(seed)^0x63616d6572617321), mix64(uint64(i)+0x9e3779b97f4a7c15)))
	return Identity{
		Index: i, Stream: streamName(prefix, i),
		Kind: pick(mix, rng), Profile: pick(profiles, rng),
		Seed: uint64(seed)*1_000_003 + uint64(i),
	}
}

// pick chooses a name with probability proportional to its weight.
func pick(w fleet.Weights, rng *rand.Rand) string {
	total := 0
	for _, x := range w {
		total += max(x.Weight, 0)
	}
	if total == 0 {
		return ""
	}
	r := rng.IntN(total)
	for _, x := range w {
		if r -= max(x.Weight, 0); r < 0 {
			return x.Name
		}
	}
	return w[len(w)-1].Name // unreachable: r < total
}

// mix64 is SplitMix64's finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// indexOf returns the global index of one of this fleet's streams.
func (f *Fleet) indexOf(stream string) (int64, bool) {
	digits, ok := strings.CutPrefix(stream, f.cfg.StreamPrefix+"-")
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || i < 0 || streamName(f.cfg.StreamPrefix, i) != stream {
		return 0, false
	}
	return i, true
}
