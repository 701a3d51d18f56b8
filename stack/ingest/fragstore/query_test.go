package fragstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// queryFixture: fragments 0..9 back to back (producer 1000*i, server
// 50000+1000*i, 1 s each), then fragment 10 after a gap (producer 20000,
// 500 ms).
func queryFixture(t *testing.T) (*Store, []string) {
	s := openTest(t, Options{Dir: t.TempDir()})
	putStream(t, s, "cam")
	var nums []string
	for i := range 10 {
		nums = append(nums, add(t, s, "cam", int64(1000*i), int64(50000+1000*i), 1000, []byte{byte(i)}).Number)
	}
	nums = append(nums, add(t, s, "cam", 20000, 70000, 500, []byte{10}).Number)
	return s, nums
}

func TestAfterPagesInNumberOrder(t *testing.T) {
	s, nums := queryFixture(t)
	tests := []struct {
		after string
		max   int
		want  []string
	}{
		{"", 3, nums[:3]},
		{nums[2], 100, nums[3:]},
		{nums[10], 100, nil},
		{"", 0, nil},
		{"0", 100, nums},                             // numerically below every number
		{strings.Repeat("9", 60), 100, nil},          // above every number
		{"8" + strings.Repeat("9", 46), 2, nums[:2]}, // 47 digits, below our leading 9
		{"not-a-number", 100, nil},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, nilIfEmpty(numbers(s.After("cam", tc.after, tc.max))), "After(cam, %q, %d)", tc.after, tc.max)
	}
	require.Empty(t, s.After("unknown", "", 10))
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestRangeIsInclusiveAndPaginates(t *testing.T) {
	s, nums := queryFixture(t)
	tests := []struct {
		name       string
		byServer   bool
		start, end int64
		after      string
		max        int
		want       []string
	}{
		{"producer inclusive ends", false, 2000, 5000, "", 100, nums[2:6]},
		{"page 1", false, 2000, 5000, "", 2, nums[2:4]},
		{"page 2", false, 2000, 5000, nums[3], 2, nums[4:6]},
		{"page 3 empty", false, 2000, 5000, nums[5], 2, nil},
		{"start inside a fragment is not a match", false, 2500, 3000, "", 100, nums[3:4]},
		{"server timestamps", true, 52000, 53000, "", 100, nums[2:4]},
		{"server includes the gap fragment", true, 59000, 80000, "", 100, nums[9:11]},
		{"empty interval", false, 10001, 19999, "", 100, nil},
		{"reversed interval", false, 5000, 2000, "", 100, nil},
	}
	for _, tc := range tests {
		got := numbers(s.Range("cam", tc.byServer, tc.start, tc.end, tc.after, tc.max))
		require.Equal(t, tc.want, nilIfEmpty(got), "%s: Range(cam, %v, %d, %d, %q, %d)", tc.name, tc.byServer, tc.start, tc.end, tc.after, tc.max)
	}
}

func TestAtTimeFindsContainingOrNextFragment(t *testing.T) {
	s, nums := queryFixture(t)
	tests := []struct {
		byServer bool
		ms       int64
		want     string // "" = none
	}{
		{false, 2500, nums[2]},
		{false, 3000, nums[3]}, // start inclusive, end exclusive
		{false, 0, nums[0]},
		{false, -5, nums[0]},     // before everything: the first one after
		{false, 15000, nums[10]}, // in the gap: the next one
		{false, 20499, nums[10]},
		{false, 20500, ""}, // after the end of the last
		{true, 50000, nums[0]},
		{true, 59999, nums[9]},
	}
	for _, tc := range tests {
		got, ok := s.AtTime("cam", tc.byServer, tc.ms)
		if tc.want == "" {
			require.False(t, ok, "AtTime(cam, %v, %d) = %s", tc.byServer, tc.ms, got.Number)
			continue
		}
		require.True(t, ok, "AtTime(cam, %v, %d)", tc.byServer, tc.ms)
		require.Equal(t, tc.want, got.Number, "AtTime(cam, %v, %d)", tc.byServer, tc.ms)
	}
	last, ok := s.Last("cam")
	require.True(t, ok)
	require.Equal(t, nums[10], last.Number)
	_, ok = s.Last("unknown")
	require.False(t, ok)
}

func TestLateAppendOfEarlierNumberKeepsNumberOrder(t *testing.T) {
	s := openTest(t, Options{Dir: t.TempDir()})
	putStream(t, s, "cam")
	early := s.NextFragmentNumber() // e.g. a second PutMedia session still receiving
	a := add(t, s, "cam", 2000, 2000, 1000, []byte("a"))
	b := add(t, s, "cam", 3000, 3000, 1000, []byte("b"))
	late, err := s.Append(context.Background(), Fragment{Stream: "cam", Number: early, ProducerMs: 1000, ServerMs: 1000, DurationMs: 1000, Parts: [][]byte{[]byte("late")}})
	require.NoError(t, err)
	require.Equal(t, []string{late.Number, a.Number, b.Number}, numbers(s.After("cam", "", 10)))
	last, _ := s.Last("cam")
	require.Equal(t, b.Number, last.Number)
	got, ok := s.Get("cam", early)
	require.True(t, ok)
	data, err := s.Read(got)
	require.NoError(t, err)
	require.Equal(t, "late", string(data))
}

func TestRetentionCutoffIsServerTime(t *testing.T) {
	clk := newTestClock()
	s := openTest(t, Options{Dir: t.TempDir(), Now: clk.Now, Retention: func(string) time.Duration { return time.Hour }})
	putStream(t, s, "cam")
	now := clk.Ms()
	old := add(t, s, "cam", now, now-time.Hour.Milliseconds()-1, 1000, []byte("old")) // producer time is fresh, server time is not
	edge := add(t, s, "cam", now+1, now-time.Hour.Milliseconds(), 1000, []byte("edge"))
	_, ok := s.Get("cam", old.Number)
	require.False(t, ok, "ServerMs older than now-retention is expired")
	_, ok = s.Get("cam", edge.Number)
	require.True(t, ok, "exactly now-retention is still kept")
	// An expired fragment does not count for de-duplication.
	again, err := s.Append(context.Background(), Fragment{Stream: "cam", Number: s.NextFragmentNumber(), ProducerMs: now, ServerMs: now, Parts: [][]byte{[]byte("fresh")}})
	require.NoError(t, err)
	require.False(t, again.Duplicate)
	got, ok := s.ByProducerTime("cam", now)
	require.True(t, ok)
	require.Equal(t, again.Number, got.Number)
	require.NoError(t, s.Compact())
	got, ok = s.ByProducerTime("cam", now)
	require.True(t, ok, "expiring the old copy keeps the new one's producer index")
	require.Equal(t, again.Number, got.Number)
}

func TestNumberFormat(t *testing.T) {
	for _, v := range []uint64{0, 1, 1_700_000_000_000_000, 1<<64 - 1} {
		s := formatNumber(v)
		require.Len(t, s, numberDigits)
		got, ok := parseNumber(s)
		require.True(t, ok, s)
		require.Equal(t, v, got)
	}
	require.Less(t, formatNumber(9), formatNumber(10), "fixed width: string order is numeric order")
	for _, bad := range []string{"", "9", "9" + strings.Repeat("9", 46), "8" + strings.Repeat("0", 46), "9" + strings.Repeat("0", 45) + "x"} {
		_, ok := parseNumber(bad)
		require.False(t, ok, bad)
	}
}
