// Package backoff paces retries: an exponential wait from a minimum to a
// cap, with jitter so that many devices (or many jobs) that failed together
// do not retry together. Time comes from a clock.Clock, so tests drive the
// waits with a fake clock.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/doorward/doorward/device/clock"
)

// Policy describes the waits. The zero Jitter means none.
type Policy struct {
	// Min is the first wait and Max the cap; each failure doubles the wait
	// up to Max. Min must be positive; a Max below Min is taken as Min.
	Min, Max time.Duration
	// Jitter is the fraction of each wait, in [0, 1], that is random: a wait
	// of d lasts between d*(1-Jitter) and d, so the cap is never passed.
	Jitter float64
	// Rand returns a number in [0, 1); nil means math/rand/v2's Float64.
	Rand func() float64
	// Clock is what Wait sleeps on; nil means the system clock.
	Clock clock.Clock
}

// Backoff counts consecutive failures and says how long to wait before the
// next attempt. It is not safe for concurrent use: each retry loop owns one.
type Backoff struct {
	p    Policy
	next time.Duration // the wait before jitter
}

// New returns a Backoff whose first wait is p.Min.
func New(p Policy) *Backoff {
	if p.Min <= 0 {
		p.Min = time.Millisecond
	}
	if p.Max < p.Min {
		p.Max = p.Min
	}
	p.Jitter = min(max(p.Jitter, 0), 1)
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	if p.Clock == nil {
		p.Clock = clock.Real{}
	}
	return &Backoff{p: p, next: p.Min}
}

// Next returns the wait before the next attempt and doubles the one after
// it, up to the cap.
func (b *Backoff) Next() time.Duration {
	d := b.next
	b.next = min(2*b.next, b.p.Max)
	if b.next < d { // overflow
		b.next = b.p.Max
	}
	if b.p.Jitter > 0 {
		d -= time.Duration(b.p.Jitter * b.p.Rand() * float64(d))
	}
	return d
}

// Reset starts again from Min, after an attempt that succeeded.
func (b *Backoff) Reset() { b.next = b.p.Min }

// Wait sleeps for Next() on the policy's clock. It returns ctx.Err() if ctx
// ends first.
func (b *Backoff) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-b.p.Clock.After(b.Next()):
		return nil
	}
}
