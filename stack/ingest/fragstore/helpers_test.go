package fragstore

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testClock is an injectable clock that tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *testClock) Ms() int64 { return c.Now().UnixMilli() }

// openTest opens a store whose Close is checked at the end of the test
// (closing twice is fine).
func openTest(t testing.TB, o Options) *Store {
	t.Helper()
	if o.CompactEvery == 0 {
		o.CompactEvery = -1 // tests call Compact themselves
	}
	if o.Logf == nil {
		o.Logf = t.Logf
	}
	s, err := Open(o)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// payload is deterministic pseudo-random content.
func payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func putStream(t testing.TB, s *Store, name string) {
	t.Helper()
	require.NoError(t, s.PutStream(context.Background(), name, []byte(`{"StreamName":"`+name+`"}`)))
}

// add appends one fragment with the given timestamps and returns its Info.
func add(t testing.TB, s *Store, stream string, producerMs, serverMs, durMs int64, data []byte) Info {
	t.Helper()
	info, err := s.Append(context.Background(), Fragment{
		Stream: stream, Number: s.NextFragmentNumber(),
		ProducerMs: producerMs, ServerMs: serverMs, DurationMs: durMs,
		Parts: [][]byte{data},
	})
	require.NoError(t, err)
	require.False(t, info.Duplicate)
	return info
}

func numbers(infos []Info) []string {
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.Number
	}
	return out
}
