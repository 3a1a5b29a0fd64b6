package sensors

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/doorward/doorward/capture"
)

// ButtonConfig configures the doorbell button.
type ButtonConfig struct {
	Input
	// OnEvent receives a capture.Ring event for each debounced press. It
	// runs on the button's goroutine and must not block.
	OnEvent func(capture.Event)
}

// Button is the doorbell button. A debounced press is a ring and nothing
// else: the button is outdoors, so however long it is held, it never does
// more (in particular it never resets the device).
type Button struct{ in *input }

// NewButton configures the pin and starts watching it.
func NewButton(cfg ButtonConfig) (*Button, error) {
	if cfg.OnEvent == nil {
		return nil, fmt.Errorf("sensors: button: no OnEvent function")
	}
	if err := cfg.Input.normalize("button"); err != nil {
		return nil, err
	}
	m := &buttonMachine{cfg: &cfg, log: cfg.Log}
	in, err := startInput("button", cfg.Input, m)
	if err != nil {
		return nil, err
	}
	return &Button{in: in}, nil
}

// Close stops watching the button and waits for its goroutines.
func (b *Button) Close() error {
	b.in.close()
	return nil
}

type buttonMachine struct {
	cfg *ButtonConfig
	log *slog.Logger
}

func (m *buttonMachine) changed(active bool, at time.Time) {
	if active {
		m.log.Info("ring", "sensor", "button")
		m.cfg.OnEvent(capture.Event{Kind: capture.Ring, Time: at})
	}
}

func (m *buttonMachine) due() (time.Time, bool) { return time.Time{}, false }

func (m *buttonMachine) fire(time.Time) {}
