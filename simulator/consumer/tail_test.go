package consumer_test

import (
	"context"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camstorm/camstorm/internal/e2ee"
	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/internal/wait"
	"github.com/camstorm/camstorm/simulator"
	"github.com/camstorm/camstorm/simulator/consumer"
)

// cuttingDialer hands out connections the test can break: at once, or
// after a number of further bytes read (in the middle of a chunk).
type cuttingDialer struct {
	mu    sync.Mutex
	conns []*cuttableConn
	dials atomic.Int32
	read  atomic.Int64 // bytes read over all connections (TLS included)
}

type cuttableConn struct {
	net.Conn
	budget atomic.Int64 // bytes left to read before the cut; < 0: no limit
	total  *atomic.Int64
}

func (c *cuttableConn) Read(p []byte) (int, error) {
	b := c.budget.Load()
	if b == 0 {
		c.Conn.Close()
		return 0, net.ErrClosed
	}
	if b > 0 && int64(len(p)) > b {
		p = p[:b]
	}
	n, err := c.Conn.Read(p)
	c.total.Add(int64(n))
	if b > 0 {
		c.budget.Add(-int64(n))
	}
	return n, err
}

func (d *cuttingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.dials.Add(1)
	cc := &cuttableConn{Conn: c, total: &d.read}
	cc.budget.Store(-1)
	d.mu.Lock()
	d.conns = append(d.conns, cc)
	d.mu.Unlock()
	return cc, nil
}

// cutAfter breaks every open connection once it has read n more bytes
// (0: at once).
func (d *cuttingDialer) cutAfter(n int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.budget.Store(n)
		if n == 0 {
			c.Conn.Close()
		}
	}
	d.conns = nil
}

