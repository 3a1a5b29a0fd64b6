package metrics_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/device/events"
	"github.com/doorward/doorward/device/metrics"
)

// scrape returns every sample of the text exposition, by name and labels
// exactly as written (`doorward_events_total{kind="ring"}`).
func scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// waitFor scrapes until ok holds (the bus's events are counted by Run).
func waitFor(t *testing.T, h http.Handler, ok func(map[string]float64) bool) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := scrape(t, h)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never matched: %v", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMetricsFromSourcesAndBus(t *testing.T) {
	bus := events.New()
	frames := uint64(0)
	state := metrics.MQTTState{Connected: true, OutboxMessages: 3, OutboxBytes: 300, OutboxDropped: 1}
	m := metrics.New(metrics.Sources{
		Bus: bus, Frames: func() uint64 { return frames }, FramesDropped: func() uint64 { return 2 },
		StoredBytes: func() int64 { return 1 << 20 }, UploadQueue: func() (int, error) { return 4, nil },
		MQTT: func() metrics.MQTTState { return state }, Version: "v9", Board: "sim",
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	h := m.Handler()

	frames = 30
	s := scrape(t, h)
	for name, want := range map[string]float64{
		"doorward_camera_frames_total":                     30,
		"doorward_camera_frames_dropped_total":             2,
		"doorward_clips_stored_bytes":                      1 << 20,
		"doorward_upload_queue":                            4,
		"doorward_mqtt_connected":                          1,
		"doorward_mqtt_outbox_messages":                    3,
		"doorward_mqtt_outbox_bytes":                       300,
		"doorward_mqtt_outbox_dropped_total":               1,
		`doorward_build_info{board="sim",version="v9"}`:    1,
		`doorward_bus_dropped_total{subscriber="metrics"}`: 0,
		"doorward_clips_total":                             0,
	} {
		if got, ok := s[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if _, ok := s["process_cpu_seconds_total"]; !ok {
		t.Error("no process metrics")
	}
	state.Connected = false
	if s := scrape(t, h); s["doorward_mqtt_connected"] != 0 {
		t.Error("doorward_mqtt_connected stays 1 after the session went down")
	}

	for _, e := range []events.Event{
		{Kind: events.Ring}, {Kind: events.Motion}, {Kind: events.Motion},
		{Kind: events.SegmentCommitted, Bytes: 1000}, {Kind: events.SegmentCommitted, Bytes: 500}, {Kind: events.ClipClosed},
		{Kind: events.Decision, Decision: "grant", Outcome: "accepted", Authority: "grant:g1"},
		{Kind: events.Decision, Decision: "grant", Outcome: "bad-signature"},
		{Kind: events.Decision, Decision: "legal", Outcome: "quorum-not-met"},
		// A legal token whose owner notice is delayed: nothing may show it.
		{Kind: events.Decision, Decision: "legal", Outcome: "accepted"},
		{Kind: events.JobState, Job: "d1", State: "running"},
		{Kind: events.JobState, Job: "j1", State: "running", Authority: "grant:g1"},
		{Kind: events.JobState, Job: "j1", State: "pending", Authority: "grant:g1"},
		{Kind: events.JobState, Job: "j1", State: "running", Authority: "grant:g1"},
		{Kind: events.JobState, Job: "j1", State: "uploaded", Authority: "grant:g1", Bytes: 4096},
		{Kind: events.JobState, Job: "j1", State: "delivered", Authority: "grant:g1"},
		{Kind: events.JobState, Job: "d1", State: "delivered"},
	} {
		bus.Publish(e)
	}
	waitFor(t, h, func(s map[string]float64) bool { return s[`doorward_disclosure_jobs_total{state="delivered"}`] == 1 })
	// A scrape is no snapshot (the registry collects its collectors in
	// parallel), so scrape once more: every event before the delivered
	// one is counted by now.
	s = scrape(t, h)
	for name, want := range map[string]float64{
		`doorward_events_total{kind="ring"}`:                              1,
		`doorward_events_total{kind="motion"}`:                            2,
		`doorward_events_total{kind="clip-closed"}`:                       1,
		`doorward_events_total{kind="job-state"}`:                         5,
		"doorward_clips_total":                                            1,
		"doorward_clip_segments_total":                                    2,
		"doorward_clip_bytes_total":                                       1500,
		`doorward_decisions_total{kind="grant",outcome="accepted"}`:       1,
		`doorward_decisions_total{kind="grant",outcome="bad-signature"}`:  1,
		`doorward_decisions_total{kind="legal",outcome="quorum-not-met"}`: 1,
		"doorward_upload_retries_total":                                   1,
		"doorward_upload_bytes_total":                                     4096,
	} {
		if got, ok := s[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if v, ok := s[`doorward_decisions_total{kind="legal",outcome="accepted"}`]; ok {
		t.Errorf("a delayed legal acceptance is counted (%v)", v)
	}
}

// TestMetricsOwnRegistry: two agents' metrics in one process do not
// collide (no default registry).
func TestMetricsOwnRegistry(t *testing.T) {
	a := metrics.New(metrics.Sources{Bus: events.New()})
	b := metrics.New(metrics.Sources{Bus: events.New()})
	if a.Registry() == b.Registry() {
		t.Fatal("shared registry")
	}
}
