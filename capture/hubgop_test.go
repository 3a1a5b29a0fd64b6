package capture_test

import (
	"bytes"
	"context"
	"testing"
	"testing/synctest"

	"github.com/doorward/doorward/capture"
)

// A late subscriber gets the current GOP from its keyframe, then every
// following frame exactly once, with no wait for the next keyframe.
func TestHubSubscribeFromKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := capture.NewHub(nil)
		src := chanSource{make(chan capture.Frame)}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go hub.Run(ctx, src)
		for n := 0; n <= 5; n++ { // keyframes at 0 and 4
			src.c <- frame(n, 4)
		}
		synctest.Wait()
		late, gop := hub.SubscribeFromKey(10)
		defer late.Close()
		var got []int
		for _, f := range gop.Frames {
			got = append(got, int(f.Data[3]))
		}
		if !equalInts(got, []int{4, 5}) {
			t.Fatalf("GOP = %v, want [4 5] (from the latest keyframe)", got)
		}
		for n := 6; n <= 9; n++ {
			src.c <- frame(n, 4)
		}
		synctest.Wait()
		if got := drain(late); !equalInts(got, seq(6, 9)) {
			t.Errorf("channel after the GOP = %v, want 6-9", got)
		}
	})
}

// Before any keyframe there is no GOP, and the subscription starts at the
// next keyframe.
func TestHubSubscribeFromKeyNoGOP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := capture.NewHub(nil)
		src := chanSource{make(chan capture.Frame)}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go hub.Run(ctx, src)
		src.c <- frame(1, 4)
		synctest.Wait()
		s, gop := hub.SubscribeFromKey(10)
		defer s.Close()
		if len(gop.Frames) != 0 {
			t.Fatalf("GOP has %d frames before any keyframe", len(gop.Frames))
		}
		for n := 2; n <= 5; n++ {
			src.c <- frame(n, 4)
		}
		synctest.Wait()
		if got := drain(s); !equalInts(got, []int{4, 5}) {
			t.Errorf("got %v, want [4 5]", got)
		}
	})
}

// A camera that sends SPS and PPS only once: a viewer joining later still
// gets them.
func TestHubKeepsParamsInForce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := capture.NewHub(nil)
		src := chanSource{make(chan capture.Frame)}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go hub.Run(ctx, src)
		sps := []byte{0x67, 0x42, 0xc0, 0x1f, 0xaa}
		pps := []byte{0x68, 0xce, 0x3c, 0x80}
		idr := []byte{0x65, 0x88, 0x84}
		first := append(append(append([]byte{0, 0, 0, 1}, sps...), append([]byte{0, 0, 0, 1}, pps...)...), append([]byte{0, 0, 1}, idr...)...)
		src.c <- capture.Frame{Data: first, Key: true}
		src.c <- capture.Frame{Data: []byte{0, 0, 1, 0x41, 0x9a}}
		src.c <- capture.Frame{Data: []byte{0, 0, 0, 1, 0x65, 0x88, 0x80}, Key: true} // IDR without parameter sets
		synctest.Wait()
		s, gop := hub.SubscribeFromKey(4)
		defer s.Close()
		if len(gop.Frames) != 1 || !gop.Frames[0].Key {
			t.Fatalf("GOP = %d frames, want the latest keyframe alone", len(gop.Frames))
		}
		if !bytes.Equal(gop.SPS, sps) || !bytes.Equal(gop.PPS, pps) {
			t.Errorf("params in force = %x / %x, want %x / %x", gop.SPS, gop.PPS, sps, pps)
		}
		if gs, gp := hub.Params(); !bytes.Equal(gs, sps) || !bytes.Equal(gp, pps) {
			t.Errorf("Params() = %x / %x", gs, gp)
		}
	})
}
