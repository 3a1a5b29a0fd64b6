package device

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/config"
	"github.com/doorward/doorward/device/events"
	"github.com/doorward/doorward/uplink/mqtttest"
	"github.com/doorward/doorward/uplink/wire"
)

// TestAgentUplinkOutageRestart: mosquitto stops, 20 rings are fired, and
// the agent itself restarts halfway while the broker is down; when the
// broker is back, all 20 reach the owner, decrypted, in order.
func TestAgentUplinkOutageRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent twice against mosquitto")
	}
	b := mqtttest.Start(t, mqtttest.Options{})
	opts := simOptions(t)
	owner, _ := consent.GenerateOwnerKey(false)
	opts.Config.OwnerRecipients = []string{owner.RecipientString()}
	opts.Config.MQTT = config.MQTT{Broker: b.URL, OutboxMax: config.MiB}
	log, logs := capturetest.NewLogger(slog.LevelDebug)
	opts.Log = log
	defer func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", logs)
		}
	}()
	start := func() (*Agent, context.CancelFunc, chan error) {
		a, err := NewAgent(opts)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		return a, cancel, done
	}
	a, stop, done := start()
	// The owner's reader keeps a session at the broker across its restart.
	sub := b.Client(t, "owner-reader", nil, false)
	rec := mqtttest.Record(t, sub, wire.Topic(a.DeviceID(), wire.TopicEvents))
	time.Sleep(500 * time.Millisecond)

	b.Stop()
	for i := range 20 {
		if i == 10 {
			stop()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			_, stop, done = start()
		}
		if err := Trigger(context.Background(), opts.StateDir, capture.Ring); err != nil {
			t.Fatal(err)
		}
	}
	defer func() { stop(); <-done }()
	b.Restart()
	var rings []events.Event
	rec.WaitFor(t, 30*time.Second, "20 rings", func(ms []mqtttest.Msg) bool {
		rings = rings[:0]
		seen := map[uint64]bool{}
		for _, m := range ms {
			env, err := wire.Unwrap(m.Payload)
			if err != nil || seen[env.ID] {
				continue
			}
			seen[env.ID] = true
			e, err := wire.OpenEvent(env.Msg, []age.Identity{owner.Identity()}...)
			if err != nil {
				t.Fatal(err)
			}
			if e.Kind == events.Ring {
				rings = append(rings, e)
			}
		}
		return len(rings) >= 20
	})
	if len(rings) != 20 {
		t.Fatalf("%d rings arrived, want 20", len(rings))
	}
	for i := 1; i < len(rings); i++ {
		if rings[i].Time.Before(rings[i-1].Time) {
			t.Fatalf("ring %d (%v) arrived before ring %d (%v): out of order", i, rings[i].Time, i-1, rings[i-1].Time)
		}
	}
}
