package selftest

import (
	"context"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/doorward/doorward/boards"
)

// TestGPIOChecksHeaderPins: on a board with the Raspberry Pi 40-pin header
// the GPIO details name each line's header pin, a line the
// config moved (GPIO5) included.
func TestGPIOChecksHeaderPins(t *testing.T) {
	board, err := boards.Load("rpi4")
	if err != nil {
		t.Fatal(err)
	}
	board.Pins.PIR = "GPIO5" // as gpio.pir: GPIO5 in the config would set it
	lines := map[string]*fakeLine{"GPIO5": {edges: make(chan gpio.Level, 1)}, "GPIO22": {}}
	open := func(name string) (Line, error) {
		if l, ok := lines[name]; ok {
			return l, nil
		}
		return nil, &capturePathErr{}
	}
	lines["GPIO5"].edges <- gpio.High
	checks := GPIOChecks{Board: board, Open: open, Interactive: true, Wait: 100 * time.Millisecond}.Checks()
	for i, want := range map[int]string{
		0: "PIR sensor GPIO5 (pin 29) opens as an input",
		1: "doorbell button GPIO27 (pin 13): no such device",
		2: "status LED GPIO22 (pin 15) opens as an output",
		4: "PIR sensor GPIO5 (pin 29) changed to High",
	} {
		if res := checks[i].Run(context.Background()); !strings.Contains(res.Detail, want) {
			t.Errorf("%s: %q, want it to contain %q", checks[i].Name, res.Detail, want)
		}
	}
}
