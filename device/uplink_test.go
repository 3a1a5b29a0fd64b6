package device

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/config"
	"github.com/doorward/doorward/uplink/mqtttest"
	"github.com/doorward/doorward/uplink/wire"
)

// TestAgentUplinkTLS: an agent with mqtt.broker set connects with its
// client certificate, announces online (retained) on its status topic, and
// says offline when it stops.
func TestAgentUplinkTLS(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{TLS: true, Relays: []string{"relay"}})
	opts := simOptions(t)
	// The device ID is known once its key exists: create it first.
	id, _, err := LoadOrCreateIdentity(filepath.Join(opts.StateDir, keyFileName), consent.Classic)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := b.ClientCert(id.ID())
	opts.Config.MQTT = config.MQTT{Broker: b.URL, CA: b.CAFile, Cert: cert, Key: key, OutboxMax: config.MiB}
	relay := b.Client(t, "relay", b.ClientTLS("relay"), true)
	status := wire.Topic(id.ID(), wire.TopicStatus)
	rec := mqtttest.Record(t, relay, status)

	a, err := NewAgent(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	rec.WaitFor(t, 10*time.Second, "online", func(ms []mqtttest.Msg) bool {
		return len(ms) > 0 && string(ms[len(ms)-1].Payload) == "online"
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rec.WaitFor(t, 10*time.Second, "offline", func(ms []mqtttest.Msg) bool {
		return string(ms[len(ms)-1].Payload) == "offline"
	})
}
