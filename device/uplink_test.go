package device

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/device/config"
	"github.com/doorward/doorward/device/events"
	"github.com/doorward/doorward/uplink/client"
	"github.com/doorward/doorward/uplink/mqtttest"
	"github.com/doorward/doorward/uplink/wire"
)

// uplinkAgent starts an agent whose uplink uses a TLS mosquitto with its
// own client certificate, and returns it with the broker, the owner key
// and a relay-privileged client recording every topic.
type uplinkRig struct {
	a     *Agent
	ctx   context.Context
	b     *mqtttest.Broker
	owner *consent.OwnerKey
	all   *mqtttest.Recorder
	relay client.Options
	id    string
	stop  context.CancelFunc
	done  chan error
	opts  Options
}

func startUplinkAgent(t *testing.T) *uplinkRig {
	t.Helper()
	b := mqtttest.Start(t, mqtttest.Options{TLS: true, Relays: []string{"relay"}})
	opts := simOptions(t)
	owner, err := consent.GenerateOwnerKey(false)
	if err != nil {
		t.Fatal(err)
	}
	opts.Config.OwnerRecipients = []string{owner.RecipientString()}
	// The device ID is known once its key exists: create it first.
	id, _, err := LoadOrCreateIdentity(filepath.Join(opts.StateDir, keyFileName), consent.Classic)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := b.ClientCert(id.ID())
	opts.Config.MQTT = config.MQTT{Broker: b.URL, CA: b.CAFile, Cert: cert, Key: key, OutboxMax: config.MiB}
	rcert, rkey := b.ClientCert("relay")
	r := &uplinkRig{b: b, owner: owner, id: id.ID(), opts: opts,
		relay: client.Options{Broker: b.URL, CA: b.CAFile, Cert: rcert, Key: rkey, Clean: true}}
	r.all = mqtttest.Record(t, b.Client(t, "relay-watch", b.ClientTLS("relay"), true), "#")
	a, err := NewAgent(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.a, r.ctx, r.stop, r.done = a, ctx, cancel, make(chan error, 1)
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	r.all.WaitFor(t, 10*time.Second, "online", func(ms []mqtttest.Msg) bool {
		for _, m := range ms {
			if m.Topic == wire.Topic(r.id, wire.TopicStatus) && string(m.Payload) == "online" {
				return true
			}
		}
		return false
	})
	return r
}

// TestAgentUplinkStatus: the agent announces online (retained) with its
// client certificate and says offline when it stops.
func TestAgentUplinkStatus(t *testing.T) {
	r := startUplinkAgent(t)
	r.stop()
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
	r.done <- nil
	status := wire.Topic(r.id, wire.TopicStatus)
	rec := mqtttest.Record(t, r.b.Client(t, "late", r.b.ClientTLS("relay"), true), status)
	rec.WaitFor(t, 10*time.Second, "retained offline", func(ms []mqtttest.Msg) bool {
		return len(ms) > 0 && ms[len(ms)-1].Retained && string(ms[len(ms)-1].Payload) == "offline"
	})
}

// TestAgentUplinkEvents: a ring and a motion reach the owner encrypted:
// doorwardctl's reader decrypts them with the owner key, while the broker
// (a subscriber on #) sees no event in the clear. The audit checkpoint is
// retained.
func TestAgentUplinkEvents(t *testing.T) {
	r := startUplinkAgent(t)
	got := make(chan events.Event, 16)
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	go client.Events(ctx, r.relay, client.EventsOptions{Device: r.id, Follow: true, Identities: []age.Identity{r.owner.Identity()}},
		func(_ uint64, e events.Event) error { got <- e; return nil })
	time.Sleep(500 * time.Millisecond) // the reader subscribes
	if err := Trigger(r.ctx, r.opts.StateDir, capture.Ring); err != nil {
		t.Fatal(err)
	}
	if err := Trigger(r.ctx, r.opts.StateDir, capture.Motion); err != nil {
		t.Fatal(err)
	}
	var kinds []events.Kind
	deadline := time.After(15 * time.Second)
	for len(kinds) < 2 {
		select {
		case e := <-got:
			kinds = append(kinds, e.Kind)
		case <-deadline:
			t.Fatalf("decrypted events: %v, want ring and motion", kinds)
		}
	}
	if kinds[0] != events.Ring || kinds[1] != events.Motion {
		t.Fatalf("decrypted events %v, want [ring motion]", kinds)
	}
	for _, m := range r.all.Msgs() {
		if m.Topic != wire.Topic(r.id, wire.TopicEvents) {
			continue
		}
		if bytes.Contains(m.Payload, []byte("ring")) || bytes.Contains(m.Payload, []byte("motion")) {
			t.Fatalf("plaintext event on the broker: %s", m.Payload)
		}
		env, err := wire.Unwrap(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		var s wire.Sealed
		if err := json.Unmarshal(env.Msg, &s); err != nil || !bytes.HasPrefix(s.Age, []byte("age-encryption.org/v1")) {
			t.Fatalf("events message is not an age file: %s", env.Msg)
		}
	}
	cp := mqtttest.Record(t, r.b.Client(t, "cp", r.b.ClientTLS("relay"), true), wire.Topic(r.id, wire.TopicCheckpoint))
	cp.WaitFor(t, 10*time.Second, "the retained checkpoint", func(ms []mqtttest.Msg) bool {
		if len(ms) == 0 || !ms[0].Retained {
			return false
		}
		env, err := wire.Unwrap(ms[0].Payload)
		if err != nil {
			return false
		}
		var c wire.Checkpoint
		if json.Unmarshal(env.Msg, &c) != nil {
			return false
		}
		_, err = audit.ParseCheckpoint([]byte(c.Checkpoint))
		return err == nil
	})
}

// TestAgentUplinkCmd: statements and tokens on cmd get the LAN API's own
// status and reason on reply/<id>; malformed and unknown messages are
// refused with a reason, counted, and the session lives on.
func TestAgentUplinkCmd(t *testing.T) {
	r := startUplinkAgent(t)
	pub := r.b.Client(t, "relay-pub", r.b.ClientTLS("relay"), true)
	cmd := wire.Topic(r.id, wire.TopicCmd)
	send := func(payload string) {
		t.Helper()
		if tok := pub.Publish(cmd, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	reply := func(id string) wire.Reply {
		t.Helper()
		topic := wire.Topic(r.id, wire.TopicReply+id)
		ms := r.all.WaitFor(t, 10*time.Second, "reply/"+id, func(ms []mqtttest.Msg) bool {
			for _, m := range ms {
				if m.Topic == topic {
					return true
				}
			}
			return false
		})
		for _, m := range ms {
			if m.Topic == topic {
				env, err := wire.Unwrap(m.Payload)
				if err != nil {
					t.Fatal(err)
				}
				var rep wire.Reply
				if err := json.Unmarshal(env.Msg, &rep); err != nil {
					t.Fatal(err)
				}
				return rep
			}
		}
		panic("unreachable")
	}
	reason := func(body []byte) string {
		var e struct{ Reason string }
		json.Unmarshal(body, &e)
		return e.Reason
	}

	// A forged grant and a forged token: the same answer as on the LAN.
	other, _ := consent.GenerateOwnerKey(false)
	grant, err := consent.Sign("grant", map[string]any{"jti": "g1", "aud": r.id}, other.SigningKey(), consent.KeyID(other.SigningPublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ id, kind, statement, path string }{
		{"g1", "statement", "grant", "/api/v1/grants"},
		{"t1", "legal", "", "/api/v1/legal"},
	} {
		m, _ := json.Marshal(wire.Cmd{ID: c.id, Kind: c.kind, Statement: c.statement, JWS: grant})
		send(string(m))
		got := reply(c.id)
		resp, err := http.Post("http://"+r.a.lan.Addr()+c.path, "application/json", bytes.NewReader(grant))
		if err != nil {
			t.Fatal(err)
		}
		var lanBody bytes.Buffer
		lanBody.ReadFrom(resp.Body)
		resp.Body.Close()
		if got.Status != resp.StatusCode || reason(got.Body) != reason(lanBody.Bytes()) || got.Status < 400 {
			t.Errorf("%s over cmd: %d %s; over the LAN: %d %s", c.kind, got.Status, got.Body, resp.StatusCode, lanBody.Bytes())
		}
	}
	// Malformed and unknown: refused with a reason.
	send(`{"id":"m1","kind":"explode"}`)
	if rep := reply("m1"); rep.Status != 400 || reason(rep.Body) != "malformed" {
		t.Errorf("unknown kind: %d %s", rep.Status, rep.Body)
	}
	send("\x00garbage")
	send(`{"id":"u1","kind":"upload","upload":{"object":"` + r.id + `/disclosures/x/000001.m4s.age","url":"http://127.0.0.1:1/steal"}}`)
	if rep := reply("u1"); rep.Status < 400 || reason(rep.Body) != "upload-unrequested" {
		t.Errorf("unrequested upload URL: %d %s", rep.Status, rep.Body)
	}
	// Still alive and answering.
	m, _ := json.Marshal(wire.Cmd{ID: "g2", Kind: "statement", Statement: "revoke", JWS: grant})
	send(string(m))
	if rep := reply("g2"); rep.Status < 400 {
		t.Errorf("forged revoke: %d %s", rep.Status, rep.Body)
	}
}
