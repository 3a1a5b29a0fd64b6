package selftest

import (
	"context"
	"io"
	"time"

	"github.com/doorward/doorward/boards"
	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/device/clock"
	"github.com/doorward/doorward/device/config"
)

// Options describe the board and the system for Checks. Zero paths mean the
// real ones under /proc.
type Options struct {
	// Board is the profile in use; Requested is "auto" or the name asked
	// for, and BoardFile the config file whose board: asked for it (empty
	// when --board did).
	Board     boards.Profile
	Requested string
	BoardFile string
	// StateDir is the agent's state directory (storage is measured there).
	StateDir string

	// CameraSource names the camera for the report, e.g. "v4l2 /dev/video0".
	CameraSource string
	// CameraPresent says at once whether the camera is there (the V4L2
	// device node, the exec source's program, the file source's file): nil,
	// or an error naming what is missing and what to check. Nil means no
	// such test.
	CameraPresent func() error
	// OpenCamera opens the board's camera as the agent would.
	OpenCamera func(ctx context.Context) (capture.Source, error)
	// CameraFPS is the frame rate the camera is set to.
	CameraFPS float64
	// Frames is how many frames the camera check captures.
	Frames int
	// Formats lists the camera's formats (V4L2 only); FormatsWhyNot says why
	// it is nil.
	Formats       func(ctx context.Context) ([]string, error)
	FormatsWhyNot string

	// OpenLine opens a GPIO line by name; nil means no GPIO driver.
	OpenLine func(name string) (Line, error)
	// Interactive asks the tester to wave at the PIR sensor and press the
	// button; Prompt receives the instructions and WaitForTester bounds each
	// (0 means 20 s).
	Interactive   bool
	Prompt        io.Writer
	WaitForTester time.Duration

	// PreRollBytes is the pre-roll buffer RLIMIT_MEMLOCK must cover.
	PreRollBytes uint64
	// WriteBytes and AgeBytes size the storage and encryption measurements
	// (0 means 32 MiB each); Syncs is the number of fsync rounds (0: 20).
	WriteBytes, AgeBytes, Syncs int

	// ModelPath, SwapsPath and MountInfoPath default to
	// /proc/device-tree/model, /proc/swaps and /proc/self/mountinfo.
	ModelPath, SwapsPath, MountInfoPath string
	// ClockStatus reads the kernel clock status; nil means adjtimex.
	ClockStatus func() ClockStatus
	// Getrlimit reads a resource limit; nil means the process's own.
	Getrlimit func(resource int) (uint64, error)

	// MQTT is the config's mqtt section: the broker check connects to its
	// broker (and is skipped without one).
	MQTT config.MQTT

	// Clock times everything; nil means the real clock.
	Clock clock.Clock
}

// Checks returns the full selftest, in the order it runs: board, GPIO lines,
// sensors, LED, camera, storage, encryption, swap, memory-lock and core-dump
// limits, clock, broker.
func Checks(o Options) []Check {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.ModelPath, "/proc/device-tree/model")
	def(&o.SwapsPath, "/proc/swaps")
	def(&o.MountInfoPath, "/proc/self/mountinfo")
	if o.WaitForTester == 0 {
		o.WaitForTester = 20 * time.Second
	}
	if o.WriteBytes == 0 {
		o.WriteBytes = 32 << 20
	}
	if o.AgeBytes == 0 {
		o.AgeBytes = 32 << 20
	}
	if o.Syncs == 0 {
		o.Syncs = 20
	}
	checks := []Check{BoardCheck{Board: o.Board, Requested: o.Requested, ConfigFile: o.BoardFile, ModelPath: o.ModelPath}.Check()}
	checks = append(checks, GPIOChecks{
		Board: o.Board, Open: o.OpenLine, Interactive: o.Interactive, Prompt: o.Prompt,
		Wait: o.WaitForTester, Blinks: 3, Clock: o.Clock,
	}.Checks()...)
	checks = append(checks,
		FormatsCheck{Source: o.CameraSource, Present: o.CameraPresent, Formats: o.Formats, WhyNot: o.FormatsWhyNot}.Check(),
		CameraCheck{
			Source: o.CameraSource, Present: o.CameraPresent, Open: o.OpenCamera, Frames: o.Frames, FPS: o.CameraFPS,
			MaxKeyInterval: 4 * time.Second, Clock: o.Clock,
		}.Check(),
		StorageCheck{Dir: o.StateDir, WriteBytes: o.WriteBytes, Syncs: o.Syncs, MinFreeBytes: 1 << 30, Clock: o.Clock}.Check(),
		AgeCheck{Bytes: o.AgeBytes, Clock: o.Clock}.Check(),
		SwapCheck{SwapsPath: o.SwapsPath, MountInfoPath: o.MountInfoPath}.Check(),
	)
	limits := LimitsCheck{PreRollBytes: o.PreRollBytes, Getrlimit: o.Getrlimit}
	checks = append(checks,
		limits.Memlock(),
		limits.Core(),
		ClockCheck{Sim: o.Board.Sim, Status: o.ClockStatus}.Check(),
		BrokerCheck{MQTT: o.MQTT, Clock: o.Clock}.Check(),
	)
	return checks
}
