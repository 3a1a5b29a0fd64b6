// Package execsrc is the camera source that runs a command writing H.264
// (Annex-B) to its standard output — rpicam-vid, libcamera-vid or ffmpeg —
// and cuts the stream into access units.
//
// The child runs in its own process group. When it exits it is restarted
// with a capped exponential backoff, and its exit status is logged once per
// restart. A child that stays alive but stops writing frames is found by
// the capture.Hub's stall watchdog, which calls Restart: the child's process
// group is stopped as on Close and the command restarted with the same
// backoff; its standard error is forwarded to the log line by line, rate
// limited. Close stops it with SIGTERM, then SIGKILL after a grace period,
// and reaps it. A stream that is not H.264 Annex-B (no start code, or an
// access unit over the limit) is a configuration error: ReadFrame returns it
// and the command is not restarted.
package execsrc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/austream"
	"github.com/doorward/doorward/device/backoff"
	"github.com/doorward/doorward/device/clock"
)

var (
	_ capture.Source    = (*Source)(nil)
	_ capture.Restarter = (*Source)(nil)
)

// Defaults for the zero fields of Config.
const (
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
	DefaultKillGrace  = 2 * time.Second
	// BackoffJitter is the random fraction taken off each wait before a
	// restart (see device/backoff).
	BackoffJitter = 0.2
	// stableRun is how long a child must have run for the backoff to start
	// again from MinBackoff when it exits.
	stableRun = 30 * time.Second
)

// Config describes the command and how the source treats it.
type Config struct {
	// Command is the program and its arguments; the program is looked up in
	// PATH.
	Command []string
	// Log receives state changes and the child's standard error.
	Log *slog.Logger
	// Clock stamps frames and paces restarts.
	Clock clock.Clock
	// MaxAU limits one access unit (austream.DefaultMaxAU when 0).
	MaxAU int
	// MinBackoff and MaxBackoff bound the wait before a restart, which
	// doubles after each quick exit (less up to BackoffJitter of it).
	MinBackoff, MaxBackoff time.Duration
	// KillGrace is how long the child has to exit after SIGTERM (or after
	// closing its stdout). It is real time, not Clock time: it paces a real
	// process.
	KillGrace time.Duration
	// StderrLines and StderrEvery rate-limit forwarded stderr lines: a burst
	// of StderrLines, then one per StderrEvery (default 20 and 1 s).
	StderrLines int
	StderrEvery time.Duration
}

// Source runs the command and yields its access units. ReadFrame must not be
// called from several goroutines at once; Close may be called from any.
type Source struct {
	cfg  Config
	path string
	log  *slog.Logger
	clk  clock.Clock

	*capture.Feed // ReadFrame, and the hand-off to it
	done          chan struct{}
	restart       chan struct{} // Restart's request, for the running child
	stalled       atomic.Bool   // the current child is being stopped for a stall
	started       atomic.Uint64 // children started

	// Owned by the reader goroutine of the current child.
	split *austream.Splitter
}

// New checks the config, starts the command and returns the source.
func New(cfg Config) (*Source, error) {
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		return nil, errors.New("execsrc: camera.command is empty (valid: a program writing H.264 to stdout, e.g. [rpicam-vid, -t, \"0\", --codec, h264, --inline, -o, \"-\"])")
	}
	path, err := exec.LookPath(cfg.Command[0])
	if err != nil {
		return nil, fmt.Errorf("execsrc: camera.command[0] %q: %w (install it, or give its absolute path)", cfg.Command[0], err)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		return nil, errors.New("execsrc: no clock (pass clock.Real{})")
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = DefaultKillGrace
	}
	if cfg.StderrLines <= 0 {
		cfg.StderrLines = 20
	}
	if cfg.StderrEvery <= 0 {
		cfg.StderrEvery = time.Second
	}
	s := &Source{
		cfg: cfg, path: path, log: cfg.Log.With("source", "exec", "command", cfg.Command[0]), clk: cfg.Clock,
		Feed:    capture.NewFeed(4),
		done:    make(chan struct{}),
		restart: make(chan struct{}, 1),
		split:   austream.New(cfg.MaxAU),
	}
	go s.run()
	return s, nil
}

// Close stops the command (SIGTERM to its process group, SIGKILL after the
// grace period), reaps it and waits for the source's goroutines.
func (s *Source) Close() error {
	s.Feed.Close()
	<-s.done
	return nil
}

// Restart stops the running child (SIGTERM to its process group, SIGKILL
// after the grace period), as for a child that stalled; run starts the
// command again with its backoff. A request that finds no child running
// (between restarts) is dropped.
func (s *Source) Restart() {
	select {
	case s.restart <- struct{}{}:
	default:
	}
}

// Started counts the children started.
func (s *Source) Started() uint64 { return s.started.Load() }

// run owns the child processes: start, watch, restart with backoff.
func (s *Source) run() {
	defer close(s.done)
	wait := backoff.New(backoff.Policy{Min: s.cfg.MinBackoff, Max: s.cfg.MaxBackoff, Jitter: BackoffJitter, Clock: s.clk})
	restarts := 0
	for {
		began := s.clk.Now()
		status, stalled, err := s.runChild(restarts)
		if err != nil {
			s.log.Error("camera command failed; not restarting", "err", err)
			s.Fail(err)
			return
		}
		select {
		case <-s.Closed():
			return
		default:
		}
		if s.clk.Now().Sub(began) >= stableRun {
			wait.Reset()
		}
		restarts++
		in := wait.Next()
		if stalled {
			s.log.Warn("camera command stalled; stopped it, restarting", "status", status, "restart", restarts, "in", in.Round(time.Millisecond))
		} else {
			s.log.Warn("camera command exited; restarting", "status", status, "restart", restarts, "in", in.Round(time.Millisecond))
		}
		select {
		case <-s.Closed():
			return
		case <-s.clk.After(in):
		}
	}
}

