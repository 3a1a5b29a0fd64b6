package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/device/events"
	"github.com/doorward/doorward/uplink/mqtttest"
)

// TestEventsCLI: with mqtt.broker in its config the agent publishes its
// events encrypted; `doorwardctl events --follow --json` with the owner key
// prints them as they come, and without --follow prints what the broker
// kept for its session while it was away.
func TestEventsCLI(t *testing.T) {
	b := e2e(t)
	broker := mqtttest.Start(t, mqtttest.Options{})
	h := newHome(t, b)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "owner_recipients: ["+h.recipient+"]\nmqtt:\n  broker: "+broker.URL+"\n")
	d := startDevice(t, b, filepath.Join(dir, "state"), cfg)
	id := d.info().DeviceID

	follow := exec.Command(b.doorwardctl, "events", "--broker", broker.URL, "--device", id, "-i", h.key, "--follow", "--json")
	follow.Dir = h.dir
	out, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { follow.Process.Kill(); follow.Wait() }()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	time.Sleep(time.Second) // it connects and subscribes
	trigger := func(kind string) {
		t.Helper()
		if out, err := exec.Command(b.doorward, "trigger", kind, "--state", d.state).CombinedOutput(); err != nil {
			t.Fatalf("doorward trigger %s: %v\n%s", kind, err, out)
		}
	}
	trigger("ring")
	select {
	case l := <-lines:
		var e events.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Kind != events.Ring || e.Time.IsZero() {
			t.Fatalf("events --json printed %q (%v), want a ring event", l, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no event printed within 15 s\nagent:\n%s", d.output())
	}
	follow.Process.Kill()
	follow.Wait()

	// Away: the broker keeps what comes for the session.
	trigger("motion")
	time.Sleep(time.Second)
	got := mustCtl(t, b, h.dir, "events", "--broker", broker.URL, "--device", id, "-i", h.key)
	if !strings.Contains(got, "motion") {
		t.Fatalf("events printed %q, want the motion sent while it was away", got)
	}
	// A stranger's key opens nothing, even with the broker handing it
	// every event.
	stranger := newHome(t, b)
	args := []string{"events", "--broker", broker.URL, "--device", id, "-i", stranger.key, "--client-id", "stranger"}
	mustCtl(t, b, stranger.dir, args...) // the broker now keeps a session for it
	trigger("ring")
	time.Sleep(time.Second)
	r := ctl(t, b, stranger.dir, "", args...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "" || !strings.Contains(r.stderr, "does not open with") {
		t.Fatalf("a stranger's key: exit %d, stdout %q, stderr %q; want nothing printed and a warning", r.code, r.stdout, r.stderr)
	}
}
