package device

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/doorward/doorward/boards"
	"github.com/doorward/doorward/capture/sensors/sensorstest"
	"github.com/doorward/doorward/device/clock/clocktest"
	"github.com/doorward/doorward/device/config"
)

// TestFactoryResetFromTheResetSwitch runs a real agent on the rpi4 board
// profile with fake GPIO lines: a minute-long press of the doorbell button
// rings and erases nothing; the reset gesture on the internal switch erases
// the state directory and makes Run return.
func TestFactoryResetFromTheResetSwitch(t *testing.T) {
	opts := simOptions(t)
	board, err := boards.Load("rpi4")
	if err != nil {
		t.Fatal(err)
	}
	opts.Board = board
	opts.Config.Camera = config.Camera{Source: "file", File: filepath.Join("..", "capture", "testdata", "tiny-aud.h264")}
	clk := clocktest.New(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	opts.Clock = clk
	var logBuf lockedBuffer
	opts.Log = slog.New(slog.NewTextHandler(&logBuf, nil))
	pins := map[string]*sensorstest.Pin{
		"GPIO17": sensorstest.New("GPIO17", gpio.Low, clk),  // PIR, active high
		"GPIO27": sensorstest.New("GPIO27", gpio.High, clk), // button, active low
		"GPIO22": sensorstest.New("GPIO22", gpio.Low, clk),  // LED
		"GPIO23": sensorstest.New("GPIO23", gpio.High, clk), // reset, active low
	}
	a, err := NewAgent(opts)
	if err != nil {
		t.Fatal(err)
	}
	a.hw.openPin = func(name string) (gpio.PinIO, error) {
		if p, ok := pins[name]; ok {
			return p, nil
		}
		return nil, fmt.Errorf("no line %q", name)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	edge := func(line string, l gpio.Level) {
		t.Helper()
		if err := pins[line].Edge(l); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(d time.Duration) {
		for ; d > 0; d -= 100 * time.Millisecond {
			clk.Advance(100 * time.Millisecond)
		}
	}

	// Anyone at the door may hold the button for a minute: that is one ring.
	edge("GPIO27", gpio.Low)
	wait(60 * time.Second)
	edge("GPIO27", gpio.High)
	wait(time.Second)
	edge("GPIO27", gpio.Low) // and a second press, as the reset gesture would have
	wait(time.Second)
	edge("GPIO27", gpio.High)
	wait(10 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("Run returned after the doorbell button: %v", err)
	default:
	}
	for _, p := range []string{dbName, keyFileName} {
		if _, err := os.Stat(filepath.Join(opts.StateDir, p)); err != nil {
			t.Fatalf("after the button: %v", err)
		}
	}

	// Held 11 s, released, pressed again 2 s later: erase. Real time passes
	// between the steps so that the LED keeps up.
	before := len(pins["GPIO22"].History())
	wait = func(d time.Duration) {
		for ; d > 0; d -= 100 * time.Millisecond {
			clk.Advance(100 * time.Millisecond)
			time.Sleep(time.Millisecond)
		}
	}
	edge("GPIO23", gpio.Low)
	wait(11 * time.Second)
	edge("GPIO23", gpio.High)
	wait(2 * time.Second)
	edge("GPIO23", gpio.Low)
	wait(time.Second)
	select {
	case err := <-done:
		if !errors.Is(err, ErrFactoryReset) {
			t.Fatalf("Run = %v, want ErrFactoryReset", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the reset was confirmed")
	}
	// The log names the authority that reset the device.
	if !strings.Contains(logBuf.String(), `msg="factory reset: erasing keys, clips and state" by="the reset switch (held, then confirmed)"`) {
		t.Errorf("the log does not name the reset switch as the authority:\n%s", logBuf.String())
	}
	entries, err := os.ReadDir(opts.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("state directory after the reset holds %v, want nothing", names)
	}
	// The LED flickered "confirm now" between the hold and the confirmation.
	// (Idle would light it at most 5 times in these 14 s; the flicker,
	// 5 times a second, 15 times in the 3 s between hold and confirmation.)
	h := pins["GPIO22"].History()[before:]
	flicker := 0
	for i := 1; i < len(h); i++ {
		if h[i].L && !h[i-1].L {
			flicker++
		}
	}
	if flicker < 10 {
		t.Errorf("LED writes during the reset %v: no reset-confirm flicker", h)
	}
}

func TestResolvePins(t *testing.T) {
	rpi, err := boards.Load("rpi5")
	if err != nil {
		t.Fatal(err)
	}
	sim, err := boards.Load("sim")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		board boards.Profile
		gpio  config.GPIO
		want  boards.Pins
		err   string
	}{
		"board's":  {rpi, config.GPIO{}, boards.Pins{PIR: "GPIO17", Button: "GPIO27", LED: "GPIO22", Reset: "GPIO23"}, ""},
		"override": {rpi, config.GPIO{PIR: "GPIO4", LED: config.GPIONone}, boards.Pins{PIR: "GPIO4", Button: "GPIO27", Reset: "GPIO23"}, ""},
		"sim":      {sim, config.GPIO{}, boards.Pins{}, ""},
		"sim with a line": {sim, config.GPIO{Button: "GPIO27"}, boards.Pins{},
			`device: config: gpio.button: "GPIO27" is set but board "sim" has no GPIO (valid: empty on the sim board)`},
		"clash with the board": {rpi, config.GPIO{Reset: "GPIO27"}, boards.Pins{},
			`device: config: gpio.reset: line GPIO27 is already the button line of board "rpi5" (valid: a line of its own, or none)`},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ResolvePins(tc.board, tc.gpio)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("resolvePins = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestMissingLineShowsErrorAndKeepsRunning(t *testing.T) {
	opts := simOptions(t)
	board, err := boards.Load("rpi3")
	if err != nil {
		t.Fatal(err)
	}
	opts.Board = board
	opts.Config.Camera = config.Camera{Source: "file", File: filepath.Join("..", "capture", "testdata", "tiny-aud.h264")}
	clk := clocktest.New(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	opts.Clock = clk
	led := sensorstest.New("GPIO22", gpio.Low, clk)
	a, err := NewAgent(opts)
	if err != nil {
		t.Fatal(err)
	}
	a.hw.openPin = func(name string) (gpio.PinIO, error) {
		if name == "GPIO22" {
			return led, nil
		}
		return nil, fmt.Errorf("no line %q", name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	// Error pattern: a double blink each second.
	var seen strings.Builder
	for range 20 {
		clk.Advance(100 * time.Millisecond)
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, c := range led.History() {
		seen.WriteString(map[gpio.Level]string{gpio.High: "#", gpio.Low: "."}[c.L])
	}
	if !strings.Contains(seen.String(), "#.#.") {
		t.Errorf("LED writes %s, want the error double blink", seen.String())
	}
	if _, err := os.Stat(filepath.Join(opts.StateDir, dbName)); err != nil {
		t.Errorf("state after a normal stop: %v", err)
	}
}

// lockedBuffer is a bytes.Buffer a logger and a test may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
