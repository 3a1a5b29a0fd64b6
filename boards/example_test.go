package boards_test

import (
	"fmt"
	"strings"

	"github.com/doorward/doorward/boards"
)

func ExampleLoad() {
	p, err := boards.Load("generic-linux")
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Camera.Source, p.Camera.Device, p.Camera.Width, p.Camera.Height, p.Camera.FPS)

	p, err = boards.Load("rpi5")
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Camera.Source, p.Camera.Command[0], p.Builds, p.PinLabel(p.Pins.PIR), p.PinLabel(p.Pins.Button))

	_, err = boards.Load("foo")
	fmt.Println(err)
	// Output:
	// v4l2 /dev/video0 1280 720 30
	// exec rpicam-vid [arm64 armv7] GPIO17 (pin 11) GPIO27 (pin 13)
	// boards: unknown board "foo" (valid: generic-linux, rpi-zero, rpi-zero2w, rpi1, rpi2, rpi3, rpi4, rpi5, sim)
}

func ExampleNames() {
	fmt.Println(strings.Join(boards.Names(), "\n"))
	// Output:
	// generic-linux
	// rpi-zero
	// rpi-zero2w
	// rpi1
	// rpi2
	// rpi3
	// rpi4
	// rpi5
	// sim
}

func ExampleDetect() {
	// /proc/device-tree/model ends in a NUL byte; Detect ignores it.
	for _, model := range []string{
		"Raspberry Pi 4 Model B Rev 1.4\x00",
		"Raspberry Pi 5 Model B Rev 1.0\x00",
		"Raspberry Pi Zero W Rev 1.1\x00",
		"Raspberry Pi Zero 2 W Rev 1.0\x00",
		"Some Board Rev 1.0\x00",
	} {
		if p, ok := boards.Detect(model); ok {
			fmt.Println("detected", p.Name)
		} else {
			fmt.Println("not detected; use --board or generic-linux")
		}
	}
	// Output:
	// detected rpi4
	// detected rpi5
	// detected rpi-zero
	// detected rpi-zero2w
	// not detected; use --board or generic-linux
}