// runChild runs the command once, until it exits, Restart stops it
// (stalled) or the source closes. It returns the exit status, or an error
// that must end the source.
func (s *Source) runChild(restarts int) (status string, stalled bool, fatal error) {
	select {
	case <-s.restart: // asked before this child existed
	default:
	}
	s.stalled.Store(false)
	outR, outW, err := os.Pipe()
	if err != nil {
		return "", false, fmt.Errorf("execsrc: stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return "", false, fmt.Errorf("execsrc: stderr pipe: %w", err)
	}
	cmd := &exec.Cmd{
		Path:        s.path,
		Args:        s.cfg.Command,
		Stdout:      outW,
		Stderr:      errW,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		// A start failure (exec format error, permission) is retried like
		// an exit: the binary may be in the middle of an upgrade.
		return "start failed: " + err.Error(), false, nil
	}
	pgid := cmd.Process.Pid
	s.started.Add(1)
	if restarts == 0 {
		s.log.Info("camera command started", "pid", pgid, "args", strings.Join(s.cfg.Command, " "))
	} else {
		s.log.Info("camera command restarted", "pid", pgid, "restart", restarts)
	}

	stderrDone := make(chan struct{})
	go func() {
		defer close(stderrDone)
		s.forwardStderr(errR)
	}()
	readDone := make(chan error, 1)
	go func() { readDone <- s.readStream(outR) }()
	waitDone := make(chan error, 1)
	go func() { waitDone <- cmd.Wait() }()

	var (
		waitErr  error
		exited   bool
		streamOK = true
		result   error
	)
	stop := func() {
		if exited {
			return
		}
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case waitErr = <-waitDone:
		case <-graceTimer(s.cfg.KillGrace):
			s.log.Warn("camera command ignored SIGTERM; killing it", "pid", pgid, "grace", s.cfg.KillGrace)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			waitErr = <-waitDone
		}
		exited = true
	}
	select {
	case <-s.Closed():
		stop()
	case <-s.restart:
		stalled = true
		s.stalled.Store(true)
		stop()
	case rerr := <-readDone:
		readDone <- rerr
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			streamOK, result = false, rerr
			stop()
		} else {
			// Stdout closed: the child is exiting, or closed it and lingers.
			select {
			case waitErr = <-waitDone:
				exited = true
			case <-s.Closed():
				stop()
			case <-s.restart:
				stalled = true
				s.stalled.Store(true)
				stop()
			case <-graceTimer(s.cfg.KillGrace):
				stop()
			}
		}
	case waitErr = <-waitDone:
		exited = true
	}
	// Whatever of the group is left (a helper the child started) goes too,
	// so that the pipes close and nothing outlives the source.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	outR.Close()
	<-readDone
	errR.Close()
	<-stderrDone
	if !streamOK {
		return "", false, result
	}
	return exitStatus(waitErr), stalled, nil
}

// graceTimer is time.After for the kill grace period, with a timer that is
// collected when it is dropped (Go 1.23 timers).
func graceTimer(d time.Duration) <-chan time.Time { return time.NewTimer(d).C }

// exitStatus describes how a child ended.
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// readStream cuts r into frames until it ends or the source closes. It
// returns io.EOF at the end of the stream, or the splitter's error.
func (s *Source) readStream(r io.Reader) error {
	s.split.Reset()
	for {
		_, err := s.split.Fill(r)
		if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
			if !s.stalled.Load() {
				// The last access unit ends with the stream. Not so for a
				// child stopped in a stall: what it left half-written is
				// not a frame of now.
				s.split.Flush()
			}
			err = io.EOF
		}
		var serr error
		if err != nil && !errors.Is(err, io.EOF) {
			if errors.Is(err, austream.ErrNoStartCode) || errors.Is(err, austream.ErrTooLarge) {
				serr = fmt.Errorf("execsrc: output of %s: %w", s.cfg.Command[0], err)
			} else {
				serr = fmt.Errorf("execsrc: reading output of %s: %w", s.cfg.Command[0], err)
			}
		}
		for au, ok := s.split.Next(); ok; au, ok = s.split.Next() {
			if !s.emit(au) {
				return io.EOF
			}
		}
		if serr != nil {
			return serr
		}
		if err != nil {
			return err
		}
	}
}

// emit hands one access unit to ReadFrame; false when the source closed.
func (s *Source) emit(au austream.AU) bool { return s.Put(au.Data, au.Key, s.clk.Now()) }

// forwardStderr logs the child's stderr lines (ffmpeg ends progress lines
// with \r), rate-limited, and keeps draining after a line too long to scan
// so the child never blocks on a full pipe.
func (s *Source) forwardStderr(r io.Reader) {
	lim := rate.NewLimiter(rate.Every(s.cfg.StderrEvery), s.cfg.StderrLines)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 16<<10)
	sc.Split(scanLines)
	dropped := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if !lim.AllowN(s.clk.Now(), 1) {
			dropped++
			continue
		}
		if dropped > 0 {
			s.log.Warn("camera command stderr: lines suppressed", "lines", dropped)
			dropped = 0
		}
		s.log.Info("camera command stderr", "line", line)
	}
	if dropped > 0 {
		s.log.Warn("camera command stderr: lines suppressed", "lines", dropped)
	}
	_, _ = io.Copy(io.Discard, r)
}

// scanLines splits at \n or \r.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
