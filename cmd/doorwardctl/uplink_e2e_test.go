package main

import (
	"bufio"
	"bytes"
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
	"github.com/doorward/doorward/uplink/mqtttest"
	"github.com/doorward/doorward/uplink/s3test"
	"github.com/doorward/doorward/uplink/wire"
)

// runRelay starts `doorwardctl relay` as an operator would and returns its
// URL and its log.
func runRelay(t *testing.T, b e2eBins, broker, store string, env []string) (string, *capturetest.LogBuffer) {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(b.doorwardctl, "relay", "--broker", broker, "--listen", addr, "--store", store, "-v")
	cmd.Env = append(os.Environ(), env...)
	log := &capturetest.LogBuffer{}
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("relay log:\n%s", log.String())
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, "relay listening on http://"+addr) {
		t.Fatalf("doorwardctl relay printed %q (%v)", line, err)
	}
	url := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("relay does not answer")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // subscribed to upload requests
	return url, log
}

// waitManifest polls the relay until the disclosure holds n objects.
func waitManifest(t *testing.T, relay, device, jti string, n int) wire.Manifest {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(relay + "/v1/devices/" + device + "/disclosures/" + jti)
		if err == nil {
			var m wire.Manifest
			json.NewDecoder(resp.Body).Decode(&m)
			resp.Body.Close()
			if len(m.Objects) >= n {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("disclosure %s: fewer than %d objects in the store after 60 s", jti, n)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestUplinkGrantE2E: an owner grant sent through the relay makes the
// device upload the scoped segments, re-wrapped for the grantee, into
// versitygw; doorwardctl fetch with the grantee's stock age key gives an
// MP4 that ffprobe reads; nothing was written to disclosures/ on the
// device, and the store holds only age files.
func TestUplinkGrantE2E(t *testing.T) {
	b := e2e(t)
	for _, store := range []string{"s3", "dir"} {
		t.Run(store, func(t *testing.T) { testUplinkGrant(t, b, store) })
	}
}

func testUplinkGrant(t *testing.T, b e2eBins, store string) {
	keygen := capturetest.Tool(t, "age-keygen")
	capturetest.Tool(t, "ffprobe")
	broker := mqtttest.Start(t, mqtttest.Options{})
	var spec, root string
	var env []string
	if store == "s3" {
		s3 := s3test.Start(t)
		spec, env, root = s3.StoreSpec(), s3.Env(), filepath.Join(s3.Dir, s3.Bucket)
	} else {
		root = t.TempDir()
		spec = "dir:" + root
	}
	relay, relayLog := runRelay(t, b, broker.URL, spec, env)
	// A subscriber on # for the whole run: what the broker could learn.
	everything := mqtttest.Record(t, broker.Client(t, "nosy-broker", nil, true), "#")

	dir := t.TempDir()
	cfg := writeConfig(t, dir, "mqtt:\n  broker: "+broker.URL+"\n")
	d := startDevice(t, b, filepath.Join(dir, "state"), cfg)
	owner := newHome(t, b)
	pairOwner(t, b, d, owner)
	id := d.info().DeviceID
	clip := d.recordClip(2)

	granteeKey := filepath.Join(dir, "grantee.key")
	if out, err := exec.Command(keygen, "-o", granteeKey).CombinedOutput(); err != nil {
		t.Fatalf("age-keygen: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(granteeKey)
	var rcpt string
	for _, l := range strings.Split(string(raw), "\n") {
		if r, ok := strings.CutPrefix(l, "# public key: "); ok {
			rcpt = r
		}
	}
	// The owner's events reader: its broker session starts now, so the
	// grant's upload reports reach it later.
	eventsArgs := []string{"events", "--broker", broker.URL, "--device", d.info().DeviceID, "-i", owner.key, "--json"}
	mustCtl(t, b, owner.dir, eventsArgs...)
	from := clip.Start.Add(-time.Second).UTC().Format(time.RFC3339)
	out := mustCtl(t, b, owner.dir, "grant", "--relay", relay, "--device", id, "-i", owner.key,
		"--to", rcpt, "--from", from, "--until", "now", "--media", "video")
	jti, _, _ := strings.Cut(out, "\n")
	if !strings.Contains(out, "disclosures: 1\n") {
		t.Fatalf("grant through the relay printed %q, want one disclosure", out)
	}
	m := waitManifest(t, relay, id, jti, clip.Segments+1)
	// Completion is reported to the owners on events, encrypted: the
	// upload's bytes, then delivered, under the grant.
	var uploaded, delivered bool
	for deadline := time.Now().Add(20 * time.Second); !(uploaded && delivered) && time.Now().Before(deadline); {
		for _, l := range strings.Split(strings.TrimSpace(mustCtl(t, b, owner.dir, eventsArgs...)), "\n") {
			var e struct {
				Kind, State, Authority string
				Bytes                  int64
			}
			if json.Unmarshal([]byte(l), &e) != nil || e.Kind != "job-state" || e.Authority != "grant:"+jti {
				continue
			}
			uploaded = uploaded || (e.State == "uploaded" && e.Bytes > 0)
			delivered = delivered || e.State == "delivered"
		}
	}
	if !uploaded || !delivered {
		t.Errorf("the owner's events show uploaded %v, delivered %v for grant %s", uploaded, delivered, jti)
	}
	for _, o := range m.Objects {
		if !strings.HasPrefix(o.Object, id+"/disclosures/"+jti+"/"+clip.ID+"/") {
			t.Errorf("object %s outside the disclosure's prefix", o.Object)
		}
		data, err := os.ReadFile(filepath.Join(root, o.Object))
		if err != nil || !bytes.HasPrefix(data, []byte("age-encryption.org/v1\n")) {
			t.Errorf("stored object %s is not an age file (%v)", o.Object, err)
		}
	}
	// grant's printed commands run as printed: the listing (on the LAN,
	// the device found by its ID) and the grantee's fetch from the store.
	if got := mustCtl(t, b, owner.dir, printedCommand(t, out, "list them:")...); !strings.Contains(got, "grant "+jti) || !strings.Contains(got, "in:    the relay's store") || strings.Contains(got, "in:    disclosures/") {
		t.Errorf("the printed disclosures command shows %q, want grant %s in the relay's store", got, jti)
	}
	movie := filepath.Join(dir, "fetched.mp4")
	fetchArgs := printedCommand(t, out, "grantee:     fetches from the relay's store with")
	for i, a := range fetchArgs {
		switch a {
		case "THEIR.key":
			fetchArgs[i] = granteeKey
		case "OUT.mp4":
			fetchArgs[i] = movie
		}
	}
	mustCtl(t, b, dir, fetchArgs...)
	if p := capturetest.ProbeFile(t, movie, true); p.Codec != "h264" || p.Frames == 0 {
		t.Fatalf("ffprobe of the fetched clip: %+v", p)
	}
	// The owner key does not open a disclosure made for the grantee alone.
	wantFail(t, ctl(t, b, dir, "", "fetch", "--relay", relay, "--device", id, "--disclosure", jti, "-i", owner.key, "-o", filepath.Join(dir, "owner.mp4")), "no identity")
	if store == "dir" {
		relayOwnerCommands(t, b, d, owner, relay, id, jti, clip)
	}
	if ents, _ := os.ReadDir(filepath.Join(d.state, "disclosures")); len(ents) != 0 {
		t.Errorf("the device wrote %d entries into disclosures/ with the uplink on", len(ents))
	}
	checkMetadata(t, everything.Msgs(), id)
	if !strings.Contains(relayLog.String(), "presigned an upload") {
		t.Errorf("relay log shows no presigned upload:\n%s", relayLog)
	}
}

// checkMetadata: nothing the broker carried holds media (no MP4 box, H.264
// start code or JPEG signature, no byte a JSON envelope cannot hold), the
// events are age files, only status is plaintext, and nothing goes to the
// Home Assistant topics, which are off unless the owner turns them on.
func checkMetadata(t *testing.T, msgs []mqtttest.Msg, device string) {
	t.Helper()
	if len(msgs) == 0 {
		t.Fatal("the # subscriber saw nothing")
	}
	var events int
	for _, m := range msgs {
		p := m.Payload
		for _, sig := range [][]byte{[]byte("ftyp"), []byte("moof"), []byte("mdat"), {0, 0, 1}, {0xff, 0xd8, 0xff}} {
			if bytes.Contains(p, sig) {
				t.Errorf("%s carries a media signature %q", m.Topic, sig)
			}
		}
		// Home Assistant (the one plaintext place) is off in these runs.
		if strings.HasPrefix(m.Topic, "homeassistant/") || strings.HasPrefix(m.Topic, wire.Topic(device, "homeassistant/")) {
			t.Errorf("%s published with homeassistant.enabled off", m.Topic)
		}
		if m.Topic == wire.Topic(device, wire.TopicStatus) {
			if s := string(p); s != "online" && s != "offline" {
				t.Errorf("status carries %q", s)
			}
			continue
		}
		if m.Topic != wire.Topic(device, wire.TopicEvents) {
			continue
		}
		events++
		env, err := wire.Unwrap(p)
		if err != nil {
			t.Fatalf("events message: %v", err)
		}
		var sealed wire.Sealed
		if err := json.Unmarshal(env.Msg, &sealed); err != nil || !bytes.HasPrefix(sealed.Age, []byte("age-encryption.org/v1\n")) {
			t.Errorf("events message is not an age file: %.80s", env.Msg)
		}
		// Outside the age file (whose base64 may spell anything by chance)
		// nothing is left to read: the envelope's id and the sealed field.
		clear := bytes.Replace(p, []byte(base64.StdEncoding.EncodeToString(sealed.Age)), nil, 1)
		if bytes.Equal(clear, p) {
			t.Errorf("events message: the age file is not its one base64 field: %.80s", p)
		}
		for _, word := range []string{"motion", "ring", "clip", "grant", "job"} {
			if bytes.Contains(clear, []byte(word)) {
				t.Errorf("events message shows %q in the clear", word)
			}
		}
	}
	if events == 0 {
		t.Error("no events were published during the run")
	}
}

// relayOwnerCommands: the owner's revoke and policy set, and an issuer's
// token submit, through the relay with the binaries as users type them:
// revoke (and its repeat), a policy that trusts two issuers (the device
// holds exactly it, as policy show on the LAN says), then a token issued,
// cosigned and submitted through the relay, whose disclosure lands in the
// store and opens with the agency's stock age key.
func relayOwnerCommands(t *testing.T, b e2eBins, d *device, owner home, relay, id, grant string, clip clipInfo) {
	t.Helper()
	dir := t.TempDir()
	relayArgs := func(args ...string) []string {
		return append(args, "--relay", relay, "--device", id, "-i", owner.key)
	}
	if out := mustCtl(t, b, owner.dir, relayArgs("revoke", grant)...); !strings.Contains(out, "revoked") {
		t.Errorf("revoke through the relay printed %q", out)
	}
	if out := mustCtl(t, b, owner.dir, relayArgs("revoke", grant)...); !strings.Contains(out, "already revoked") {
		t.Errorf("a second revoke through the relay printed %q, want already revoked", out)
	}

	court, courtPub := issuerKey(t, b, dir, "court")
	pros, prosPub := issuerKey(t, b, dir, "prosecutor")
	policy := filepath.Join(dir, "policy.yaml")
	os.WriteFile(policy, []byte(fmt.Sprintf(`legal:
  issuers:
    - {name: court, role: court, public_key: "%s"}
    - {name: prosecutor, role: prosecutor, public_key: "%s"}
  quorum: {court: 1, prosecutor: 1}
`, courtPub, prosPub)), 0o600)
	out := mustCtl(t, b, owner.dir, relayArgs("policy", "set", "--yes", policy)...)
	_, hash, ok := strings.Cut(out, "policy set; hash ")
	if !ok || !strings.Contains(out, "court") || !strings.Contains(out, "through the relay") {
		t.Fatalf("policy set through the relay printed %q", out)
	}
	if shown := mustCtl(t, b, owner.dir, "policy", "show", "--device", d.url, "-i", owner.key); !strings.Contains(shown, strings.TrimSpace(hash)) {
		t.Errorf("policy show on the LAN does not show hash %s:\n%s", strings.TrimSpace(hash), shown)
	}

	agencyKey, agencyRcpt := ageIdentity(t, dir, "agency.txt")
	order := filepath.Join(dir, "order.pdf")
	os.WriteFile(order, []byte("%PDF-1.4 order of the court\n"), 0o600)
	tok := filepath.Join(dir, "token.json")
	jti := strings.TrimSpace(mustCtl(t, b, dir, "token", "issue", "-i", court, "--device", id,
		"--basis", "warrant", "--case", "24-CR-9", "--jurisdiction", "US-CA", "--order", order,
		"--from", clip.Start.Add(-time.Second).UTC().Format(time.RFC3339), "--until", "now", "--media", "video",
		"--to", agencyRcpt, "-o", tok))
	wantFail(t, ctl(t, b, dir, "", "token", "submit", "--relay", relay, "--device", id, tok), "quorum-not-met")
	mustCtl(t, b, dir, "token", "cosign", "-i", pros, tok)
	if got := strings.TrimSpace(mustCtl(t, b, dir, "token", "submit", "--relay", relay, "--device", id, tok)); got != jti {
		t.Fatalf("token submit through the relay printed %q, want %s", got, jti)
	}
	waitManifest(t, relay, id, jti, clip.Segments+1)
	movie := filepath.Join(dir, "agency.mp4")
	mustCtl(t, b, dir, "fetch", "--relay", relay, "--device", id, "--disclosure", jti, "-i", agencyKey, "-o", movie)
	if p := capturetest.ProbeFile(t, movie, true); p.Codec != "h264" || p.Frames == 0 {
		t.Errorf("ffprobe of the agency's fetched clip: %+v", p)
	}
}
