package execsrc_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/austream"
	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/capture/execsrc"
	"github.com/doorward/doorward/device/clock"
	"github.com/doorward/doorward/device/clock/clocktest"
)

func newLog() (*slog.Logger, *capturetest.LogBuffer) { return capturetest.NewLogger(slog.LevelDebug) }

// ffmpegCmd writes a live 30 fps H.264 test pattern with a keyframe every
// 30 frames; with pidFile the shell records the pid ffmpeg then runs as.
func ffmpegCmd(t *testing.T, pidFile string) []string {
	ffmpeg := capturetest.Tool(t, "ffmpeg")
	args := ffmpeg + " -hide_banner -loglevel warning -re -f lavfi -i testsrc2=size=320x240:rate=30 " +
		"-c:v libx264 -preset ultrafast -profile:v baseline -x264-params keyint=30:min-keyint=30:scenecut=0 -f h264 -"
	if pidFile == "" {
		return strings.Fields(args)
	}
	return []string{"sh", "-c", "echo $$ > " + pidFile + "; exec " + args}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
			return pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", path)
	return 0
}

// gone reports whether pid has exited. A grandchild killed with the group
// is reparented to init, which reaps it (a container's init may not: a
// zombie counts as gone, it runs nothing).
func gone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	_, after, _ := strings.Cut(string(stat), ") ")
	return strings.HasPrefix(after, "Z")
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	for i := 0; i < 100 && !gone(pid); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if !gone(pid) {
		t.Fatalf("process %d still exists after Close", pid)
	}
}

func read(t *testing.T, src capture.Source, n int) []capture.Frame {
	t.Helper()
	return capturetest.ReadFrames(t, src, n, 20*time.Second)
}

func checkFrames(t *testing.T, frames []capture.Frame, prevPTS time.Duration) {
	t.Helper()
	if !frames[0].Key {
		t.Errorf("first frame is not a keyframe")
	}
	for i, f := range frames {
		if want := i%30 == 0; f.Key != want {
			t.Errorf("frame %d: key = %v, want %v (keyint 30)", i, f.Key, want)
		}
		if _, err := capture.SplitAccessUnits(f.Data); err != nil && f.Key {
			t.Errorf("keyframe %d is not a decodable access unit: %v", i, err)
		}
		if f.PTS <= prevPTS && !(i == 0 && prevPTS < 0) {
			t.Errorf("frame %d: PTS %v not after %v", i, f.PTS, prevPTS)
		}
		prevPTS = f.PTS
	}
}

