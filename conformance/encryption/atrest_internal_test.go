package encryption

import (
	"bytes"
	"strings"
	"testing"

	"github.com/camstorm/camstorm/conformance/probe"
)

func TestRepeatedRun(t *testing.T) {
	secret := probe.Payload("run", 0, 2000)
	a := append(append(probe.Payload("a", 0, 777), secret...), probe.Payload("a", 1, 300)...)
	b := append(append(probe.Payload("b", 0, 1234), secret...), probe.Payload("b", 1, 50)...)
	d, ok := repeatedRun([]region{{"a", 10, a}, {"b", 0, b}}, 1024)
	if d.a.path == "b" { // either copy may be found first
		d.a, d.b, d.aOff, d.bOff = d.b, d.a, d.bOff, d.aOff
	}
	if !ok || d.length != len(secret) || d.a.path != "a" || d.aOff != 10+777 || d.bOff != 1234 {
		t.Errorf("repeatedRun found %t: %d bytes at %s+%d and %s+%d; want 2000 bytes at a+787 and b+1234",
			ok, d.length, d.a.path, d.aOff, d.b.path, d.bOff)
	}
	// The same run twice within one region is found too.
	one := append(append(append([]byte(nil), a...), probe.Payload("c", 0, 99)...), secret...)
	if _, ok := repeatedRun([]region{{"one", 0, one}}, 1024); !ok {
		t.Error("a run repeated within one file was not found")
	}
	for _, c := range []struct {
		name string
		rs   []region
	}{
		{"short duplicate", []region{{"a", 0, append(probe.Payload("x", 0, 500), secret[:1000]...)}, {"b", 0, secret[:1000]}}},
		{"repeated log lines", []region{{"log", 0, []byte(strings.Repeat(`{"eventName":"GetMedia","userIdentity":{"arn":"arn:aws:iam::1:user/x"}}`+"\n", 100))}}},
		{"zeros", []region{{"z", 0, make([]byte, 8192)}, {"y", 0, make([]byte, 4096)}}},
		{"unrelated random", []region{{"a", 0, probe.Payload("u", 0, 5000)}, {"b", 0, probe.Payload("u", 1, 5000)}}},
	} {
		if d, ok := repeatedRun(c.rs, 1024); ok {
			t.Errorf("%s: reported a repeated run of %d bytes at %s+%d and %s+%d", c.name, d.length, d.a.path, d.aOff, d.b.path, d.bOff)
		}
	}
}

func TestNewBytes(t *testing.T) {
	before := map[string][]byte{"grew": []byte("abc"), "same": []byte("x"), "rewritten": []byte("old")}
	after := map[string][]byte{"grew": []byte("abcdef"), "same": []byte("x"), "rewritten": []byte("new!"), "new": []byte("n")}
	got := map[string]string{}
	for _, r := range newBytes(before, after) {
		got[r.path] = string(r.b)
		if r.path == "grew" && r.start != 3 {
			t.Errorf("grew starts at %d, want 3", r.start)
		}
	}
	want := map[string]string{"grew": "def", "rewritten": "new!", "new": "n"}
	if len(got) != len(want) {
		t.Fatalf("newBytes = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("newBytes[%s] = %q, want %q", k, got[k], v)
		}
	}
}

func TestStructureFinders(t *testing.T) {
	f := probe.Fragment{Timecode: 1_795_000_000_123, Frames: []probe.Frame{{Data: []byte("frame")}}}
	plain := append(append(probe.Payload("s", 0, 300), probe.Header()...), f.Encode()...)
	if ebmlHeaderAt(plain) != 300 {
		t.Errorf("ebmlHeaderAt = %d, want 300", ebmlHeaderAt(plain))
	}
	if clusterAt(plain, []probe.Fragment{f}) < 300 {
		t.Error("clusterAt did not find the plaintext cluster")
	}
	other := probe.Fragment{Timecode: 1_700_000_000_000}
	if clusterAt(plain, []probe.Fragment{other}) >= 0 {
		t.Error("clusterAt matched a cluster of another timecode")
	}
	noise := probe.Payload("noise", 0, 1<<16)
	if ebmlHeaderAt(noise) >= 0 || clusterAt(noise, []probe.Fragment{f}) >= 0 || bytes.Contains(noise, []byte(videoCodec)) {
		t.Error("structure found in random bytes")
	}
}
