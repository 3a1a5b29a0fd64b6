package main

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/uplink/mqtttest"
)

// scrapeMetrics GETs url and returns its samples by name and labels as
// written in the text format.
func scrapeMetrics(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s: %s %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// TestMetricsE2E: `doorward run` with metrics.listen on loopback and an
// MQTT broker serves GET /metrics in the Prometheus text format; after
// `doorward trigger ring` the counters move: the ring, a closed clip, its
// segments and bytes, frames; the MQTT session shows connected. A
// metrics.listen on every interface without metrics.allow_remote is
// refused, naming the field.
func TestMetricsE2E(t *testing.T) {
	skipShort(t)
	t.Parallel()
	b := mqtttest.Start(t, mqtttest.Options{})
	_, recipient := ownerKey(t)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := filepath.Join(dir, "doorward.yaml")
	os.WriteFile(cfg, []byte("recording: {pre_roll: 1s, post_roll: 1s}\nmqtt: {broker: \""+b.URL+"\"}\nmetrics: {listen: \""+addr+"\"}\n"), 0o600)
	state := filepath.Join(dir, "state")
	startAgent(t, state, nil, "--owner-recipient", recipient, "--config", cfg)
	url := "http://" + addr + "/metrics"

	before := scrapeMetrics(t, url)
	for _, name := range []string{"doorward_camera_frames_total", "doorward_mqtt_outbox_messages", "doorward_upload_queue", "doorward_clips_stored_bytes", "process_cpu_seconds_total"} {
		if _, ok := before[name]; !ok {
			t.Errorf("no %s in the first scrape", name)
		}
	}
	mustRun(t, bins.doorward, "trigger", "ring", "--state", state)
	deadline := time.Now().Add(30 * time.Second)
	var after map[string]float64
	for {
		after = scrapeMetrics(t, url)
		if after["doorward_clips_total"] >= 1 && after["doorward_mqtt_connected"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a ring, no closed clip or no MQTT session in the metrics: %v", after)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if after[`doorward_events_total{kind="ring"}`] != 1 {
		t.Errorf(`doorward_events_total{kind="ring"} = %v, want 1`, after[`doorward_events_total{kind="ring"}`])
	}
	for _, name := range []string{"doorward_camera_frames_total", "doorward_clip_segments_total", "doorward_clip_bytes_total", "doorward_clips_stored_bytes"} {
		if after[name] <= before[name] {
			t.Errorf("%s did not grow: %v -> %v", name, before[name], after[name])
		}
	}
	if resp, err := http.Get("http://" + addr + "/other"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /other: %v %v", resp, err)
	}

	// Every interface, without allow_remote: refused at start.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("metrics: {listen: \":9101\"}\n"), 0o600)
	_, stderr, code := run(t, bins.doorward, "run", "--board", "sim", "--state", filepath.Join(dir, "bad"), "--config", bad, "--owner-recipient", recipient)
	if code == 0 || !strings.Contains(stderr, `metrics.listen: ":9101" is not a loopback address`) || !strings.Contains(stderr, "metrics.allow_remote") {
		t.Errorf("doorward run with metrics.listen :9101 exited %d: %s", code, stderr)
	}
}
