package sensors

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/doorward/doorward/capture"
)

// PIR cooldown limits.
const (
	MinCooldown     = time.Second
	MaxCooldown     = 10 * time.Minute
	DefaultCooldown = 10 * time.Second
)

// PIRConfig configures a PIR motion sensor.
type PIRConfig struct {
	Input
	// Cooldown is the least time between two Motion events; while the
	// sensor stays active, Motion repeats every Cooldown so that the
	// recording goes on. 0 means DefaultCooldown.
	Cooldown time.Duration
	// OnEvent receives each capture.Motion event. It runs on the sensor's
	// goroutine and must not block (recorder.Trigger does not).
	OnEvent func(capture.Event)
}

// PIR reports motion from a PIR sensor.
type PIR struct{ in *input }

// NewPIR configures the pin and starts watching it.
func NewPIR(cfg PIRConfig) (*PIR, error) {
	if cfg.Cooldown == 0 {
		cfg.Cooldown = DefaultCooldown
	}
	if cfg.Cooldown < MinCooldown || cfg.Cooldown > MaxCooldown {
		return nil, fmt.Errorf("sensors: pir: cooldown %v is out of range (valid: %v to %v)", cfg.Cooldown, MinCooldown, MaxCooldown)
	}
	if cfg.OnEvent == nil {
		return nil, fmt.Errorf("sensors: pir: no OnEvent function")
	}
	if err := cfg.Input.normalize("pir"); err != nil {
		return nil, err
	}
	m := &pirMachine{cfg: &cfg, log: cfg.Log}
	in, err := startInput("pir", cfg.Input, m)
	if err != nil {
		return nil, err
	}
	return &PIR{in: in}, nil
}

// Close stops watching the sensor and waits for its goroutines.
func (p *PIR) Close() error {
	p.in.close()
	return nil
}

type pirMachine struct {
	cfg     *PIRConfig
	log     *slog.Logger
	active  bool
	emitted bool
	last    time.Time
}

func (m *pirMachine) changed(active bool, at time.Time) {
	m.active = active
	if active && (!m.emitted || !at.Before(m.last.Add(m.cfg.Cooldown))) {
		m.emit(at)
	}
}

func (m *pirMachine) due() (time.Time, bool) {
	if m.active && m.emitted {
		return m.last.Add(m.cfg.Cooldown), true
	}
	return time.Time{}, false
}

func (m *pirMachine) fire(at time.Time) { m.emit(at) }

func (m *pirMachine) emit(at time.Time) {
	m.emitted, m.last = true, at
	m.log.Info("motion", "sensor", "pir")
	m.cfg.OnEvent(capture.Event{Kind: capture.Motion, Time: at})
}
