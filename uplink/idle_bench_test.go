package uplink_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/device/events"
	"github.com/doorward/doorward/uplink"
	"github.com/doorward/doorward/uplink/homeassistant"
	"github.com/doorward/doorward/uplink/mqtt"
	"github.com/doorward/doorward/uplink/mqtttest"
)

// selfWakeups sums this process's threads' context switches.
func selfWakeups() int64 {
	tasks, _ := filepath.Glob("/proc/self/task/*/status")
	var n int64
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			for _, f := range []string{"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"} {
				if v, ok := strings.CutPrefix(line, f); ok {
					x, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					n += x
				}
			}
		}
	}
	return n
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkUplinkIdle: the agent's whole uplink (the MQTT session with its
// outbox, the events publisher and the Home Assistant bridge) connected to
// a loopback mosquitto with the default 60 s keepalive and nothing to
// send, for 60 s: CPU in percent of one core, and wakeups per second of
// this process (nothing else runs in it). Goal: ≤ 0.1 % (keepalives only,
// no polling).
func BenchmarkUplinkIdle(b *testing.B) {
	const dev = "aaaaaaaaaaaaaaaa"
	br := mqtttest.Start(b, mqtttest.Options{})
	owner, _ := age.GenerateX25519Identity()
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "state.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ob, _ := mqtt.OpenOutbox(db, 0, nil)
	var ha *homeassistant.Bridge
	s, err := mqtt.New(mqtt.Options{Broker: br.URL, DeviceID: dev, Outbox: ob, OnConnect: func() { ha.Connected() }})
	if err != nil {
		b.Fatal(err)
	}
	bus := events.New()
	up := uplink.New(uplink.Options{Session: s, Bus: bus, Owners: func() []age.Recipient { return []age.Recipient{owner.Recipient()} }})
	ha, _ = homeassistant.New(homeassistant.Options{Session: s, Bus: bus, DeviceID: dev})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); s.Run(ctx) }()
	go func() { defer wg.Done(); up.Run(ctx) }()
	go func() { defer wg.Done(); ha.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); !s.Connected(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("not connected after 10 s")
		}
	}
	time.Sleep(2 * time.Second) // the configs and the checkpoint went out
	b.ResetTimer()
	c0, w0, t0 := selfCPU(), selfWakeups(), time.Now()
	time.Sleep(60 * time.Second)
	c1, w1, t1 := selfCPU(), selfWakeups(), time.Now()
	b.StopTimer()
	if !s.Connected() {
		b.Fatal("the session dropped while idle")
	}
	secs := t1.Sub(t0).Seconds()
	b.ReportMetric((c1-c0).Seconds()/secs*100, "%cpu")
	b.ReportMetric(float64(w1-w0)/secs, "wakeups/s")
	b.ReportMetric(0, "ns/op")
}
