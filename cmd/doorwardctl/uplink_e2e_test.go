package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
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
	from := clip.Start.Add(-time.Second).UTC().Format(time.RFC3339)
	out := mustCtl(t, b, owner.dir, "grant", "--relay", relay, "--device", id, "-i", owner.key,
		"--to", rcpt, "--from", from, "--until", "now", "--media", "video")
	jti, _, _ := strings.Cut(out, "\n")
	if !strings.Contains(out, "disclosures: 1\n") {
		t.Fatalf("grant through the relay printed %q, want one disclosure", out)
	}
	m := waitManifest(t, relay, id, jti, clip.Segments+1)
	for _, o := range m.Objects {
		if !strings.HasPrefix(o.Object, id+"/disclosures/"+jti+"/"+clip.ID+"/") {
			t.Errorf("object %s outside the disclosure's prefix", o.Object)
		}
		data, err := os.ReadFile(filepath.Join(root, o.Object))
		if err != nil || !bytes.HasPrefix(data, []byte("age-encryption.org/v1\n")) {
			t.Errorf("stored object %s is not an age file (%v)", o.Object, err)
		}
	}
	movie := filepath.Join(dir, "fetched.mp4")
	mustCtl(t, b, dir, "fetch", "--relay", relay, "--device", id, "--disclosure", jti, "-i", granteeKey, "-o", movie)
	if p := capturetest.ProbeFile(t, movie, true); p.Codec != "h264" || p.Frames == 0 {
		t.Fatalf("ffprobe of the fetched clip: %+v", p)
	}
	// The owner key does not open a disclosure made for the grantee alone.
	wantFail(t, ctl(t, b, dir, "", "fetch", "--relay", relay, "--device", id, "--disclosure", jti, "-i", owner.key, "-o", filepath.Join(dir, "owner.mp4")), "no identity")
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
