package device

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/config"
	"github.com/doorward/doorward/uplink/client"
	"github.com/doorward/doorward/uplink/mqtttest"
	"github.com/doorward/doorward/uplink/relay"
	"github.com/doorward/doorward/uplink/wire"
)

// TestUplinkLegalThroughLyingRelay runs a paired device (the release
// fixture: owner, trust policy, issuers, clips) with its uplink on a TLS
// mosquitto, the reference relay with a dir store, and a second,
// dishonest relay on the same broker. A legal token posted to the relay
// is verified by the device, its scoped segments land in the store
// re-wrapped for the agency alone, and the owner's notice is queued. The
// dishonest relay sends URLs for objects nobody authorized, answers
// upload requests with URLs for other objects, replays the accepted cmd
// and sends garbage: nothing reaches its trap server, the replay is
// refused as such, and every refusal is logged.
func TestUplinkLegalThroughLyingRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent, mosquitto and the relay")
	}
	var fx migrationFixture
	data, err := os.ReadFile("testdata/migration/v0/fixture.json")
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(data, &fx)
	b := mqtttest.Start(t, mqtttest.Options{TLS: true, Relays: []string{"relay"}})
	opts := simOptions(t)
	opts.Config.OwnerRecipients = nil
	if err := copyTree("testdata/migration/v0/state", opts.StateDir); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(opts.StateDir, keyFileName), 0o600)
	cert, key := b.ClientCert(fx.DeviceID)
	opts.Config.MQTT = config.MQTT{Broker: b.URL, CA: b.CAFile, Cert: cert, Key: key, OutboxMax: config.MiB}
	log, logs := capturetest.NewLogger(slog.LevelDebug)
	opts.Log = log

	// The trap: where the dishonest relay wants uploads to go.
	var trapped atomic.Int32
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		trapped.Add(1)
		io.Copy(io.Discard, r.Body)
	}))
	defer trap.Close()

	// The dishonest relay: answers every upload request with a URL for
	// another object on the trap, before the honest one can.
	liar := b.Client(t, "liar", b.ClientTLS("relay"), true)
	cmdTopic := wire.Topic(fx.DeviceID, wire.TopicCmd)
	sendCmd := func(payload []byte) {
		t.Helper()
		if tok := liar.Publish(cmdTopic, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	liar.Subscribe(wire.Topic(fx.DeviceID, wire.TopicUploadRequest), 1, func(c paho.Client, m paho.Message) {
		env, err := wire.Unwrap(m.Payload())
		if err != nil {
			return
		}
		var req wire.UploadRequest
		json.Unmarshal(env.Msg, &req)
		for i, u := range []wire.UploadURL{
			{Object: req.Object, URL: trap.URL + "/bucket/" + fx.DeviceID + "/backup/stolen"}, // the right object, another key
			{Object: fx.DeviceID + "/backup/stolen", URL: trap.URL + "/bucket/" + fx.DeviceID + "/backup/stolen"},
			{Object: req.Object, URL: "ftp://" + strings.TrimPrefix(trap.URL, "http://") + "/" + req.Object},
		} {
			p, _ := json.Marshal(wire.Cmd{ID: "lie" + string(rune('a'+i)), Kind: wire.CmdUpload, Upload: &u})
			c.Publish(cmdTopic, 1, false, p)
		}
	}).WaitTimeout(5 * time.Second)
	all := mqtttest.Record(t, b.Client(t, "watch", b.ClientTLS("relay"), true), "#")

	a, _ := runAgent(t, opts)
	if a.DeviceID() != fx.DeviceID {
		t.Fatalf("device %s, fixture %s", a.DeviceID(), fx.DeviceID)
	}
	noticesBefore, _ := a.gate.Notices()

	store, err := relay.NewDirStore(t.TempDir(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	rcert, rkey := b.ClientCert("relay")
	r, err := relay.New(relay.Options{MQTT: client.Options{Broker: b.URL, CA: b.CAFile, Cert: rcert, Key: rkey},
		Listen: "127.0.0.1:0", Store: store, StoreHandler: store, ReplyTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	store.SetBase("http://" + r.Addr())
	rctx, rstop := context.WithCancel(context.Background())
	rdone := make(chan error, 1)
	go func() { rdone <- r.Run(rctx) }()
	defer func() { rstop(); <-rdone }()
	time.Sleep(500 * time.Millisecond) // connected and subscribed

	// Garbage and an unrequested upload URL first.
	sendCmd([]byte("\x00\x01garbage"))
	sendCmd([]byte(`{"id":"g1","kind":"legal","jws":{"payload":"!!","signatures":[]}}`))
	sendCmd([]byte(`{"id":"u0","kind":"upload","upload":{"object":"` + fx.DeviceID + `/disclosures/x/c/000001.m4s.age","url":"` + trap.URL + `/bucket/` + fx.DeviceID + `/disclosures/x/c/000001.m4s.age"}}`))

	// The token, through the relay's HTTP API.
	v := a.currentVault()
	clips, err := v.Clips()
	if err != nil || len(clips) == 0 {
		t.Fatalf("fixture clips: %v", err)
	}
	agency, err := age.ParseX25519Identity(fx.Agency)
	if err != nil {
		t.Fatal(err)
	}
	jti := consent.NewJTI()
	tok := fixtureTokenFor(t, fx, jti, clips[0].Start, clips[0].End, agency.Recipient().String())
	resp, err := http.Post("http://"+r.Addr()+"/v1/devices/"+fx.DeviceID+"/legal", "application/json", bytes.NewReader(tok))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(string(body), jti) {
		t.Fatalf("token through the relay: %s %s", resp.Status, body)
	}

	// The scoped segments arrive, re-wrapped for the agency alone.
	owner, _ := consent.ParseOwnerKey(strings.NewReader(fx.Owner))
	prefix := fx.DeviceID + "/disclosures/" + jti + "/"
	var objs []relay.Object
	deadline := time.Now().Add(60 * time.Second)
	for len(objs) < 2 {
		objs, _ = store.List(context.Background(), prefix)
		if time.Now().After(deadline) {
			t.Fatalf("only %d objects under %s after 60 s\n%s", len(objs), prefix, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // any further piece
	objs, _ = store.List(context.Background(), prefix)
	var mp4 bytes.Buffer
	for _, o := range objs {
		u, _ := store.PresignGet(context.Background(), o.Key, time.Minute)
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		ct, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		rd, err := age.Decrypt(bytes.NewReader(ct), agency)
		if err != nil {
			t.Fatalf("%s does not open with the agency key: %v", o.Key, err)
		}
		mp4.ReadFrom(rd)
		if _, err := age.Decrypt(bytes.NewReader(ct), owner.Identity()); err == nil {
			t.Errorf("%s opens with the owner key: not re-wrapped for the agency alone", o.Key)
		}
	}
	if p := capturetest.ProbeBytes(t, mp4.Bytes(), false); p.Codec != "h264" || !p.FirstKey {
		t.Fatalf("the disclosed clip: %+v", p)
	}
	// The owner's notice is queued.
	notices, _ := a.gate.Notices()
	if len(notices) != len(noticesBefore)+1 {
		t.Fatalf("notices %d → %d, want one more", len(noticesBefore), len(notices))
	}

	// The liar replays the accepted token's cmd as it saw it go by.
	var replay []byte
	for _, m := range all.Msgs() {
		if m.Topic == cmdTopic && bytes.Contains(m.Payload, []byte(`"kind":"legal"`)) && bytes.Contains(m.Payload, []byte(`"id":"`+jti+`"`)) {
			replay = m.Payload
		}
	}
	if replay == nil {
		t.Fatal("the accepted cmd was not seen on the broker")
	}
	replay = bytes.Replace(replay, []byte(`"id":"`+jti+`"`), []byte(`"id":"replay1"`), 1)
	sendCmd(replay)
	rep := waitReply(t, all, fx.DeviceID, "replay1")
	if rep.Status != http.StatusForbidden || !strings.Contains(string(rep.Body), "replayed") {
		t.Fatalf("replayed token: %d %s", rep.Status, rep.Body)
	}
	if rep := waitReply(t, all, fx.DeviceID, "u0"); rep.Status != http.StatusForbidden {
		t.Errorf("unrequested upload URL: %d %s", rep.Status, rep.Body)
	}
	if rep := waitReply(t, all, fx.DeviceID, "g1"); rep.Status != http.StatusBadRequest {
		t.Errorf("garbage token: %d %s", rep.Status, rep.Body)
	}
	if n := trapped.Load(); n != 0 {
		t.Fatalf("%d requests reached the dishonest relay's trap", n)
	}
	out := logs.String()
	for _, want := range []string{"refused an upload URL", "refused an inbound cmd message", "cmd refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("the agent's log does not show %q", want)
		}
	}
}

// waitReply waits for the device's reply to request id.
func waitReply(t *testing.T, rec *mqtttest.Recorder, device, id string) wire.Reply {
	t.Helper()
	topic := wire.Topic(device, wire.TopicReply+id)
	var rep wire.Reply
	rec.WaitFor(t, 15*time.Second, "reply/"+id, func(ms []mqtttest.Msg) bool {
		for _, m := range ms {
			if m.Topic == topic {
				env, err := wire.Unwrap(m.Payload)
				return err == nil && json.Unmarshal(env.Msg, &rep) == nil
			}
		}
		return false
	})
	return rep
}
