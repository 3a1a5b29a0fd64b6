package device

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/boards"
	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/device/clock"
	"github.com/doorward/doorward/device/clock/clocktest"
	"github.com/doorward/doorward/device/config"
)

func TestOpenCameraErrors(t *testing.T) {
	clk := clocktest.New(time.Unix(0, 0))
	pi := boards.Profile{Name: "test-board"}
	for _, tc := range []struct {
		cfg  config.Camera
		want string
	}{
		{config.Camera{Source: "v4l2"}, `device: camera.device is empty and board "test-board" names no V4L2 device`},
		{config.Camera{Source: "exec"}, `device: camera.command is empty and board "test-board" has no camera command`},
		{config.Camera{Source: "exec", Command: []string{"no-such-camera-tool-xyz"}}, `execsrc: camera.command[0] "no-such-camera-tool-xyz"`},
		{config.Camera{Source: "rtsp"}, `device: camera.source "rtsp" is not valid (valid: file, v4l2, exec)`},
	} {
		src, err := OpenCamera(tc.cfg, pi, clk, nil)
		if err == nil {
			src.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// The board's v4l2 device is used when the config names none; an absent
// device is waited for, not an error.
func TestOpenCameraV4L2FromBoard(t *testing.T) {
	var lb bytes.Buffer
	log := slog.New(slog.NewTextHandler(&lb, nil))
	board := boards.Profile{Name: "generic-linux", Camera: boards.Camera{Source: "v4l2", Device: "/dev/doorward-no-such-video", Width: 640, Height: 480, FPS: 15}}
	src, err := OpenCamera(config.Camera{}, board, clocktest.New(time.Unix(0, 0)), log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := src.ReadFrame(ctx); err != context.DeadlineExceeded {
		t.Errorf("ReadFrame on an absent camera: %v", err)
	}
	src.Close()
	if !strings.Contains(lb.String(), "/dev/doorward-no-such-video") {
		t.Errorf("log does not name the device:\n%s", lb.String())
	}
}

// The exec source runs the board's command unless the config gives one.
func TestOpenCameraExec(t *testing.T) {
	ffmpeg := capturetest.Tool(t, "ffmpeg")
	cmd := []string{ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30",
		"-frames:v", "40", "-c:v", "libx264", "-preset", "ultrafast", "-x264-params", "keyint=30", "-f", "h264", "-"}
	board := boards.Profile{Name: "rpi5", Camera: boards.Camera{Source: "exec", Command: []string{"no-such-rpicam-vid-xyz"}}}
	src, err := OpenCamera(config.Camera{Command: cmd}, board, clock.Real{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := src.ReadFrame(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Key {
		t.Error("first frame is not a keyframe")
	}
}

func TestStallTimeout(t *testing.T) {
	sim, err := boards.Load("sim")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  config.Camera
		want time.Duration
	}{
		{config.Camera{}, 5 * time.Second},
		{config.Camera{StallTimeout: config.Duration(time.Second)}, time.Second},
		// 3 frame intervals at 1 fps are longer than the 1 s configured.
		{config.Camera{FPS: 1, StallTimeout: config.Duration(time.Second)}, 3 * time.Second},
	} {
		if got := StallTimeout(tc.cfg, sim); got != tc.want {
			t.Errorf("StallTimeout(%+v) = %v, want %v", tc.cfg, got, tc.want)
		}
	}
}
