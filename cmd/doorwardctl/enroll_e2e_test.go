package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/lanclient"
)

func TestEnrollResetE2E(t *testing.T) {
	b := e2e(t)
	dir := t.TempDir()
	d := startDevice(t, b, dir+"/state", writeConfig(t, dir, ""))
	owner := newHome(t, b)
	pairOwner(t, b, d, owner)
	info := d.info()

	// A second owner device is enrolled by the first.
	phone := newHome(t, b)
	wantFail(t, ctl(t, b, phone.dir, "", "notices", "--device", d.url, "-i", phone.key), "not paired with this owner key")
	intruder := newHome(t, b)
	// The intruder cannot enroll itself, even with a copied pin file.
	pin, _ := os.ReadFile(pinPath(owner.key))
	os.WriteFile(pinPath(intruder.key), pin, 0o600)
	wantFail(t, ctl(t, b, intruder.dir, "", "enroll", "--device", d.url, "-i", intruder.key, "--new", intruder.key), "unknown-key")
	wantFail(t, ctl(t, b, intruder.dir, "", "grant", "--device", d.url, "-i", intruder.key, "--to", intruder.recipient, "--from", "-1h", "--until", "now"), "unknown-key")
	wantFail(t, ctl(t, b, intruder.dir, "", "notices", "--device", d.url, "-i", intruder.key), "401")
	wantFail(t, ctl(t, b, owner.dir, "", "enroll", "--device", d.url, "-i", owner.key, "--new", phone.dir+"/none.key"), "--new")
	pq := newHome(t, b)
	mustCtl(t, b, pq.dir, "keygen", "--pq", "-o", "pq.key", "--force")
	wantFail(t, ctl(t, b, owner.dir, "", "enroll", "--device", d.url, "-i", owner.key, "--new", pq.dir+"/pq.key"), "key family")

	out := mustCtl(t, b, owner.dir, "enroll", "--device", d.url, "-i", owner.key, "--new", phone.key)
	if !strings.Contains(out, "enrolled key") || !strings.Contains(out, pinPath(phone.key)) {
		t.Errorf("enroll printed %q", out)
	}
	pins, err := loadPins(pinPath(phone.key))
	if err != nil || pins[info.DeviceID] == nil || pins[info.DeviceID].Key != info.DeviceKey {
		t.Fatalf("the new key's pin file: %v %v", pins, err)
	}
	// The phone now acts as an owner.
	mustCtl(t, b, phone.dir, "notices", "--device", d.url, "-i", phone.key)
	mustCtl(t, b, phone.dir, "grant", "--device", d.url, "-i", phone.key, "--to", phone.recipient, "--from", "-10h", "--until", "-9h")
	out = mustCtl(t, b, phone.dir, "audit", "verify", "--device", d.url, "-i", phone.key)
	if !strings.Contains(out, "enroll") {
		t.Errorf("enrollment not in the audit log:\n%s", out)
	}

	// Reset: asks first; the intruder cannot; the owner can.
	r := ctl(t, b, owner.dir, "no\n", "reset", "--device", d.url, "-i", owner.key)
	refused(t, r, "not confirmed", "nothing was sent")
	if !d.info().Paired {
		t.Fatal("a declined reset reset the device")
	}
	wantFail(t, ctl(t, b, intruder.dir, "", "reset", "--yes", "--device", d.url, "-i", intruder.key), "unknown-key")
	r = ctl(t, b, owner.dir, "y\n", "reset", "--device", d.url, "-i", owner.key)
	if r.code != 0 || !strings.Contains(r.stdout, "erasing itself") || !strings.Contains(r.stdout, "comes back unpaired") {
		t.Fatalf("reset: %+v", r)
	}
	if pins, _ := loadPins(pinPath(owner.key)); pins[info.DeviceID] != nil {
		t.Error("the reset device is still pinned")
	}
	// It comes back unpaired in place, with a new identity: the same
	// process, which never exits.
	pid := d.cmd.Process.Pid
	var now api.Info
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c, err := lanclient.New(d.url); err == nil {
			if i, err := c.Info(context.Background()); err == nil && i.DeviceKey != info.DeviceKey {
				now = i
				break
			}
		}
		select {
		case <-d.done:
			t.Fatalf("the agent exited after an owner-signed reset: %v", d.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent did not come back with a new identity within 15 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if now.Paired || d.cmd.Process.Pid != pid {
		t.Fatalf("after reset: %+v (was %+v)", now, info)
	}
	// The log names the authority: the owner statement and its signer.
	ownerKey, err := loadOwner(owner.key)
	if err != nil {
		t.Fatal(err)
	}
	if want := `by="an owner-signed reset statement from key ` + consent.KeyID(ownerKey.SigningPublicKey()) + `"`; !strings.Contains(d.output(), want) {
		t.Errorf("the agent's log does not name the authority (%s):\n%s", want, d.output())
	}
	if strings.Contains(d.output(), "reset switch") {
		t.Errorf("the log blames the reset switch for an owner's reset:\n%s", d.output())
	}
	wantFail(t, ctl(t, b, phone.dir, "", "notices", "--device", d.url, "-i", phone.key), "DEVICE KEY MISMATCH")
	// Paired again, in the same process, it records for the owner.
	pairOwner(t, b, d, owner)
	if !d.info().Paired || d.cmd.Process.Pid != pid {
		t.Fatal("not paired again in the same process")
	}
	d.recordClip(1)
}
