package device

import (
	"context"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// healthTick is how often the agent checks that the camera delivers frames
// and the recorder keeps up.
const healthTick = time.Second

// health is the agent's liveness: the camera delivers frames (the hub has
// not detected a stall) and the recorder keeps up (its subscription
// dropped no frame since the last check). GET /healthz answers it, and the
// systemd watchdog is pinged only while it holds, so a hung camera or
// recorder gets the service restarted.
type health struct {
	ok atomic.Bool
}

// notifier is the systemd notification socket (daemon.SdNotify); a
// consumer-side seam so tests can watch the messages.
type notifier func(state string) (bool, error)

func sdNotify(state string) (bool, error) { return daemon.SdNotify(false, state) }

// runHealth updates h every healthTick and, under systemd with
// WatchdogSec= (NOTIFY_SOCKET and WATCHDOG_USEC set), sends READY=1 once
// and WATCHDOG=1 at least twice per watchdog interval while healthy.
func (a *Agent) runHealth(ctx context.Context, stalled func() bool, dropped func() uint64, notify notifier) {
	interval, _ := daemon.SdWatchdogEnabled(false)
	tick := healthTick
	if interval > 0 && interval/3 < tick {
		tick = interval / 3
	}
	check := func(prev uint64) uint64 {
		a.meter.sample(time.Now(), a.hub.Frames(), a.hub.Bytes())
		d := dropped()
		ok := !stalled() && d == prev
		if was := a.health.ok.Swap(ok); was != ok {
			if ok {
				a.log.Info("healthy: the camera delivers frames and the recorder keeps up")
			} else {
				a.log.Warn("unhealthy: the camera stalled or the recorder fell behind; the watchdog is not pinged", "stalled", stalled(), "dropped_frames", d-prev)
			}
		}
		if ok && interval > 0 {
			if _, err := notify(daemon.SdNotifyWatchdog); err != nil {
				a.log.Warn("systemd watchdog", "err", err)
			}
		}
		return d
	}
	prev := check(dropped())
	if _, err := notify(daemon.SdNotifyReady); err != nil {
		a.log.Warn("systemd notify", "err", err)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			notify(daemon.SdNotifyStopping)
			return
		case <-t.C:
			prev = check(prev)
		}
	}
}

// Healthy reports the last health check (for GET /healthz).
func (a *Agent) Healthy() bool { return a.health.ok.Load() }

// diskFree returns the bytes available on dir's file system, 0 when
// unknown.
func diskFree(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
