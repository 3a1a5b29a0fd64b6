package main

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/doorward/doorward/device/clock"
	"github.com/doorward/doorward/device/config"
	"github.com/doorward/doorward/device/selftest"
)

// errSelftestFailed makes the command exit 1 after the table is printed.
var errSelftestFailed = errors.New("selftest: required checks failed")

func newSelftestCmd() *cobra.Command {
	var (
		board, state, configPath, jsonPath string
		interactive                        bool
		frames                             int
	)
	cmd := &cobra.Command{
		Use:   "selftest",
		Short: "Check the board, camera, GPIO wiring, storage and system settings, and print a table",
		Long: `selftest runs every check in order, shows progress on stderr and prints a
table. It exits 0 when every required check passed (warn, skip and
overridden are fine) and 1 when one failed. Skipped checks say why.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
				Board: profile, Requested: res.requested, StateDir: state,
				CameraSource: cam.name, OpenCamera: cam.open, CameraFPS: cam.fps, Frames: frames,
				Formats: cam.formats, FormatsWhyNot: cam.whyNoFormats,
				OpenLine:    func(name string) (selftest.Line, error) { return device.OpenGPIOLine(name) },
				Interactive: interactive, Prompt: cmd.ErrOrStderr(),
				PreRollBytes: uint64(cfg.Recording.Buffer),
				Clock:        clk,
			})
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			rep := selftest.Runner{Progress: cmd.ErrOrStderr(), Clock: clk}.Run(ctx, profile.Name, version, checks)
			if jsonPath == "-" {
				// "-" is standard output, as everywhere: the JSON alone
				// (the table goes to stderr so stdout stays parseable).
				if err := rep.WriteJSON(cmd.OutOrStdout()); err != nil {
					return err
				}
				if err := rep.WriteTable(cmd.ErrOrStderr()); err != nil {
					return err
				}
				if !rep.OK {
					return errSelftestFailed
				}
				return nil
			}
			if jsonPath != "" {
				if err := writeJSONReport(jsonPath, rep); err != nil {
					return err
				}
			}
			if err := rep.WriteTable(cmd.OutOrStdout()); err != nil {
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
	cmd.Flags().StringVar(&configPath, "config", "", "YAML config file (camera and pre-roll buffer settings are used)")
	cmd.Flags().StringVar(&jsonPath, "json", "", "also write the report, with every figure, as JSON to this file (- for standard output, the table then goes to stderr)")
	cmd.Flags().BoolVar(&interactive, "interactive", false, "ask a tester to wave at the PIR sensor and press the button")
	cmd.Flags().IntVar(&frames, "frames", 90, "frames to capture from the camera (enough for two keyframes)")
	return cmd
}

func writeJSONReport(path string, rep selftest.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("selftest: --json: %w", err)
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("selftest: --json: %w", err)
	}
	return nil
}

// selftestCameraSpec is the camera the selftest captures from.
type selftestCameraSpec struct {
	name         string
	fps          float64
	open         func(context.Context) (capture.Source, error)
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
		spec.formats = func(context.Context) ([]string, error) { return v4l2Formats(dev) }
	case boards.SourceExec:
		cmd := cfg.Command
		if len(cmd) == 0 {
			cmd = board.Camera.Command
		}
		if len(cmd) > 0 {
			spec.name = "exec " + cmd[0]
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
