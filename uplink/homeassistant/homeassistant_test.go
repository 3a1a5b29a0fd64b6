package homeassistant_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/device/events"
	"github.com/doorward/doorward/uplink/homeassistant"
	"github.com/doorward/doorward/uplink/mqtt"
	"github.com/doorward/doorward/uplink/mqtttest"
	"github.com/doorward/doorward/uplink/wire"
)

const dev = "abcdefghijklmnop"

// rig runs a session and a bridge against a real mosquitto.
func rig(t *testing.T, b *mqtttest.Broker, bus *events.Bus, prefix string) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "state.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ob, err := mqtt.OpenOutbox(db, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var br *homeassistant.Bridge
	s, err := mqtt.New(mqtt.Options{Broker: b.URL, DeviceID: dev, Outbox: ob, MinBackoff: 50 * time.Millisecond,
		OnConnect: func() { br.Connected() }})
	if err != nil {
		t.Fatal(err)
	}
	br, err = homeassistant.New(homeassistant.Options{Session: s, Bus: bus, DeviceID: dev, Model: "sim", Version: "v1.2.3",
		Prefix: prefix, MotionHold: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.Run(ctx) }()
	go func() { defer wg.Done(); br.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// haDiscovery is what Home Assistant's MQTT integration reads from a
// discovery payload, with the abbreviations it also accepts left out.
type haDiscovery struct {
	Name                string          `json:"name"`
	UniqueID            string          `json:"unique_id"`
	DeviceClass         string          `json:"device_class"`
	StateTopic          string          `json:"state_topic"`
	PayloadOn           string          `json:"payload_on"`
	PayloadOff          string          `json:"payload_off"`
	EventTypes          []string        `json:"event_types"`
	AvailabilityTopic   string          `json:"availability_topic"`
	PayloadAvailable    string          `json:"payload_available"`
	PayloadNotAvailable string          `json:"payload_not_available"`
	Device              json.RawMessage `json:"device"`
}

type haDevice struct {
	Identifiers []string `json:"identifiers"`
	Name        string   `json:"name"`
	Model       string   `json:"model"`
	ModelID     string   `json:"model_id"`
	SWVersion   string   `json:"sw_version"`
}

func find(ms []mqtttest.Msg, topic string) (mqtttest.Msg, bool) {
	for _, m := range ms {
		if m.Topic == topic {
			return m, true
		}
	}
	return mqtttest.Msg{}, false
}

// TestDiscoveryAndStates: the discovery configs arrive retained (a client
// that subscribes afterwards gets them) and parse as Home Assistant reads
// them: a motion binary_sensor and a doorbell event entity with event type
// ring, under one device with the model, firmware version and device ID,
// available from status. A motion turns the sensor ON, then OFF after the
// hold; a ring arrives as an event of type ring.
func TestDiscoveryAndStates(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	states := mqtttest.Record(t, b.Client(t, "ha-states", nil, true), wire.Root+dev+"/#")
	bus := events.New()
	rig(t, b, bus, "homeassistant")
	// The motion state follows the configs on the same connection: once it
	// is here, the configs are retained at the broker.
	states.WaitFor(t, 10*time.Second, "the initial motion state", func(ms []mqtttest.Msg) bool { return len(ms) > 1 })

	late := mqtttest.Record(t, b.Client(t, "home-assistant", nil, true), "homeassistant/#")
	motionTopic := "homeassistant/binary_sensor/doorward_" + dev + "/motion/config"
	bellTopic := "homeassistant/event/doorward_" + dev + "/doorbell/config"
	ms := late.WaitFor(t, 10*time.Second, "both discovery configs", func(ms []mqtttest.Msg) bool {
		_, a := find(ms, motionTopic)
		_, c := find(ms, bellTopic)
		return a && c
	})
	var devices []haDevice
	parse := func(topic string) haDiscovery {
		t.Helper()
		m, _ := find(ms, topic)
		if !m.Retained {
			t.Errorf("%s: not retained", topic)
		}
		var d haDiscovery
		if err := json.Unmarshal(m.Payload, &d); err != nil {
			t.Fatalf("%s: %v: %s", topic, err, m.Payload)
		}
		if d.AvailabilityTopic != wire.Topic(dev, wire.TopicStatus) || d.PayloadAvailable != "online" || d.PayloadNotAvailable != "offline" {
			t.Errorf("%s: availability %q %q %q", topic, d.AvailabilityTopic, d.PayloadAvailable, d.PayloadNotAvailable)
		}
		if d.UniqueID == "" || d.Name == "" || !strings.HasPrefix(d.StateTopic, wire.Root+dev+"/") {
			t.Errorf("%s: %+v", topic, d)
		}
		var dv haDevice
		if err := json.Unmarshal(d.Device, &dv); err != nil {
			t.Fatal(err)
		}
		devices = append(devices, dv)
		return d
	}
	motion, bell := parse(motionTopic), parse(bellTopic)
	if motion.DeviceClass != "motion" || motion.PayloadOn != "ON" || motion.PayloadOff != "OFF" {
		t.Errorf("motion config: %+v", motion)
	}
	if bell.DeviceClass != "doorbell" || !slices.Equal(bell.EventTypes, []string{"ring"}) {
		t.Errorf("doorbell config: %+v", bell)
	}
	if motion.UniqueID == bell.UniqueID {
		t.Errorf("both entities have unique_id %q", motion.UniqueID)
	}
	for _, dv := range devices {
		if !slices.Contains(dv.Identifiers, "doorward_"+dev) || dv.ModelID != "sim" || dv.Model == "" || dv.SWVersion != "v1.2.3" {
			t.Errorf("device: %+v", dv)
		}
	}
	if !slices.Equal(devices[0].Identifiers, devices[1].Identifiers) {
		t.Errorf("the entities are under two devices: %v, %v", devices[0].Identifiers, devices[1].Identifiers)
	}

	// States.
	n := len(states.Msgs())
	bus.Publish(events.Event{Kind: events.Motion})
	bus.Publish(events.Event{Kind: events.Ring})
	got := states.WaitFor(t, 10*time.Second, "motion ON, ring, motion OFF", func(ms []mqtttest.Msg) bool {
		var seq []string
		for _, m := range ms[n:] {
			if m.Topic == motion.StateTopic || m.Topic == bell.StateTopic {
				seq = append(seq, string(m.Payload))
			}
		}
		return len(seq) >= 3
	})
	var seq []string
	for _, m := range got[n:] {
		switch m.Topic {
		case motion.StateTopic:
			seq = append(seq, string(m.Payload))
		case bell.StateTopic:
			var ev struct {
				EventType string `json:"event_type"`
			}
			if err := json.Unmarshal(m.Payload, &ev); err != nil || !slices.Contains(bell.EventTypes, ev.EventType) {
				t.Errorf("doorbell state %s (%v): not an event of a type the config lists", m.Payload, err)
			}
			seq = append(seq, ev.EventType)
		}
		if m.Retained {
			t.Errorf("state on %s is retained", m.Topic)
		}
	}
	if !slices.Equal(seq, []string{"ON", "ring", "OFF"}) {
		t.Errorf("states %v, want [ON ring OFF]", seq)
	}
}

// TestMotionHoldExtends: motion within the hold keeps the sensor ON (no
// OFF, no second ON).
func TestMotionHoldExtends(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	states := mqtttest.Record(t, b.Client(t, "ha-states", nil, true), wire.Root+dev+"/"+homeassistant.TopicMotion)
	bus := events.New()
	rig(t, b, bus, "home/ha")
	// Connected: the current state (OFF) was published.
	states.WaitFor(t, 10*time.Second, "the initial OFF", func(ms []mqtttest.Msg) bool { return len(ms) > 0 })
	n := len(states.Msgs())
	for range 4 {
		bus.Publish(events.Event{Kind: events.Motion})
		time.Sleep(150 * time.Millisecond) // within the 300 ms hold
	}
	ms := states.WaitFor(t, 10*time.Second, "OFF", func(ms []mqtttest.Msg) bool {
		return len(ms) > n && string(ms[len(ms)-1].Payload) == "OFF"
	})
	var seq []string
	for _, m := range ms[n:] {
		seq = append(seq, string(m.Payload))
	}
	if !slices.Equal(seq, []string{"ON", "OFF"}) {
		t.Errorf("states %v, want [ON OFF]", seq)
	}
}
