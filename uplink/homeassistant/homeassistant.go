// Package homeassistant publishes a device's motion and doorbell to Home
// Assistant over the home's MQTT broker, with MQTT discovery: a
// binary_sensor (device_class motion) and an event entity (device_class
// doorbell, event type ring) under one Home Assistant device, available
// while doorward/v1/<id>/status says online.
//
// It is the one place where event metadata leaves the device in plaintext
// (when motion was seen, when someone rang), which is why the agent runs
// it only with homeassistant.enabled: true. It publishes states and
// discovery configs, never media or thumbnails. States are live: they are
// published only while the session is connected, never queued, so a ring
// from during an outage does not chime hours later; the encrypted events
// topic keeps the owners' history.
package homeassistant

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/doorward/doorward/device/events"
	"github.com/doorward/doorward/uplink/mqtt"
	"github.com/doorward/doorward/uplink/wire"
)

// Publisher publishes live, unqueued messages on full topic names (the
// MQTT session's PublishNow).
type Publisher interface {
	PublishNow(topic string, retained bool, payload []byte) error
}

// Options configure a Bridge.
type Options struct {
	Session Publisher
	Bus     *events.Bus
	// DeviceID is the device's ID (the topic root and the identifiers).
	DeviceID string
	// Model is the board profile's name; Version the firmware version.
	Model, Version string
	// Prefix is Home Assistant's discovery prefix (default homeassistant).
	Prefix string
	// MotionHold is how long motion stays ON after the last motion event
	// (default 10 s: the PIR's cooldown, within which it reports no new
	// motion).
	MotionHold time.Duration
	Log        *slog.Logger
}

// The state topics, under doorward/v1/<id>/.
const (
	TopicMotion   = "homeassistant/motion"   // ON or OFF
	TopicDoorbell = "homeassistant/doorbell" // {"event_type":"ring"}
)

// Motion states.
const (
	On  = "ON"
	Off = "OFF"
)

// Bridge turns motion and ring events into Home Assistant states.
type Bridge struct {
	opts      Options
	log       *slog.Logger
	sub       *events.Sub
	connected chan struct{}
}

// New returns a bridge, already subscribed to motion and ring on the bus.
func New(opts Options) (*Bridge, error) {
	if err := wire.CheckDeviceID(opts.DeviceID); err != nil {
		return nil, errors.New("homeassistant: " + err.Error())
	}
	if opts.Session == nil {
		return nil, errors.New("homeassistant: no MQTT session")
	}
	if opts.Prefix == "" {
		opts.Prefix = "homeassistant"
	}
	if opts.MotionHold <= 0 {
		opts.MotionHold = 10 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Bridge{
		opts: opts, log: opts.Log, connected: make(chan struct{}, 1),
		sub: opts.Bus.Subscribe("homeassistant", 64, events.Motion, events.Ring),
	}, nil
}

// Connected tells the bridge that the session (re)connected, so it
// publishes the discovery configs and the motion state again. It never
// blocks (the session's OnConnect).
func (b *Bridge) Connected() {
	select {
	case b.connected <- struct{}{}:
	default:
	}
}

// Run publishes until ctx is done; then it unsubscribes.
func (b *Bridge) Run(ctx context.Context) {
	defer b.sub.Close()
	motion := false
	hold := time.NewTimer(time.Hour)
	hold.Stop()
	defer hold.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.connected:
			b.announce(motion)
		case <-hold.C:
			motion = false
			b.publish(TopicMotion, []byte(Off))
		case e, ok := <-b.sub.C():
			if !ok {
				return
			}
			switch e.Kind {
			case events.Motion:
				hold.Reset(b.opts.MotionHold)
				if !motion {
					motion = true
					b.publish(TopicMotion, []byte(On))
				}
			case events.Ring:
				b.publish(TopicDoorbell, []byte(`{"event_type":"ring"}`))
			}
		}
	}
}

