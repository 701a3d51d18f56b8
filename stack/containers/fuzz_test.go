package containers

import (
	"strconv"
	"testing"
)

// FuzzParseOwner: owner labels come from the engine, where anyone with
// access can set them; parseOwner must never panic and must accept only
// "<host>:<positive pid>".
func FuzzParseOwner(f *testing.F) {
	for _, s := range []string{"vm:4242", "ci-runner-7.example.org:1", "box:0", ":1", "box:", "a:b:3", "box:99999999999999999999", "box:+5", "box:-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, pid, ok := parseOwner(s)
		if !ok {
			if host != "" || pid != 0 {
				t.Fatalf("parseOwner(%q) = %q, %d, false: want zero values when not ok", s, host, pid)
			}
			return
		}
		if host == "" || pid <= 0 {
			t.Fatalf("parseOwner(%q) = %q, %d, true: empty host or non-positive pid", s, host, pid)
		}
		if p, err := strconv.Atoi(s[len(host)+1:]); err != nil || p != pid || s[len(host)] != ':' {
			t.Fatalf("parseOwner(%q) = %q, %d: not host:pid of the input", s, host, pid)
		}
	})
}
