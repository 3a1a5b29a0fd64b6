package device

import (
	"log/slog"
	"sync"
	"time"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/clock"
)

// clockWatch notices the wall clock jumping (more than an hour against
// monotonic time). A jump freezes legal acceptance and age-based retention
// until the kernel reports the clock synchronized again after it: a clock
// set forward must not expire footage, nor a clock set back revive a token.
type clockWatch struct {
	clk    clock.Clock
	mono   func() time.Duration
	synced func() bool
	log    *slog.Logger

	mu       sync.Mutex
	prevWall time.Time
	prevMono time.Duration
	frozen   bool
}

func newClockWatch(clk clock.Clock, mono func() time.Duration, synced func() bool, log *slog.Logger) *clockWatch {
	w := &clockWatch{clk: clk, mono: mono, synced: synced, log: log}
	w.prevWall, w.prevMono = clk.Now(), mono()
	return w
}

// check takes a reading and reports whether the clock is trusted: no jump
// that a synchronized clock has not explained since.
func (w *clockWatch) check() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	wall, mono := w.clk.Now(), w.mono()
	synced := w.synced()
	jump := (wall.Sub(w.prevWall) - (mono - w.prevMono)).Round(time.Second)
	switch {
	case consent.ClockJumped(w.prevWall, w.prevMono, wall, mono) && synced:
		w.log.Warn("the wall clock jumped while synchronized (a time sync stepped it)", "jump", jump)
	case consent.ClockJumped(w.prevWall, w.prevMono, wall, mono):
		w.frozen = true
		w.log.Error("the wall clock jumped and is not synchronized: legal tokens and age-based retention are frozen until it is", "jump", jump)
	case w.frozen && synced:
		w.frozen = false
		w.log.Info("clock synchronized: legal tokens and age-based retention resume")
	}
	w.prevWall, w.prevMono = wall, mono
	return !w.frozen
}

// trusted is the clock check the gate uses: synchronized and not frozen.
func (w *clockWatch) trusted() bool { return w.check() && w.synced() }
