package wait_test

import (
	"context"
	"testing"
	"time"

	"github.com/camstorm/camstorm/internal/wait"
)

func TestFor(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	live := context.Background()
	tests := []struct {
		name     string
		ctx      context.Context
		d        time.Duration
		want     bool
		minSpent time.Duration // the call must not return sooner
	}{
		{name: "zero, live ctx", ctx: live, d: 0, want: true},
		{name: "negative, live ctx", ctx: live, d: -time.Second, want: true},
		{name: "zero, canceled ctx", ctx: canceled, d: 0, want: false},
		{name: "negative, canceled ctx", ctx: canceled, d: -time.Second, want: false},
		{name: "hour, canceled ctx", ctx: canceled, d: time.Hour, want: false},
		{name: "short real wait", ctx: live, d: 5 * time.Millisecond, want: true, minSpent: 5 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			if got := wait.For(tt.ctx, tt.d); got != tt.want {
				t.Errorf("For(%s ctx, %v) = %v, want %v", tt.name, tt.d, got, tt.want)
			}
			if spent := time.Since(start); spent < tt.minSpent {
				t.Errorf("For(%s ctx, %v) returned after %v, want at least %v", tt.name, tt.d, spent, tt.minSpent)
			}
		})
	}
}

func TestForEndsWithCtx(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if wait.For(ctx, time.Hour) {
		t.Errorf("For(ctx ending after 5ms, 1h) = true, want false")
	}
}

func TestUntil(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	live := context.Background()
	now := time.Now()
	tests := []struct {
		name string
		ctx  context.Context
		at   time.Time
		want bool
	}{
		{name: "past, live ctx", ctx: live, at: now.Add(-time.Second), want: true},
		{name: "past, canceled ctx", ctx: canceled, at: now.Add(-time.Second), want: false},
		{name: "future, canceled ctx", ctx: canceled, at: now.Add(time.Hour), want: false},
		{name: "few ms ahead, live ctx", ctx: live, at: now.Add(5 * time.Millisecond), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wait.Until(tt.ctx, tt.at); got != tt.want {
				t.Errorf("Until(%s, now%+v) = %v, want %v", tt.name, tt.at.Sub(now), got, tt.want)
			}
			if tt.want && time.Now().Before(tt.at) {
				t.Errorf("Until(%s, now%+v) returned before the deadline", tt.name, tt.at.Sub(now))
			}
		})
	}
}
