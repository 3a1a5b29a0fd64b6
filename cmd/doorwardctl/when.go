package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/doorward/doorward/consent"
)

// parseWhen reads a time as the owner or issuer types it:
//
//   - RFC 3339, e.g. 2026-01-02T15:04:05Z or 2026-01-02T16:04:05+01:00;
//   - "now";
//   - a time relative to now: a sign and a duration, e.g. -10m, -2h30m,
//     +1h, -1d ("d" is 24 hours).
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return time.Time{}, fmt.Errorf("--%s: empty time (want RFC 3339 such as 2026-01-02T15:04:05Z, \"now\", or a relative time such as -10m or +1h)", flag)
	case strings.EqualFold(s, "now"):
		return now, nil
	case s[0] == '-' || s[0] == '+':
		var d consent.Duration
		if err := d.UnmarshalText([]byte(s[1:])); err != nil || d < 0 {
			return time.Time{}, fmt.Errorf("--%s: %q is not a relative time (want a sign and a duration such as -10m, -2h, +1d)", flag, printable(s))
		}
		if s[0] == '-' {
			return now.Add(-time.Duration(d)), nil
		}
		return now.Add(time.Duration(d)), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s: %q is not a time (want RFC 3339 such as 2026-01-02T15:04:05Z, \"now\", or a relative time such as -10m or +1h)", flag, printable(s))
	}
	return t, nil
}

// parseDuration reads a positive duration: Go's form (90m, 72h) or whole
// days (7d).
func parseDuration(flag, s string) (time.Duration, error) {
	var d consent.Duration
	if err := d.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil || d <= 0 {
		return 0, fmt.Errorf("--%s: %q is not a positive duration (want, for example, 10m, 24h or 7d)", flag, printable(s))
	}
	return time.Duration(d), nil
}

// parseMedia splits and checks a comma-separated media list.
func parseMedia(s string) ([]string, error) {
	if strings.TrimSpace(s) == "none" {
		return nil, nil // a live-only grant
	}
	var out []string
	for _, m := range strings.Split(s, ",") {
		m = strings.TrimSpace(m)
		switch m {
		case consent.MediaVideo, consent.MediaAudio:
			out = append(out, m)
		case consent.MediaSnapshot:
			return nil, errors.New("--media snapshot: the device records no snapshots, so there are none to share; grant video (its clips) instead")
		default:
			return nil, fmt.Errorf("--media: %q is not a medium (want a comma-separated list of video, audio, snapshot, or none with --live)", printable(m))
		}
	}
	return out, nil
}
