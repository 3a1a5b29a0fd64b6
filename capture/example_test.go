package capture_test

import (
	"context"
	"fmt"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/simcam"
	"github.com/doorward/doorward/device/clock"
)

// The sim camera: loop the embedded clip through a Hub to a subscriber.
func Example() {
	src, err := capture.NewFileSource(simcam.Clip(), simcam.FPS, clock.Real{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()

	hub := capture.NewHub(nil)
	sub := hub.Subscribe(2 * simcam.GOP)
	defer sub.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- hub.Run(ctx, src) }()

	f := <-sub.C()
	fmt.Println("first frame: key", f.Key, "pts", f.PTS)
	cancel()
	fmt.Println("run:", <-done)
	// Output:
	// first frame: key true pts 0s
	// run: <nil>
}

func ExampleSplitAccessUnits() {
	aus, err := capture.SplitAccessUnits(simcam.Clip())
	if err != nil {
		fmt.Println(err)
		return
	}
	keys := 0
	for _, au := range aus {
		if au.Key {
			keys++
		}
	}
	fmt.Println(len(aus), "access units,", keys, "keyframes")

	_, err = capture.SplitAccessUnits([]byte("not video"))
	fmt.Println(err != nil)
	// Output:
	// 180 access units, 6 keyframes
	// true
}
