package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/device"
	"github.com/doorward/doorward/device/api"
)

// The binaries under test, built once by TestMain exactly as users get them.
var bins struct{ doorward, doorwardctl string }

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Every test here runs the built binaries; they skip (skipShort).
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "doorward-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.doorward = filepath.Join(dir, "doorward")
	bins.doorwardctl = filepath.Join(dir, "doorwardctl")
	for path, pkg := range map[string]string{bins.doorward: ".", bins.doorwardctl: "../doorwardctl"} {
		cmd := exec.Command("go", buildArgs("-o", path, pkg)...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", pkg, ":", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs a binary to completion and returns stdout, stderr and the exit code.
func run(t testing.TB, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return stdout.String(), stderr.String(), code
}

// mustRun runs a binary and fails the test unless it exits 0.
func mustRun(t testing.TB, bin string, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, bin, args...)
	if code != 0 {
		t.Fatalf("%s %s: exit %d\n%s%s", filepath.Base(bin), strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// ownerKey makes an owner key with doorwardctl and returns its path and recipient.
func ownerKey(t *testing.T) (string, string) { return ownerKeyTB(t) }

func ownerKeyTB(t testing.TB) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "owner.key")
	out := mustRun(t, bins.doorwardctl, "keygen", "-o", path)
	recipient, _, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(recipient, "age1") {
		t.Fatalf("keygen printed %q, want the recipient on the first line", out)
	}
	return path, recipient
}

// agent is a running `doorward run`.
type agent struct {
	t     testing.TB
	cmd   *exec.Cmd
	state string
	mu    sync.Mutex
	log   bytes.Buffer
	done  chan struct{}
	err   error
}

// startAgent starts the agent on the sim board and waits until it answers
// on its control socket.
func startAgent(t testing.TB, state string, env []string, args ...string) *agent {
	t.Helper()
	return startRun(t, state, env, append([]string{"--board", "sim", "--state", state, "--listen", "127.0.0.1:0"}, args...)...)
}

// startRun starts `doorward run` with exactly args and waits until it
// answers on the control socket in state.
func startRun(t testing.TB, state string, env []string, args ...string) *agent {
	t.Helper()
	cmd := exec.Command(bins.doorward, append([]string{"run"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	a := &agent{t: t, cmd: cmd, state: state, done: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			a.mu.Lock()
			a.log.WriteString(sc.Text() + "\n")
			a.mu.Unlock()
		}
	}()
	go func() {
		a.err = cmd.Wait()
		pw.Close()
		close(a.done)
	}()
	t.Cleanup(func() {
		select {
		case <-a.done:
		default:
			cmd.Process.Kill()
			<-a.done
		}
		if t.Failed() {
			t.Logf("agent output:\n%s", a.output())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := device.Call(ctx, state, api.ControlRequest{Op: "status"})
		cancel()
		if err == nil && resp.Status != nil {
			return a
		}
		select {
		case <-a.done:
			t.Fatalf("agent exited at start: %v\n%s", a.err, a.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent did not answer within 10 s\n%s", a.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (a *agent) output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.String()
}

// stop sends SIGTERM and checks the agent exits 0 within 5 s (it closes
// the clip being recorded first; 2 s was too tight with -race on a loaded
// 2-core machine).
func (a *agent) stop() {
	a.t.Helper()
	start := time.Now()
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(5 * time.Second):
		a.t.Fatalf("agent still running 5 s after SIGTERM")
	}
	if a.err != nil {
		a.t.Fatalf("agent exited with %v after SIGTERM (%v)", a.err, time.Since(start))
	}
}

func (a *agent) kill() {
	a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
}

func clips(t *testing.T, state string) []api.Clip {
	t.Helper()
	out := mustRun(t, bins.doorward, "clips", "--state", state, "--json")
	var cs []api.Clip
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		t.Fatalf("clips --json: %v\n%s", err, out)
	}
	return cs
}

// waitClosedClips waits until n clips exist and none is still recording.
func waitClosedClips(t *testing.T, state string, n int, timeout time.Duration) []api.Clip {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		cs := clips(t, state)
		recording := false
		for _, c := range cs {
			recording = recording || c.Recording
		}
		if len(cs) >= n && !recording {
			return cs
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: clips %+v, want %d closed", timeout, cs, n)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// decrypt opens a clip directory with doorwardctl and probes the MP4.
func decrypt(t *testing.T, key, dir string) capturetest.Probe {
	t.Helper()
	out := filepath.Join(t.TempDir(), "clip.mp4")
	mustRun(t, bins.doorwardctl, "decrypt", "-i", key, dir, "-o", out)
	return capturetest.ProbeFile(t, out, true)
}
