package device

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"

	"github.com/doorward/doorward/boards"
	"github.com/doorward/doorward/capture/sensors"
	"github.com/doorward/doorward/device/config"
	"github.com/doorward/doorward/device/events"
)

// ErrFactoryReset is what Run returns after a confirmed factory reset erased
// the state directory. Serve then starts a new agent on the empty state
// directory in the same process: unpaired, with new keys.
var ErrFactoryReset = errors.New("device: factory reset: the state directory was erased")

// ledPoll is how often the LED follows the recorder's state.
const ledPoll = 250 * time.Millisecond

// hardware is the agent's GPIO side.
type hardware struct {
	// openPin finds a GPIO line by name; nil means periph's registry,
	// after host.Init (the GPIO character device, sysfs as a fallback).
	// Tests put fake pins here.
	openPin func(name string) (gpio.PinIO, error)
	// resetRequested is set once a factory reset is confirmed, on the
	// reset switch or by an owner-signed statement; Run then erases the
	// state. resetBy names that authority for the log.
	resetRequested atomic.Bool
	resetBy        atomic.Pointer[string]
}

// OpenGPIOLine opens a GPIO line of the board by name.
func OpenGPIOLine(name string) (gpio.PinIO, error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("device: gpio: initialising the GPIO drivers: %w", err)
	}
	p := gpioreg.ByName(name)
	if p == nil {
		return nil, fmt.Errorf("device: gpio: no line named %q on this board (gpioinfo lists them; set gpio.* in the config)", name)
	}
	return p, nil
}

// ResolvePins applies the config's gpio overrides to the board's lines. The
// sim board has no GPIO, so overrides are refused there.
func ResolvePins(board boards.Profile, g config.GPIO) (boards.Pins, error) {
	pins := board.Pins
	var errs []error
	for _, f := range []struct {
		field string
		set   string
		dst   *string
	}{
		{"gpio.pir", g.PIR, &pins.PIR}, {"gpio.button", g.Button, &pins.Button},
		{"gpio.led", g.LED, &pins.LED}, {"gpio.reset", g.Reset, &pins.Reset},
	} {
		switch {
		case f.set == "":
		case board.Sim:
			errs = append(errs, fmt.Errorf("device: config: %s: %q is set but board %q has no GPIO (valid: empty on the sim board)", f.field, f.set, board.Name))
		case f.set == config.GPIONone:
			*f.dst = ""
		default:
			*f.dst = f.set
		}
	}
	used := map[string]string{}
	for _, p := range []struct{ role, line string }{
		{"pir", pins.PIR}, {"button", pins.Button}, {"led", pins.LED}, {"reset", pins.Reset},
	} {
		if p.line == "" {
			continue
		}
		if other, ok := used[p.line]; ok {
			errs = append(errs, fmt.Errorf("device: config: gpio.%s: line %s is already the %s line of board %q (valid: a line of its own, or none)", p.role, p.line, other, board.Name))
		}
		used[p.line] = p.role
	}
	return pins, errors.Join(errs...)
}

