// Package metrics is the agent's Prometheus metrics: camera frames and
// drops, clips and bytes, the event bus, consent decisions by kind and
// outcome, disclosure uploads, and the MQTT session and its outbox, served
// in the Prometheus text format on GET /metrics.
//
// Event counts are metadata about the household (when the door sees
// motion, when someone rings), so the agent serves them only when
// metrics.listen is set, on loopback unless the owner allows otherwise.
// Nothing that the audit log's commitments keep hidden is counted: a
// disclosure whose owner notice is still delayed shows in no metric until
// the notice is released.
//
// Every Metrics has its own registry: no global state, no default
// registry.
package metrics

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/doorward/doorward/device/events"
)

// Sources are where the pulled metrics come from; each is read when
// Prometheus scrapes, never polled. A nil source leaves its metrics out.
type Sources struct {
	// Bus is the agent's event bus: events, clips, bytes, decisions and
	// jobs are counted from it, and its subscribers' drops are reported.
	Bus *events.Bus
	// Frames and FramesDropped are the camera hub's counters.
	Frames, FramesDropped func() uint64
	// StoredBytes is the encrypted footage on disk.
	StoredBytes func() int64
	// UploadQueue counts the disclosure jobs waiting to be delivered
	// (pending or running; never one whose notice is delayed).
	UploadQueue func() (int, error)
	// MQTT reports the session; nil while the uplink is off.
	MQTT func() MQTTState
	// Version and Board label doorward_build_info.
	Version, Board string
}

// MQTTState is the session's state at a scrape.
type MQTTState struct {
	Connected      bool
	OutboxMessages int
	OutboxBytes    int64
	OutboxDropped  uint64 // events dropped at the outbox's cap
}

// Metrics holds the registry and the counters fed from the bus.
type Metrics struct {
	reg *prometheus.Registry
	sub *events.Sub

	events    *prometheus.CounterVec
	clips     prometheus.Counter
	segments  prometheus.Counter
	bytes     prometheus.Counter
	decisions *prometheus.CounterVec
	jobs      *prometheus.CounterVec
	retries   prometheus.Counter
	uploaded  prometheus.Counter

	running map[string]bool // job id → seen running (Run's alone)
}

// New registers the metrics and subscribes to the bus; Run counts the
// bus's events.
func New(src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "doorward_events_total",
			Help: "Events on the agent's bus by kind (motion, ring, clip-closed, ...)."}, []string{"kind"}),
		clips: prometheus.NewCounter(prometheus.CounterOpts{Name: "doorward_clips_total",
			Help: "Clips closed (recorded and encrypted)."}),
		segments: prometheus.NewCounter(prometheus.CounterOpts{Name: "doorward_clip_segments_total",
			Help: "Encrypted segments committed to disk."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "doorward_clip_bytes_total",
			Help: "Bytes of encrypted segments committed to disk."}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "doorward_decisions_total",
			Help: "Consent decisions by kind (grant, revoke, legal, policy, ...) and outcome (accepted or the reason code)."}, []string{"kind", "outcome"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "doorward_disclosure_jobs_total",
			Help: "Disclosure jobs finished, by state (delivered, failed)."}, []string{"state"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "doorward_upload_retries_total",
			Help: "Disclosure deliveries that failed and were scheduled again."}),
		uploaded: prometheus.NewCounter(prometheus.CounterOpts{Name: "doorward_upload_bytes_total",
			Help: "Bytes of ciphertext uploaded through the relay."}),
		running: map[string]bool{},
	}
	reg.MustRegister(m.events, m.clips, m.segments, m.bytes, m.decisions, m.jobs, m.retries, m.uploaded)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "doorward_build_info", Help: "The agent's version and board.",
		ConstLabels: prometheus.Labels{"version": src.Version, "board": src.Board}})
	info.Set(1)
	reg.MustRegister(info)
	if src.Frames != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "doorward_camera_frames_total",
			Help: "Frames read from the camera."}, func() float64 { return float64(src.Frames()) }))
	}
	if src.FramesDropped != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "doorward_camera_frames_dropped_total",
			Help: "Frames dropped for subscribers (recorder, live view) that fell behind."}, func() float64 { return float64(src.FramesDropped()) }))
	}
	if src.StoredBytes != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "doorward_clips_stored_bytes",
			Help: "Encrypted footage on disk."}, func() float64 { return float64(src.StoredBytes()) }))
	}
	if src.UploadQueue != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "doorward_upload_queue",
			Help: "Disclosure jobs waiting to be delivered (pending or running)."}, func() float64 {
			n, err := src.UploadQueue()
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
	if src.MQTT != nil {
		reg.MustRegister(mqttCollector(src.MQTT))
	}
	if src.Bus != nil {
		reg.MustRegister(busCollector{src.Bus})
	}
	m.sub = src.Bus.Subscribe("metrics", 1024)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, DisableCompression: false})
}

