package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/doorward/doorward/boards"
)

// Camera overrides the board's camera; zero values keep the board's.
type Camera struct {
	// Source is "" (the board's), "file", "v4l2" or "exec".
	Source string `yaml:"source"`
	// File is the Annex-B H.264 file the file source loops; "" means the
	// clip embedded in the binary.
	File string `yaml:"file"`
	// Device is the V4L2 device, e.g. /dev/video0; "" means the board's.
	Device string `yaml:"device"`
	// Command is the exec source's program and arguments; empty means the
	// board's.
	Command []string `yaml:"command,omitempty"`
	// Width and Height are the frame size in pixels; 0 means the board's.
	Width  int `yaml:"width"`
	Height int `yaml:"height"`
	// FPS is the frame rate; 0 means the board's.
	FPS int `yaml:"fps"`
	// StallTimeout is how long without a frame counts as a stalled camera:
	// the agent logs it, restarts the camera and records the events it
	// misses as events without video. Never shorter than StallFrames frame
	// intervals. 0 means DefaultStallTimeout.
	StallTimeout Duration `yaml:"stall_timeout"`
}

// Stall timeout limits (camera.stall_timeout).
const (
	DefaultStallTimeout = 5 * time.Second
	MinStallTimeout     = time.Second
	MaxStallTimeout     = time.Minute
	// StallFrames is the least number of frame intervals a stall timeout
	// spans at camera.fps.
	StallFrames = 3
)

func defaultCamera() Camera { return Camera{StallTimeout: Duration(DefaultStallTimeout)} }

// Validate reports every problem with the camera section.
func (cam Camera) Validate() error { return cam.problems().err() }

func (cam Camera) problems() problems {
	var p problems
	if cam.Source != "" && cam.Source != boards.SourceFile && cam.Source != boards.SourceV4L2 && cam.Source != boards.SourceExec {
		p.add("camera.source", "%q is not valid (valid: file, v4l2, exec, or empty for the board's)", cam.Source)
	}
	if hasControl(cam.File) {
		p.add("camera.file", "%q contains a control character (valid: a file path)", cam.File)
	}
	if cam.File != "" && (cam.Source == boards.SourceV4L2 || cam.Source == boards.SourceExec) {
		p.add("camera.file", "%q is set but camera.source is %q (valid: file only with source file)", cam.File, cam.Source)
	}
	if cam.Device != "" {
		if !strings.HasPrefix(cam.Device, "/") || hasControl(cam.Device) {
			p.add("camera.device", "%q is not valid (valid: an absolute path such as /dev/video0)", cam.Device)
		} else if cam.Source == boards.SourceFile || cam.Source == boards.SourceExec {
			p.add("camera.device", "%q is set but camera.source is %q (valid: device only with source v4l2)", cam.Device, cam.Source)
		}
	}
	for i, arg := range cam.Command {
		if hasControl(arg) {
			p.add(fmt.Sprintf("camera.command[%d]", i), "%q contains a control character (valid: printable text)", arg)
		}
	}
	if len(cam.Command) > 0 {
		if cam.Command[0] == "" {
			p.add("camera.command[0]", `"" is empty (valid: the program to run, e.g. rpicam-vid)`)
		} else if cam.Source == boards.SourceFile || cam.Source == boards.SourceV4L2 {
			p.add("camera.command", "%q is set but camera.source is %q (valid: command only with source exec)", cam.Command[0], cam.Source)
		}
	}
	intRange := func(field string, v, lo, hi int) {
		if v != 0 && (v < lo || v > hi) {
			p.add(field, "%d is out of range (valid: 0 for the board's, or %d to %d)", v, lo, hi)
		}
	}
	intRange("camera.width", cam.Width, 16, 7680)
	intRange("camera.height", cam.Height, 16, 4320)
	intRange("camera.fps", cam.FPS, 1, 240)
	if (cam.Width == 0) != (cam.Height == 0) {
		field := "camera.width"
		if cam.Width == 0 {
			field = "camera.height"
		}
		p.add(field, "%dx%d sets only one of camera.width and camera.height (valid: both, or neither for the board's)", cam.Width, cam.Height)
	}
	if cam.StallTimeout != 0 { // 0: DefaultStallTimeout, as the other zero fields keep a default
		durRange(&p, "camera.stall_timeout", cam.StallTimeout, MinStallTimeout, MaxStallTimeout)
	}
	if least := Duration(StallFrames * time.Second / time.Duration(max(cam.FPS, 1))); cam.FPS > 0 && cam.FPS <= 240 &&
		cam.StallTimeout >= Duration(MinStallTimeout) && cam.StallTimeout < least {
		p.add("camera.stall_timeout", "%q is shorter than %d frame intervals at camera.fps %d (valid: %v to %v)",
			cam.StallTimeout, StallFrames, cam.FPS, least, Duration(MaxStallTimeout))
	}
	return p
}
