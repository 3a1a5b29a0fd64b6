package api

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteText prints the status for people, the same in doorward status
// and doorwardctl status. Strings from the device are shown printable.
func (s *Status) WriteText(w io.Writer) {
	yes := func(b bool, y, n string) string {
		if b {
			return y
		}
		return n
	}
	fmt.Fprintf(w, "device:     %s (board %s, version %s)\n", clean(s.DeviceID), clean(s.Board), clean(s.Version))
	owners := fmt.Sprintf("%d owner recipient(s): clips are encrypted to them; paired (an owner's key signs grants and policy)", s.Owners)
	if s.Pairing {
		owners = fmt.Sprintf("%d owner recipient(s): clips are encrypted to them; not paired yet (doorward pair-code shows the code)", s.Owners)
	}
	fmt.Fprintf(w, "owners:     %s\n", yes(s.Paired, owners, "none: not paired, nothing is recorded"))
	fmt.Fprintf(w, "recording:  %s\n", yes(s.Recording, "yes, a clip is open", "no (waiting for motion or a ring)"))
	camera := "delivering frames"
	if s.FPS > 0 {
		camera = fmt.Sprintf("delivering frames: %.1f fps, %.2f Mb/s (measured)", s.FPS, s.BitsPerSecond/1e6)
	}
	if s.CameraStalled {
		camera = "STALLED: no frames"
	}
	fmt.Fprintf(w, "camera:     %s\n", camera)
	fmt.Fprintf(w, "health:     %s\n", yes(s.Healthy, "ok", "UNHEALTHY (the camera stalled or the recorder fell behind)"))
	if s.LastEvent != nil {
		fmt.Fprintf(w, "last event: %s at %s\n", clean(s.LastEvent.Kind), s.LastEvent.Time.Local().Format(time.DateTime))
	} else {
		fmt.Fprintln(w, "last event: none since the agent started")
	}
	fmt.Fprintf(w, "disk:       %.1f MB of encrypted clips, %.1f GB free\n", float64(s.ClipBytes)/1e6, float64(s.DiskFree)/1e9)
	if s.StoredPerDay > 0 {
		fmt.Fprintf(w, "retention:  %.1f days of footage at the current rate (%.1f MB stored a day)\n", s.RetentionDays, float64(s.StoredPerDay)/1e6)
	} else {
		fmt.Fprintln(w, "retention:  no footage yet to measure the rate")
	}
	fmt.Fprintf(w, "clock:      %s\n", yes(s.ClockSynced, "synchronized", "NOT synchronized: legal tokens are refused"))
	switch u := s.Uplink; {
	case u == nil:
		fmt.Fprintln(w, "uplink:     off (no mqtt.broker in the config)")
	default:
		fmt.Fprintf(w, "uplink:     %s; %d message(s) queued (%.1f KB)", yes(u.Connected, "connected to the broker", "NOT connected to the broker"), u.Queued, float64(u.QueuedBytes)/1e3)
		if u.Dropped > 0 {
			fmt.Fprintf(w, ", %d event(s) dropped at the outbox cap", u.Dropped)
		}
		fmt.Fprintln(w)
	}
}

// clean keeps a device-sent string printable on one line.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
