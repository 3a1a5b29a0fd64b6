package device

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/config"
	"github.com/doorward/doorward/uplink/homeassistant"
	"github.com/doorward/doorward/uplink/mqtttest"
	"github.com/doorward/doorward/uplink/wire"
)

// TestAgentHomeAssistant runs the agent against a home's mosquitto with a
// subscriber on # for the whole run, and fires a ring and a motion through
// the control socket (as `doorward trigger` does). With
// homeassistant.enabled the discovery configs arrive retained, with the
// board as model and the agent's version, and the motion and ring states
// arrive in plaintext on the device's homeassistant/ topics. Without it,
// nothing is published under homeassistant/ or any topic the uplink does
// not own, and no message but status is plaintext.
func TestAgentHomeAssistant(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent against mosquitto")
	}
	for _, enabled := range []bool{true, false} {
		name := map[bool]string{true: "enabled", false: "disabled"}[enabled]
		t.Run(name, func(t *testing.T) { testAgentHomeAssistant(t, enabled) })
	}
}

func testAgentHomeAssistant(t *testing.T, enabled bool) {
	b := mqtttest.Start(t, mqtttest.Options{})
	all := mqtttest.Record(t, b.Client(t, "nosy", nil, true), "#")
	opts := simOptions(t)
	owner, _ := consent.GenerateOwnerKey(false)
	opts.Config.OwnerRecipients = []string{owner.RecipientString()}
	opts.Config.MQTT = config.MQTT{Broker: b.URL, OutboxMax: config.MiB}
	opts.Config.HomeAssistant = config.HomeAssistant{Enabled: enabled, DiscoveryPrefix: "homeassistant"}
	opts.Config.GPIO.PIRCooldown = config.Duration(time.Second) // motion stays ON this long
	a, ctx := runAgent(t, opts)
	id := a.DeviceID()
	all.WaitFor(t, 10*time.Second, "online", func(ms []mqtttest.Msg) bool {
		for _, m := range ms {
			if m.Topic == wire.Topic(id, wire.TopicStatus) && string(m.Payload) == "online" {
				return true
			}
		}
		return false
	})
	motion, bell := wire.Topic(id, homeassistant.TopicMotion), wire.Topic(id, homeassistant.TopicDoorbell)
	count := func(ms []mqtttest.Msg, topic string) (n int) {
		for _, m := range ms {
			if m.Topic == topic {
				n++
			}
		}
		return n
	}
	if enabled {
		all.WaitFor(t, 10*time.Second, "the motion state on connect", func(ms []mqtttest.Msg) bool { return count(ms, motion) > 0 })
	}
	if err := Trigger(ctx, opts.StateDir, capture.Ring); err != nil {
		t.Fatal(err)
	}
	if err := Trigger(ctx, opts.StateDir, capture.Motion); err != nil {
		t.Fatal(err)
	}
	all.WaitFor(t, 20*time.Second, "both encrypted events", func(ms []mqtttest.Msg) bool {
		return count(ms, wire.Topic(id, wire.TopicEvents)) >= 2
	})
	if !enabled {
		time.Sleep(1500 * time.Millisecond) // past the motion hold: an OFF would have come by now
		for _, m := range all.Msgs() {
			sub, ok := strings.CutPrefix(m.Topic, wire.Root+id+"/")
			switch {
			case !ok:
				t.Errorf("published on %s with homeassistant.enabled false", m.Topic)
			case sub == wire.TopicStatus:
			case sub == wire.TopicEvents || sub == wire.TopicCheckpoint || sub == wire.TopicUploadRequest || strings.HasPrefix(sub, wire.TopicReply):
				if bytes.Contains(m.Payload, []byte("motion")) || bytes.Contains(m.Payload, []byte("ring")) || bytes.Contains(m.Payload, []byte(`"ON"`)) {
					t.Errorf("%s carries event metadata in the clear: %.100s", m.Topic, m.Payload)
				}
			default:
				t.Errorf("published on %s with homeassistant.enabled false", m.Topic)
			}
		}
		return
	}
	ms := all.WaitFor(t, 10*time.Second, "motion ON and OFF and a ring", func(ms []mqtttest.Msg) bool {
		return count(ms, bell) >= 1 && count(ms, motion) >= 3 // OFF on connect, ON, OFF
	})
	var seq []string
	for _, m := range ms {
		switch m.Topic {
		case motion:
			seq = append(seq, string(m.Payload))
		case bell:
			seq = append(seq, string(m.Payload))
		}
	}
	if want := []string{"OFF", `{"event_type":"ring"}`, "ON", "OFF"}; strings.Join(seq, " ") != strings.Join(want, " ") {
		t.Errorf("Home Assistant states %q, want %q", seq, want)
	}
	// A Home Assistant that starts later gets the discovery configs.
	late := mqtttest.Record(t, b.Client(t, "home-assistant", nil, true), "homeassistant/#")
	cfgs := late.WaitFor(t, 10*time.Second, "two retained discovery configs", func(ms []mqtttest.Msg) bool { return len(ms) >= 2 })
	for _, m := range cfgs {
		var d homeassistant.Discovery
		if err := json.Unmarshal(m.Payload, &d); err != nil || !m.Retained {
			t.Fatalf("%s: %v (retained %v)", m.Topic, err, m.Retained)
		}
		if d.Device.ModelID != "sim" || d.Device.SWVersion != "test" || d.Device.SerialNumber != id || d.AvailabilityTopic != wire.Topic(id, wire.TopicStatus) {
			t.Errorf("%s: %+v", m.Topic, d)
		}
	}
}
