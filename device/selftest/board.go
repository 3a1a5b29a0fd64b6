package selftest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/doorward/doorward/boards"
	"github.com/doorward/doorward/device/clock"
)

// BoardCheck reports which board profile is in use and how it was chosen.
type BoardCheck struct {
	// Board is the profile in use.
	Board boards.Profile
	// Requested is what the user asked for: "auto" or a profile name.
	Requested string
	// ConfigFile is the config file whose board: field asked for Requested;
	// empty when --board did (or nothing did, and auto detected the board).
	ConfigFile string
	// ModelPath is normally /proc/device-tree/model.
	ModelPath string
}

// Check returns the board check.
func (c BoardCheck) Check() Check {
	return Check{Name: "board", Required: true, Run: func(context.Context) Result {
		model := ""
		b, err := os.ReadFile(c.ModelPath)
		switch {
		case err == nil:
			model = strings.TrimRight(string(b), "\x00 \t\r\n")
		case !errors.Is(err, os.ErrNotExist):
			return Result{Status: Fail, Detail: fmt.Sprintf("reading %s: %v", c.ModelPath, err)}
		}
		seen := "no " + c.ModelPath
		if model != "" {
			seen = fmt.Sprintf("model %q", model)
		}
		// chosen says how the user chose the board, and where to change it.
		chosen, where := fmt.Sprintf("with --board %s", c.Requested), "--board"
		if c.ConfigFile != "" {
			chosen = fmt.Sprintf("by board: %s in %s", c.Requested, c.ConfigFile)
			where = "board: in " + c.ConfigFile
		}
		detected, found := boards.Detect(model)
		switch {
		case c.Requested == "auto" && !c.Board.Sim:
		case c.Board.Sim:
			return Result{Status: Overridden, Detail: fmt.Sprintf("sim board chosen %s, so no real camera or GPIO is used (%s)", chosen, seen)}
		case found && detected.Name != c.Board.Name:
			return Result{Status: Warn, Detail: fmt.Sprintf("board %s chosen %s, but this is board %s (%s): check %s", c.Board.Name, chosen, detected.Name, seen, where)}
		case found:
			return Result{Status: Overridden, Detail: fmt.Sprintf("board %s chosen %s, which matches %s", c.Board.Name, chosen, seen)}
		default:
			return Result{Status: Overridden, Detail: fmt.Sprintf("board %s chosen %s (%s)", c.Board.Name, chosen, seen)}
		}
		if found {
			return Result{Status: Pass, Detail: fmt.Sprintf("board %s detected from %s (%s)", c.Board.Name, c.ModelPath, seen)}
		}
		return Result{Status: Warn, Detail: fmt.Sprintf("%s matches no Raspberry Pi profile, so board %s is used (valid boards: %s)", seen, c.Board.Name, strings.Join(boards.Names(), ", "))}
	}}
}

// Line is what the GPIO checks need of a line; periph's gpio.PinIO has it.
type Line interface {
	In(pull gpio.Pull, edge gpio.Edge) error
	Read() gpio.Level
	WaitForEdge(timeout time.Duration) bool
	Out(l gpio.Level) error
	Halt() error
}

// GPIOChecks test the board's GPIO lines: each opens, the PIR sensor and the
// doorbell button react when a tester is present, and the LED blinks.
type GPIOChecks struct {
	// Board gives the line names.
	Board boards.Profile
	// Open opens a line by name (e.g. "GPIO17"). Nil means this build has
	// no GPIO driver, and every check of a wired pin fails saying so.
	Open func(name string) (Line, error)
	// Interactive asks the tester to wave at the PIR sensor and press the
	// button; without it those checks are skipped.
	Interactive bool
	// Prompt receives the instructions to the tester (normally stderr).
	Prompt io.Writer
	// Wait is how long to wait for the tester (e.g. 20 s).
	Wait time.Duration
	// Blinks is how many times the LED blinks.
	Blinks int
	// Clock paces the blinks and the waits; nil means the real clock.
	Clock clock.Clock
}

// role is one sensor or output wired to a pin.
type role struct {
	key, what, pin string
	// label is pin with its header pin number when the board's header is
	// known, "GPIO17 (pin 11)", for the details.
	label  string
	output bool
}

func (c GPIOChecks) roles() []role {
	p, b := c.Board.Pins, c.Board
	return []role{
		{"pir", "PIR sensor", p.PIR, b.PinLabel(p.PIR), false},
		{"button", "doorbell button", p.Button, b.PinLabel(p.Button), false},
		{"led", "status LED", p.LED, b.PinLabel(p.LED), true},
		{"reset", "internal reset switch", p.Reset, b.PinLabel(p.Reset), false},
	}
}

