package sensors_test

import (
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/sensors"
	"github.com/doorward/doorward/capture/sensors/sensorstest"
	"github.com/doorward/doorward/device/clock/clocktest"
)

func ExampleNewButton() {
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktest.New(start)
	// On a board: pin := gpioreg.ByName("GPIO27") after host.Init().
	pin := sensorstest.New("GPIO27", gpio.High, clk) // wired to ground: active low
	rings := make(chan capture.Event, 8)
	button, err := sensors.NewButton(sensors.ButtonConfig{
		Input:   sensors.Input{Pin: pin, ActiveLow: true, Clock: clk},
		OnEvent: func(ev capture.Event) { rings <- ev },
	})
	if err != nil {
		panic(err)
	}
	// A press that bounces three times, held for a minute.
	for _, l := range []gpio.Level{gpio.Low, gpio.High, gpio.Low} {
		if err := pin.Edge(l); err != nil {
			panic(err)
		}
		clk.Advance(time.Millisecond)
	}
	clk.Advance(time.Minute)
	button.Close()
	close(rings)
	for ev := range rings {
		fmt.Println(ev.Kind, ev.Time.Sub(start))
	}
	// Output: ring 52ms
}
