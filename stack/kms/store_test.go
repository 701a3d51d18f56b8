package kms

import (
	"fmt"
	"testing"
)

// BenchmarkCreateKeyWithExistingKeys shows what a state change costs as the
// number of keys grows: the whole state file is rewritten and fsynced.
func BenchmarkCreateKeyWithExistingKeys(b *testing.B) {
	for _, existing := range []int{10, 1000} {
		b.Run(fmt.Sprintf("keys=%d", existing), func(b *testing.B) {
			s, err := New(Config{DataDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			s.mu.Lock()
			for range existing {
				if _, err := s.newKeyLocked("", "", nil, keyManagerCustomer); err != nil {
					b.Fatal(err)
				}
			}
			s.mu.Unlock()
			c := &call{op: "CreateKey", caller: standInCaller(DefaultAccount, "AKID"), body: []byte(`{}`)}
			for b.Loop() {
				if _, err := s.createKey(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
