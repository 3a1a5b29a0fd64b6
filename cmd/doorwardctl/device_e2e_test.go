package main

// End-to-end tests of --device (a LAN URL, a device ID or a name from the
// pin file; optional with one paired device), doorwardctl devices, and
// errors written for people, through the built binaries.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/doorward/doorward/cmd/clidoc"
)

func TestDeviceByNameIDOrAloneE2E(t *testing.T) {
	b := e2e(t)
	dir := t.TempDir()
	d := startDevice(t, b, filepath.Join(dir, "state"), writeConfig(t, dir, ""))
	owner := newHome(t, b)
	wantFail(t, ctl(t, b, owner.dir, "", "pair", "--device", d.url, "--code", d.pairCode(), "-i", owner.key, "--yes", "--name", "front door"), "--name", "letters, digits")
	mustCtl(t, b, owner.dir, "pair", "--device", d.url, "--code", d.pairCode(), "-i", owner.key, "--yes", "--name", "frontdoor")
	id := d.info().DeviceID

	// devices lists it, as a table and as JSON.
	out := mustCtl(t, b, owner.dir, "devices", "-i", owner.key)
	if !regexp.MustCompile(`(?m)^` + id + `\s+frontdoor\s+` + regexp.QuoteMeta(d.url) + `\s`).MatchString(out) {
		t.Errorf("devices:\n%s", out)
	}
	var listed []struct{ ID, Name, URL string }
	if err := json.Unmarshal([]byte(mustCtl(t, b, owner.dir, "devices", "-i", owner.key, "--json")), &listed); err != nil || len(listed) != 1 || listed[0].ID != id || listed[0].Name != "frontdoor" || listed[0].URL != d.url {
		t.Errorf("devices --json: %+v %v", listed, err)
	}

	// The same status by URL, by ID, by name and with no --device.
	for _, dev := range [][]string{{"--device", d.url}, {"--device", id}, {"--device", "frontdoor"}, nil} {
		args := append([]string{"status", "-i", owner.key}, dev...)
		if out := mustCtl(t, b, owner.dir, args...); !strings.Contains(out, "owners") {
			t.Errorf("status %v:\n%s", dev, out)
		}
	}
	wantFail(t, ctl(t, b, owner.dir, "", "status", "-i", owner.key, "--device", "backdoor"), "--device backdoor", "doorwardctl devices")

	// devices rename; the new name works, the old one no longer.
	mustCtl(t, b, owner.dir, "devices", "rename", "-i", owner.key, "frontdoor", "porch")
	mustCtl(t, b, owner.dir, "clips", "-i", owner.key, "--device", "porch")
	wantFail(t, ctl(t, b, owner.dir, "", "clips", "-i", owner.key, "--device", "frontdoor"), "frontdoor")

	// A key that paired with nothing must be told to give a URL.
	stranger := newHome(t, b)
	wantFail(t, ctl(t, b, stranger.dir, "", "status", "-i", stranger.key), "no device is paired with", "--device URL")
	// A stranger's key with the URL: not paired, said without Go package names.
	r := ctl(t, b, stranger.dir, "", "status", "-i", stranger.key, "--device", d.url)
	wantFail(t, r, "not paired with this owner key")
	noPackagePrefix(t, r.stderr)
}

// A refusal by the device reads "refused by the device (STATUS REASON):
// what it said", the reason once, and no error names a Go package.
func TestErrorsForPeopleE2E(t *testing.T) {
	b := e2e(t)
	dir := t.TempDir()
	_, pubA := issuerKey(t, b, dir, "court-a")
	_, pubB := issuerKey(t, b, dir, "court-b")
	legal := "legal:\n  issuers:\n    - {name: court-a, role: court, public_key: \"" + pubA + "\"}\n    - {name: court-b, role: court, public_key: \"" + pubB + "\"}\n  quorum: {court: 2}\n"
	d := startDevice(t, b, filepath.Join(dir, "state"), writeConfig(t, dir, legal))
	owner := newHome(t, b)
	pairOwner(t, b, d, owner)
	id := d.info().DeviceID

	mustCtl(t, b, dir, "token", "issue", "-i", filepath.Join(dir, "court-a.key"), "--device", id, "--basis", "warrant", "--case", "C-1",
		"--jurisdiction", "US-CA", "--order", writeFile(t, dir, "order.pdf", "the order"), "--from", "-1h", "--until", "now",
		"--to", owner.recipient, "-o", "tok.json")
	r := ctl(t, b, dir, "", "token", "submit", "--device", d.url, "tok.json")
	wantFail(t, r, "token submit: refused by the device (403 quorum-not-met): ")
	if strings.Count(r.stderr, "quorum-not-met") != 1 {
		t.Errorf("the reason code is not said once: %q", r.stderr)
	}
	noPackagePrefix(t, r.stderr)

	// Revoking a grant that does not exist: the device's 404, for people.
	r = ctl(t, b, owner.dir, "", "revoke", "-i", owner.key, "no-such-grant")
	if r.code != 1 || !strings.Contains(r.stderr, "refused by the device (404") {
		t.Errorf("revoke of an unknown grant: %+v", r)
	}
	noPackagePrefix(t, r.stderr)

	// Local errors too: a damaged key file.
	writeFile(t, dir, "bad.key", "hello\n")
	r = ctl(t, b, dir, "", "status", "-i", "bad.key", "--device", d.url)
	wantFail(t, r, "bad.key")
	noPackagePrefix(t, r.stderr)
}

