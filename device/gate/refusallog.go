package gate

import (
	"sync"
	"time"

	"github.com/doorward/doorward/consent/audit"
)

// refusalLog puts refused statements in the agent's log: the kind and the
// reason, and for an owner's or grantee's statement its subject (a grant
// ID). Never the statement, a recipient or a legal token's ID: a token
// refused now may be accepted later with its notice delayed, and the log
// must not name it before the notice is due. Anyone on the LAN can send
// refusable statements in a loop, so each (kind, reason) is logged at most
// once per refusalLogEvery; the next line counts the repeats.
type refusalLog struct {
	mu   sync.Mutex
	last map[refusalKey]*refusalSeen
}

type refusalKey struct {
	kind   audit.Kind
	reason string
}

type refusalSeen struct {
	at      time.Time
	repeats int
}

const refusalLogEvery = time.Minute

func (g *Gate) logRefusal(kind audit.Kind, reason, subject string, authenticated bool) {
	now := g.clk.Now()
	l := &g.refusals
	l.mu.Lock()
	if l.last == nil {
		l.last = map[refusalKey]*refusalSeen{}
	}
	k := refusalKey{kind, reason}
	seen := l.last[k]
	if seen != nil && now.Sub(seen.at) < refusalLogEvery {
		seen.repeats++
		l.mu.Unlock()
		return
	}
	repeats := 0
	if seen != nil {
		repeats = seen.repeats
	}
	l.last[k] = &refusalSeen{at: now}
	l.mu.Unlock()
	attrs := []any{"kind", string(kind), "reason", reason, "authenticated", authenticated}
	if subject != "" && authenticated && kind != audit.KindTokenRefused {
		attrs = append(attrs, "subject", subject)
	}
	if repeats > 0 {
		attrs = append(attrs, "repeats_since_last_line", repeats)
	}
	g.log.Warn("statement refused", attrs...)
}