func (d *cuttingDialer) client(t *testing.T, base *http.Client) *http.Client {
	tr := base.Transport.(*http.Transport).Clone()
	tr.DialContext = d.DialContext
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// TestTailFollowsLiveFragmentsAcrossDroppedConnections starts a GetMedia
// tail, pushes fragments while it runs, breaks its connection between
// fragments and in the middle of one, and checks that every stored
// fragment arrives exactly once, in order, authenticated.
func TestTailFollowsLiveFragmentsAcrossDroppedConnections(t *testing.T) {
	st, target := startStack(t, "")
	key := consumerKey(t, 20)
	cam, gops := e2eeCamera(t, target, "live", key, 20)
	cam.put(gops.fragments(2))

	dialer := &cuttingDialer{}
	tailTarget := simulator.Target{ControlPlaneURL: st.ControlPlaneURL, HTTP: dialer.client(t, target.HTTP), Credentials: target.Credentials, Region: target.Region}
	var sleeps atomic.Int32
	clock := time.Now() // the checker's "now": fixed, so latency is producer age at a known instant
	checker := consumer.NewLiveChecker(func() time.Time { return clock })
	got := make(chan string, 64)
	r := &consumer.Reader{Target: tailTarget, Stream: "live", Opener: e2ee.NewOpener("live", key),
		Retry: consumer.RetryPolicy{Seed: 1, Sleep: func(ctx context.Context, d time.Duration) error {
			sleeps.Add(1)
			if d <= 0 {
				t.Errorf("backoff %v", d)
			}
			return ctx.Err()
		}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Tail(ctx, consumer.StartEarliest(), func(f *consumer.Fragment) error {
			if f.Err != nil || f.Integrity != nil {
				t.Errorf("fragment %s: err %v, integrity %v", f.Number, f.Err, f.Integrity)
			}
			checker.Add(f)
			got <- f.Number
			return nil
		})
	}()
	var numbers []string
	wait := func(n int) {
		t.Helper()
		for len(numbers) < n {
			select {
			case num := <-got:
				numbers = append(numbers, num)
			case err := <-done:
				t.Fatalf("tail ended early: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatalf("only %d of %d fragments arrived", len(numbers), n)
			}
		}
	}
	wait(2)
	cam.put(gops.fragments(1)) // live, on the open connection
	wait(3)
	dialer.cutAfter(0) // between fragments
	cam.put(gops.fragments(2))
	wait(5)
	require.GreaterOrEqual(t, sleeps.Load(), int32(1), "the tail reconnected")
	dialer.cutAfter(2000) // inside the next fragment's chunk (each is about 50 kB)
	cam.put(gops.fragments(2))
	wait(7)
	cancel()
	require.NoError(t, <-done, "a tail ends without error when its context does")
	select {
	case extra := <-got:
		t.Fatalf("fragment %s arrived after the last one expected", extra)
	default:
	}

	r2 := &consumer.Reader{Target: target, Stream: "live"}
	listed, err := r2.List(context.Background(), cam.Ledger.Start, cam.Ledger.End)
	require.NoError(t, err)
	var want []string
	var stored, largest int64
	for _, f := range listed {
		want = append(want, f.FragmentNumber)
		stored += f.FragmentSizeInBytes
		largest = max(largest, f.FragmentSizeInBytes)
	}
	require.Equal(t, want, numbers, "every fragment once, in storage order")
	// Each reconnect resumed after the last fragment handed out: nothing
	// but the fragment cut in half was read twice.
	require.Less(t, dialer.read.Load(), stored+largest+32<<10, "bytes read for %d stored", stored)
	require.GreaterOrEqual(t, dialer.dials.Load(), int32(3))

	v := checker.Result(&cam.Ledger)
	require.True(t, v.OK(), "%v %+v", v.Problems(), v)
	require.Equal(t, uint64(105), v.Delivered)
	require.NotNil(t, v.Latency)
	require.Equal(t, int64(7), v.Latency.Count)
	// The clock stood still at the test's start, after all the fragments'
	// media time (which lies ten minutes back): latency is their age.
	require.Greater(t, v.Latency.Min, 9*time.Minute)
	require.Equal(t, int64(7), checker.Latency().TotalCount())
}

// TestTailStartSelectors: NOW begins with the latest fragment, FRAGMENT_NUMBER
// after the one named, PRODUCER_TIMESTAMP at the one with that time.
func TestTailStartSelectors(t *testing.T) {
	_, target := startStack(t, "")
	key := consumerKey(t, 21)
	cam, gops := e2eeCamera(t, target, "selectors", key, 21)
	frags := gops.fragments(4)
	numbers := cam.put(frags)
	first := func(sel consumer.StartSelector) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var got string
		err := consumer.Tail(ctx, target, "selectors", sel, e2ee.NewOpener("selectors", key), func(f *consumer.Fragment) error {
			got = f.Number
			require.NotEmpty(t, f.ContinuationToken)
			require.GreaterOrEqual(t, f.MillisBehindNow, int64(0))
			cancel()
			return nil
		})
		require.NoError(t, err)
		return got
	}
	require.Equal(t, numbers[frags[0].tc], first(consumer.StartEarliest()))
	require.Equal(t, numbers[frags[3].tc], first(consumer.StartNow()))
	require.Equal(t, numbers[frags[2].tc], first(consumer.StartAfterFragment(numbers[frags[1].tc])))
	require.Equal(t, numbers[frags[2].tc], first(consumer.StartAtToken(numbers[frags[1].tc])))
	require.Equal(t, numbers[frags[1].tc], first(consumer.StartAtProducerTime(time.UnixMilli(frags[1].tc))))
}

// TestTailErrors: a stream that does not exist is an error at once, a
// malformed selector before any request, and a callback's error ends the
// tail with that error.
func TestTailErrors(t *testing.T) {
	_, target := startStack(t, "")
	ctx := context.Background()
	err := consumer.Tail(ctx, target, "missing", consumer.StartEarliest(), nil, func(*consumer.Fragment) error { return nil })
	var ex *kvsapi.Exception
	require.ErrorAs(t, err, &ex)
	require.Equal(t, kvsapi.ExcResourceNotFound, ex.Type)

	err = consumer.Tail(ctx, target, "missing", consumer.StartSelector{StartSelectorType: "SOMETIME"}, nil, nil)
	require.ErrorContains(t, err, "SOMETIME")

	key := consumerKey(t, 22)
	cam, gops := e2eeCamera(t, target, "stopper", key, 22)
	cam.put(gops.fragments(1))
	stop := context.Canceled
	err = consumer.Tail(ctx, target, "stopper", consumer.StartEarliest(), nil, func(f *consumer.Fragment) error {
		require.True(t, f.Encrypted, "without a key the frames stay sealed")
		require.False(t, f.Opened)
		return stop
	})
	require.Same(t, stop, err)
}

// TestTailGivesUpWhenTheServiceIsGone: after the stack stops, a tail
// retries its bounded number of times and reports it.
func TestTailGivesUpWhenTheServiceIsGone(t *testing.T) {
	st, target := startStack(t, "")
	cam, gops := e2eeCamera(t, target, "gone", consumerKey(t, 23), 23)
	cam.put(gops.fragments(1))
	var waits []time.Duration
	r := &consumer.Reader{Target: target, Stream: "gone", Retry: consumer.RetryPolicy{
		Attempts: 3, Backoff: time.Second, MaxBackoff: 3 * time.Second, Seed: 7,
		Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil },
	}}
	err := r.Tail(context.Background(), consumer.StartEarliest(), func(*consumer.Fragment) error {
		go st.Close(context.Background())
		return nil
	})
	require.ErrorIs(t, err, consumer.ErrGaveUp)
	require.Len(t, waits, 3)
	for i, w := range waits {
		ceiling := min(time.Second<<i, 3*time.Second)
		require.True(t, w >= ceiling/2 && w <= ceiling, "wait %d is %v, want within [%v, %v]", i, w, ceiling/2, ceiling)
	}
}

// TestTailFromNowLosesNothingWhileReconnecting: a NOW tail whose first
// connection is refused resumes at the server time it first tried (NOW
// again would start at the newest fragment and skip what was stored while
// it waited).
func TestTailFromNowLosesNothingWhileReconnecting(t *testing.T) {
	_, target := startStack(t, "")
	key := consumerKey(t, 24)
	cam, gops := e2eeCamera(t, target, "busy", key, 24)
	before := cam.put(gops.fragments(2))

	// Three readers take every GetMedia connection the stream allows.
	holders := make([]context.CancelFunc, 3)
	for i := range holders {
		ctx, cancel := context.WithCancel(context.Background())
		holders[i] = cancel
		started := make(chan struct{})
		go func() {
			_ = consumer.Tail(ctx, target, "busy", consumer.StartEarliest(), nil, func(*consumer.Fragment) error {
				select {
				case <-started:
				default:
					close(started)
				}
				return nil
			})
		}()
		<-started
	}
	defer func() {
		for _, c := range holders {
			c()
		}
	}()

	var during map[int64]string
	var duringFrags []testFragment
	refused := 0
	r := &consumer.Reader{Target: target, Stream: "busy", Opener: e2ee.NewOpener("busy", key),
		Retry: consumer.RetryPolicy{Attempts: 50, Sleep: func(ctx context.Context, _ time.Duration) error {
			if refused++; refused == 1 {
				// While the tail waits: two fragments arrive, then a reader leaves.
				duringFrags = gops.fragments(2)
				during = cam.put(duringFrags)
				holders[0]()
			}
			if !wait.For(ctx, 20*time.Millisecond) { // until the service notices the reader left
				return ctx.Err()
			}
			return nil
		}}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	require.NoError(t, r.Tail(ctx, consumer.StartNow(), func(f *consumer.Fragment) error {
		got = append(got, f.Number)
		if f.Number == during[duringFrags[1].tc] {
			cancel()
		}
		return nil
	}))
	require.GreaterOrEqual(t, refused, 1, "the first connection was refused")
	require.GreaterOrEqual(t, len(got), 2)
	require.Equal(t, []string{during[duringFrags[0].tc], during[duringFrags[1].tc]}, got[len(got)-2:],
		"both fragments stored while reconnecting arrive")
	// Before them at most what covered the moment of the first connection:
	// fragments of the first session, each once.
	earlier := slices.Collect(maps.Values(before))
	for _, n := range got[:len(got)-2] {
		require.Contains(t, earlier, n)
	}
	require.Len(t, slices.Compact(slices.Sorted(slices.Values(got))), len(got), "no fragment twice")
}
