package mqtt_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/uplink/client"
	"github.com/doorward/doorward/uplink/mqtt"
	"github.com/doorward/doorward/uplink/mqtttest"
	"github.com/doorward/doorward/uplink/wire"
)

const (
	devA = "aaaaaaaaaaaaaaaa"
	devB = "bbbbbbbbbbbbbbbb"
)

// running is a session started by start, stopped by stop.
type running struct {
	s      *mqtt.Session
	db     *bbolt.DB
	cancel context.CancelFunc
	done   chan error
}

type sessionOpts struct {
	broker   *mqtttest.Broker
	url      string // instead of the broker's
	dbPath   string
	device   string
	tls      bool
	log      *slog.Logger
	inbound  func(context.Context, []byte)
	maxBytes int64
}

func start(t *testing.T, o sessionOpts) *running {
	t.Helper()
	db, err := bbolt.Open(o.dbPath, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := mqtt.OpenOutbox(db, o.maxBytes, o.log)
	if err != nil {
		t.Fatal(err)
	}
	url := o.url
	if url == "" {
		url = o.broker.URL
	}
	opts := mqtt.Options{
		Broker: url, DeviceID: o.device, Outbox: ob, Log: o.log, Inbound: o.inbound,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	}
	if o.tls {
		cert, key := o.broker.ClientCert(o.device)
		opts.TLS, err = client.TLSConfig(o.broker.CAFile, cert, key)
		if err != nil {
			t.Fatal(err)
		}
	}
	s, err := mqtt.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{s: s, db: db, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.db.Close()
	r.cancel = nil
}

func waitConnected(t *testing.T, s *mqtt.Session) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !s.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("session did not connect")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// bodies decodes the envelopes recorded on topic, dropping repeated ids
// as a receiver does, and returns their bodies in arrival order.
func bodies(t *testing.T, msgs []mqtttest.Msg, topic string) []string {
	t.Helper()
	seen := map[uint64]bool{}
	var out []string
	for _, m := range msgs {
		if m.Topic != topic {
			continue
		}
		e, err := wire.Unwrap(m.Payload)
		if err != nil {
			t.Fatalf("message on %s: %v", topic, err)
		}
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		var s string
		if err := json.Unmarshal(e.Msg, &s); err != nil {
			t.Fatalf("body %s: %v", e.Msg, err)
		}
		out = append(out, s)
	}
	return out
}

func hasAll(topic string, n int, t *testing.T) func([]mqtttest.Msg) bool {
	return func(msgs []mqtttest.Msg) bool { return len(bodies(t, msgs, topic)) >= n }
}

func body(i int) []byte { return []byte(fmt.Sprintf("%q", fmt.Sprint("event-", i))) }

func TestSessionStatusAndOrder(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := b.Client(t, "watcher", nil, true)
	rec := mqtttest.Record(t, sub, "doorward/v1/#")
	r := start(t, sessionOpts{broker: b, dbPath: filepath.Join(t.TempDir(), "state.db"), device: devA})
	waitConnected(t, r.s)
	for i := range 50 {
		if _, err := r.s.Publish(wire.TopicEvents, mqtt.Event, false, body(i)); err != nil {
			t.Fatal(err)
		}
	}
	events := wire.Topic(devA, wire.TopicEvents)
	msgs := rec.WaitFor(t, 10*time.Second, "50 events", hasAll(events, 50, t))
	for i, s := range bodies(t, msgs, events) {
		if s != fmt.Sprint("event-", i) {
			t.Fatalf("event %d is %q: out of order", i, s)
		}
	}
	status := wire.Topic(devA, wire.TopicStatus)
	if m := msgs[0]; m.Topic != status || string(m.Payload) != mqtt.Online {
		t.Fatalf("first message %s %q, want %s online", m.Topic, m.Payload, status)
	}
	// Everything acknowledged is gone from the outbox.
	deadline := time.Now().Add(5 * time.Second)
	for r.s.Outbox().Stats().Queued != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d messages", r.s.Outbox().Stats().Queued)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.stop()
	rec.WaitFor(t, 5*time.Second, "offline", func(ms []mqtttest.Msg) bool {
		last := ms[len(ms)-1]
		return last.Topic == status && string(last.Payload) == mqtt.Offline
	})
	// status is retained: a late subscriber learns it at once.
	late := mqtttest.Record(t, b.Client(t, "late", nil, true), status)
	late.WaitFor(t, 5*time.Second, "retained offline", func(ms []mqtttest.Msg) bool {
		return len(ms) == 1 && ms[0].Retained && string(ms[0].Payload) == mqtt.Offline
	})
}

// TestSessionLastWill: a session that vanishes without a goodbye (its
// connection cut) leaves offline retained by the broker's will.
func TestSessionLastWill(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	proxy := mqtttest.NewProxy(t, b)
	sub := b.Client(t, "watcher", nil, true)
	status := wire.Topic(devA, wire.TopicStatus)
	rec := mqtttest.Record(t, sub, status)
	db := filepath.Join(t.TempDir(), "state.db")
	r := start(t, sessionOpts{broker: b, url: proxy.URL, dbPath: db, device: devA})
	waitConnected(t, r.s)
	rec.WaitFor(t, 5*time.Second, "online", func(ms []mqtttest.Msg) bool {
		return len(ms) > 0 && string(ms[len(ms)-1].Payload) == mqtt.Online
	})
	proxy.Cut() // the network goes away under the session
	rec.WaitFor(t, 10*time.Second, "the will", func(ms []mqtttest.Msg) bool {
		return string(ms[len(ms)-1].Payload) == mqtt.Offline
	})
}

// TestSessionBrokerOutage: 20 events fired while the broker is down all
// arrive, in order, once it is back — also when the session itself
// restarts (the agent restarting) during the outage.
func TestSessionBrokerOutage(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			b := mqtttest.Start(t, mqtttest.Options{})
			// A persistent subscriber: the broker keeps its queue across
			// its own restart.
			sub := b.Client(t, "watcher", nil, false)
			events := wire.Topic(devA, wire.TopicEvents)
			rec := mqtttest.Record(t, sub, events)
			log, buf := capturetest.NewLogger(slog.LevelDebug)
			dbPath := filepath.Join(t.TempDir(), "state.db")
			r := start(t, sessionOpts{broker: b, dbPath: dbPath, device: devA, log: log})
			waitConnected(t, r.s)
			r.s.Publish(wire.TopicEvents, mqtt.Event, false, body(-1))
			rec.WaitFor(t, 5*time.Second, "the first event", hasAll(events, 1, t))

			b.Stop()
			for i := range 20 {
				if i == 10 && restart {
					r.stop()
					r = start(t, sessionOpts{broker: b, dbPath: dbPath, device: devA, log: log})
				}
				if _, err := r.s.Publish(wire.TopicEvents, mqtt.Event, false, body(i)); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(300 * time.Millisecond) // a few failed reconnects
			if r.s.Connected() {
				t.Fatal("connected with the broker down")
			}
			b.Restart()
			msgs := rec.WaitFor(t, 20*time.Second, "21 events", hasAll(events, 21, t))
			got := bodies(t, msgs, events)
			if len(got) != 21 {
				t.Fatalf("got %d distinct events, want 21: %q", len(got), got)
			}
			for i, s := range got[1:] {
				if s != fmt.Sprint("event-", i) {
					t.Fatalf("after the outage, event %d is %q: lost or out of order (%q)", i, s, got)
				}
			}
			// Reconnect attempts are logged once per state change, not
			// once per attempt.
			want := 0 // the session that lost the broker says so once
			if restart {
				want = 1 // and the restarted one, which never reached it
			}
			if n := buf.Count("msg=\"mqtt: cannot reach the broker"); n != want {
				t.Fatalf("logged %d unreachable warnings, want %d:\n%s", n, want, buf)
			}
			if n := buf.Count("connection lost"); n != 1 {
				t.Fatalf("logged %d connection-lost lines, want 1:\n%s", n, buf)
			}
		})
	}
}

