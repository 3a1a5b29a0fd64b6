package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/boards"
	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/cmd/clidoc"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/config"
)

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "doorward",
		Short:         "Doorward: a doorbell camera agent that keeps every clip encrypted",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRunCmd(), newTriggerCmd(), newClipsCmd(), newEventsCmd(), newVersionCmd(), newStatusCmd())
	root.AddCommand(newIDCmd(), newPairCodeCmd(), newPolicyCmd(), newAuditCmd())
	root.AddCommand(newBoardsCmd())
	root.AddCommand(newSelftestCmd(), newConfigCmd())
	clidoc.Install(root, version)
	return root
}

func stateFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "state", device.DefaultStateDir(), "the agent's state directory")
}

func newRunCmd() *cobra.Command {
	var (
		board, state, configPath, demoKey, listen string
		owners                                    []string
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the agent until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Everything the flags and the file say is checked here,
			// before anything is created: no state directory, key or
			// database is left behind by a bad flag.
			if state == "" {
				return errors.New(`--state: "" is empty (valid: a directory, e.g. /var/lib/doorward)`)
			}
			cfg, profile, res, err := loadConfig(cmd, configPath, board)
			if err != nil {
				return err
			}
			fileOwners := len(cfg.OwnerRecipients)
			cfg.OwnerRecipients = append(cfg.OwnerRecipients, owners...)
			if cmd.Flags().Changed("listen") {
				res.override(res.file, "--listen", listen, "listen", cfg.Listen)
				cfg.Listen = listen
			}
			if err := cfg.Validate(); err != nil {
				return flagErrors(err, configPath, func(field string) string {
					switch {
					case field == "listen" && cmd.Flags().Changed("listen"):
						return "--listen"
					case strings.HasPrefix(field, "owner_recipients[") && indexOf(field) >= fileOwners:
						return "--owner-recipient"
					}
					return ""
				})
			}
			out := cmd.OutOrStdout()
			if demoKey != "" {
				recipient, err := demoOwner(out, demoKey, profile)
				if err != nil {
					return err
				}
				cfg.OwnerRecipients = append(cfg.OwnerRecipients, recipient)
			}
			log := newLogger(cmd.ErrOrStderr(), cfg.Log)
			res.logOverrides(log)
			var clockSynced func() bool // nil: the kernel's word (overridden on the sim board)
			if profile.Sim && os.Getenv("DOORWARD_SIM_CLOCK") == "unsynced" {
				// Testers of the sim board can see what an unsynchronized
				// clock does: every legal token is refused as clock-unsynced.
				clockSynced = func() bool { return false }
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			// A factory reset starts the agent again in this process,
			// unpaired: each start prints its banner (with the new
			// pairing code).
			started := false // an agent that never started did not stop
			err = device.Serve(ctx, device.Options{
				Config: cfg, Board: profile, StateDir: state, Version: version, Log: log, ClockSynced: clockSynced,
			}, func(agent *device.Agent) {
				started = true
				printBanner(out, agent.Banner(), os.Args[0])
			})
			if started {
				log.Info("stopped")
			}
			return err
		},
	}
	cmd.Flags().StringVar(&board, "board", "auto", "board profile: auto, or one of "+fmt.Sprint(boards.Names()))
	stateFlag(cmd, &state)
	cmd.Flags().StringVar(&configPath, "config", "", "YAML config file (every field has a default)")
	cmd.Flags().StringArrayVar(&owners, "owner-recipient", nil, "age recipient of an owner (repeatable)")
	cmd.Flags().StringVar(&demoKey, "demo-owner-key", "", "sim board only: use (and create if missing) a demo owner key at this path")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "LAN API address (pairing, grants, legal tokens, notices, audit)")
	return cmd
}

