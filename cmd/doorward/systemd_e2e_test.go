package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/device"
	"github.com/doorward/doorward/device/api"
)

// Under systemd (a fake NOTIFY_SOCKET: a unixgram socket in the test, and
// WATCHDOG_USEC), the agent sends READY=1 and pings the watchdog while the
// camera delivers frames; when the camera hangs, the pings stop and
// GET /healthz turns from 200 to 503. Under journald (JOURNAL_STREAM) the
// log carries no timestamp of its own.
func TestSystemdNotifyWatchdogHealthz(t *testing.T) {
	skipShort(t)
	t.Parallel()
	_, recipient := ownerKey(t)
	dir := t.TempDir()
	sockPath := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var mu sync.Mutex
	var msgs []struct {
		at  time.Time
		msg string
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			msgs = append(msgs, struct {
				at  time.Time
				msg string
			}{time.Now(), string(buf[:n])})
			mu.Unlock()
		}
	}()
	count := func(msg string, since time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, m := range msgs {
			if m.at.After(since) && strings.Contains(m.msg, msg) {
				n++
			}
		}
		return n
	}

	// A camera that sends 4 s of frames, then hangs; restarted, it waits a
	// minute before its first frame.
	command, _ := json.Marshal(capturetest.HangingCamera(t, 4, time.Minute, filepath.Join(dir, "camera.pids")))
	config := filepath.Join(dir, "doorward.yaml")
	os.WriteFile(config, []byte("camera:\n  source: exec\n  command: "+string(command)+"\n  stall_timeout: 1s\n"), 0o600)
	state := filepath.Join(dir, "state")
	start := time.Now()
	a := startAgent(t, state, []string{"NOTIFY_SOCKET=" + sockPath, "WATCHDOG_USEC=900000", "JOURNAL_STREAM=8:12345"},
		"--owner-recipient", recipient, "--config", config)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	resp, err := device.Call(ctx, state, api.ControlRequest{Op: "status"})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	healthz := func() (int, string) {
		r, err := http.Get("http://" + resp.Status.Listen + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}

	waitLog(t, a, "stream parameters", 1, 15*time.Second)
	time.Sleep(1500 * time.Millisecond)
	if count("READY=1", start) != 1 {
		t.Errorf("READY=1 sent %d times, want once", count("READY=1", start))
	}
	if n := count("WATCHDOG=1", start); n < 2 {
		t.Errorf("%d watchdog pings while the camera delivers, want several (WatchdogSec 0.9 s)", n)
	}
	if code, body := healthz(); code != http.StatusOK || body != "ok\n" {
		t.Errorf("healthz while healthy: %d %q, want 200 \"ok\\n\" and nothing else", code, body)
	}

	waitLog(t, a, "camera stalled: no frame", 1, 15*time.Second)
	time.Sleep(500 * time.Millisecond) // the check after the stall
	stalled := time.Now()
	time.Sleep(2 * time.Second) // more than twice the watchdog interval
	if n := count("WATCHDOG=1", stalled); n != 0 {
		t.Errorf("%d watchdog pings while the camera is stalled, want none", n)
	}
	if code, body := healthz(); code != http.StatusServiceUnavailable || body != "unhealthy\n" {
		t.Errorf("healthz while stalled: %d %q, want 503 \"unhealthy\\n\"", code, body)
	}
	a.stop()
	if strings.Contains(a.output(), "time=") {
		t.Errorf("under journald the log carries its own timestamps:\n%s", a.output())
	}
}
