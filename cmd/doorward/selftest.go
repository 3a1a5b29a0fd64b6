package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/boards"
	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/simcam"
	"github.com/doorward/doorward/capture/v4l2"
	"github.com/doorward/doorward/device"
	"github.com/doorward/doorward/device/atomicfile"
	"github.com/doorward/doorward/device/clock"
	"github.com/doorward/doorward/device/config"
	"github.com/doorward/doorward/device/selftest"
)

// errSelftestFailed makes the command exit 1 after the table is printed.
var errSelftestFailed = errors.New("selftest: required checks failed")

func newSelftestCmd() *cobra.Command {
	var (
		board, state, configPath, out string
		interactive, asJSON, force    bool
		frames                        int
	)
	cmd := &cobra.Command{
		Use:   "selftest",
		Short: "Check the board, camera, GPIO wiring, storage and system settings, and print a table",
		Long: `selftest runs every check in order, shows progress on stderr and prints a
table. It exits 0 when every required check passed (warn, skip and
overridden are fine) and 1 when one failed. Skipped checks say why.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The report's file is checked (and claimed) before anything
			// runs: a bad -o fails at once, not after the camera checks.
			outFile, err := openReport(out, force)
			if err != nil {
				return err
			}
			if outFile != nil {
				defer outFile.Abort()
			}
			if frames < 2 || frames > 10000 {
				return fmt.Errorf("selftest: --frames %d is out of range (valid: 2 to 10000)", frames)
			}
			cfg, profile, res, err := loadConfig(cmd, configPath, board)
			if err != nil {
				return err
			}
			clk := clock.Real{}
			log := newLogger(cmd.ErrOrStderr(), cfg.Log)
			res.logOverrides(log)
			cam := selftestCamera(cfg.Camera, profile, clk, log)
			if profile.Pins, err = device.ResolvePins(profile, cfg.GPIO); err != nil {
				return err
			}
			checks := selftest.Checks(selftest.Options{
				Board: profile, Requested: res.requested, BoardFile: res.boardFile, StateDir: state,
				CameraSource: cam.name, CameraPresent: cam.present, OpenCamera: cam.open, CameraFPS: cam.fps, Frames: frames,
				Formats: cam.formats, FormatsWhyNot: cam.whyNoFormats,
				OpenLine:    func(name string) (selftest.Line, error) { return device.OpenGPIOLine(name) },
				Interactive: interactive, Prompt: cmd.ErrOrStderr(),
				PreRollBytes: uint64(cfg.Recording.Buffer),
				MQTT:         cfg.MQTT,
				Clock:        clk,
			})
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			rep := selftest.Runner{Progress: cmd.ErrOrStderr(), Clock: clk}.Run(ctx, profile.Name, version, checks)
			if err := writeSelftestReport(cmd, rep, asJSON, outFile); err != nil {
				return err
			}
			if !rep.OK {
				return errSelftestFailed
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&board, "board", "auto", "board profile: auto, or one of "+fmt.Sprint(boards.Names()))
	stateFlag(cmd, &state)
	cmd.Flags().StringVar(&configPath, "config", "", "YAML config file (its board, camera, GPIO, pre-roll buffer and mqtt settings are used)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "the report as JSON, with every figure (on stdout the table then goes to stderr)")
	cmd.Flags().StringVarP(&out, "output", "o", "-", "write the report to `FILE` (- for standard output; with a file and --json the table still goes to stdout)")
	cmd.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	cmd.Flags().BoolVar(&interactive, "interactive", false, "ask a tester to wave at the PIR sensor and press the button")
	cmd.Flags().IntVar(&frames, "frames", 90, "frames to capture from the camera (enough for two keyframes)")
	return cmd
}

// openReport claims the report's file: nil for standard output; an
// existing file only with force.
func openReport(path string, force bool) (*atomicfile.File, error) {
	if path == "-" {
		return nil, nil
	}
	if path == "" {
		return nil, errors.New("selftest: -o: empty (valid: a file name, or - for standard output)")
	}
	if _, err := os.Lstat(path); err == nil && !force {
		return nil, fmt.Errorf("selftest: -o %s: the file exists; choose another name, or pass --force to replace it", path)
	}
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return nil, fmt.Errorf("selftest: -o %s: cannot write there: %w", path, err)
	}
	return f, nil
}

// writeSelftestReport prints the report: the table, or with asJSON the
// JSON, to f or stdout. JSON on stdout sends the table to stderr (stdout
// stays parseable); JSON into a file leaves the table on stdout.
func writeSelftestReport(cmd *cobra.Command, rep selftest.Report, asJSON bool, f *atomicfile.File) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	var w io.Writer = stdout
	if f != nil {
		w = f
	}
	var err error
	switch {
	case asJSON && f == nil:
		if err = rep.WriteJSON(stdout); err == nil {
			err = rep.WriteTable(stderr)
		}
	case asJSON:
		if err = rep.WriteJSON(f); err == nil {
			err = rep.WriteTable(stdout)
		}
	default:
		err = rep.WriteTable(w)
	}
	if err != nil {
		return fmt.Errorf("selftest: %w", err)
	}
	if f != nil {
		if err := f.Commit(); err != nil {
			return fmt.Errorf("selftest: -o: %w", err)
		}
	}
	return nil
}

// selftestCameraSpec is the camera the selftest captures from.
type selftestCameraSpec struct {
	name         string
	fps          float64
	open         func(context.Context) (capture.Source, error)
	present      func() error
	formats      func(context.Context) ([]string, error)
	whyNoFormats string
}

// selftestCamera describes the camera the agent would open (device.OpenCamera
// opens it): the config's overrides over the board's defaults.
func selftestCamera(cfg config.Camera, board boards.Profile, clk clock.Clock, log *slog.Logger) selftestCameraSpec {
	source := cfg.Source
	if source == "" {
		source = board.Camera.Source
	}
	fps := float64(cfg.FPS)
	if fps == 0 {
		fps = float64(board.Camera.FPS)
	}
	spec := selftestCameraSpec{name: source, fps: fps,
		open:         func(context.Context) (capture.Source, error) { return device.OpenCamera(cfg, board, clk, log) },
		whyNoFormats: fmt.Sprintf("camera source %q has no formats to list (only v4l2 devices do)", source)}
	switch source {
	case boards.SourceFile:
		spec.name = "file " + cfg.File
		if cfg.File == "" && board.Sim {
			spec.name = "file (the sim clip)"
			if cfg.FPS == 0 {
				spec.fps = simcam.FPS
			}
		}
		if cfg.File != "" {
			spec.present = func() error { return selftest.FilePresent(cfg.File) }
		}
		if spec.fps == 0 {
			spec.fps = 30
		}
	case boards.SourceV4L2:
		dev := cfg.Device
		if dev == "" {
			dev = board.Camera.Device
		}
		spec.name = "v4l2 " + dev
		if dev == "" {
			spec.whyNoFormats = "no V4L2 device configured"
			break
		}
		spec.present = func() error { return selftest.DeviceNodePresent(dev) }
		spec.formats = func(context.Context) ([]string, error) { return v4l2Formats(dev) }
	case boards.SourceExec:
		cmd := cfg.Command
		if len(cmd) == 0 {
			cmd = board.Camera.Command
		}
		if len(cmd) > 0 {
			spec.name = "exec " + cmd[0]
			spec.present = func() error { return selftest.ProgramPresent(cmd[0]) }
		}
	}
	return spec
}

// v4l2Formats lists a V4L2 device's pixel formats with their frame sizes.
func v4l2Formats(path string) ([]string, error) {
	dev, err := v4l2.OpenWebcam(path)
	if err != nil {
		return nil, fmt.Errorf("selftest: %s: %w", path, err)
	}
	defer dev.Close()
	var out []string
	for f, desc := range dev.GetSupportedFormats() {
		var sizes []string
		for _, s := range dev.GetSupportedFrameSizes(f) {
			sizes = append(sizes, fmt.Sprintf("%dx%d", s.MaxWidth, s.MaxHeight))
		}
		out = append(out, fmt.Sprintf("%s (%s) %s", v4l2.FourCC(f), desc, strings.Join(sizes, " ")))
	}
	slices.Sort(out)
	return out, nil
}