// resolved tells how the board was chosen and which flags override the
// config file.
type resolved struct {
	// requested is what was asked for: "auto" or a board name (selftest
	// reports it).
	requested string
	// boardFile is the config file whose board: chose requested; empty
	// when --board (or its default, auto) did.
	boardFile string
	// file is the config file, nil without one.
	file *config.File
	// overrides are the flags given on the command line that replace a
	// value the config file holds, each as "--flag VALUE" and
	// "field: VALUE in FILE".
	overrides [][2]string
}

// override notes that flag, given as value, replaces field's value
// fileValue in the config file (nothing when the file does not set the
// field, or says the same).
func (r *resolved) override(file *config.File, flag, value, field, fileValue string) {
	if file != nil && file.Sets(field) && value != fileValue {
		r.overrides = append(r.overrides, [2]string{flag + " " + value, fmt.Sprintf("%s: %s in %s", field, fileValue, file.Path)})
	}
}

// logOverrides logs each override on one line naming both values.
func (r resolved) logOverrides(log *slog.Logger) {
	for _, o := range r.overrides {
		log.Warn("a command-line flag overrides the config file", "flag", o[0], "config", o[1])
	}
}

// loadConfig reads the config file (defaults without one) and resolves the
// board: the file's board: wins over the --board default (auto); a --board
// given on the command line wins over the file, and is reported as an
// override.
func loadConfig(cmd *cobra.Command, path, board string) (cfg config.Config, profile boards.Profile, res resolved, err error) {
	cfg = config.Default()
	if path != "" {
		if res.file, err = config.LoadFile(path); err != nil {
			return cfg, profile, res, err
		}
		cfg = res.file.Config
	}
	switch {
	case cmd.Flags().Changed("board"):
		if cfg.Board != "" {
			res.override(res.file, "--board", board, "board", cfg.Board)
		}
		cfg.Board = board
	case cfg.Board == "":
		cfg.Board = board
	default:
		res.boardFile = res.file.Path
	}
	res.requested = cfg.Board
	if profile, err = resolveBoard(cfg.Board); err != nil {
		return cfg, profile, res, err
	}
	cfg.Board = profile.Name
	return cfg, profile, res, nil
}

// flagErrors rewrites the problems of a config that flags were merged
// into: a problem with a field a flag set names the flag; any other names
// the config file.
func flagErrors(err error, path string, flagOf func(field string) string) error {
	problems := config.Errors(err)
	if len(problems) == 0 {
		return err
	}
	errs := make([]error, len(problems))
	for i, e := range problems {
		if flag := flagOf(e.Field); flag != "" {
			errs[i] = fmt.Errorf("%s: %s", flag, e.Msg)
			continue
		}
		e.File = path
		errs[i] = e
	}
	return errors.Join(errs...)
}

// indexOf returns the list index in a field path such as
// "owner_recipients[2]", or -1.
func indexOf(field string) int {
	_, rest, ok := strings.Cut(field, "[")
	n, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	if !ok || err != nil {
		return -1
	}
	return n
}

// resolveBoard loads the named profile; "auto" detects a Raspberry Pi from
// the device tree and falls back to generic-linux.
func resolveBoard(name string) (boards.Profile, error) {
	if name != "auto" {
		return boards.Load(name)
	}
	if p, err := boards.DetectFromFile("/proc/device-tree/model"); err == nil {
		return p, nil
	}
	return boards.Load("generic-linux")
}

