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

	_, err = boards.Load("foo")
	fmt.Println(err)
	// Output:
	// v4l2 /dev/video0 1280 720 30
	// boards: unknown board "foo" (valid: generic-linux, sim)
}

func ExampleNames() {
	fmt.Println(strings.Join(boards.Names(), "\n"))
	// Output:
	// generic-linux
	// sim
}

func ExampleDetect() {
	// /proc/device-tree/model ends in a NUL byte; Detect ignores it.
	if p, ok := boards.Detect("Some Board Rev 1.0\x00"); ok {
		fmt.Println("detected", p.Name)
	} else {
		fmt.Println("not detected; use --board or generic-linux")
	}
	// Output: not detected; use --board or generic-linux
}