// startSensors starts the board's sensors and LED. Motion and rings go to
// the recorder; a confirmed factory reset sets hw.resetRequested and calls
// stop, which makes Run return through factoryReset. On the sim board there
// is no GPIO: events come from the control socket. A line that cannot be
// opened is logged and the LED shows the error pattern; the rest still runs.
// The returned function stops everything and waits; it may be called twice.
func (a *Agent) startSensors(ctx context.Context, stop context.CancelFunc) (func(), error) {
	pins, err := ResolvePins(a.opts.Board, a.opts.Config.GPIO)
	if err != nil || pins == (boards.Pins{}) {
		return func() {}, err
	}
	open := a.hw.openPin
	if open == nil {
		open = OpenGPIOLine
	}
	g := a.opts.Config.GPIO
	log := a.log.With("component", "sensors")
	input := func(line string, activeLow bool) (sensors.Input, error) {
		p, err := open(line)
		return sensors.Input{Pin: p, ActiveLow: activeLow, Debounce: time.Duration(g.Debounce), Clock: a.opts.Clock, Log: log.With("line", line)}, err
	}
	var (
		closers []func() error
		failed  atomic.Bool
		led     *sensors.LED
	)
	fail := func(what string, err error) {
		log.Error("sensor not available", "sensor", what, "error", err)
		failed.Store(true)
	}
	trigger := a.trigger

	if pins.LED != "" {
		if p, err := open(pins.LED); err != nil {
			fail("led", err)
		} else if led, err = sensors.NewLED(sensors.LEDConfig{Pin: p, ActiveLow: g.ActiveLow.LED, Clock: a.opts.Clock, Log: log}); err != nil {
			fail("led", err)
		}
	}
	if pins.PIR != "" {
		in, err := input(pins.PIR, g.ActiveLow.PIR)
		var s *sensors.PIR
		if err == nil {
			s, err = sensors.NewPIR(sensors.PIRConfig{Input: in, Cooldown: time.Duration(g.PIRCooldown), OnEvent: trigger})
		}
		if err != nil {
			fail("pir", err)
		} else {
			closers = append(closers, s.Close)
		}
	}
	if pins.Button != "" {
		in, err := input(pins.Button, g.ActiveLow.Button)
		var s *sensors.Button
		if err == nil {
			s, err = sensors.NewButton(sensors.ButtonConfig{Input: in, OnEvent: trigger})
		}
		if err != nil {
			fail("button", err)
		} else {
			closers = append(closers, s.Close)
		}
	}
	if pins.Reset != "" {
		in, err := input(pins.Reset, g.ActiveLow.Reset)
		var s *sensors.ResetSwitch
		if err == nil {
			s, err = sensors.NewResetSwitch(sensors.ResetConfig{
				Input: in,
				OnReset: func() {
					a.requestReset(ResetBySwitch)
					stop()
				},
				Confirming: func(on bool) {
					if led != nil {
						_ = led.SetOverride(ctx, sensors.ResetConfirm, on)
					}
				},
			})
		}
		if err != nil {
			fail("reset", err)
		} else {
			closers = append(closers, s.Close)
		}
	}

	ledCtx, ledStop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if led != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.driveLED(ledCtx, led, &failed)
		}()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ledStop()
			wg.Wait()
			for _, c := range closers {
				_ = c()
			}
			if led != nil {
				_ = led.Close()
			}
		})
	}, nil
}

// driveLED makes the LED follow the agent: error while a sensor is missing,
// on while recording, a slow heartbeat otherwise.
func (a *Agent) driveLED(ctx context.Context, led *sensors.LED, failed *atomic.Bool) {
	// The bus says at once when a clip starts or ends; the poll is the
	// fallback for an event the LED's small queue lost.
	sub := a.bus.Subscribe("led", 8, events.ClipStarted, events.ClipClosed, events.RecordingStopped, events.RecordingResumed)
	defer sub.Close()
	shown := sensors.Pattern(-1)
	for {
		p := sensors.Idle
		switch {
		case failed.Load():
			p = sensors.Error
		case a.rec.Recording():
			p = sensors.Recording
		}
		if p != shown {
			if err := led.Set(ctx, p); err != nil {
				return
			}
			shown = p
		}
		select {
		case <-ctx.Done():
			return
		case <-sub.C():
		case <-a.opts.Clock.After(ledPoll):
		}
	}
}

// factoryReset erases the device after a confirmed reset: Run has stopped
// the camera and closed the clip in progress; factoryReset closes the
// database (Run closed the control socket) and deletes everything in the state
// directory (keys, clips, database). Copies the owners already hold stay
// readable by them. It returns ErrFactoryReset, which Run returns. The log
// names the authority that reset the device.
func (a *Agent) factoryReset(ctx context.Context) error {
	dir := a.opts.StateDir
	by := ResetBySwitch
	if p := a.hw.resetBy.Load(); p != nil {
		by = *p
	}
	a.log.WarnContext(ctx, "factory reset: erasing keys, clips and state", "by", by, "state", dir)
	if a.db != nil {
		if err := a.db.Close(); err != nil {
			a.log.ErrorContext(ctx, "closing the state database", "err", err)
		}
		a.db = nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("device: factory reset: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("device: factory reset: erasing %s: %w", dir, err)
	}
	a.log.WarnContext(ctx, "factory reset done: the state directory is empty", "by", by, "state", dir)
	return ErrFactoryReset
}