func TestFFmpegFramesAndClose(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	log, lb := newLog()
	src, err := execsrc.New(execsrc.Config{Command: ffmpegCmd(t, pidFile), Log: log, Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	frames := read(t, src, 61)
	checkFrames(t, frames, -1)
	// -re paces at 30 fps: 60 frame intervals take about two seconds.
	if d := frames[60].Time.Sub(frames[0].Time); d < 1500*time.Millisecond || d > 3*time.Second {
		t.Errorf("60 frames took %v, want about 2 s at 30 fps", d)
	}
	if d := frames[60].PTS - frames[0].PTS; d < 1500*time.Millisecond {
		t.Errorf("PTS span %v for 60 frames", d)
	}
	pid := readPid(t, pidFile)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	if _, err := src.ReadFrame(context.Background()); !errors.Is(err, capture.ErrSourceClosed) {
		t.Errorf("ReadFrame after Close: %v, want ErrSourceClosed", err)
	}
	if lb.Count("camera command started") != 1 {
		t.Errorf("log:\n%s", lb)
	}
}

func TestFFmpegRestartAfterKill(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	log, lb := newLog()
	src, err := execsrc.New(execsrc.Config{Command: ffmpegCmd(t, pidFile), Log: log, Clock: clock.Real{},
		MinBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	before := read(t, src, 5)
	pid := readPid(t, pidFile)
	os.Remove(pidFile)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Frames already queued may still come; then the restarted child's
	// stream begins with a keyframe.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	last := before[len(before)-1].PTS
	var f capture.Frame
	for {
		f, err = src.ReadFrame(ctx)
		if err != nil {
			t.Fatalf("no frame after the restart: %v\nlog:\n%s", err, lb)
		}
		if f.PTS <= last {
			t.Fatalf("PTS went from %v to %v", last, f.PTS)
		}
		last = f.PTS
		if f.Key && lb.Count("camera command restarted") == 1 {
			break
		}
	}
	newPid := readPid(t, pidFile)
	if newPid == pid {
		t.Fatalf("same pid after restart")
	}
	if n := lb.Count("camera command exited; restarting"); n != 1 {
		t.Errorf("logged %d exits, want 1:\n%s", n, lb)
	}
	if !strings.Contains(lb.String(), "signal: killed") {
		t.Errorf("exit status not logged:\n%s", lb)
	}
	src.Close()
	waitGone(t, newPid)
}

// A child that ignores SIGTERM is killed after the grace period, with the
// helper it started: nothing of its process group survives Close.
func TestCloseKillsStubbornGroup(t *testing.T) {
	capturetest.Tool(t, "sh")
	dir := t.TempDir()
	script := `trap "" TERM; sleep 60 & echo $! > ` + dir + `/child; echo $$ > ` + dir + `/pid; wait`
	log, lb := newLog()
	src, err := execsrc.New(execsrc.Config{Command: []string{"sh", "-c", script}, Log: log, Clock: clock.Real{},
		KillGrace: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	pid, child := readPid(t, dir+"/pid"), readPid(t, dir+"/child")
	start := time.Now()
	src.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
	waitGone(t, pid)
	waitGone(t, child)
	if !strings.Contains(lb.String(), "ignored SIGTERM") {
		t.Errorf("log:\n%s", lb)
	}
}

func TestNotH264IsAnError(t *testing.T) {
	capturetest.Tool(t, "sh")
	src, err := execsrc.New(execsrc.Config{Command: []string{"sh", "-c", "yes not video"}, Clock: clock.Real{}, MaxAU: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = src.ReadFrame(ctx)
	if !errors.Is(err, austream.ErrNoStartCode) || !strings.Contains(err.Error(), "execsrc: output of sh") {
		t.Fatalf("err = %v, want a no-start-code error naming the command", err)
	}
	if _, err2 := src.ReadFrame(ctx); !errors.Is(err2, austream.ErrNoStartCode) {
		t.Fatalf("second ReadFrame: %v", err2)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cmd  []string
		want string
	}{
		{nil, "camera.command is empty"},
		{[]string{"no-such-camera-tool-xyz"}, `camera.command[0] "no-such-camera-tool-xyz"`},
	} {
		_, err := execsrc.New(execsrc.Config{Command: tc.cmd, Clock: clock.Real{}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q) = %v, want %q", tc.cmd, err, tc.want)
		}
	}
}

// Restarts back off 0.5 s, 1 s, 2 s ... (less up to BackoffJitter of each)
// and each exit is logged once.
func TestRestartBackoff(t *testing.T) {
	capturetest.Tool(t, "sh")
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	log, lb := newLog()
	src, err := execsrc.New(execsrc.Config{Command: []string{"sh", "-c", "echo oops >&2; exit 3"}, Log: log, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	waitFor := func(what string, n int) {
		t.Helper()
		for i := 0; i < 500 && lb.Count(what) < n; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if got := lb.Count(what); got != n {
			t.Fatalf("%q logged %d times, want %d:\n%s", what, got, n, lb)
		}
	}
	waitFor("restarting", 1)
	waitWaiter := func() {
		t.Helper()
		for i := 0; i < 500 && clk.Waiters() == 0; i++ {
			time.Sleep(5 * time.Millisecond)
		}
		if clk.Waiters() != 1 {
			t.Fatalf("%d clock waiters, want the backoff's", clk.Waiters())
		}
	}
	for i, wait := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second} {
		waitWaiter()
		shortest := time.Duration(float64(wait) * (1 - execsrc.BackoffJitter))
		clk.Advance(shortest - time.Millisecond)
		time.Sleep(50 * time.Millisecond)
		if got := lb.Count("camera command restarted"); got != i {
			t.Fatalf("restarted %d times before the %v backoff ran out", got, wait)
		}
		clk.Advance(wait - shortest + time.Millisecond)
		waitFor("camera command restarted", i+1)
		waitFor("restarting", i+2)
	}
	if !strings.Contains(lb.String(), "exit status 3") || !strings.Contains(lb.String(), "line=oops") {
		t.Errorf("log lacks the exit status or stderr:\n%s", lb)
	}
}

// A child that keeps running but stops writing frames (HangingCamera) is
// found by the Hub's watchdog within the stall timeout plus a tick, its
// process group is stopped, and the command restarted: frames come again,
// their PTS still increasing.
func TestStalledChildIsRestarted(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pids")
	log, lb := newLog()
	src, err := execsrc.New(execsrc.Config{Command: capturetest.HangingCamera(t, 2, 0, pidFile), Log: log, Clock: clock.Real{},
		MinBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	hub := capture.NewHub(log)
	hub.StallTimeout = time.Second
	sub := hub.Subscribe(256)
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- hub.Run(ctx, src) }()
	defer func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Error(err)
		}
	}()

	var (
		last            capture.Frame
		frames          int
		stalledAt       time.Time
		firstAfterStall capture.Frame
	)
	deadline := time.After(30 * time.Second)
	for firstAfterStall.Data == nil {
		select {
		case f := <-sub.C():
			if frames > 0 && f.PTS <= last.PTS {
				t.Fatalf("PTS went from %v to %v", last.PTS, f.PTS)
			}
			if stalledAt.IsZero() && lb.Count("camera stalled: no frame") > 0 {
				stalledAt = time.Now()
			}
			if !stalledAt.IsZero() {
				firstAfterStall = f
			}
			last = f
			frames++
		case <-time.After(10 * time.Millisecond):
			if stalledAt.IsZero() && lb.Count("camera stalled: no frame") > 0 {
				stalledAt = time.Now()
				if d := stalledAt.Sub(last.Time); d > 2*time.Second {
					t.Errorf("stall logged %v after the last frame, want within the 1 s timeout + 1 s", d)
				}
			}
		case <-deadline:
			t.Fatalf("no frames after a stall within 30 s (%d frames before)\n%s", frames, lb)
		}
	}
	if frames < 45 {
		t.Errorf("%d frames before the stall, want about 60 (2 s at 30 fps)", frames)
	}
	if !firstAfterStall.Key {
		t.Error("the first frame after the stall is not a keyframe")
	}
	if gap := firstAfterStall.PTS - last.PTS; gap < 0 {
		t.Errorf("PTS gap %v", gap)
	}
	if n := lb.Count("camera stalled: no frame"); n != 1 {
		t.Errorf("stall logged %d times, want once:\n%s", n, lb)
	}
	if lb.Count("camera command stalled; stopped it, restarting") != 1 || lb.Count("camera command restarted") != 1 || lb.Count("camera back") != 1 {
		t.Errorf("log:\n%s", lb)
	}
	pids, _ := os.ReadFile(pidFile)
	first, _, _ := strings.Cut(string(pids), "\n")
	pid, err := strconv.Atoi(first)
	if err != nil {
		t.Fatalf("pid file %q", pids)
	}
	waitGone(t, pid) // the hung child and its sleep are gone
}
