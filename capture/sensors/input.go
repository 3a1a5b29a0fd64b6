package sensors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/doorward/doorward/device/clock"
)

// ErrClosed is returned by calls on a component after Close.
var ErrClosed = errors.New("sensors: closed")

// Debounce limits.
const (
	MinDebounce     = time.Millisecond
	MaxDebounce     = time.Second
	DefaultDebounce = 50 * time.Millisecond
)

// pollTimeout bounds each WaitForEdge call, so that an input stops within
// it even on a driver whose Halt cannot interrupt a wait.
const pollTimeout = 500 * time.Millisecond

// Input is what every input component needs: the line, its polarity and
// debounce time, a clock and a logger.
type Input struct {
	// Pin is the GPIO line. It is configured as an input with edge
	// detection on both edges, with a pull-up when ActiveLow and a pull-down
	// otherwise (falling back to no pull where the driver has none).
	Pin gpio.PinIn
	// ActiveLow means the line reads Low when the contact is closed (a
	// switch to ground with a pull-up).
	ActiveLow bool
	// Debounce is how long a level must hold to count; 0 means
	// DefaultDebounce.
	Debounce time.Duration
	// Clock times debounce and holds; nil means the system clock.
	Clock clock.Clock
	// Log receives state changes; nil discards them.
	Log *slog.Logger
}

// machine is a component's logic over a debounced input. Its methods run on
// the input's owning goroutine, in time order.
type machine interface {
	// changed is called when the debounced level changes.
	changed(active bool, at time.Time)
	// due returns the machine's next deadline, if it has one.
	due() (time.Time, bool)
	// fire is called once the deadline due returned has passed.
	fire(at time.Time)
}

type edge struct {
	active bool
	at     time.Time
}

// input is a debounced GPIO input driving a machine.
type input struct {
	name   string
	cfg    Input
	m      machine
	edges  chan edge
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Owned by the run goroutine.
	stable     bool      // debounced level
	pending    bool      // a different level is waiting out the debounce
	pendingAt  time.Time // when it counts
	pendingLvl bool
}

// normalize fills in the defaults and checks the values.
func (cfg *Input) normalize(name string) error {
	if cfg.Pin == nil {
		return fmt.Errorf("sensors: %s: no pin", name)
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.Debounce < MinDebounce || cfg.Debounce > MaxDebounce {
		return fmt.Errorf("sensors: %s: debounce %v is out of range (valid: %v to %v)", name, cfg.Debounce, MinDebounce, MaxDebounce)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// startInput configures the pin of a normalized cfg and starts the
// goroutines.
func startInput(name string, cfg Input, m machine) (*input, error) {
	pull := gpio.PullDown
	if cfg.ActiveLow {
		pull = gpio.PullUp
	}
	if err := cfg.Pin.In(pull, gpio.BothEdges); err != nil {
		// sysfs and some chips cannot set a bias: an external resistor
		// must do it.
		if err2 := cfg.Pin.In(gpio.PullNoChange, gpio.BothEdges); err2 != nil {
			return nil, fmt.Errorf("sensors: %s: configuring %s as an input with edge detection: %w", name, cfg.Pin, err)
		}
		cfg.Log.Warn("the line has no internal pull resistor; wire an external one", "line", cfg.Pin.String(), "pull", pull.String(), "error", err)
	}
	in := &input{name: name, cfg: cfg, m: m, edges: make(chan edge)}
	in.stable = in.active()
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	in.wg.Add(2)
	go func() {
		defer in.wg.Done()
		in.read(ctx)
	}()
	go func() {
		defer in.wg.Done()
		in.run(ctx)
	}()
	return in, nil
}

func (in *input) active() bool {
	return (in.cfg.Pin.Read() == gpio.High) != in.cfg.ActiveLow
}

// close stops both goroutines and waits for them. Deadlines already due are
// handled first.
func (in *input) close() {
	in.cancel()
	_ = in.cfg.Pin.Halt()
	in.wg.Wait()
}

// read waits for edges and hands each on with the level after it and the
// time it was seen. It is the only goroutine that blocks in WaitForEdge.
func (in *input) read(ctx context.Context) {
	for ctx.Err() == nil {
		if !in.cfg.Pin.WaitForEdge(pollTimeout) {
			continue
		}
		e := edge{active: in.active(), at: in.cfg.Clock.Now()}
		select {
		case in.edges <- e:
		case <-ctx.Done():
			return
		}
	}
}

// run owns the input's state: it debounces edges and runs the machine's
// deadlines.
func (in *input) run(ctx context.Context) {
	var (
		wake   <-chan time.Time
		wakeAt time.Time
	)
	for {
		if at, ok := in.next(); !ok {
			wake, wakeAt = nil, time.Time{}
		} else if wake == nil || !at.Equal(wakeAt) {
			wake, wakeAt = in.cfg.Clock.After(at.Sub(in.cfg.Clock.Now())), at
		}
		select {
		case e := <-in.edges:
			in.advance(e.at)
			in.edge(e)
		case <-wake:
			wake = nil
			in.advance(in.cfg.Clock.Now())
		case <-ctx.Done():
			in.advance(in.cfg.Clock.Now())
			return
		}
	}
}

// next returns the earliest deadline: the debounce's or the machine's.
func (in *input) next() (time.Time, bool) {
	at, ok := in.m.due()
	if in.pending && (!ok || in.pendingAt.Before(at)) {
		return in.pendingAt, true
	}
	return at, ok
}

// advance runs every deadline up to now, earliest first.
func (in *input) advance(now time.Time) {
	for {
		at, ok := in.next()
		if !ok || at.After(now) {
			return
		}
		if in.pending && at.Equal(in.pendingAt) {
			in.pending = false
			in.stable = in.pendingLvl
			in.m.changed(in.stable, at)
			continue
		}
		in.m.fire(at)
	}
}

// edge takes a raw edge into account: a level that differs from the
// debounced one must hold for the debounce time, counted from the last edge.
func (in *input) edge(e edge) {
	if e.active == in.stable {
		in.pending = false
		return
	}
	in.pending, in.pendingLvl, in.pendingAt = true, e.active, e.at.Add(in.cfg.Debounce)
}
