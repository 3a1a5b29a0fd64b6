package mqtt_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/uplink/mqtt"
	"github.com/doorward/doorward/uplink/mqtttest"
	"github.com/doorward/doorward/uplink/wire"
)

const benchEvents = 10_000

// BenchmarkOutboxDrain: 10,000 events queued while offline drain after
// the session connects, until the broker acknowledged every one (compare
// msgs/s with BenchmarkPahoQoS1, measured in the same run against the
// same mosquitto).
func BenchmarkOutboxDrain(b *testing.B) {
	br := mqtttest.Start(b, mqtttest.Options{})
	body := []byte(`{"age":"YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBleGFtcGxlCg=="}`)
	b.ReportAllocs()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db := openBenchDB(b, filepath.Join(b.TempDir(), "state.db"))
		ob, err := mqtt.OpenOutbox(db, 0, nil)
		if err != nil {
			b.Fatal(err)
		}
		for range benchEvents { // queued while offline
			if _, err := ob.Put(wire.Topic(devA, wire.TopicEvents), mqtt.Event, false, body); err != nil {
				b.Fatal(err)
			}
		}
		s, err := mqtt.New(mqtt.Options{Broker: br.URL, DeviceID: devA, ClientID: fmt.Sprint("bench-", i), Outbox: ob})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		b.StartTimer()
		start := time.Now()
		go func() { s.Run(ctx); close(done) }()
		for ob.Stats().Queued > 0 {
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
		b.StopTimer()
		cancel()
		<-done
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(benchEvents*b.N)/total.Seconds(), "msgs/s")
}

// BenchmarkPahoQoS1 is the baseline: a bare paho client publishing
// 10,000 QoS 1 messages as fast as it can and waiting for every PUBACK.
func BenchmarkPahoQoS1(b *testing.B) {
	br := mqtttest.Start(b, mqtttest.Options{})
	c := br.Client(b, "bare", nil, true)
	payload := []byte(`{"id":1,"msg":{"age":"YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBleGFtcGxlCg=="}}`)
	topic := wire.Topic(devA, wire.TopicEvents)
	b.ReportAllocs()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		toks := make([]paho.Token, 0, benchEvents)
		for range benchEvents {
			toks = append(toks, c.Publish(topic, 1, false, payload))
		}
		for _, t := range toks {
			t.Wait()
			if t.Error() != nil {
				b.Fatal(t.Error())
			}
		}
	}
	b.ReportMetric(float64(benchEvents*b.N)/time.Since(start).Seconds(), "msgs/s")
}

func openBenchDB(b *testing.B, path string) *bbolt.DB {
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	return db
}