// Checks returns, in order: a line check per role, then "pir reacts",
// "button reacts" and "led blinks".
func (c GPIOChecks) Checks() []Check {
	var checks []Check
	for _, r := range c.roles() {
		checks = append(checks, Check{Name: "gpio " + r.key + " line", Required: r.pin != "", Run: func(context.Context) Result {
			_, res := c.open(r)
			return res
		}})
	}
	roles := c.roles()
	checks = append(checks,
		Check{Name: "pir reacts", Required: c.Interactive && roles[0].pin != "", Run: func(ctx context.Context) Result {
			return c.waitEdge(ctx, roles[0], "wave at the sensor")
		}},
		Check{Name: "button reacts", Required: c.Interactive && roles[1].pin != "", Run: func(ctx context.Context) Result {
			return c.waitEdge(ctx, roles[1], "press the doorbell button")
		}},
		Check{Name: "led blinks", Required: roles[2].pin != "", Run: c.blink},
	)
	return checks
}

// open opens a role's line in its direction, or says why it cannot.
func (c GPIOChecks) open(r role) (Line, Result) {
	if r.pin == "" {
		return nil, Result{Status: Skip, Detail: fmt.Sprintf("board %s has no %s pin", c.Board.Name, r.what)}
	}
	if c.Open == nil {
		return nil, Result{Status: Fail, Detail: fmt.Sprintf("%s %s: this build has no GPIO driver", r.what, r.label)}
	}
	l, err := c.Open(r.pin)
	if err != nil {
		hint := ""
		if errors.Is(err, fs.ErrPermission) {
			hint = " (is the user in the gpio group?)"
		}
		return nil, Result{Status: Fail, Detail: fmt.Sprintf("%s %s: %v%s", r.what, r.label, err, hint)}
	}
	if r.output {
		if err := l.Out(gpio.Low); err != nil {
			return nil, Result{Status: Fail, Detail: fmt.Sprintf("%s %s: setting it as an output: %v", r.what, r.label, err)}
		}
		return l, Result{Status: Pass, Detail: fmt.Sprintf("%s %s opens as an output", r.what, r.label)}
	}
	if err := l.In(gpio.PullNoChange, gpio.BothEdges); err != nil {
		return nil, Result{Status: Fail, Detail: fmt.Sprintf("%s %s: setting it as an input with edge detection: %v", r.what, r.label, err)}
	}
	return l, Result{Status: Pass, Detail: fmt.Sprintf("%s %s opens as an input, reads %s", r.what, r.label, l.Read())}
}

// waitEdge asks the tester to act and waits for an edge on the line.
func (c GPIOChecks) waitEdge(ctx context.Context, r role, ask string) Result {
	if r.pin == "" {
		return Result{Status: Skip, Detail: fmt.Sprintf("board %s has no %s pin", c.Board.Name, r.what)}
	}
	if !c.Interactive {
		return Result{Status: Skip, Detail: fmt.Sprintf("not interactive: run with --interactive to %s", ask)}
	}
	l, res := c.open(r)
	if res.Status != Pass {
		return res
	}
	clk := c.clock()
	prompt := c.Prompt
	if prompt == nil {
		prompt = io.Discard
	}
	fmt.Fprintf(prompt, ">>> %s (%s) within %s\n", strings.ToUpper(ask[:1])+ask[1:], r.pin, c.Wait)
	// WaitForEdge waits in real time (the driver's), so the budget is
	// counted in slices of at most a second rather than read off the clock.
	start := clk.Now()
	for left := c.Wait; left > 0; {
		if err := ctx.Err(); err != nil {
			return Result{Status: Skip, Detail: "interrupted: " + err.Error()}
		}
		slice := min(time.Second, left)
		left -= slice
		if l.WaitForEdge(slice) {
			took := clk.Now().Sub(start)
			return Result{Status: Pass, Figures: map[string]float64{"seconds": took.Seconds()},
				Detail: fmt.Sprintf("%s %s changed to %s after %.1f s", r.what, r.label, l.Read(), took.Seconds())}
		}
	}
	return Result{Status: Fail, Detail: fmt.Sprintf("%s %s saw no edge within %s: check the wiring (see the README's wiring table) and the sensor's power", r.what, r.label, c.Wait)}
}

// blink blinks the LED and leaves it off.
func (c GPIOChecks) blink(ctx context.Context) Result {
	r := c.roles()[2]
	l, res := c.open(r)
	if res.Status != Pass {
		return res
	}
	defer l.Out(gpio.Low)
	clk := c.clock()
	for range c.Blinks {
		for _, lvl := range []gpio.Level{gpio.High, gpio.Low} {
			if err := l.Out(lvl); err != nil {
				return Result{Status: Fail, Detail: fmt.Sprintf("%s %s: driving it %s: %v", r.what, r.label, lvl, err)}
			}
			select {
			case <-ctx.Done():
				return Result{Status: Skip, Detail: "interrupted: " + ctx.Err().Error()}
			case <-clk.After(250 * time.Millisecond):
			}
		}
	}
	return Result{Status: Pass, Detail: fmt.Sprintf("%s %s driven on and off %d times: look at the LED to confirm it blinked", r.what, r.label, c.Blinks)}
}

func (c GPIOChecks) clock() clock.Clock {
	if c.Clock == nil {
		return clock.Real{}
	}
	return c.Clock
}
