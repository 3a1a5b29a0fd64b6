package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/device/api"
)

// A camera command that writes 3 s of H.264 and then hangs without exiting
// (issue 12), run by the real agent from the config file's camera section:
// the agent logs the stall within stall_timeout + 1 s, stops and restarts
// the command, and records again; the clip that spanned the stall decrypts
// and plays with timestamps that never go backwards; a ring during the
// stall is listed by doorward events with its time.
func TestCameraStallE2E(t *testing.T) {
	skipShort(t)
	t.Parallel()
	key, recipient := ownerKey(t)
	dir := t.TempDir()
	pids := filepath.Join(dir, "camera.pids")
	// Runs after the first wait 2 s before their first frame: a camera slow
	// to come back, so that the test can ring while it is down.
	command, _ := json.Marshal(capturetest.HangingCamera(t, 3, 2*time.Second, pids))
	config := filepath.Join(dir, "doorward.yaml")
	os.WriteFile(config, []byte("camera:\n  source: exec\n  command: "+string(command)+"\n  stall_timeout: 1s\n"+
		"recording:\n  pre_roll: 1s\n  post_roll: 15s\n"), 0o600)
	state := filepath.Join(dir, "state")
	a := startAgent(t, state, nil, "--owner-recipient", recipient, "--config", config)

	waitLog(t, a, "stream parameters", 1, 15*time.Second) // frames are flowing
	mustRun(t, bins.doorward, "trigger", "ring", "--state", state)

	// The camera hangs after 3 s: the stall is logged once, within the
	// timeout plus 1 s of its last frame.
	stallLine := waitLog(t, a, "camera stalled: no frame", 1, 15*time.Second)
	since := regexp.MustCompile(`since_last_frame=([0-9.]+m?s)`).FindStringSubmatch(stallLine)
	if since == nil {
		t.Fatalf("stall log line lacks since_last_frame: %s", stallLine)
	}
	if d, err := time.ParseDuration(since[1]); err != nil || d < time.Second || d > 2*time.Second {
		t.Errorf("stall logged %s after the last frame, want within stall_timeout (1s) + 1 s", since[1])
	}
	// A ring while the camera is down.
	rang := time.Now()
	mustRun(t, bins.doorward, "trigger", "ring", "--state", state)
	if strings.Contains(a.output(), "camera back") {
		t.Fatal("the camera came back before the ring: the test did not ring during the stall")
	}

	// The command is stopped and restarted, and frames come back.
	waitLog(t, a, "camera command stalled; stopped it, restarting", 1, 10*time.Second)
	waitLog(t, a, "camera command restarted", 1, 10*time.Second)
	waitLog(t, a, "camera back", 1, 15*time.Second)
	first, _, _ := strings.Cut(readFile(t, pids), "\n")
	if pid, err := strconv.Atoi(first); err != nil {
		t.Fatalf("pid file: %q", readFile(t, pids))
	} else if err := syscall.Kill(pid, 0); err == nil && !zombie(pid) {
		t.Errorf("the hung camera command (pid %d) still runs after its restart", pid)
	}

	// The clip that spanned the stall: ring, stall, ring, frames again,
	// until the post-roll ends (15 s after the second ring).
	cs := waitClosedClips(t, state, 1, 40*time.Second)
	if len(cs) != 1 || cs[0].Trigger != "ring" {
		t.Fatalf("clips %+v, want the one clip that spanned the stall", cs)
	}
	c := cs[0]
	out := filepath.Join(t.TempDir(), "clip.mp4")
	mustRun(t, bins.doorwardctl, "decrypt", "-i", key, c.Path, "-o", out)
	p := capturetest.ProbeFile(t, out, true)
	if p.Codec != "h264" || !p.FirstKey || p.Frames < 90 {
		t.Errorf("decrypted clip: %+v, want h264 from a keyframe, with the frames from both sides of the stall", p)
	}
	packets := capturetest.Packets(t, out)
	gap := capturetest.CheckMonotonic(t, packets)
	if gap < 2 {
		t.Errorf("longest step between frames %.2f s: the clip does not reach across the stall", gap)
	}
	if after := packets[len(packets)-1].PTS - packets[0].PTS; after < gap+1 {
		t.Errorf("the clip has %.2f s of video after a %.2f s gap: it did not record again after the restart", after-gap, gap)
	}

	// The ring during the stall is listed, with its time and a note.
	var evs []api.Event
	if err := json.Unmarshal([]byte(mustRun(t, bins.doorward, "events", "--state", state, "--json")), &evs); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Kind != "ring" || evs[0].Time.Sub(rang).Abs() > 2*time.Second || !strings.Contains(evs[0].Note, "no video") {
		t.Errorf("events %+v, want the ring at %v noted without video", evs, rang)
	}
	table := mustRun(t, bins.doorward, "events", "--state", state)
	if !strings.Contains(table, "ring") || !strings.Contains(table, evs[0].Time.Local().Format(time.DateTime)) {
		t.Errorf("doorward events:\n%s", table)
	}
	a.stop()
	if found := capturetest.ScanPlaintext(t, state); len(found) > 0 {
		t.Errorf("plaintext video at rest: %+v", found)
	}
	// A stopped agent's log reads the same.
	if offline := mustRun(t, bins.doorward, "events", "--state", state); offline != table {
		t.Errorf("offline events:\n%s\nwant:\n%s", offline, table)
	}
}

// waitLog waits until the agent logged s n times and returns the line of
// its n-th occurrence.
func waitLog(t *testing.T, a *agent, s string, n int, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var found []string
		for _, line := range strings.Split(a.output(), "\n") {
			if strings.Contains(line, s) {
				found = append(found, line)
			}
		}
		if len(found) >= n {
			return found[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v the agent logged %q %d times, want %d", timeout, s, len(found), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// zombie reports whether pid has exited and awaits its reaper.
func zombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	_, after, _ := strings.Cut(string(stat), ") ")
	return strings.HasPrefix(after, "Z")
}
