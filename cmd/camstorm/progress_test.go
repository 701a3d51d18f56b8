package main

import (
	"strings"
	"testing"
	"time"
)

func TestProgressPrinter(t *testing.T) {
	type step struct {
		at     time.Duration
		status string // printed with Status unless perm is set
		perm   bool
	}
	for _, tc := range []struct {
		name  string
		tty   bool
		steps []step
		want  string
	}{
		{"plain: a line per interval, the first after one", false,
			[]step{{0, "a", false}, {time.Second, "b", false}, {10 * time.Second, "c", false}, {15 * time.Second, "d", false}, {20 * time.Second, "e", false}},
			"c\ne\n"},
		{"plain: permanent lines always", false,
			[]step{{0, "a", false}, {time.Second, "step 1", true}},
			"step 1\n"},
		{"tty: rewritten at most once a second", true,
			[]step{{0, "a", false}, {500 * time.Millisecond, "b", false}, {time.Second, "c", false}},
			"\r\033[Ka\r\033[Kc\r\033[K"},
		{"tty: a permanent line clears the status", true,
			[]step{{0, "a", false}, {time.Second, "step 1", true}, {2 * time.Second, "b", false}},
			"\r\033[Ka\r\033[Kstep 1\n\r\033[Kb\r\033[K"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			start := time.Unix(1000, 0)
			now := start
			p := &progressPrinter{w: &b, tty: tc.tty, plainEvery: 10 * time.Second, now: func() time.Time { return now }}
			for _, s := range tc.steps {
				now = start.Add(s.at)
				if s.perm {
					p.Println(s.status)
				} else {
					p.Status(s.status)
				}
			}
			p.End()
			if got := b.String(); got != tc.want {
				t.Errorf("steps %v (tty %v): printed %q, want %q", tc.steps, tc.tty, got, tc.want)
			}
		})
	}
}