// noPackagePrefix fails when text names one of the project's Go packages
// as a message prefix ("consent: ", "lanclient: ").
func noPackagePrefix(t *testing.T, text string) {
	t.Helper()
	for _, p := range clidoc.Packages {
		if slices.Contains(clidoc.Words, p) {
			continue
		}
		if regexp.MustCompile(`(^|: |\()` + p + `: `).MatchString(strings.TrimPrefix(text, "doorwardctl: ")) {
			t.Errorf("%q carries the Go package prefix %q", text, p+": ")
		}
	}
}

// writeFile writes text to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// policy show --yaml prints a file policy set takes (the config's legal:
// block): sent back unchanged it changes nothing; edited, it is the new
// policy, and show --yaml prints the edit. token cosign prints the claims
// it signed.
func TestPolicyYAMLRoundTripE2E(t *testing.T) {
	b := e2e(t)
	dir := t.TempDir()
	_, pubA := issuerKey(t, b, dir, "court-a")
	_, pubB := issuerKey(t, b, dir, "court-b")
	legal := "legal:\n  issuers:\n    - {name: court-a, role: court, public_key: \"" + pubA + "\"}\n    - {name: court-b, role: court, public_key: \"" + pubB + "\"}\n  quorum: {court: 2}\n  max_notice_delay: 30d\n"
	d := startDevice(t, b, filepath.Join(dir, "state"), writeConfig(t, dir, legal))
	owner := newHome(t, b)
	pairOwner(t, b, d, owner)

	shown := mustCtl(t, b, owner.dir, "policy", "show", "-i", owner.key, "--yaml")
	if !strings.Contains(shown, "legal:\n") || !strings.Contains(shown, pubA) || !strings.Contains(shown, "court: 2") {
		t.Fatalf("policy show --yaml:\n%s", shown)
	}
	path := writeFile(t, owner.dir, "policy.yaml", shown)
	if out := mustCtl(t, b, owner.dir, "policy", "set", "-i", owner.key, path); !strings.Contains(out, "already has this policy") {
		t.Errorf("sending the shown policy back:\n%s", out)
	}
	// Edit: court-b leaves, the quorum becomes one court... which the
	// device requires two issuers for: refused, naming the file.
	edited := strings.Replace(shown, "court: 2", "court: 1", 1)
	edited = edited[:strings.Index(edited, "    - name: court-b")] + edited[strings.Index(edited, "  quorum:"):]
	writeFile(t, owner.dir, "one.yaml", edited)
	r := ctl(t, b, owner.dir, "", "policy", "set", "-i", owner.key, "--yes", "one.yaml")
	wantFail(t, r, "one.yaml")
	// A valid edit: a longer notice delay cap becomes shorter.
	edited = strings.Replace(shown, "max_notice_delay: 30d", "max_notice_delay: 7d", 1)
	if edited == shown {
		t.Fatalf("no max_notice_delay line to edit:\n%s", shown)
	}
	writeFile(t, owner.dir, "seven.yaml", edited)
	mustCtl(t, b, owner.dir, "policy", "set", "-i", owner.key, "--yes", "seven.yaml")
	again := mustCtl(t, b, owner.dir, "policy", "show", "-i", owner.key, "--yaml")
	if !strings.Contains(again, "max_notice_delay: 7d") {
		t.Errorf("after policy set:\n%s", again)
	}

	// token cosign prints the claims it signed.
	mustCtl(t, b, dir, "token", "issue", "-i", filepath.Join(dir, "court-a.key"), "--device", d.info().DeviceID, "--basis", "warrant",
		"--case", "C-77", "--jurisdiction", "US-CA", "--order", writeFile(t, dir, "order.pdf", "x"), "--from", "-1h", "--until", "now",
		"--to", owner.recipient, "-o", "tok.json")
	out := mustCtl(t, b, dir, "token", "cosign", "-i", filepath.Join(dir, "court-b.key"), "tok.json")
	for _, want := range []string{"claims you signed", "case:         C-77", "basis:        warrant", "recipient:    " + owner.recipient, "signature 2:", "2 signatures"} {
		if !strings.Contains(out, want) {
			t.Errorf("token cosign output lacks %q:\n%s", want, out)
		}
	}
}
