package device

import (
	"sync"
	"time"

	"github.com/doorward/doorward/capture/vault"
)

// rateMeter measures the camera's frame rate and bitrate from the hub's
// counters, sampled by the health check: the rate is over the span between
// the newest sample and the oldest one still within meterWindow.
type rateMeter struct {
	mu      sync.Mutex
	samples []meterSample // oldest first, at most meterSamples
}

type meterSample struct {
	t             time.Time
	frames, bytes uint64
}

const (
	meterWindow  = 5 * time.Second
	meterSamples = 16
)

func (m *rateMeter) sample(now time.Time, frames, bytes uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(m.samples); n > 0 && (frames < m.samples[n-1].frames || bytes < m.samples[n-1].bytes) {
		m.samples = m.samples[:0] // counters restarted
	}
	m.samples = append(m.samples, meterSample{now, frames, bytes})
	for len(m.samples) > 2 && (len(m.samples) > meterSamples || now.Sub(m.samples[1].t) >= meterWindow) {
		m.samples = m.samples[1:]
	}
}

// rate returns frames per second and bits per second, 0 without two
// samples.
func (m *rateMeter) rate() (fps, bps float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.samples) < 2 {
		return 0, 0
	}
	a, b := m.samples[0], m.samples[len(m.samples)-1]
	d := b.t.Sub(a.t).Seconds()
	if d <= 0 {
		return 0, 0
	}
	return float64(b.frames-a.frames) / d, float64(b.bytes-a.bytes) * 8 / d
}

// retentionWindow is how far back the storage rate is measured.
const retentionWindow = 7 * 24 * time.Hour

// storageRate returns the bytes stored per day by the clips started within
// retentionWindow before now, over that window or, when the first of them
// is more recent, since it (at least a minute): 0 without clips.
func storageRate(clips []vault.Clip, now time.Time) int64 {
	var sum int64
	first := now
	for _, c := range clips {
		if c.Start.Before(now.Add(-retentionWindow)) {
			continue
		}
		sum += c.Size
		if c.Start.Before(first) {
			first = c.Start
		}
	}
	if sum == 0 {
		return 0
	}
	span := max(now.Sub(first), time.Minute)
	return int64(float64(sum) / span.Hours() * 24)
}

// retentionDays is how many days of footage are kept at perDay bytes a
// day: maxAge, unless maxBytes or the space there is (free plus what the
// clips use) runs out first. 0 when perDay is 0.
func retentionDays(perDay, maxBytes, clipBytes, free int64, maxAge time.Duration) float64 {
	if perDay <= 0 {
		return 0
	}
	room := clipBytes + free
	if maxBytes > 0 && maxBytes < room {
		room = maxBytes
	}
	days := float64(room) / float64(perDay)
	if maxAge > 0 {
		days = min(days, maxAge.Hours()/24)
	}
	return days
}
