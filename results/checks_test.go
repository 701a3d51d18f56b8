package results

import (
	"encoding/json"
	"sync"
	"testing"
)

// describe renders a group tree compactly: name[checks](subgroups).
func describe(g *Group) string {
	b, _ := json.Marshal(g)
	return string(b)
}

func TestChecksRecord(t *testing.T) {
	c := NewChecks()
	c.Record("", "status 200", true)
	c.Record("::outer", "body", false)
	c.Record("::outer::inner", "fast", true)
	c.Record("", "status 200", false)
	c.Record("::outer", "body", true)
	c.Record("::other", "x", true)
	got := describe(c.Root())
	want := `{"name":"","path":"","groups":[` +
		`{"name":"outer","path":"::outer","groups":[{"name":"inner","path":"::outer::inner","groups":null,"checks":[{"name":"fast","path":"::outer::inner::fast","passes":1,"fails":0}]}],` +
		`"checks":[{"name":"body","path":"::outer::body","passes":1,"fails":1}]},` +
		`{"name":"other","path":"::other","groups":null,"checks":[{"name":"x","path":"::other::x","passes":1,"fails":0}]}],` +
		`"checks":[{"name":"status 200","path":"::status 200","passes":1,"fails":1}]}`
	if got != want {
		t.Errorf("Root() =\n%s\nwant\n%s", got, want)
	}
	snap := c.Root()
	c.Record("", "status 200", true)
	if snap.Checks[0].Passes != 1 {
		t.Errorf("Root() snapshot changed after Record: %d passes, want 1", snap.Checks[0].Passes)
	}
}

func TestChecksMergeGroup(t *testing.T) {
	a, b, whole := NewChecks(), NewChecks(), NewChecks()
	events := []struct {
		path, name string
		pass       bool
	}{
		{"", "a", true}, {"::g", "b", false}, {"::g::h", "c", true}, {"", "a", false}, {"::k", "d", true}, {"::g", "b", true},
	}
	for i, e := range events {
		whole.Record(e.path, e.name, e.pass)
		if i < 3 {
			a.Record(e.path, e.name, e.pass)
		} else {
			b.Record(e.path, e.name, e.pass)
		}
	}
	a.MergeGroup(b.Root())
	a.MergeGroup(nil)
	if got, want := describe(a.Root()), describe(whole.Root()); got != want {
		t.Errorf("merged =\n%s\nwant\n%s", got, want)
	}
}

func TestChecksConcurrent(t *testing.T) {
	c := NewChecks()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 1000 {
				c.Record("::g", "ok", i%2 == 0)
			}
		})
	}
	wg.Wait()
	ch := c.Root().Groups[0].Checks[0]
	if ch.Passes != 4000 || ch.Fails != 4000 {
		t.Errorf("8×1000 records: passes %d fails %d, want 4000 4000", ch.Passes, ch.Fails)
	}
}
