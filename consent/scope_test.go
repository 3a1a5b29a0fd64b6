package consent

import (
	"strings"
	"testing"
	"time"
)

// TestScopeMedia: a scope names media, except a live-only grant's.
func TestScopeMedia(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		s    Scope
		want string
	}{
		{Scope{From: now, Until: now.Add(time.Hour), Media: []string{MediaVideo}}, ""},
		{Scope{From: now, Until: now.Add(time.Hour), Live: true}, ""},
		{Scope{From: now, Until: now.Add(time.Hour)}, "scope.media is empty"},
		{Scope{From: now, Until: now.Add(time.Hour), Media: []string{"smell"}, Live: true}, "valid: video"},
	} {
		err := c.s.check()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.s, err, c.want)
		}
	}
}
