package v4l2_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/blackjack/webcam"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/capture/v4l2"
	"github.com/doorward/doorward/capture/v4l2/v4l2test"
	"github.com/doorward/doorward/device/clock/clocktest"
)

func newLog() (*slog.Logger, *capturetest.LogBuffer) { return capturetest.NewLogger(slog.LevelInfo) }

func newClock() *clocktest.Fake { return clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) }

func stepwise(minW, maxW, stepW, minH, maxH, stepH uint32) webcam.FrameSize {
	return webcam.FrameSize{MinWidth: minW, MaxWidth: maxW, StepWidth: stepW, MinHeight: minH, MaxHeight: maxH, StepHeight: stepH}
}

func TestNegotiate(t *testing.T) {
	fixed := func(w, h uint32) webcam.FrameSize { return stepwise(w, w, 0, h, h, 0) }
	fps := func(n uint32) webcam.FrameRate {
		return webcam.FrameRate{MinNumerator: 1, MaxNumerator: 1, MinDenominator: n, MaxDenominator: n}
	}
	common := []webcam.FrameSize{fixed(640, 480), fixed(1280, 720), fixed(1920, 1080)}
	for _, tc := range []struct {
		name  string
		sizes []webcam.FrameSize
		rates []webcam.FrameRate
		want  v4l2.Want
		mode  string
	}{
		{"exact", common, []webcam.FrameRate{fps(30), fps(15)}, v4l2.Want{1280, 720, 30}, "H264 1280x720 @ 30 fps"},
		{"nearest size", common, []webcam.FrameRate{fps(30)}, v4l2.Want{1024, 768, 30}, "H264 1280x720 @ 30 fps"},
		{"nearest smaller size", common, []webcam.FrameRate{fps(30)}, v4l2.Want{800, 600, 30}, "H264 640x480 @ 30 fps"},
		{"nearest rate", common, []webcam.FrameRate{fps(30), fps(15), fps(5)}, v4l2.Want{640, 480, 12}, "H264 640x480 @ 15 fps"},
		{"rate above all", common, []webcam.FrameRate{fps(30), fps(15)}, v4l2.Want{640, 480, 60}, "H264 640x480 @ 30 fps"},
		{"no wish: largest, fastest", common, []webcam.FrameRate{fps(15), fps(30)}, v4l2.Want{}, "H264 1920x1080 @ 30 fps"},
		{"stepwise size", []webcam.FrameSize{stepwise(32, 2592, 2, 32, 1944, 2)}, []webcam.FrameRate{fps(30)},
			v4l2.Want{1281, 721, 30}, "H264 1282x722 @ 30 fps"},
		{"stepwise clamped", []webcam.FrameSize{stepwise(32, 1920, 16, 32, 1080, 16)}, nil,
			v4l2.Want{4000, 3000, 25}, "H264 1920x1080 @ 25 fps"},
		{"stepwise rate", common, []webcam.FrameRate{{MinNumerator: 1, MaxNumerator: 1, StepNumerator: 1,
			MinDenominator: 90, MaxDenominator: 2, StepDenominator: 1}}, v4l2.Want{640, 480, 25}, "H264 640x480 @ 25 fps"},
		{"no sizes listed", nil, nil, v4l2.Want{1280, 720, 30}, "H264 1280x720 @ 30 fps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cam := &v4l2test.Camera{
				Formats: map[webcam.PixelFormat]string{v4l2.FormatH264: "H.264", v4l2.FormatMJPG: "MJPEG"},
				Sizes:   map[webcam.PixelFormat][]webcam.FrameSize{v4l2.FormatH264: tc.sizes},
				Rates:   tc.rates,
			}
			m, err := v4l2.Negotiate(cam, "/dev/video0", tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if m.String() != tc.mode {
				t.Errorf("mode %s, want %s", m, tc.mode)
			}
		})
	}
}

