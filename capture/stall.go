package capture

import (
	"context"
	"fmt"
	"time"

	"github.com/doorward/doorward/device/clock"
	"github.com/doorward/doorward/device/events"
)

// Stall limits: camera.stall_timeout is DefaultStallTimeout unless
// configured, between MinStallTimeout and MaxStallTimeout, and never shorter
// than StallFrames frame intervals (see StallTimeoutFor).
const (
	DefaultStallTimeout = 5 * time.Second
	MinStallTimeout     = time.Second
	MaxStallTimeout     = time.Minute
	StallFrames         = 3
	// StartGrace is the least time a camera that has just (re)started gets
	// for its first frame: rpicam-vid takes seconds to start (camera
	// tuning, exposure), ffmpeg probes its input, and a restart that comes
	// too soon only starts the wait again.
	StartGrace = 10 * time.Second
)

// StallTimeoutFor returns the stall timeout to use for a camera at fps
// frames per second: configured (DefaultStallTimeout when 0), raised to
// StallFrames frame intervals when that is longer.
func StallTimeoutFor(configured time.Duration, fps float64) time.Duration {
	if configured <= 0 {
		configured = DefaultStallTimeout
	}
	if fps > 0 {
		configured = max(configured, time.Duration(StallFrames*float64(time.Second)/fps))
	}
	return configured
}

// Restarter is a Source that can drop the camera it reads and bring it back
// when the Hub finds it stalled: the exec source stops its child's process
// group and starts the command again with its backoff; the v4l2 source
// closes the device and reconnects. A source that is not a Restarter (a
// file) is only reported.
type Restarter interface {
	// Restart returns at once; ReadFrame keeps waiting for the restarted
	// camera's frames.
	Restart()
	// Started counts the times the camera was started (the process
	// spawned, the device opened), so that the watchdog times a restarted
	// camera from its start, not from the restart request, which a backoff
	// may delay.
	Started() uint64
}

// watch is the Hub's stall watchdog, one per Run: every tick it compares
// the count of frames read with the one it saw before, so the frame path
// pays one atomic add and no timer. When the count has not moved for the
// stall timeout (StartGrace at least, after the camera started), the camera
// is stalled: that is logged once and published as camera-stalled, and a
// Restarter source is restarted, and restarted again each time the
// restarted camera stays silent as long. Run reports the first frame after
// it (camera-back).
func (h *Hub) watch(ctx context.Context, src Source, timeout time.Duration) {
	clk := h.clock()
	tick := min(max(timeout/10, 10*time.Millisecond), 250*time.Millisecond)
	restarter, _ := src.(Restarter)
	var starts uint64
	if restarter != nil {
		starts = restarter.Started()
	}
	seen, since := h.frames.Load(), clk.Now()
	starting := true // no frame yet from the camera as (re)started
	pending := false // Restart asked; waiting for the camera to start again
	restarts := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-clk.After(tick):
		}
		now := clk.Now()
		if n := h.frames.Load(); n != seen {
			seen, since, starting, pending, restarts = n, now, false, false, 0
			continue
		}
		if restarter != nil {
			if st := restarter.Started(); st != starts {
				starts, since, starting, pending = st, now, true, false
				continue
			}
		}
		limit := timeout
		if starting {
			limit = max(timeout, StartGrace)
		}
		if pending || now.Sub(since) < limit {
			continue
		}
		h.stallMu.Lock()
		first := !h.stalled.Load()
		if first {
			idle := now.Sub(since)
			h.stalled.Store(true)
			h.stalledAt = since
			h.stalls.Add(1)
			h.log.Warn("camera stalled: no frame", "since_last_frame", idle.Round(time.Millisecond),
				"stall_timeout", timeout, "restart", restarter != nil)
			h.Events.Publish(events.Event{Kind: events.CameraStalled, Time: now,
				Note: fmt.Sprintf("no frame for %s", idle.Round(100*time.Millisecond))})
		}
		stalledAt := h.stalledAt
		h.stallMu.Unlock()
		since = now // report or restart again only after another timeout
		if restarter == nil {
			continue
		}
		restarts++
		if !first {
			h.log.Warn("camera still stalled after its restart; restarting it again",
				"since_last_frame", now.Sub(stalledAt).Round(time.Millisecond), "restart", restarts)
		}
		restarter.Restart()
		pending = true
	}
}

// back ends a stall: the frame just read is the first since. Every
// subscription resumes at a keyframe, where a decoder can.
func (h *Hub) back() {
	now := h.clock().Now()
	h.stallMu.Lock()
	defer h.stallMu.Unlock()
	if !h.stalled.Load() {
		return
	}
	h.stalled.Store(false)
	down := now.Sub(h.stalledAt).Round(time.Millisecond)
	h.log.Info("camera back", "down", down)
	h.Events.Publish(events.Event{Kind: events.CameraBack, Time: now, Note: fmt.Sprintf("no frame for %s", down.Round(100*time.Millisecond))})
	if p := h.subs.Load(); p != nil {
		for _, s := range *p {
			s.restart()
		}
	}
}

func (h *Hub) clock() clock.Clock {
	if h.Clock == nil {
		return clock.Real{}
	}
	return h.Clock
}

// Stalled reports whether the camera is stalled now.
func (h *Hub) Stalled() bool { return h.stalled.Load() }

// Stalls counts the stalls since the Hub was made.
func (h *Hub) Stalls() uint64 { return h.stalls.Load() }
