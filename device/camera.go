package device

import (
	"fmt"

	"github.com/doorward/doorward/boards"
	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/simcam"
	"github.com/doorward/doorward/device/clock"
)

// openCamera opens the board's camera as the config adjusts it.
func openCamera(cfg CameraConfig, board boards.Profile, clk clock.Clock) (capture.Source, error) {
	source := cfg.Source
	if source == "" {
		source = board.Camera.Source
	}
	fps := float64(cfg.FPS)
	if fps == 0 {
		fps = float64(board.Camera.FPS)
	}
	switch source {
	case "file":
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
	default:
		return nil, fmt.Errorf("device: camera.source %q is not available in this build (valid: file)", source)
	}
}

