package device

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/doorward/doorward/boards"
	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/execsrc"
	"github.com/doorward/doorward/capture/simcam"
	"github.com/doorward/doorward/capture/v4l2"
	"github.com/doorward/doorward/device/clock"
	"github.com/doorward/doorward/device/config"
)

// StallTimeout is how long the agent's Hub waits for a frame before it
// takes the camera for stalled: camera.stall_timeout, raised to
// capture.StallFrames frame intervals at the camera's frame rate.
func StallTimeout(cfg config.Camera, board boards.Profile) time.Duration {
	fps := float64(cfg.FPS)
	if fps == 0 {
		fps = float64(board.Camera.FPS)
	}
	return capture.StallTimeoutFor(time.Duration(cfg.StallTimeout), fps)
}

// OpenCamera opens the board's camera as the config adjusts it: the
// config's source, device, command, size and frame rate where set, the
// board's otherwise.
func OpenCamera(cfg config.Camera, board boards.Profile, clk clock.Clock, log *slog.Logger) (capture.Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	source := cfg.Source
	if source == "" {
		source = board.Camera.Source
	}
	fps := float64(cfg.FPS)
	if fps == 0 {
		fps = float64(board.Camera.FPS)
	}
	width, height := cfg.Width, cfg.Height
	if width == 0 || height == 0 {
		width, height = board.Camera.Width, board.Camera.Height
	}
	switch source {
	case boards.SourceFile:
		if cfg.File == "" {
			if !board.Sim {
				return nil, fmt.Errorf("device: camera.file is empty; only the sim board has a built-in test clip (board %q)", board.Name)
			}
			if cfg.FPS == 0 {
				fps = simcam.FPS
			}
			return capture.NewFileSource(simcam.Clip(), fps, clk)
		}
		if fps == 0 {
			fps = 30
		}
		return capture.OpenFileSource(cfg.File, fps, clk)
	case boards.SourceV4L2:
		dev := cfg.Device
		if dev == "" {
			dev = board.Camera.Device
		}
		if dev == "" {
			return nil, fmt.Errorf("device: camera.device is empty and board %q names no V4L2 device (valid: a device path such as /dev/video0)", board.Name)
		}
		return v4l2.New(v4l2.Config{
			Device: dev,
			Want:   v4l2.Want{Width: width, Height: height, FPS: int(fps)},
			Log:    log,
			Clock:  clk,
		})
	case boards.SourceExec:
		cmd := cfg.Command
		if len(cmd) == 0 {
			cmd = board.Camera.Command
		}
		if len(cmd) == 0 {
			return nil, fmt.Errorf("device: camera.command is empty and board %q has no camera command "+
				`(valid: a program writing H.264 to stdout, e.g. [rpicam-vid, -t, "0", --codec, h264, --inline, -o, "-"])`, board.Name)
		}
		return execsrc.New(execsrc.Config{Command: cmd, Log: log, Clock: clk})
	default:
		return nil, fmt.Errorf("device: camera.source %q is not valid (valid: file, v4l2, exec)", source)
	}
}
