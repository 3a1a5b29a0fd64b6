package backoff_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/doorward/doorward/device/backoff"
	"github.com/doorward/doorward/device/clock/clocktest"
)

func TestDoublesUpToCap(t *testing.T) {
	b := backoff.New(backoff.Policy{Min: 500 * time.Millisecond, Max: 3 * time.Second})
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}
	for i, w := range want {
		if got := b.Next(); got != w {
			t.Errorf("wait %d = %v, want %v", i, got, w)
		}
	}
	b.Reset()
	if got := b.Next(); got != 500*time.Millisecond {
		t.Errorf("after Reset: %v", got)
	}
}

func TestJitterStaysWithinBounds(t *testing.T) {
	const jitter = 0.25
	b := backoff.New(backoff.Policy{Min: time.Second, Max: 8 * time.Second, Jitter: jitter})
	base := time.Second
	seen := map[time.Duration]bool{}
	for i := 0; i < 200; i++ {
		d := b.Next()
		lo := time.Duration(float64(base) * (1 - jitter))
		if d < lo || d > base {
			t.Fatalf("wait %d = %v, outside [%v, %v]", i, d, lo, base)
		}
		seen[d] = true
		base = min(2*base, 8*time.Second)
	}
	if len(seen) < 50 {
		t.Errorf("only %d distinct waits in 200: jitter is not random", len(seen))
	}
}

func TestJitterUsesRand(t *testing.T) {
	for _, tc := range []struct {
		r    float64
		want time.Duration
	}{{0, 4 * time.Second}, {0.5, 3 * time.Second}, {0.999999, 2*time.Second + 2*time.Microsecond}} {
		b := backoff.New(backoff.Policy{Min: 4 * time.Second, Max: time.Minute, Jitter: 0.5, Rand: func() float64 { return tc.r }})
		if got := b.Next(); got != tc.want {
			t.Errorf("rand %v: wait %v, want %v", tc.r, got, tc.want)
		}
	}
}

func TestBadPolicy(t *testing.T) {
	b := backoff.New(backoff.Policy{Min: 2 * time.Second, Max: time.Second, Jitter: 3, Rand: func() float64 { return 0.5 }})
	if got := b.Next(); got != time.Second { // Max raised to Min, Jitter clamped to 1
		t.Errorf("wait %v, want 1s", got)
	}
	b = backoff.New(backoff.Policy{})
	if got := b.Next(); got <= 0 {
		t.Errorf("zero policy waits %v", got)
	}
}

func TestNoOverflow(t *testing.T) {
	b := backoff.New(backoff.Policy{Min: time.Second, Max: 1<<63 - 1})
	prev := time.Duration(0)
	for i := 0; i < 100; i++ {
		d := b.Next()
		if d < prev {
			t.Fatalf("wait %d = %v after %v", i, d, prev)
		}
		prev = d
	}
}

func TestWaitOnFakeClock(t *testing.T) {
	clk := clocktest.New(time.Unix(0, 0))
	b := backoff.New(backoff.Policy{Min: time.Second, Max: time.Minute, Clock: clk})
	done := make(chan error, 1)
	go func() { done <- b.Wait(context.Background()) }()
	if !clk.BlockUntil(1, 5*time.Second) {
		t.Fatal("Wait did not arm the clock")
	}
	clk.Advance(999 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v before its time", err)
	case <-time.After(20 * time.Millisecond):
	}
	clk.Advance(time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- b.Wait(ctx) }()
	clk.BlockUntil(1, 5*time.Second)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Wait: %v", err)
	}
}
