package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/consent"
	agent "github.com/doorward/doorward/device"
	"github.com/doorward/doorward/uplink/mqtttest"
	"github.com/doorward/doorward/uplink/s3test"
	"github.com/doorward/doorward/uplink/wire"
)

// backedUp returns the relay's listing of the device's backed-up clips, as
// the owner's doorwardctl backup list --json prints it.
func backedUp(t *testing.T, b e2eBins, owner home, relay, id string) []backedUpClip {
	t.Helper()
	out := mustCtl(t, b, owner.dir, "backup", "list", "--relay", relay, "--device", id, "-i", owner.key, "--json")
	var l []backedUpClip
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("backup list --json: %v\n%s", err, out)
	}
	return l
}

// authGET sends GET url as curl would, with auth as its Authorization
// ("" for none), and returns the status, the refusal's reason and the
// body.
func authGET(t *testing.T, url, auth string) (int, string, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct{ Reason string }
	json.Unmarshal(body, &e)
	return resp.StatusCode, e.Reason, body
}

// signLogin signs a single-use login for device id with key.
func signLogin(t *testing.T, key *consent.OwnerKey, id string) string {
	t.Helper()
	login, err := consent.Sign(consent.KindLogin, consent.LoginClaims{Claims: consent.Claims{ID: newJTI(), Audience: id,
		IssuedAt: consent.NewNumericDate(time.Now()), Expiry: consent.NewNumericDate(time.Now().Add(time.Minute))}}, key.SigningKey(), consent.KeyID(key.SigningPublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	return "Doorward " + string(login)
}

// postStatement sends a statement through the relay as anyone could and
// returns the device's answer.
func postStatement(t *testing.T, relay, id, kind string, jws []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(relay+"/v1/devices/"+id+"/statements/"+kind, "application/json", bytes.NewReader(jws))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Reason string }
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Reason
}

// TestBackupE2E: through the binaries, mosquitto and versitygw. Backup on
// (through the relay): a clip recorded afterwards appears in the store,
// and doorwardctl fetch --relay --clip gives an MP4 ffprobe reads with
// the owner key, and nothing with the device's vault key or a stranger's
// stock age key; the clip recorded before is not in the store. Statements
// signed by a stranger or a grantee, and a replayed one, are refused by
// the device and turn nothing on. Backup off (on the LAN): the next clip
// is not uploaded. Nothing on the broker is media or plaintext.
func TestBackupE2E(t *testing.T) {
	b := e2e(t)
	keygen := capturetest.Tool(t, "age-keygen")
	capturetest.Tool(t, "ffprobe")
	broker := mqtttest.Start(t, mqtttest.Options{})
	s3 := s3test.Start(t)
	root := filepath.Join(s3.Dir, s3.Bucket)
	relay, _ := runRelay(t, b, broker.URL, s3.StoreSpec(), s3.Env())
	everything := mqtttest.Record(t, broker.Client(t, "nosy-broker", nil, true), "#")

	dir := t.TempDir()
	cfg := writeConfig(t, dir, "mqtt:\n  broker: "+broker.URL+"\n")
	d := startDevice(t, b, filepath.Join(dir, "state"), cfg)
	owner := newHome(t, b)
	pairOwner(t, b, d, owner)
	id := d.info().DeviceID
	before := d.recordClip(2)

	// Refusals first: none of them may turn the backup on.
	stranger := newHome(t, b)
	grantee := newHome(t, b)
	mustCtl(t, b, owner.dir, "grant", "--device", d.url, "-i", owner.key, "--to", grantee.recipient,
		"--grantee", consent.FormatIssuerKey(ownerKey(t, grantee.key).SigningPublicKey()),
		"--from", before.Start.Add(-time.Second).UTC().Format(time.RFC3339), "--until", before.End.Add(time.Second).UTC().Format(time.RFC3339), "--media", "video")
	now := time.Now()
	claims := func() consent.BackupClaims {
		return consent.BackupClaims{On: true, Media: []string{"video"}, Claims: consent.Claims{ID: newJTI(), Audience: id,
			IssuedAt: consent.NewNumericDate(now), Expiry: consent.NewNumericDate(now.Add(10 * time.Minute))}}
	}
	for name, key := range map[string]string{"stranger": stranger.key, "grantee": grantee.key} {
		k := ownerKey(t, key)
		jws, err := consent.Sign(consent.KindBackup, claims(), k.SigningKey(), consent.KeyID(k.SigningPublicKey()))
		if err != nil {
			t.Fatal(err)
		}
		if status, reason := postStatement(t, relay, id, "backup", jws); status != http.StatusForbidden || reason != "unknown-key" {
			t.Errorf("backup on signed by a %s: %d %s, want 403 unknown-key", name, status, reason)
		}
	}
	// A stranger's doorwardctl refuses before sending: no pin for the device.
	wantFail(t, ctl(t, b, stranger.dir, "", "backup", "on", "--relay", relay, "--device", id, "-i", stranger.key), "not paired")

	// The owner's statement, sent twice: the second time it is a replay.
	ok := ownerKey(t, owner.key)
	on, err := consent.Sign(consent.KindBackup, claims(), ok.SigningKey(), consent.KeyID(ok.SigningPublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	if status, reason := postStatement(t, relay, id, "backup", on); status != http.StatusOK {
		t.Fatalf("backup on through the relay: %d %s", status, reason)
	}
	if status, reason := postStatement(t, relay, id, "backup", on); status != http.StatusForbidden || reason != "replayed" {
		t.Errorf("replayed backup statement: %d %s, want 403 replayed", status, reason)
	}
	// doorwardctl through the relay: already on, nothing changed.
	out := mustCtl(t, b, owner.dir, "backup", "on", "--relay", relay, "--device", id, "-i", owner.key)
	if !strings.Contains(out, "already on; nothing changed") {
		t.Errorf("backup on again printed %q", out)
	}

	clip := d.recordClip(2)
	var l []backedUpClip
	deadline := time.Now().Add(60 * time.Second)
	for {
		l = backedUp(t, b, owner, relay, id)
		if len(l) > 0 && l[len(l)-1].Clip == clip.ID && l[len(l)-1].Objects >= clip.Segments+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("clip %s (%d segments) not backed up within 60 s: %+v", clip.ID, clip.Segments, l)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(l) != 1 || l[0].Start == nil || !l[0].Start.Equal(clip.Start.UTC().Truncate(time.Second)) || l[0].Bytes <= 0 {
		t.Errorf("backed-up clips %+v, want only %s, started %s (%s was recorded before backup on)", l, clip.ID, clip.Start.UTC(), before.ID)
	}
	// The table names the clip, its start time, objects and bytes.
	out = mustCtl(t, b, owner.dir, "backup", "list", "--relay", relay, "--device", id, "-i", owner.key)
	if want := fmt.Sprintf(`(?m)^CLIP +START +OBJECTS +BYTES\n%s +%s +%d +%d$`, clip.ID, regexp.QuoteMeta(l[0].Start.Local().Format(time.DateTime)), l[0].Objects, l[0].Bytes); !regexpMatch(want, out) {
		t.Errorf("backup list printed %q, want a line matching %s", out, want)
	}

	// The listing and a clip's manifest are the owners' alone: without a
	// login the relay refuses, naming what to send; with a stranger's login
	// (a key not enrolled on the device) the device refuses, and the relay
	// passes its refusal on; a login serves one request, so a replayed one
	// is refused too.
	strangerKey := ownerKey(t, stranger.key)
	for _, path := range []string{"/v1/devices/" + id + "/backup", "/v1/devices/" + id + "/backup/" + clip.ID} {
		status, reason, body := authGET(t, relay+path, "")
		if status != http.StatusUnauthorized || reason != "no-login" || !strings.Contains(string(body), "Authorization: Doorward <login statement JSON>") || strings.Contains(string(body), clip.ID[:8]) {
			t.Errorf("GET %s without a login: %d %s, want 401 no-login naming what to send and no clip", path, status, body)
		}
		status, reason, body = authGET(t, relay+path, signLogin(t, strangerKey, id))
		if status != http.StatusUnauthorized || reason != "unknown-key" || strings.Contains(string(body), clip.ID[:8]) {
			t.Errorf("GET %s with a stranger's login: %d %s, want the device's 401 unknown-key", path, status, body)
		}
		login := signLogin(t, ok, id)
		if status, _, body = authGET(t, relay+path, login); status != http.StatusOK || !strings.Contains(string(body), clip.ID) {
			t.Errorf("GET %s with the owner's login: %d %s", path, status, body)
		}
		if status, reason, body = authGET(t, relay+path, login); status != http.StatusUnauthorized || reason != "replayed" || strings.Contains(string(body), clip.ID[:8]) {
			t.Errorf("GET %s with the owner's login again: %d %s, want the device's 401 replayed", path, status, body)
		}
	}
	// doorwardctl refuses a key that is not an owner's before asking.
	wantFail(t, ctl(t, b, stranger.dir, "", "backup", "list", "--relay", relay, "--device", id, "-i", stranger.key), "not paired")
	wantFail(t, ctl(t, b, owner.dir, "", "backup", "list", "--device", d.url, "-i", owner.key), "--relay URL is required")
	stored := 0
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.Contains(p, "/backup/") || strings.Contains(p, ".sha256") || strings.HasPrefix(info.Name(), ".") {
			return nil
		}
		stored++
		data, _ := os.ReadFile(p)
		if !bytes.HasPrefix(data, []byte("age-encryption.org/v1\n")) {
			t.Errorf("stored object %s is not an age file", p)
		}
		header, _, _ := bytes.Cut(data, []byte("\n--- "))
		if n := bytes.Count(header, []byte("\n-> ")); n != 1 {
			t.Errorf("stored object %s has %d recipient stanzas, want the one owner's (no vault stanza)", p, n)
		}
		return nil
	})
	if stored < clip.Segments+1 {
		t.Errorf("%d backed-up objects in the store's directory, want at least %d", stored, clip.Segments+1)
	}
	movie := filepath.Join(dir, "backup.mp4")
	mustCtl(t, b, owner.dir, "fetch", "--relay", relay, "--device", id, "--clip", clip.ID, "-i", owner.key, "-o", movie)
	if p := capturetest.ProbeFile(t, movie, true); p.Codec != "h264" || p.Frames == 0 {
		t.Fatalf("ffprobe of the backed-up clip: %+v", p)
	}
	// Neither the device's vault key nor a stranger's stock age key opens it.
	vaultKey := filepath.Join(dir, "vault.key")
	family := consent.Classic
	if strings.HasPrefix(owner.recipient, "age1pq1") {
		family = consent.PostQuantum
	}
	ident, _, err := agent.LoadOrCreateIdentity(filepath.Join(d.state, "keys", "device.key"), family)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vaultKey, []byte(ident.VaultIdentity(family).(interface{ String() string }).String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	strangerAge := filepath.Join(dir, "stranger-age.key")
	if out, err := exec.Command(keygen, "-o", strangerAge).CombinedOutput(); err != nil {
		t.Fatalf("age-keygen: %v\n%s", err, out)
	}
	// fetch --relay --clip signs a login with -i owner.key: the vault key
	// or a stranger's stock age key paired with no device, and gets no
	// manifest.
	for name, key := range map[string]string{"vault": vaultKey, "stranger": strangerAge} {
		wantFail(t, ctl(t, b, dir, "", "fetch", "--relay", relay, "--device", id, "--clip", clip.ID, "-i", key, "-o", filepath.Join(dir, name+".mp4")), "not paired")
	}
	// The ciphertext itself, downloaded with the owner's login, opens with
	// neither.
	status, _, body := authGET(t, relay+"/v1/devices/"+id+"/backup/"+clip.ID, signLogin(t, ok, id))
	var m wire.Manifest
	if status != http.StatusOK || json.Unmarshal(body, &m) != nil || len(m.Objects) < clip.Segments+1 {
		t.Fatalf("the backup's manifest: %d %s", status, body)
	}
	cipher := filepath.Join(dir, "ciphertext", clip.ID)
	os.MkdirAll(cipher, 0o700)
	for _, o := range m.Objects {
		resp, err := http.Get(o.URL)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", o.Object, resp.Status)
		}
		if err := os.WriteFile(filepath.Join(cipher, strings.TrimPrefix(path.Base(o.Object), "000000-")), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, key := range map[string]string{"vault": vaultKey, "stranger": strangerAge} {
		wantFail(t, ctl(t, b, dir, "", "decrypt", "-i", key, cipher, "-o", filepath.Join(dir, name+".mp4")), "no identity")
	}
	mustCtl(t, b, dir, "decrypt", "-i", owner.key, cipher, "-o", filepath.Join(dir, "from-ciphertext.mp4"))

	// Off, on the LAN: the next clip is not uploaded.
	out = mustCtl(t, b, owner.dir, "backup", "off", "--device", d.url, "-i", owner.key)
	if !strings.Contains(out, "cloud backup off") {
		t.Errorf("backup off printed %q", out)
	}
	after := d.recordClip(2)
	time.Sleep(3 * time.Second) // what a backup would have needed to start
	for _, c := range backedUp(t, b, owner, relay, id) {
		if c.Clip == after.ID {
			t.Errorf("clip %s, recorded after backup off, was uploaded", after.ID)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(d.state, "disclosures")); len(ents) != 0 {
		t.Errorf("the device wrote %d entries into disclosures/ with the uplink on", len(ents))
	}
	// The owner's listing of what left the device shows the backup per clip.
	out = mustCtl(t, b, owner.dir, "disclosures", "--device", d.url, "-i", owner.key)
	if !strings.Contains(out, "to the owner keys (cloud backup)") || !regexpMatch(`clip `+clip.ID+`  [1-9][0-9]* segment\(s\) uploaded`, out) || strings.Contains(out, after.ID) {
		t.Errorf("disclosures: %q", out)
	}
	// Notices and the audit log through the relay, checked against the
	// device key pinned on the LAN: the grant's notice; both backup
	// changes are audit entries.
	out = mustCtl(t, b, owner.dir, "notices", "--relay", relay, "--device", id, "-i", owner.key)
	if !strings.Contains(out, "grant") || !strings.Contains(out, grantee.recipient) {
		t.Errorf("notices through the relay: %q", out)
	}
	out = mustCtl(t, b, owner.dir, "audit", "verify", "--relay", relay, "--device", id, "-i", owner.key)
	if !strings.Contains(out, "audit log of device "+id+" verified") || !regexpMatch(`backup-change\s+2\n`, out) {
		t.Errorf("audit verify through the relay: %q", out)
	}
	// Again: only what is new is fetched, through the relay too.
	out = mustCtl(t, b, owner.dir, "audit", "verify", "--relay", relay, "--device", id, "-i", owner.key)
	if !strings.Contains(out, "only these were fetched") {
		t.Errorf("second audit verify through the relay: %q", out)
	}
	// A login serves one read: replayed through the relay, the device refuses it.
	login, err := consent.Sign(consent.KindLogin, consent.LoginClaims{Claims: consent.Claims{ID: newJTI(), Audience: id,
		IssuedAt: consent.NewNumericDate(time.Now()), Expiry: consent.NewNumericDate(time.Now().Add(time.Minute))}}, ok.SigningKey(), consent.KeyID(ok.SigningPublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{http.StatusOK, http.StatusUnauthorized} {
		req, _ := http.NewRequest(http.MethodGet, relay+"/v1/devices/"+id+"/notices", nil)
		req.Header.Set("Authorization", "Doorward "+string(login))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("notices read %d with one login: %s, want %d", i+1, resp.Status, want)
		}
	}
	checkMetadata(t, everything.Msgs(), id)
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

func ownerKey(t *testing.T, path string) *consent.OwnerKey {
	t.Helper()
	k, err := loadOwner(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
