package sensors

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/doorward/doorward/device/clock"
)

// LEDStep is the LED's time resolution: patterns are made of steps this
// long, and the LED's goroutine wakes once per step.
const LEDStep = 100 * time.Millisecond

// Pattern is what the status LED shows.
type Pattern int

// The LED patterns.
const (
	Off          Pattern = iota // dark
	Idle                        // slow heartbeat: 100 ms on every 3 s
	Recording                   // steadily on
	Pairing                     // fast blink: 200 ms on, 200 ms off
	Error                       // double blink once a second
	ResetConfirm                // rapid flicker (100 ms on, 100 ms off): release and press again to confirm the factory reset
)

// Steps returns the pattern as a cycle of LEDStep-long steps (true = lit).
func (p Pattern) Steps() []bool {
	switch p {
	case Idle:
		s := make([]bool, 30)
		s[0] = true
		return s
	case Recording:
		return []bool{true}
	case Pairing:
		return []bool{true, true, false, false}
	case Error:
		return []bool{true, false, true, false, false, false, false, false, false, false}
	case ResetConfirm:
		return []bool{true, false}
	}
	return []bool{false}
}

// String names the pattern.
func (p Pattern) String() string {
	switch p {
	case Off:
		return "off"
	case Idle:
		return "idle"
	case Recording:
		return "recording"
	case Pairing:
		return "pairing"
	case Error:
		return "error"
	case ResetConfirm:
		return "reset-confirm"
	}
	return fmt.Sprintf("Pattern(%d)", int(p))
}

// LEDConfig configures the status LED.
type LEDConfig struct {
	// Pin is the LED's output line.
	Pin gpio.PinOut
	// ActiveLow means the LED is lit when the line is Low (wired from 3.3 V
	// to the pin).
	ActiveLow bool
	// Clock paces the patterns; nil means the system clock.
	Clock clock.Clock
	// Log receives output errors; nil discards them.
	Log *slog.Logger
}

// LED drives the status LED. It shows its status pattern (Set) unless an
// override is on (SetOverride), and goes dark on Close.
type LED struct {
	cfg    LEDConfig
	reqs   chan ledReq
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup
}

type ledReq struct {
	p        Pattern
	override bool
	on       bool
	applied  chan struct{}
}

// NewLED starts driving the LED, dark until Set.
func NewLED(cfg LEDConfig) (*LED, error) {
	if cfg.Pin == nil {
		return nil, fmt.Errorf("sensors: led: no pin")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	l := &LED{cfg: cfg, reqs: make(chan ledReq), done: make(chan struct{})}
	if err := l.write(false); err != nil {
		return nil, fmt.Errorf("sensors: led: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer close(l.done)
		l.run(ctx)
	}()
	return l, nil
}

// Set makes p the status pattern and returns once the LED shows it (or shows
// the override that hides it). It fails only when ctx ends or the LED is
// closed.
func (l *LED) Set(ctx context.Context, p Pattern) error {
	return l.send(ctx, ledReq{p: p})
}

// SetOverride shows p over the status pattern while on is true; with on
// false it removes the override p (if p is the one shown), and the status
// pattern shows again.
func (l *LED) SetOverride(ctx context.Context, p Pattern, on bool) error {
	return l.send(ctx, ledReq{p: p, override: true, on: on})
}

func (l *LED) send(ctx context.Context, r ledReq) error {
	r.applied = make(chan struct{})
	select {
	case l.reqs <- r:
	case <-l.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r.applied:
		return nil
	case <-l.done:
		return ErrClosed
	}
}

// Close turns the LED off and waits for its goroutine.
func (l *LED) Close() error {
	l.cancel()
	l.wg.Wait()
	return nil
}

func (l *LED) write(lit bool) error {
	lvl := gpio.Level(lit != l.cfg.ActiveLow)
	return l.cfg.Pin.Out(lvl)
}

// run owns the LED's state. It wakes every LEDStep on a grid that does not
// drift, and writes the line only when the level changes.
func (l *LED) run(ctx context.Context) {
	var (
		status, over Pattern
		overOn       bool
		steps        = Off.Steps()
		k            int
		lit, failing bool
	)
	show := func(force bool) {
		want := steps[k%len(steps)]
		if want == lit && !force {
			return
		}
		if err := l.write(want); err != nil {
			if !failing {
				l.cfg.Log.Error("sensors: led: writing the line failed", "error", err)
			}
			failing = true
			return
		}
		if failing {
			l.cfg.Log.Info("sensors: led: the line works again")
		}
		failing, lit = false, want
	}
	restart := func() {
		p := status
		if overOn {
			p = over
		}
		steps, k = p.Steps(), 0
		show(false)
	}
	next := l.cfg.Clock.Now().Add(LEDStep)
	tick := l.cfg.Clock.After(LEDStep)
	for {
		select {
		case <-ctx.Done():
			_ = l.write(false)
			return
		case r := <-l.reqs:
			switch {
			case !r.override:
				status = r.p
			case r.on:
				over, overOn = r.p, true
			case overOn && over == r.p:
				overOn = false
			}
			restart()
			close(r.applied)
		case <-tick:
			k++
			show(failing)
			next = next.Add(LEDStep)
			now := l.cfg.Clock.Now()
			if now.Sub(next) > 10*LEDStep { // the board slept: catch up at once
				next = now.Add(LEDStep)
			}
			tick = l.cfg.Clock.After(next.Sub(now))
		}
	}
}
