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
	fmt.Fprintf(w, "owners:     %s\n", yes(s.Paired, fmt.Sprintf("%d owner recipient(s): clips are encrypted to them", s.Owners), "none: not paired, nothing is recorded"))
	fmt.Fprintf(w, "recording:  %s\n", yes(s.Recording, "yes, a clip is open", "no (waiting for motion or a ring)"))
	camera := "delivering frames"
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
	fmt.Fprintf(w, "clock:      %s\n", yes(s.ClockSynced, "synchronized", "NOT synchronized: legal tokens are refused"))
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
