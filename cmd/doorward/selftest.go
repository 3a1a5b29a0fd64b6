package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/boards"
	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/simcam"
	"github.com/doorward/doorward/device"
	"github.com/doorward/doorward/device/clock"
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
			cfg := device.DefaultConfig()
			if configPath != "" {
				var err error
				if cfg, err = device.LoadConfig(configPath); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("board") || cfg.Board == "" {
				cfg.Board = board
			}
			profile, err := resolveBoard(cfg.Board)
			if err != nil {
				return err
			}
			clk := clock.Real{}
			cam := selftestCamera(cfg.Camera, profile, clk)
			checks := selftest.Checks(selftest.Options{
				Board: profile, Requested: cfg.Board, StateDir: state,
				CameraSource: cam.name, OpenCamera: cam.open, CameraFPS: cam.fps, Frames: frames,
				FormatsWhyNot: cam.whyNoFormats,
				Interactive:   interactive, Prompt: cmd.ErrOrStderr(),
				PreRollBytes: uint64(cfg.Recording.Buffer),
				Clock:        clk,
			})
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			rep := selftest.Runner{Progress: cmd.ErrOrStderr(), Clock: clk}.Run(ctx, profile.Name, version, checks)
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
	cmd.Flags().StringVar(&jsonPath, "json", "", "also write the report, with every figure, as JSON to this file")
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
	whyNoFormats string
}

// selftestCamera resolves the camera the agent would open: the config's
// overrides over the board's defaults.
// TODO(issue 3): switch to the device package's camera selection once it
// is exported, so v4l2 and exec sources are tested the same way run opens
// them.
func selftestCamera(cfg device.CameraConfig, board boards.Profile, clk clock.Clock) selftestCameraSpec {
	source := cfg.Source
	if source == "" {
		source = board.Camera.Source
	}
	fps := float64(cfg.FPS)
	if fps == 0 {
		fps = float64(board.Camera.FPS)
	}
	spec := selftestCameraSpec{name: source, fps: fps,
		whyNoFormats: fmt.Sprintf("camera source %q has no formats to list (only v4l2 devices do)", source)}
	switch {
	case source == boards.SourceFile && cfg.File == "" && board.Sim:
		spec.name, spec.fps = "file (the sim clip)", simcam.FPS
		if cfg.FPS != 0 {
			spec.fps = fps
		}
		spec.open = func(context.Context) (capture.Source, error) {
			return capture.NewFileSource(simcam.Clip(), spec.fps, clk)
		}
	case source == boards.SourceFile && cfg.File != "":
		spec.name = "file " + cfg.File
		if spec.fps == 0 {
			spec.fps = 30
		}
		spec.open = func(context.Context) (capture.Source, error) {
			return capture.OpenFileSource(cfg.File, spec.fps, clk)
		}
	case source == boards.SourceFile:
		spec.open = func(context.Context) (capture.Source, error) {
			return nil, fmt.Errorf("selftest: camera.file is empty; only the sim board has a built-in test clip (board %q)", board.Name)
		}
	default:
		spec.open = func(context.Context) (capture.Source, error) {
			return nil, fmt.Errorf("selftest: camera source %q is not available in this build (valid: file)", source)
		}
	}
	return spec
}