// demoOwner creates or reads the demo owner key used by `make run`.
func demoOwner(out io.Writer, path string, profile boards.Profile) (string, error) {
	if !profile.Sim {
		return "", fmt.Errorf("--demo-owner-key is for trying the agent out on the sim board only (board %q): give real owners with --owner-recipient", profile.Name)
	}
	f, err := os.Open(path)
	if err == nil {
		defer f.Close()
		key, err := consent.ParseOwnerKey(f)
		if err != nil {
			return "", fmt.Errorf("demo owner key %s: %w", path, err)
		}
		fmt.Fprintf(out, "demo owner key: %s (for trying the agent out; only the sim board uses it)\n", path)
		return key.RecipientString(), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	key, err := consent.GenerateOwnerKey(false)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := key.WriteTo(f); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	fmt.Fprintf(out, "demo owner key: %s (created now; for trying the agent out: only the sim board uses it)\n", path)
	fmt.Fprintf(out, "  decrypt a clip: %s decrypt -i %s CLIP_ID -o clip.mp4\n", ctlCommand(os.Args[0]), shellQuote(path))
	return key.RecipientString(), nil
}

func newLogger(w io.Writer, cfg config.Log) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if os.Getenv("JOURNAL_STREAM") != "" {
		// Under journald, which stamps every line itself: no time of our own.
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func newTriggerCmd() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "trigger motion|ring",
		Short: "Make the running sim agent record an event",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("trigger: give the event to record: motion|ring (got %d arguments)", len(args))
			}
			return nil
		},
		ValidArgs: []string{string(capture.Motion), string(capture.Ring)},
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := capture.ParseEventKind(args[0])
			if err != nil {
				return err
			}
			ctx, cancel := controlContext(cmd)
			defer cancel()
			if err := device.Trigger(ctx, state, kind); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: recording\n", kind)
			return nil
		},
	}
	stateFlag(cmd, &state)
	return cmd
}

func newClipsCmd() *cobra.Command {
	var (
		state  string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "clips",
		Short: "List recorded clips",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := controlContext(cmd)
			defer cancel()
			clips, err := device.ListClips(ctx, state)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := newJSONEncoder(out)
				if clips == nil {
					clips = []api.Clip{}
				}
				return enc.Encode(clips)
			}
			if len(clips) == 0 {
				fmt.Fprintln(out, "no clips")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTART\tEND\tDURATION\tSIZE\tTRIGGER\tPATH")
			for _, c := range clips {
				trigger := c.Trigger
				if c.Recording {
					trigger += " (recording)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%.1fs\t%s\t%s\t%s\n", c.ID,
					c.Start.Local().Format(time.DateTime), c.End.Local().Format(time.TimeOnly),
					c.Duration, humanBytes(c.Size), trigger, c.Path)
			}
			return tw.Flush()
		},
	}
	stateFlag(cmd, &state)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func newEventsCmd() *cobra.Command {
	var (
		state  string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "List the motion and rings that have no video (the camera was stalled)",
		Long: "List the sensor events the device noted without video: a ring or motion while the camera\n" +
			"was stalled. Recording resumes with the camera's first frame if it is back within the\n" +
			"post-roll; that clip is in doorward clips.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := controlContext(cmd)
			defer cancel()
			evs, err := device.ListEvents(ctx, state)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if evs == nil {
					evs = []api.Event{}
				}
				return newJSONEncoder(out).Encode(evs)
			}
			if len(evs) == 0 {
				fmt.Fprintln(out, "no events without video")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tEVENT\tNOTE")
			for _, e := range evs {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Time.Local().Format(time.DateTime), e.Kind, e.Note)
			}
			return tw.Flush()
		},
	}
	stateFlag(cmd, &state)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "doorward %s\n", version)
		},
	}
}

// newJSONEncoder writes indented JSON, as every --json flag prints it.
func newJSONEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc
}

// controlContext bounds a command that asks the running agent, so that none
// may hang.
func controlContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), 15*time.Second)
}

func newStatusCmd() *cobra.Command {
	var (
		state  string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running agent's status: owners, recording, camera, last event, disk, clock",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := controlContext(cmd)
			defer cancel()
			resp, err := device.Call(ctx, state, api.ControlRequest{Op: api.OpStatus})
			if errors.Is(err, device.ErrNoAgent) {
				return fmt.Errorf("%w: start one first (doorward run --state %s)", err, state)
			}
			if err != nil {
				return err
			}
			if resp.Status == nil {
				return errors.New("status: the agent sent no status")
			}
			if asJSON {
				return newJSONEncoder(cmd.OutOrStdout()).Encode(resp.Status)
			}
			resp.Status.WriteText(cmd.OutOrStdout())
			return nil
		},
	}
	stateFlag(cmd, &state)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
