// Package sensorstest provides a fake GPIO pin for testing the sensors with a
// fake clock.
//
// Why not periph's gpiotest.Pin alone: its WaitForEdge hands an edge over and
// returns at once, so a test cannot know when the sensor has taken the edge
// into account, and the time stamp the sensor gives the edge depends on when
// its goroutine runs; and its Halt does not interrupt a pending WaitForEdge.
// Pin embeds gpiotest.Pin (level, pull, PWM) and replaces WaitForEdge, Halt
// and Out: Edge returns only once the sensor is back waiting for the next
// edge — so it has handed the edge on, stamped with the fake time the test
// chose — Halt interrupts a wait as the kernel GPIO driver does, and Out
// records every level written, with the fake time, for LED tests.
package sensorstest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/doorward/doorward/device/clock"
)

var _ gpio.PinIO = (*Pin)(nil)

// Change is one level written to a Pin with Out.
type Change struct {
	At time.Time
	L  gpio.Level
}

// Pin is a fake gpio.PinIO whose edges a test injects with Edge.
type Pin struct {
	*gpiotest.Pin

	clock clock.Clock
	edges chan edgeReq
	halt  chan struct{}

	mu      sync.Mutex
	cond    *sync.Cond
	entered int // WaitForEdge calls begun
	history []Change
}

type edgeReq struct {
	l    gpio.Level
	took chan int
}

// New returns a pin named name (e.g. "GPIO17") at level l. Out records its
// changes with the time of clk.
func New(name string, l gpio.Level, clk clock.Clock) *Pin {
	p := &Pin{
		Pin:   &gpiotest.Pin{N: name, L: l, EdgesChan: make(chan gpio.Level)},
		clock: clk,
		edges: make(chan edgeReq),
		halt:  make(chan struct{}, 1),
	}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// In configures the pin as an input. Unlike gpiotest.Pin it keeps the level
// the test set (a fake sensor's line is driven by the test, not the pull).
func (p *Pin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.Pin.Lock()
	p.Pin.P = pull
	p.Pin.Unlock()
	return nil
}

// WaitForEdge waits for an edge from Edge, a Halt, or timeout (real time; a
// negative or zero timeout waits forever, as periph drivers do).
func (p *Pin) WaitForEdge(timeout time.Duration) bool {
	p.mu.Lock()
	p.entered++
	me := p.entered
	p.cond.Broadcast()
	p.mu.Unlock()
	var after <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		after = t.C
	}
	select {
	case r := <-p.edges:
		_ = p.Pin.Out(r.l)
		r.took <- me
		return true
	case <-p.halt:
		return false
	case <-after:
		return false
	}
}

// Halt interrupts a pending WaitForEdge, or the next one.
func (p *Pin) Halt() error {
	select {
	case p.halt <- struct{}{}:
	default:
	}
	return nil
}

// Edge sets the line to l and returns once the sensor reading the pin has
// handed the edge on and waits for the next one. It fails if nobody takes the
// edge within five seconds of real time.
func (p *Pin) Edge(l gpio.Level) error {
	r := edgeReq{l: l, took: make(chan int, 1)}
	select {
	case p.edges <- r:
	case <-time.After(5 * time.Second):
		return fmt.Errorf("sensorstest: %s: nobody waits for an edge", p.Name())
	}
	me := <-r.took
	done := make(chan struct{})
	go func() {
		p.mu.Lock()
		for p.entered <= me {
			p.cond.Wait()
		}
		p.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
		p.mu.Lock()
		p.entered = me + 1 // release the waiting goroutine
		p.cond.Broadcast()
		p.mu.Unlock()
		return fmt.Errorf("sensorstest: %s: the sensor did not come back for the next edge", p.Name())
	}
}

// Edges calls Edge for each level in turn.
func (p *Pin) Edges(levels ...gpio.Level) error {
	var errs []error
	for _, l := range levels {
		if err := p.Edge(l); err != nil {
			errs = append(errs, err)
			break
		}
	}
	return errors.Join(errs...)
}

// Out sets the level and records it with the clock's time.
func (p *Pin) Out(l gpio.Level) error {
	p.mu.Lock()
	p.history = append(p.history, Change{At: p.clock.Now(), L: l})
	p.mu.Unlock()
	return p.Pin.Out(l)
}

// History returns every level written with Out, in order.
func (p *Pin) History() []Change {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Change(nil), p.history...)
}
