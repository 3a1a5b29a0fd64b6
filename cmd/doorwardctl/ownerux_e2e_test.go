package main

// End-to-end tests of issue 11's bugs, through the built binaries: a
// second owner reads the notices its key opens, decrypt opens a
// disclosure directory, repeats of revoke and enroll are reported without
// a new audit leaf, and an owner can go back to "accept no legal process".

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/capture/capturetest"
)

func TestOwnerRepeatsAndSecondOwnerE2E(t *testing.T) {
	b := e2e(t)
	dir := t.TempDir()
	_, pubA := issuerKey(t, b, dir, "court-a")
	_, pubB := issuerKey(t, b, dir, "court-b")
	legal := fmt.Sprintf("legal:\n  issuers:\n    - {name: court-a, role: court, public_key: %q}\n    - {name: court-b, role: court, public_key: %q}\n  quorum: {court: 2}\n", pubA, pubB)
	d := startDevice(t, b, dir+"/state", writeConfig(t, dir, legal))
	owner := newHome(t, b)
	pairOwner(t, b, d, owner)
	clip := d.recordClip(2)

	// A grant to the owner's own recipient: its disclosure directory
	// (000000-init.mp4.age, 000001.m4s.age, ...) decrypts with decrypt.
	from := clip.Start.Add(-time.Second).UTC().Format(time.RFC3339)
	out := mustCtl(t, b, owner.dir, "grant", "--device", d.url, "-i", owner.key, "--to", owner.recipient, "--from", from, "--until", "now")
	jti, _, _ := strings.Cut(out, "\n")
	jobs := jobsFor(waitJobs(t, d, owner), "grant:"+jti)
	if len(jobs) != 1 {
		t.Fatalf("jobs for the grant: %+v", jobs)
	}
	files := disclosed(t, d, jobs[0])
	if len(files) < 2 || filepath.Base(files[0]) != "000000-init.mp4.age" {
		t.Fatalf("disclosure directory: %v", files)
	}
	mp4 := filepath.Join(owner.dir, "disclosed.mp4")
	mustCtl(t, b, owner.dir, "decrypt", "-i", owner.key, filepath.Dir(files[0]), "-o", mp4)
	if p := capturetest.ProbeFile(t, mp4, true); p.Codec != "h264" || p.Frames == 0 {
		t.Fatalf("ffprobe of the decrypted disclosure: %+v", p)
	}

	// A second owner key, enrolled after that notice, reads what it can
	// and is told how many it cannot.
	phone := newHome(t, b)
	mustCtl(t, b, owner.dir, "enroll", "--device", d.url, "-i", owner.key, "--new", phone.key)
	mustCtl(t, b, phone.dir, "grant", "--device", d.url, "-i", phone.key, "--to", phone.recipient, "--from", "-10h", "--until", "-9h")
	r := ctl(t, b, phone.dir, "", "notices", "--device", d.url, "-i", phone.key, "--json")
	if r.code != 0 {
		t.Fatalf("notices with the enrolled key: exit %d: %s", r.code, r.stderr)
	}
	var shown []struct {
		Notice struct {
			Recipient string `json:"recipient"`
		} `json:"notice"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil {
		t.Fatalf("notices --json: %v\n%s", err, r.stdout)
	}
	if len(shown) != 1 || shown[0].Notice.Recipient != phone.recipient {
		t.Errorf("the phone's notices: %s", r.stdout)
	}
	if !strings.Contains(r.stderr, "1 of 2 notices do not open with "+phone.key) {
		t.Errorf("notices does not count the skipped notice: %q", r.stderr)
	}
	// The first owner reads both.
	if out := mustCtl(t, b, owner.dir, "notices", "--device", d.url, "-i", owner.key); strings.Count(out, "notice ") != 2 {
		t.Errorf("the first owner's notices:\n%s", out)
	}

	// Repeats: reported, exit 0, no new leaf.
	size := len(fetchAudit(t, d, owner).Entries)
	mustCtl(t, b, owner.dir, "revoke", "--device", d.url, "-i", owner.key, jti)
	size++
	out = mustCtl(t, b, owner.dir, "revoke", "--device", d.url, "-i", owner.key, jti)
	if !strings.Contains(out, "already revoked") {
		t.Errorf("second revoke printed %q", out)
	}
	out = mustCtl(t, b, owner.dir, "enroll", "--device", d.url, "-i", owner.key, "--new", phone.key)
	if !strings.Contains(out, "already enrolled") {
		t.Errorf("second enroll printed %q", out)
	}
	if got := len(fetchAudit(t, d, owner).Entries); got != size {
		t.Errorf("audit log has %d entries after the repeats, want %d (one revoke leaf)", got, size)
	}

	// Back to "accept no legal process": an empty policy, signed like any
	// change, in the audit log.
	empty := filepath.Join(owner.dir, "none.yaml")
	os.WriteFile(empty, []byte("legal: {}\n"), 0o600)
	out = mustCtl(t, b, owner.dir, "policy", "set", "--yes", "--device", d.url, "-i", owner.key, empty)
	if !strings.Contains(out, "policy set; hash ") || !strings.Contains(out, "- issuers:") {
		t.Errorf("policy set of the empty policy:\n%s", out)
	}
	if out := mustCtl(t, b, owner.dir, "policy", "show", "--device", d.url); !strings.Contains(out, "issuers:            none") {
		t.Errorf("policy show after the empty policy:\n%s", out)
	}
	if out := mustCtl(t, b, owner.dir, "audit", "verify", "--device", d.url, "-i", owner.key); !strings.Contains(out, "policy") {
		t.Errorf("the policy change is not in the audit log:\n%s", out)
	}
}

// The owner lists the device's clips and fetches one over the LAN API:
// ciphertext on the wire, decrypted here, an MP4 ffprobe reads. Without a
// login, with a login used before, with a stranger's key or for a clip
// that does not exist, nothing is served.
func TestClipsFetchE2E(t *testing.T) {
	b := e2e(t)
	dir := t.TempDir()
	d := startDevice(t, b, dir+"/state", writeConfig(t, dir, ""))
	owner := newHome(t, b)
	pairOwner(t, b, d, owner)
	clip := d.recordClip(2)

	var listed []struct {
		ID     string `json:"id"`
		Pieces []struct {
			Name string `json:"name"`
			Size int64  `json:"size"`
		} `json:"pieces"`
	}
	out := mustCtl(t, b, owner.dir, "clips", "--device", d.url, "-i", owner.key, "--json")
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 1 || listed[0].ID != clip.ID {
		t.Fatalf("clips --json (%v):\n%s", err, out)
	}
	if p := listed[0].Pieces; len(p) < 3 || p[0].Name != "init.mp4.age" || p[1].Name != "000001.m4s.age" {
		t.Errorf("pieces: %+v", p)
	}
	if table := mustCtl(t, b, owner.dir, "clips", "--device", d.url, "-i", owner.key); !strings.Contains(table, clip.ID) || !strings.Contains(table, "motion") {
		t.Errorf("clips table:\n%s", table)
	}

	// Status, from the owner's computer and on the device.
	st := mustCtl(t, b, owner.dir, "status", "--device", d.url, "-i", owner.key)
	for _, want := range []string{"owners:     1 owner recipient(s)", "camera:     delivering frames", "health:     ok", "last event: motion at ", "MB of encrypted clips", "clock:      synchronized"} {
		if !strings.Contains(st, want) {
			t.Errorf("doorwardctl status lacks %q:\n%s", want, st)
		}
	}
	local, err := exec.Command(b.doorward, "status", "--state", d.state).Output()
	if err != nil || !strings.Contains(string(local), "owners:     1 owner recipient(s)") || !strings.Contains(string(local), "last event: motion") {
		t.Errorf("doorward status: %v\n%s", err, local)
	}
	var js struct {
		Owners    int   `json:"owners"`
		ClipBytes int64 `json:"clip_bytes"`
		DiskFree  int64 `json:"disk_free"`
	}
	if err := json.Unmarshal([]byte(mustCtl(t, b, owner.dir, "status", "--device", d.url, "-i", owner.key, "--json")), &js); err != nil || js.Owners != 1 || js.ClipBytes == 0 || js.DiskFree == 0 {
		t.Errorf("status --json: %+v %v", js, err)
	}
	if code, _ := func() (int, error) {
		r, err := http.Get(d.url + "/api/v1/status")
		if err != nil {
			return 0, err
		}
		r.Body.Close()
		return r.StatusCode, nil
	}(); code != http.StatusUnauthorized {
		t.Errorf("status without a login: %d, want 401", code)
	}

	movie := filepath.Join(owner.dir, "fetched.mp4")
	r := ctl(t, b, owner.dir, "", "fetch", "--device", d.url, "--clip", clip.ID, "-i", owner.key, "-o", movie)
	if r.code != 0 {
		t.Fatalf("fetch: exit %d: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "\r") {
		t.Errorf("progress written to a stderr that is not a terminal: %q", r.stderr)
	}
	if p := capturetest.ProbeFile(t, movie, true); p.Codec != "h264" || p.Frames == 0 || p.Duration < 2 {
		t.Fatalf("ffprobe of the fetched clip: %+v", p)
	}
	// On a terminal (script gives it one), fetch shows its progress.
	script := capturetest.Tool(t, "script")
	onTTY := filepath.Join(owner.dir, "on-a-terminal.mp4")
	term := exec.Command(script, "-qec", strings.Join([]string{b.doorwardctl, "fetch", "--device", d.url, "--clip", clip.ID, "-i", owner.key, "-o", onTTY}, " "), "/dev/null")
	term.Dir = owner.dir
	if out, err := term.CombinedOutput(); err != nil || !strings.Contains(string(out), "\rfetched ") || !strings.Contains(string(out), " pieces, ") {
		t.Errorf("fetch on a terminal shows no progress: %v\n%q", err, out)
	}
	if p := capturetest.ProbeFile(t, onTTY, true); p.Codec != "h264" || p.Frames == 0 {
		t.Errorf("ffprobe of the clip fetched on a terminal: %+v", p)
	}

	// Refusals.
	piece := d.url + "/api/v1/clips/" + clip.ID + "/init.mp4.age"
	get := func(url, auth string) (int, []byte) {
		code, _, body := authGET(t, url, auth)
		return code, body
	}
	if code, body := get(piece, ""); code != http.StatusUnauthorized || bytes.Contains(body, []byte("age-encryption")) {
		t.Errorf("a piece without a login: %d %q", code, body)
	}
	if code, _ := get(d.url+"/api/v1/clips", ""); code != http.StatusUnauthorized {
		t.Errorf("the clip list without a login: %d", code)
	}
	s, err := connect(context.Background(), d.url, owner.key)
	if err != nil {
		t.Fatal(err)
	}
	login, err := s.login()
	if err != nil {
		t.Fatal(err)
	}
	auth := "Doorward " + base64.RawURLEncoding.EncodeToString(login)
	if code, body := get(piece, auth); code != http.StatusOK || !bytes.HasPrefix(body, []byte("age-encryption.org/v1\n")) {
		t.Fatalf("a piece with a login: %d, %d bytes that are not age ciphertext", code, len(body))
	}
	if code, body := get(piece, auth); code != http.StatusUnauthorized || bytes.Contains(body, []byte("age-encryption")) {
		t.Errorf("a piece with a login used before: %d %q", code, body)
	}
	login2, _ := s.login()
	if code, _ := get(d.url+"/api/v1/clips/"+clip.ID+"/..%2fstate.db", "Doorward "+base64.RawURLEncoding.EncodeToString(login2)); code != http.StatusNotFound {
		t.Errorf("a piece named with a path: %d, want 404", code)
	}
	wantFail(t, ctl(t, b, owner.dir, "", "fetch", "--device", d.url, "--clip", "nosuchclip", "-i", owner.key, "-o", filepath.Join(owner.dir, "x.mp4")), "has no clip nosuchclip")
	stranger := newHome(t, b)
	pin, _ := os.ReadFile(pinPath(owner.key))
	os.WriteFile(pinPath(stranger.key), pin, 0o600) // a copied pin proves nothing
	wantFail(t, ctl(t, b, stranger.dir, "", "clips", "--device", d.url, "-i", stranger.key), "401")
	wantFail(t, ctl(t, b, stranger.dir, "", "status", "--device", d.url, "-i", stranger.key), "401")
	wantFail(t, ctl(t, b, stranger.dir, "", "fetch", "--device", d.url, "--clip", clip.ID, "-i", stranger.key, "-o", filepath.Join(stranger.dir, "x.mp4")), "401")
	if _, err := os.Stat(filepath.Join(stranger.dir, "x.mp4")); !os.IsNotExist(err) {
		t.Errorf("a refused fetch left an output file (%v)", err)
	}
}
