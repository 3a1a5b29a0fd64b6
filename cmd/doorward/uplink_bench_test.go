package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/device"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/events"
	"github.com/doorward/doorward/uplink/mqtttest"
)

// wakeups sums the context switches of every thread of pid: how often it
// went to sleep and was woken (or preempted).
func wakeups(b *testing.B, pid int) int64 {
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/status")
	if err != nil || len(tasks) == 0 {
		b.Fatalf("no threads of %d: %v", pid, err)
	}
	var n int64
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				x, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += x
			} else if v, ok := strings.CutPrefix(line, "nonvoluntary_ctxt_switches:"); ok {
				x, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += x
			}
		}
	}
	return n
}

// BenchmarkAgentIdle runs the built agent on the sim board (640x480 at 30
// fps, the pre-roll buffer filling, no event) for 40 s, once connected to a
// loopback mosquitto and once with the uplink off, and reports each one's
// CPU (percent of one core) and wakeups per second. The difference is
// what the connected uplink costs the agent (keepalives only); the rest is
// the camera pipeline and its watchdogs.
func BenchmarkAgentIdle(b *testing.B) {
	br := mqtttest.Start(b, mqtttest.Options{})
	_, recipient := ownerKeyTB(b)
	measure := func(config string) (cpu, wake float64) {
		dir := b.TempDir()
		cfg := filepath.Join(dir, "doorward.yaml")
		os.WriteFile(cfg, []byte(config), 0o600)
		a := startAgent(b, filepath.Join(dir, "state"), nil, "--owner-recipient", recipient, "--config", cfg)
		time.Sleep(8 * time.Second) // settled: pre-roll full, session up
		pid := a.cmd.Process.Pid
		u0, s0 := cpuTime(b, pid)
		w0, t0 := wakeups(b, pid), time.Now()
		const window = 40 * time.Second // CPU time comes in 10 ms ticks
		time.Sleep(window)
		u1, s1 := cpuTime(b, pid)
		w1, t1 := wakeups(b, pid), time.Now()
		a.stop()
		secs := t1.Sub(t0).Seconds()
		return (u1 - u0 + s1 - s0).Seconds() / secs * 100, float64(w1-w0) / secs
	}
	cpuUp, wakeUp := measure("mqtt: {broker: \"" + br.URL + "\"}\n")
	cpuOff, wakeOff := measure("")
	b.ReportMetric(cpuUp, "connected-%cpu")
	b.ReportMetric(wakeUp, "connected-wakeups/s")
	b.ReportMetric(cpuOff, "uplink-off-%cpu")
	b.ReportMetric(wakeOff, "uplink-off-wakeups/s")
	b.ReportMetric(cpuUp-cpuOff, "uplink-%cpu")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkEventLatencyE2E: from a ring handed to the built agent's
// control socket (what `doorward trigger ring` does) to the decrypted
// event printed by `doorwardctl events --follow --json`, through a
// loopback mosquitto, over 200 rings one at a time: p50 and p99.
func BenchmarkEventLatencyE2E(b *testing.B) {
	const n = 200
	br := mqtttest.Start(b, mqtttest.Options{})
	key, recipient := ownerKeyTB(b)
	dir := b.TempDir()
	cfg := filepath.Join(dir, "doorward.yaml")
	os.WriteFile(cfg, []byte("mqtt: {broker: \""+br.URL+"\"}\n"), 0o600)
	state := filepath.Join(dir, "state")
	startAgent(b, state, nil, "--owner-recipient", recipient, "--config", cfg)
	ctx := context.Background()
	st, err := device.Call(ctx, state, api.ControlRequest{Op: "status"})
	if err != nil {
		b.Fatal(err)
	}
	follow := exec.Command(bins.doorwardctl, "events", "--broker", br.URL, "--device", st.Status.DeviceID, "-i", key, "--follow", "--json")
	out, err := follow.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { follow.Process.Kill(); follow.Wait() }()
	rings := make(chan time.Time, n)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			at := time.Now()
			var e events.Event
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.Kind == events.Ring {
				rings <- at
			}
		}
	}()
	// Ready: a first ring arrives.
	ready := time.After(30 * time.Second)
	for ok := false; !ok; {
		if err := device.Trigger(ctx, state, capture.Ring); err != nil {
			b.Fatal(err)
		}
		select {
		case <-rings:
			ok = true
		case <-time.After(time.Second):
		case <-ready:
			b.Fatal("doorwardctl events printed no ring within 30 s")
		}
	}
	time.Sleep(time.Second)
	for len(rings) > 0 {
		<-rings
	}
	b.ReportAllocs()
	b.ResetTimer()
	var lat []time.Duration
	for i := 0; i < b.N; i++ {
		for range n {
			sent := time.Now()
			if err := device.Trigger(ctx, state, capture.Ring); err != nil {
				b.Fatal(err)
			}
			select {
			case at := <-rings:
				lat = append(lat, at.Sub(sent))
			case <-time.After(10 * time.Second):
				b.Fatal("a ring was not printed within 10 s")
			}
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}