// announce publishes both discovery configs (retained) and the current
// motion state.
func (b *Bridge) announce(motion bool) {
	for _, c := range b.Configs() {
		body, _ := json.Marshal(c.Payload)
		if err := b.opts.Session.PublishNow(c.Topic, true, body); err != nil {
			b.log.Warn("homeassistant: publishing a discovery config", "topic", c.Topic, "err", err)
			return
		}
	}
	state := Off
	if motion {
		state = On
	}
	b.publish(TopicMotion, []byte(state))
	b.log.Info("homeassistant: published the discovery configs", "prefix", b.opts.Prefix)
}

func (b *Bridge) publish(sub string, payload []byte) {
	err := b.opts.Session.PublishNow(wire.Topic(b.opts.DeviceID, sub), false, payload)
	if errors.Is(err, mqtt.ErrOffline) {
		b.log.Debug("homeassistant: offline; a live state is not queued", "topic", sub)
	} else if err != nil {
		b.log.Warn("homeassistant: publishing a state", "topic", sub, "err", err)
	}
}

// Config is one discovery config: its topic and its payload.
type Config struct {
	Topic   string
	Payload Discovery
}

// Discovery is a Home Assistant MQTT discovery payload (the fields the two
// entities use).
type Discovery struct {
	Name                string   `json:"name"`
	UniqueID            string   `json:"unique_id"`
	DeviceClass         string   `json:"device_class"`
	StateTopic          string   `json:"state_topic"`
	PayloadOn           string   `json:"payload_on,omitempty"`
	PayloadOff          string   `json:"payload_off,omitempty"`
	EventTypes          []string `json:"event_types,omitempty"`
	AvailabilityTopic   string   `json:"availability_topic"`
	PayloadAvailable    string   `json:"payload_available"`
	PayloadNotAvailable string   `json:"payload_not_available"`
	QoS                 int      `json:"qos"`
	Device              Device   `json:"device"`
	Origin              Origin   `json:"origin"`
}

// Device is the Home Assistant device both entities belong to.
type Device struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
	ModelID      string   `json:"model_id,omitempty"`
	SWVersion    string   `json:"sw_version"`
	SerialNumber string   `json:"serial_number"`
}

// Origin names the software that publishes the discovery config.
type Origin struct {
	Name      string `json:"name"`
	SWVersion string `json:"sw_version"`
}

// Configs returns the two discovery configs: the motion binary_sensor and
// the doorbell event entity, under
// <prefix>/<component>/doorward_<id>/<object>/config.
func (b *Bridge) Configs() []Config {
	id := b.opts.DeviceID
	node := "doorward_" + id
	dev := Device{
		Identifiers: []string{node}, Name: "Doorward " + id, Manufacturer: "Doorward",
		Model: "Doorward doorbell", ModelID: b.opts.Model, SWVersion: b.opts.Version, SerialNumber: id,
	}
	base := Discovery{
		AvailabilityTopic: wire.Topic(id, wire.TopicStatus), PayloadAvailable: mqtt.Online, PayloadNotAvailable: mqtt.Offline,
		QoS: 1, Device: dev, Origin: Origin{Name: "Doorward", SWVersion: b.opts.Version},
	}
	motion, bell := base, base
	motion.Name, motion.UniqueID, motion.DeviceClass = "Motion", node+"_motion", "motion"
	motion.StateTopic, motion.PayloadOn, motion.PayloadOff = wire.Topic(id, TopicMotion), On, Off
	bell.Name, bell.UniqueID, bell.DeviceClass = "Doorbell", node+"_doorbell", "doorbell"
	bell.StateTopic, bell.EventTypes = wire.Topic(id, TopicDoorbell), []string{"ring"}
	return []Config{
		{Topic: b.opts.Prefix + "/binary_sensor/" + node + "/motion/config", Payload: motion},
		{Topic: b.opts.Prefix + "/event/" + node + "/doorbell/config", Payload: bell},
	}
}