// TestSessionInbound: cmd messages reach Inbound in order, including those
// sent while the device was offline (persistent session).
func TestSessionInbound(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	var mu sync.Mutex
	var got []string
	in := func(_ context.Context, p []byte) {
		mu.Lock()
		got = append(got, string(p))
		mu.Unlock()
	}
	dbPath := filepath.Join(t.TempDir(), "state.db")
	r := start(t, sessionOpts{broker: b, dbPath: dbPath, device: devA, inbound: in})
	waitConnected(t, r.s)
	r.stop()
	pub := b.Client(t, "relay", nil, true)
	cmd := wire.Topic(devA, wire.TopicCmd)
	for i := range 5 {
		if tok := pub.Publish(cmd, 1, false, fmt.Sprint("cmd-", i)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	r = start(t, sessionOpts{broker: b, dbPath: dbPath, device: devA, inbound: in})
	waitConnected(t, r.s)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d of 5 queued cmd messages", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, s := range got {
		if s != fmt.Sprint("cmd-", i) {
			t.Fatalf("cmd %d is %q (%q)", i, s, got)
		}
	}
}

// TestTLSACL: with client certificates and the device ACL, device A's
// certificate can neither read nor write device B's topics, while its own
// work.
func TestTLSACL(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{TLS: true, Relays: []string{"relay"}})
	relay := b.Client(t, "relay", b.ClientTLS("relay"), true)
	all := mqtttest.Record(t, relay, "doorward/v1/#")

	// A's session works over TLS with its certificate.
	r := start(t, sessionOpts{broker: b, dbPath: filepath.Join(t.TempDir(), "state.db"), device: devA, tls: true})
	waitConnected(t, r.s)
	r.s.Publish(wire.TopicEvents, mqtt.Event, false, body(0))
	all.WaitFor(t, 5*time.Second, "A's event", hasAll(wire.Topic(devA, wire.TopicEvents), 1, t))

	// A's certificate used by an intruder: subscribe to B, publish as B.
	intruder := b.Client(t, devA+"-x", b.ClientTLS(devA), true)
	spy := mqtttest.Record(t, intruder, "doorward/v1/"+devB+"/#")
	wide := mqtttest.Record(t, intruder, "doorward/v1/#")
	tok := intruder.Publish(wire.Topic(devB, wire.TopicEvents), 1, false, "forged")
	tok.WaitTimeout(5 * time.Second)
	tok = intruder.Publish(wire.Topic(devB, wire.TopicStatus), 1, true, "offline")
	tok.WaitTimeout(5 * time.Second)

	// B publishes on its own topic.
	bc := b.Client(t, devB, b.ClientTLS(devB), true)
	tok = bc.Publish(wire.Topic(devB, wire.TopicEvents), 1, false, "b-secret")
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	all.WaitFor(t, 5*time.Second, "B's own event at the relay", func(ms []mqtttest.Msg) bool {
		for _, m := range ms {
			if string(m.Payload) == "b-secret" {
				return true
			}
		}
		return false
	})
	time.Sleep(300 * time.Millisecond)
	for _, m := range append(spy.Msgs(), wide.Msgs()...) {
		if m.Topic != wire.Topic(devA, wire.TopicEvents) && m.Topic != wire.Topic(devA, wire.TopicStatus) {
			t.Errorf("A's certificate read %s: %q", m.Topic, m.Payload)
		}
	}
	for _, m := range all.Msgs() {
		if string(m.Payload) == "forged" || (m.Topic == wire.Topic(devB, wire.TopicStatus)) {
			t.Errorf("A's certificate wrote %s: %q", m.Topic, m.Payload)
		}
	}
	// No certificate: refused outright.
	o := paho.NewClientOptions().AddBroker(b.URL).SetClientID("anon").SetTLSConfig(&tls.Config{RootCAs: b.ClientTLS("x").RootCAs})
	c := paho.NewClient(o)
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		c.Disconnect(0)
		t.Fatal("a client without a certificate connected")
	}
}
