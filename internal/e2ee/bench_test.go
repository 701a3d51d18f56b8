package e2ee

import (
	"strconv"
	"testing"
)

var benchFrameSizes = []int{1 << 10, 8 << 10, 64 << 10}

// BenchmarkSealFrame is the camera's per-frame cost (target: 0 allocs/op).
func BenchmarkSealFrame(b *testing.B) {
	key := testKey(b, KEMX25519, 1)
	for _, n := range benchFrameSizes {
		b.Run(strconv.Itoa(n>>10)+"KiB", func(b *testing.B) {
			s := testSealer(b, "cam-0001", 2, key)
			if _, err := s.BeginFragment(testTC); err != nil {
				b.Fatal(err)
			}
			frame := make([]byte, n)
			dst := make([]byte, 0, SealedSize(n))
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := s.SealFrame(dst, uint32(i), false, uint64(i), frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenFrame is the consumer's per-frame cost (target: 0 allocs/op).
func BenchmarkOpenFrame(b *testing.B) {
	key := testKey(b, KEMX25519, 1)
	for _, n := range benchFrameSizes {
		b.Run(strconv.Itoa(n>>10)+"KiB", func(b *testing.B) {
			s := testSealer(b, "cam-0001", 2, key)
			env, err := s.BeginFragment(testTC)
			if err != nil {
				b.Fatal(err)
			}
			sealed, err := s.SealFrame(nil, 0, false, 1, make([]byte, n))
			if err != nil {
				b.Fatal(err)
			}
			o := NewOpener("cam-0001", key)
			if err := o.BeginFragment(testTC, env); err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, 0, len(sealed))
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := o.OpenFrame(dst, 0, false, sealed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRotate is the camera's cost of starting an epoch: content key,
// one HPKE wrap per recipient, the envelope.
func BenchmarkRotate(b *testing.B) {
	for _, tc := range []struct {
		kem KEM
		n   int
	}{{KEMX25519, 1}, {KEMX25519, 8}, {KEMMLKEM768X25519, 1}} {
		b.Run(tc.kem.String()+"/"+strconv.Itoa(tc.n), func(b *testing.B) {
			var keys []*PrivateKey
			for i := range tc.n {
				keys = append(keys, testKey(b, tc.kem, byte(i)))
			}
			s := testSealer(b, "cam-0001", 1, keys...)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s.recipientsChanged = true
				if _, err := s.BeginFragment(testTC + int64(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBeginFragment is the consumer's per-fragment cost: a new epoch
// (parse and HPKE unwrap) and a cached one.
func BenchmarkBeginFragment(b *testing.B) {
	for _, kem := range []KEM{KEMX25519, KEMMLKEM768X25519} {
		key := testKey(b, kem, 1)
		env, err := testSealer(b, "cam-0001", 2, key).BeginFragment(testTC)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(kem.String()+"/unwrap", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := NewOpener("cam-0001", key).BeginFragment(testTC, env); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(kem.String()+"/cached", func(b *testing.B) {
			o := NewOpener("cam-0001", key)
			b.ReportAllocs()
			for b.Loop() {
				if err := o.BeginFragment(testTC, env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
