package sensors

import (
	"fmt"
	"log/slog"
	"time"
)

// The reset switch's gesture.
const (
	// ResetHold is how long the switch must be held.
	ResetHold = 10 * time.Second
	// ResetConfirmWindow is how soon after the release the confirming
	// press must come.
	ResetConfirmWindow = 5 * time.Second
)

// ResetConfig configures the factory-reset switch inside the enclosure.
type ResetConfig struct {
	Input
	// OnReset is called once a reset is confirmed: the switch was held for
	// ResetHold, released, and pressed again within ResetConfirmWindow. It
	// runs on the switch's goroutine and must not block; whoever owns the
	// state does the deleting.
	OnReset func()
	// Confirming, if set, is called with true once the hold is long enough
	// (show "confirm now", e.g. LED.SetOverride(ResetConfirm, true)) and
	// with false when the gesture ends, confirmed or not.
	Confirming func(on bool)
}

// ResetSwitch watches the factory-reset switch.
type ResetSwitch struct{ in *input }

// NewResetSwitch configures the pin and starts watching it.
func NewResetSwitch(cfg ResetConfig) (*ResetSwitch, error) {
	if cfg.OnReset == nil {
		return nil, fmt.Errorf("sensors: reset: no OnReset function")
	}
	if cfg.Confirming == nil {
		cfg.Confirming = func(bool) {}
	}
	if err := cfg.Input.normalize("reset"); err != nil {
		return nil, err
	}
	m := &resetMachine{cfg: &cfg, log: cfg.Log}
	in, err := startInput("reset", cfg.Input, m)
	if err != nil {
		return nil, err
	}
	return &ResetSwitch{in: in}, nil
}

// Close stops watching the switch and waits for its goroutines.
func (r *ResetSwitch) Close() error {
	r.in.close()
	return nil
}

type resetPhase int

const (
	resetIdle    resetPhase = iota
	resetHeld               // pressed, not yet for ResetHold
	resetArmed              // held long enough, still pressed
	resetWaiting            // released after the hold; waiting for the confirming press
)

type resetMachine struct {
	cfg   *ResetConfig
	log   *slog.Logger
	phase resetPhase
	since time.Time // press (held) or release (waiting)
}

func (m *resetMachine) changed(active bool, at time.Time) {
	switch {
	case active && m.phase == resetIdle:
		m.phase, m.since = resetHeld, at
	case active && m.phase == resetWaiting:
		m.phase = resetIdle
		m.log.Info("factory reset confirmed", "sensor", "reset")
		m.cfg.Confirming(false)
		m.cfg.OnReset()
	case !active && m.phase == resetHeld:
		m.phase = resetIdle
		m.log.Info("reset switch released too early; nothing done", "held", at.Sub(m.since).String(), "need", ResetHold.String())
	case !active && m.phase == resetArmed:
		m.phase, m.since = resetWaiting, at
	}
}

func (m *resetMachine) due() (time.Time, bool) {
	switch m.phase {
	case resetHeld:
		return m.since.Add(ResetHold), true
	case resetWaiting:
		return m.since.Add(ResetConfirmWindow), true
	}
	return time.Time{}, false
}

func (m *resetMachine) fire(time.Time) {
	switch m.phase {
	case resetHeld:
		m.phase = resetArmed
		m.log.Info("reset switch held: release it and press it again within 5s to erase everything", "sensor", "reset")
		m.cfg.Confirming(true)
	case resetWaiting:
		m.phase = resetIdle
		m.log.Info("factory reset not confirmed; nothing done", "sensor", "reset")
		m.cfg.Confirming(false)
	}
}
