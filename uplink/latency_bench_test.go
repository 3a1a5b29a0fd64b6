package uplink_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"filippo.io/age"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/device/events"
	"github.com/doorward/doorward/uplink"
	"github.com/doorward/doorward/uplink/client"
	"github.com/doorward/doorward/uplink/mqtt"
	"github.com/doorward/doorward/uplink/mqtttest"
)

// BenchmarkEventLatency: from an event on the agent's bus to the owner's
// reader (the code behind doorwardctl events) holding it decrypted, over
// 200 events through a loopback mosquitto: p50 and p99.
func BenchmarkEventLatency(b *testing.B) {
	const dev, n = "aaaaaaaaaaaaaaaa", 200
	br := mqtttest.Start(b, mqtttest.Options{})
	owner, _ := age.GenerateX25519Identity()
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "state.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ob, _ := mqtt.OpenOutbox(db, 0, nil)
	s, err := mqtt.New(mqtt.Options{Broker: br.URL, DeviceID: dev, Outbox: ob})
	if err != nil {
		b.Fatal(err)
	}
	bus := events.New()
	up := uplink.New(uplink.Options{Session: s, Bus: bus, Owners: func() []age.Recipient { return []age.Recipient{owner.Recipient()} }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	go up.Run(ctx)
	got := make(chan events.Event, n)
	go client.Events(ctx, client.Options{Broker: br.URL, Clean: true}, client.EventsOptions{Device: dev, Identities: []age.Identity{owner}, Follow: true},
		func(_ uint64, e events.Event) error { got <- e; return nil })
	time.Sleep(time.Second) // connected and subscribed
	b.ReportAllocs()
	b.ResetTimer()
	var lat []time.Duration
	for i := 0; i < b.N; i++ {
		for range n {
			sent := time.Now()
			bus.Publish(events.Event{Kind: events.Ring, Time: sent})
			select {
			case <-got:
				lat = append(lat, time.Since(sent))
			case <-time.After(10 * time.Second):
				b.Fatal("an event did not arrive within 10 s")
			}
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
