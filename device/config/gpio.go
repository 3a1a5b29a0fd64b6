package config

import (
	"regexp"
	"time"
)

// GPIO overrides the board profile's GPIO lines ("" keeps the board's,
// "none" disconnects one) and sets polarity and timing.
type GPIO struct {
	// PIR, Button, LED and Reset are line names such as GPIO17.
	PIR    string `yaml:"pir"`
	Button string `yaml:"button"`
	LED    string `yaml:"led"`
	Reset  string `yaml:"reset"`
	// ActiveLow says, per line, that it reads Low when active (a switch to
	// ground with a pull-up) or, for the LED, that Low lights it.
	ActiveLow ActiveLow `yaml:"active_low"`
	// PIRCooldown is the least time between two motion events.
	PIRCooldown Duration `yaml:"pir_cooldown"`
	// Debounce is how long an input level must hold to count.
	Debounce Duration `yaml:"debounce"`
}

// ActiveLow is the polarity of each GPIO line.
type ActiveLow struct {
	PIR    bool `yaml:"pir"`
	Button bool `yaml:"button"`
	LED    bool `yaml:"led"`
	Reset  bool `yaml:"reset"`
}

// GPIONone in a GPIO line field disconnects that sensor.
const GPIONone = "none"

func defaultGPIO() GPIO {
	return GPIO{
		ActiveLow:   ActiveLow{Button: true, Reset: true},
		PIRCooldown: Duration(10 * time.Second),
		Debounce:    Duration(50 * time.Millisecond),
	}
}

// gpioLineRE matches GPIO line names as the kernel reports them.
var gpioLineRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// Validate reports every problem with the gpio section.
func (g GPIO) Validate() error { return g.problems().err() }

func (g GPIO) problems() problems {
	var p problems
	lines := map[string]string{}
	for _, l := range []struct{ field, line string }{
		{"gpio.pir", g.PIR}, {"gpio.button", g.Button}, {"gpio.led", g.LED}, {"gpio.reset", g.Reset},
	} {
		switch {
		case l.line == "" || l.line == GPIONone:
		case len(l.line) > 64 || !gpioLineRE.MatchString(l.line):
			p.add(l.field, "%q is not a GPIO line name (valid: a name such as GPIO17, \"none\", or empty for the board's)", l.line)
		case lines[l.line] != "":
			p.add(l.field, "%q is already used by %s (valid: a line of its own)", l.line, lines[l.line])
		default:
			lines[l.line] = l.field
		}
	}
	durRange(&p, "gpio.pir_cooldown", g.PIRCooldown, time.Second, 10*time.Minute)
	durRange(&p, "gpio.debounce", g.Debounce, time.Millisecond, time.Second)
	return p
}
