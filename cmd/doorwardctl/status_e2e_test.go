package main

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/uplink/mqtttest"
)

// Both status commands show the camera's measured fps and bitrate, the
// retention horizon at the current rate, and the uplink with its queue.
func TestStatusMeasuredE2E(t *testing.T) {
	b := e2e(t)
	dir := t.TempDir()
	broker := mqtttest.Start(t, mqtttest.Options{})
	d := startDevice(t, b, filepath.Join(dir, "state"), writeConfig(t, dir, "mqtt:\n  broker: "+broker.URL+"\n"))
	owner := newHome(t, b)
	pairOwner(t, b, d, owner)
	d.recordClip(2)

	var st api.Status
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := json.Unmarshal([]byte(mustCtl(t, b, owner.dir, "status", "-i", owner.key, "--json")), &st); err != nil {
			t.Fatal(err)
		}
		if st.FPS > 0 && st.Uplink != nil && st.Uplink.Connected && st.RetentionDays > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed fps, a connected uplink and a retention horizon: %+v %+v", st, st.Uplink)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The sim camera runs at about 30 fps; its clip is a few hundred kb/s.
	if st.FPS < 10 || st.FPS > 60 || st.BitsPerSecond < 10e3 || st.BitsPerSecond > 50e6 {
		t.Errorf("measured %v fps, %v b/s", st.FPS, st.BitsPerSecond)
	}
	if st.StoredPerDay <= 0 || st.RetentionDays > 7 {
		t.Errorf("stored %d B/day, retention %v days (max_age is 7 days)", st.StoredPerDay, st.RetentionDays)
	}
	text := mustCtl(t, b, owner.dir, "status", "-i", owner.key)
	for _, want := range []string{"fps,", "Mb/s (measured)", "days of footage at the current rate", "uplink:     connected to the broker;", "queued"} {
		if !strings.Contains(text, want) {
			t.Errorf("doorwardctl status lacks %q:\n%s", want, text)
		}
	}
	out, err := exec.Command(b.doorward, "status", "--state", d.state).CombinedOutput()
	if err != nil {
		t.Fatalf("doorward status: %v\n%s", err, out)
	}
	for _, want := range []string{"fps,", "days of footage at the current rate", "uplink:     connected to the broker;",
		"owners:     1 owner recipient(s): clips are encrypted to them; paired", "recording:  no (waiting for motion or a ring)", "last event: motion at ", "clock:      synchronized"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("doorward status lacks %q:\n%s", want, out)
		}
	}
	// A clip being recorded shows as such, on both sides.
	if out, err := exec.Command(b.doorward, "trigger", "ring", "--state", d.state).CombinedOutput(); err != nil {
		t.Fatalf("trigger: %v %s", err, out)
	}
	if text := mustCtl(t, b, owner.dir, "status", "-i", owner.key); !strings.Contains(text, "recording:  yes") || !strings.Contains(text, "last event: ring at ") {
		t.Errorf("doorwardctl status while recording after a ring:\n%s", text)
	}
	exec.Command(b.doorward, "trigger", "ring", "--state", d.state).Run() // keep it open (post-roll 2 s)
	if out, _ := exec.Command(b.doorward, "status", "--state", d.state).CombinedOutput(); !strings.Contains(string(out), "recording:  yes") {
		t.Errorf("doorward status while recording:\n%s", out)
	}

	// The broker goes away: the uplink says so.
	broker.Stop()
	deadline = time.Now().Add(20 * time.Second)
	for {
		text = mustCtl(t, b, owner.dir, "status", "-i", owner.key)
		if strings.Contains(text, "uplink:     NOT connected to the broker") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status after the broker stopped:\n%s", text)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Without mqtt.broker the uplink is off, and before any clip there is no
// rate to give a retention horizon.
func TestStatusUplinkOffE2E(t *testing.T) {
	b := e2e(t)
	dir := t.TempDir()
	d := startDevice(t, b, filepath.Join(dir, "state"), writeConfig(t, dir, ""))
	owner := newHome(t, b)
	pairOwner(t, b, d, owner)
	text := mustCtl(t, b, owner.dir, "status", "-i", owner.key)
	for _, want := range []string{"uplink:     off (no mqtt.broker in the config)", "retention:  no footage yet"} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
}

// Refused statements appear in the agent's log with their kind and reason,
// a flood of them as one line, and never a secret: not the token's ID,
// case or recipient, nor, while its notice is delayed, anything that names
// the token that was then accepted.
func TestRefusalsInTheLogE2E(t *testing.T) {
	b := e2e(t)
	dir := t.TempDir()
	_, pubA := issuerKey(t, b, dir, "court-a")
	_, pubB := issuerKey(t, b, dir, "court-b")
	legal := "legal:\n  issuers:\n    - {name: court-a, role: court, public_key: \"" + pubA + "\"}\n    - {name: court-b, role: court, public_key: \"" + pubB + "\"}\n  quorum: {court: 2}\n"
	d := startDevice(t, b, filepath.Join(dir, "state"), writeConfig(t, dir, legal))
	owner := newHome(t, b)
	pairOwner(t, b, d, owner)
	agency := newHome(t, b)

	// A token with one of two signatures, asking for a delayed notice.
	const caseID = "2026-CR-SECRET-77"
	jti := strings.TrimSpace(mustCtl(t, b, dir, "token", "issue", "-i", filepath.Join(dir, "court-a.key"), "--device", d.info().DeviceID,
		"--basis", "warrant", "--case", caseID, "--jurisdiction", "US-CA", "--order", writeFile(t, dir, "order.pdf", "x"),
		"--from", "-1h", "--until", "now", "--to", agency.recipient, "--notify-after", "+1h", "-o", "tok.json"))
	wantFail(t, ctl(t, b, dir, "", "token", "submit", "--device", d.url, "tok.json"), "quorum-not-met")
	// Then cosigned and accepted, its notice delayed by an hour.
	mustCtl(t, b, dir, "token", "cosign", "-i", filepath.Join(dir, "court-b.key"), "tok.json")
	mustCtl(t, b, dir, "token", "submit", "--device", d.url, "tok.json")
	// Garbage grants from anyone on the LAN, ten times.
	for range 10 {
		resp, err := http.Post(d.url+"/api/v1/grants", "application/json", strings.NewReader(`{"payload":"eyJ9","signatures":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusForbidden {
			t.Fatalf("a garbage grant: %s", resp.Status)
		}
	}

	deadline := time.Now().Add(5 * time.Second)
	var log string
	for {
		log = d.output()
		if strings.Contains(log, "kind=grant-refused") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var refusals []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `msg="statement refused"`) {
			refusals = append(refusals, l)
		}
	}
	has := func(parts ...string) int {
		n := 0
		for _, l := range refusals {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(l, p)
			}
			if all {
				n++
			}
		}
		return n
	}
	if has("kind=token-refused", "reason=quorum-not-met", "authenticated=true") != 1 {
		t.Errorf("the refused token is not one line with its kind and reason:\n%s", strings.Join(refusals, "\n"))
	}
	if has("kind=grant-refused", "authenticated=false") != 1 {
		t.Errorf("ten garbage grants are not one line:\n%s", strings.Join(refusals, "\n"))
	}
	for _, secret := range []string{jti, caseID, agency.recipient, "legal token accepted"} {
		if strings.Contains(log, secret) {
			t.Errorf("the agent log shows %q before the notice is due:\n%s", secret, log)
		}
	}
	if !strings.Contains(log, "its owner notice is delayed") {
		t.Errorf("the delayed acceptance is not logged at all:\n%s", log)
	}
}
