package device

import (
	"log/slog"
	"testing"
	"time"

	"github.com/doorward/doorward/device/clock/clocktest"
)

func TestClockWatchFreezesOnUnexplainedJump(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	var mono time.Duration
	synced := true
	w := newClockWatch(clk, func() time.Duration { return mono }, func() bool { return synced }, slog.New(slog.DiscardHandler))
	step := func(wall, monotonic time.Duration) {
		clk.Advance(wall)
		mono += monotonic
	}
	step(time.Minute, time.Minute)
	if !w.check() || !w.trusted() {
		t.Fatal("steady clock not trusted")
	}
	// Set forward a year by hand: the kernel marks the clock unsynced.
	synced = false
	step(365*24*time.Hour, time.Minute)
	if w.check() {
		t.Fatal("a jump of a year while unsynced is trusted")
	}
	step(time.Hour, time.Hour)
	if w.check() {
		t.Fatal("the freeze lifted without a sync")
	}
	synced = true
	step(time.Minute, time.Minute)
	if !w.check() {
		t.Fatal("a sync did not lift the freeze")
	}
	// A jump while synchronized (NTP stepped the clock) is explained.
	step(-3*time.Hour, time.Minute)
	if !w.check() {
		t.Fatal("a jump made by a synchronized clock froze it")
	}
	// Small drift is no jump.
	synced = false
	step(59*time.Minute, 0)
	if !w.check() || w.trusted() {
		t.Fatal("drift under an hour froze the clock, or an unsynced clock was trusted")
	}
}