// Registry is the metrics' own registry.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Run counts the bus's events until ctx is done, then unsubscribes.
func (m *Metrics) Run(ctx context.Context) {
	defer m.sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-m.sub.C():
			if !ok {
				return
			}
			m.count(e)
		}
	}
}

// count adds one event to the counters. A job or decision that carries no
// authority belongs to a disclosure whose owner notice is still delayed:
// it is not counted, as nothing may reveal it early.
func (m *Metrics) count(e events.Event) {
	switch e.Kind {
	case events.Decision:
		if e.Outcome == "accepted" && e.Authority == "" && e.Decision == "legal" {
			return
		}
		m.decisions.WithLabelValues(e.Decision, e.Outcome).Inc()
		return
	case events.JobState:
		if e.Authority == "" {
			return
		}
		m.job(e)
	case events.ClipClosed:
		m.clips.Inc()
	case events.SegmentCommitted:
		m.segments.Inc()
		m.bytes.Add(float64(e.Bytes))
	}
	m.events.WithLabelValues(string(e.Kind)).Inc()
}

// job follows one job's states: pending after running is a retry.
func (m *Metrics) job(e events.Event) {
	switch e.State {
	case "running":
		m.running[e.Job] = true
	case "pending":
		if m.running[e.Job] {
			m.retries.Inc()
			delete(m.running, e.Job)
		}
	case "uploaded":
		m.uploaded.Add(float64(e.Bytes))
	case "delivered", "failed":
		delete(m.running, e.Job)
		m.jobs.WithLabelValues(e.State).Inc()
	}
}

// mqttCollector reports the session at each scrape.
func mqttCollector(state func() MQTTState) prometheus.Collector {
	return &funcCollector{
		descs: []*prometheus.Desc{connectedDesc, outboxMsgsDesc, outboxBytesDesc, outboxDroppedDesc},
		collect: func(ch chan<- prometheus.Metric) {
			s := state()
			up := 0.0
			if s.Connected {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(connectedDesc, prometheus.GaugeValue, up)
			ch <- prometheus.MustNewConstMetric(outboxMsgsDesc, prometheus.GaugeValue, float64(s.OutboxMessages))
			ch <- prometheus.MustNewConstMetric(outboxBytesDesc, prometheus.GaugeValue, float64(s.OutboxBytes))
			ch <- prometheus.MustNewConstMetric(outboxDroppedDesc, prometheus.CounterValue, float64(s.OutboxDropped))
		},
	}
}

var (
	connectedDesc     = prometheus.NewDesc("doorward_mqtt_connected", "1 while the MQTT session is connected to the broker.", nil, nil)
	outboxMsgsDesc    = prometheus.NewDesc("doorward_mqtt_outbox_messages", "Messages in the outbox waiting for the broker's PUBACK.", nil, nil)
	outboxBytesDesc   = prometheus.NewDesc("doorward_mqtt_outbox_bytes", "Size of the messages in the outbox.", nil, nil)
	outboxDroppedDesc = prometheus.NewDesc("doorward_mqtt_outbox_dropped_total", "Events dropped at the outbox's cap (mqtt.outbox_max).", nil, nil)
	busDroppedDesc    = prometheus.NewDesc("doorward_bus_dropped_total", "Events a bus subscriber lost to a full queue.", []string{"subscriber"}, nil)
)

type funcCollector struct {
	descs   []*prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c *funcCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *funcCollector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

// busCollector reports each bus subscriber's drops.
type busCollector struct{ bus *events.Bus }

func (b busCollector) Describe(ch chan<- *prometheus.Desc) { ch <- busDroppedDesc }

func (b busCollector) Collect(ch chan<- prometheus.Metric) {
	dropped := map[string]uint64{}
	for _, s := range b.bus.Stats() {
		dropped[s.Name] += s.Dropped // names may repeat (viewers): one series each
	}
	for name, n := range dropped {
		ch <- prometheus.MustNewConstMetric(busDroppedDesc, prometheus.CounterValue, float64(n), name)
	}
}