func TestMJPEGOnlyCameraPointsAtExec(t *testing.T) {
	_, err := v4l2.New(v4l2.Config{Device: "/dev/video0", Want: v4l2.Want{Width: 1280, Height: 720, FPS: 30},
		Clock: newClock(), Open: v4l2test.NewOpener(v4l2test.MJPEGCamera()).Open})
	var noH264 *v4l2.NoH264Error
	if !errors.As(err, &noH264) {
		t.Fatalf("err = %v, want *NoH264Error", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"v4l2: /dev/video0 offers no H.264 format (it offers: MJPG (Motion-JPEG), YUYV (YUYV 4:2:2))",
		"source: exec",
		`command: [ffmpeg, -f, v4l2, -input_format, mjpeg, -video_size, 1280x720, -framerate, "30", -i, /dev/video0, -c:v, h264_v4l2m2m, -g, "30", -f, h264, "-"]`,
		"Raspberry Pi 5, which has no H.264 encoder",
		"libx264",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func read(t *testing.T, src capture.Source, n int) []capture.Frame {
	t.Helper()
	return capturetest.ReadFrames(t, src, n, 10*time.Second)
}

func TestReplayFrames(t *testing.T) {
	cam := v4l2test.H264Camera()
	log, lb := newLog()
	src, err := v4l2.New(v4l2.Config{Device: "/dev/video0", Want: v4l2.Want{Width: 1280, Height: 720, FPS: 25},
		Log: log, Clock: newClock(), Open: v4l2test.NewOpener(cam).Open})
	if err != nil {
		t.Fatal(err)
	}
	want := v4l2test.Frames()
	frames := read(t, src, 2*len(want))
	for i, f := range frames {
		if !bytes.Equal(f.Data, want[i%len(want)]) {
			t.Fatalf("frame %d differs from the recorded access unit", i)
		}
		if f.Key != (i%10 == 0) {
			t.Errorf("frame %d: key = %v (IDR every 10)", i, f.Key)
		}
		if i > 0 && f.PTS <= frames[i-1].PTS {
			t.Errorf("frame %d: PTS %v after %v", i, f.PTS, frames[i-1].PTS)
		}
	}
	if f, w, h, fps := cam.Set(); f != v4l2.FormatH264 || w != 1280 || h != 720 || fps != 30 {
		t.Errorf("set %s %dx%d %g fps, want H264 1280x720 30 (nearest to 25)", v4l2.FourCC(f), w, h, fps)
	}
	src.Close()
	if !cam.Closed() {
		t.Error("device not closed")
	}
	if _, err := src.ReadFrame(context.Background()); !errors.Is(err, capture.ErrSourceClosed) {
		t.Errorf("after Close: %v", err)
	}
	if !strings.Contains(lb.String(), `mode="H264 1280x720 @ 30 fps"`) || !strings.Contains(lb.String(), "exact=false") {
		t.Errorf("negotiated mode not logged:\n%s", lb)
	}
}

// Parameter sets in buffers of their own join the picture after them.
func TestParameterSetsInOwnBuffers(t *testing.T) {
	var bufs [][]byte
	for _, au := range v4l2test.Frames() {
		// Each NAL unit before the first slice goes in a buffer of its
		// own; the slice and whatever follows it in another.
		rest := au
		for {
			nalu, after, ok := capture.NextNALU(rest)
			if !ok || len(after) == 0 || capture.NALType(nalu) <= capture.NALIDR {
				bufs = append(bufs, rest)
				break
			}
			n := len(rest) - len(after)
			bufs = append(bufs, rest[:n])
			rest = after
		}
	}
	cam := v4l2test.H264Camera()
	cam.Buffers = bufs
	src, err := v4l2.New(v4l2.Config{Device: "/dev/video0", Clock: newClock(), Open: v4l2test.NewOpener(cam).Open})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	want := v4l2test.Frames()
	if len(bufs) <= len(want) {
		t.Fatalf("split into %d buffers, want more than %d", len(bufs), len(want))
	}
	for i, f := range read(t, src, len(want)) {
		if !bytes.Equal(f.Data, want[i]) {
			t.Fatalf("frame %d is not the whole access unit", i)
		}
	}
}

// waitLog polls until s appears n times in the log.
func waitLog(t *testing.T, lb *capturetest.LogBuffer, s string, n int) {
	t.Helper()
	for i := 0; i < 500 && lb.Count(s) < n; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if got := lb.Count(s); got != n {
		t.Fatalf("%q logged %d times, want %d:\n%s", s, got, n, lb)
	}
}

// waitWaiter polls until the source waits on the clock (its backoff).
func waitWaiter(t *testing.T, clk *clocktest.Fake) {
	t.Helper()
	for i := 0; i < 500 && clk.Waiters() == 0; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if clk.Waiters() != 1 {
		t.Fatalf("%d clock waiters, want the backoff's", clk.Waiters())
	}
}

// waitOpens polls until the source has tried to open the device n times.
func waitOpens(t *testing.T, o *v4l2test.Opener, n int) {
	t.Helper()
	for i := 0; i < 500 && o.Opens() < n; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if got := o.Opens(); got != n {
		t.Fatalf("opened %d times, want %d", got, n)
	}
}

// The camera is unplugged mid-stream (ENODEV), stays away for three
// attempts, and comes back: the source backs off 0.5, 1, 2, 4 s (less up to
// BackoffJitter of each), logs the loss and the return once each, and
// carries on with a keyframe.
func TestReconnectWithBackoff(t *testing.T) {
	first := v4l2test.H264Camera()
	first.VanishAfter = 15
	second := v4l2test.H264Camera()
	opener := v4l2test.NewOpener(first, second)
	clk := newClock()
	log, lb := newLog()
	src, err := v4l2.New(v4l2.Config{Device: "/dev/video0", Log: log, Clock: clk, Open: opener.Open})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	before := read(t, src, 15)
	waitLog(t, lb, "camera lost; reconnecting", 1)
	if !strings.Contains(lb.String(), "no such device") {
		t.Errorf("ENODEV not logged:\n%s", lb)
	}
	if !first.Closed() {
		t.Error("lost device not closed")
	}
	opener.Unplug(3)
	for i, wait := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second} {
		waitWaiter(t, clk)
		shortest := time.Duration(float64(wait) * (1 - v4l2.BackoffJitter))
		clk.Advance(shortest - time.Millisecond)
		time.Sleep(20 * time.Millisecond)
		if got := opener.Opens(); got != 1+i {
			t.Fatalf("%d opens before the %v backoff ran out, want %d", got, wait, 1+i)
		}
		clk.Advance(wait - shortest + time.Millisecond)
		waitOpens(t, opener, 2+i)
	}
	after := read(t, src, 3)
	if !after[0].Key {
		t.Error("first frame after reconnect is not a keyframe")
	}
	if after[0].PTS <= before[len(before)-1].PTS {
		t.Errorf("PTS went back across the reconnect: %v then %v", before[len(before)-1].PTS, after[0].PTS)
	}
	if d := after[0].PTS - before[len(before)-1].PTS; d < 7*time.Second {
		t.Errorf("PTS gap %v over a 7.5 s outage", d)
	}
	waitLog(t, lb, "camera back", 1)
	if n := lb.Count("unavailable"); n != 0 {
		t.Errorf("retries logged %d times:\n%s", n, lb)
	}
	if n := lb.Count("level=WARN"); n != 1 {
		t.Errorf("%d warnings for one outage, want 1:\n%s", n, lb)
	}
}

// A camera that is not plugged in at start is waited for.
func TestCameraPluggedInLater(t *testing.T) {
	opener := v4l2test.NewOpener(v4l2test.H264Camera())
	opener.Unplug(2)
	clk := newClock()
	log, lb := newLog()
	src, err := v4l2.New(v4l2.Config{Device: "/dev/video0", Log: log, Clock: clk, Open: opener.Open})
	if err != nil {
		t.Fatalf("New failed for an absent camera: %v", err)
	}
	defer src.Close()
	waitLog(t, lb, "camera unavailable; retrying", 1)
	waitWaiter(t, clk)
	clk.Advance(500 * time.Millisecond)
	waitOpens(t, opener, 2)
	waitWaiter(t, clk)
	clk.Advance(time.Second)
	waitOpens(t, opener, 3)
	if f := read(t, src, 1); !f[0].Key {
		t.Error("first frame is not a keyframe")
	}
	waitLog(t, lb, "camera unavailable; retrying", 1)
	waitLog(t, lb, "camera back", 1)
}

// A camera that stops delivering frames is found by the Hub's watchdog,
// which has the source reconnect.
func TestStalledCameraReconnects(t *testing.T) {
	stalled := v4l2test.H264Camera()
	stalled.Stall = true
	opener := v4l2test.NewOpener(stalled, v4l2test.H264Camera())
	clk := newClock()
	log, lb := newLog()
	src, err := v4l2.New(v4l2.Config{Device: "/dev/video0", Log: log, Clock: clk, Open: opener.Open})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	hub := capture.NewHub(log)
	hub.Clock, hub.StallTimeout = clk, time.Second
	sub := hub.Subscribe(64)
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- hub.Run(ctx, src) }()
	defer func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Error(err)
		}
	}()
	// Fake time passes until a frame comes: the first camera never sends
	// one, so after the start grace the watchdog restarts it, and the
	// source reconnects, after its backoff, to the second.
	for i := 0; ; i++ {
		select {
		case f := <-sub.C():
			if !f.Key {
				t.Error("first frame after the reconnect is not a keyframe")
			}
			if lb.Count("camera stalled: no frame") != 1 || lb.Count("camera lost; reconnecting") != 1 || lb.Count("camera back") != 2 {
				t.Errorf("log:\n%s", lb)
			}
			if !strings.Contains(lb.String(), "no frame for the stall timeout") {
				t.Errorf("the reconnect does not say why:\n%s", lb)
			}
			if opener.Opens() != 2 {
				t.Errorf("opened %d times, want 2", opener.Opens())
			}
			if d := clk.Now().Sub(newClock().Now()); d < capture.StartGrace {
				t.Errorf("restarted after %v, before the start grace", d)
			}
			return
		case <-time.After(time.Millisecond):
		}
		if i > 20000 {
			t.Fatalf("no frame after a reconnect:\n%s", lb)
		}
		clk.Advance(10 * time.Millisecond)
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := v4l2.New(v4l2.Config{Clock: newClock()}); err == nil || !strings.Contains(err.Error(), "camera.device is empty") {
		t.Errorf("empty device: %v", err)
	}
}
