package stack

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLogWhileWaiting(t *testing.T) {
	var (
		mu    sync.Mutex
		lines []string
	)
	logf := func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(f, a...))
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(lines)
	}
	stop := logWhileWaiting(logf, "stack: building the image", time.Millisecond)
	for deadline := time.Now().Add(5 * time.Second); count() < 2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	stop()
	n := count()
	stop() // a second stop is harmless
	time.Sleep(5 * time.Millisecond)
	if n < 2 || count() != n {
		t.Fatalf("logWhileWaiting every 1ms: %d lines before stop and %d after, want ≥ 2 and no more after", n, count())
	}
	if !strings.HasPrefix(lines[0], "stack: building the image… ") {
		t.Errorf("line %q, want it to start with %q", lines[0], "stack: building the image… ")
	}
}
