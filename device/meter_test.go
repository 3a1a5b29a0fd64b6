package device

import (
	"math"
	"testing"
	"time"

	"github.com/doorward/doorward/capture/vault"
)

func TestRateMeter(t *testing.T) {
	var m rateMeter
	if fps, bps := m.rate(); fps != 0 || bps != 0 {
		t.Fatalf("no samples: %v %v", fps, bps)
	}
	t0 := time.Unix(1000, 0)
	// 30 fps, 12500 bytes a frame (3 Mb/s), sampled every second for 20 s:
	// the rate is over the last meterWindow only.
	for i := 0; i <= 20; i++ {
		m.sample(t0.Add(time.Duration(i)*time.Second), uint64(30*i), uint64(30*i*12500))
	}
	fps, bps := m.rate()
	if math.Abs(fps-30) > 0.01 || math.Abs(bps-3e6) > 1 {
		t.Fatalf("rate = %v fps %v b/s, want 30 and 3e6", fps, bps)
	}
	if got := m.samples[len(m.samples)-1].t.Sub(m.samples[0].t); got > meterWindow+time.Second {
		t.Errorf("kept %v of samples", got)
	}
	// The camera stops: the rate falls to 0 within the window.
	for i := 21; i <= 30; i++ {
		m.sample(t0.Add(time.Duration(i)*time.Second), 600, 600*12500)
	}
	if fps, _ := m.rate(); fps != 0 {
		t.Errorf("after the camera stopped: %v fps", fps)
	}
	// Counters that restart (a new hub) start the measurement over.
	m.sample(t0.Add(31*time.Second), 5, 5)
	if fps, _ := m.rate(); fps != 0 {
		t.Errorf("after a restart: %v fps", fps)
	}
}

func TestStorageRateAndRetention(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	if storageRate(nil, now) != 0 {
		t.Fatal("rate without clips")
	}
	// 100 MB a day over the last week; a clip older than a week is left out.
	var clips []vault.Clip
	for d := 1; d <= 7; d++ {
		clips = append(clips, vault.Clip{Start: now.Add(-time.Duration(d)*24*time.Hour + time.Hour), Size: 100e6})
	}
	clips = append(clips, vault.Clip{Start: now.Add(-30 * 24 * time.Hour), Size: 5e9})
	rate := storageRate(clips, now)
	if rate < 99e6 || rate > 101e6 {
		t.Fatalf("rate = %d, want about 100 MB a day", rate)
	}
	// A first clip two hours ago: the rate is over those two hours.
	if r := storageRate([]vault.Clip{{Start: now.Add(-2 * time.Hour), Size: 10e6}}, now); r != 120e6 {
		t.Errorf("rate since the first clip = %d, want 120 MB a day", r)
	}
	week := 7 * 24 * time.Hour
	for _, c := range []struct {
		perDay, maxBytes, clips, free int64
		maxAge                        time.Duration
		want                          float64
	}{
		{0, 4e9, 0, 1e9, week, 0},           // no rate
		{100e6, 4e9, 300e6, 100e9, week, 7}, // max_age first
		{1e9, 4e9, 300e6, 100e9, week, 4},   // max_bytes first
		{1e9, 40e9, 1e9, 1e9, week, 2},      // the disk first
		{100e6, 0, 0, 250e6, 0, 2.5},        // no limits but the disk
	} {
		if got := retentionDays(c.perDay, c.maxBytes, c.clips, c.free, c.maxAge); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("retentionDays(%+v) = %v, want %v", c, got, c.want)
		}
	}
}
