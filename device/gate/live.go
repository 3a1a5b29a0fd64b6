package gate

import (
	"context"
	"crypto/subtle"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

// LiveSession is an authorized live view. Done is closed within a second
// of its authority ending: the grant revoked or its window over, the
// owner removed, a factory reset (or the gate stopping).
type LiveSession struct {
	ID     string          // the statement's jti
	Viewer string          // owner kid, or "grant:<jti>"
	Done   <-chan struct{} // closed when the authority ends
}

type liveSession struct {
	pub  *LiveSession
	done chan struct{}
	once sync.Once
}

// liveCheck is how often the gate looks whether a session's authority
// ended by itself (a grant's window or expiry passing).
const liveCheck = 250 * time.Millisecond

// AuthorizeLive verifies a live statement bound to an offer: an enrolled
// owner's, or one signed by the grantee key of a grant with live:true
// whose window covers now; never a legal token. binding is
// consent.LiveBinding(offer's a=fingerprint value); it must equal the
// statement's dtls_fingerprint. The jti is burned only on acceptance; a
// live-session start leaf is appended.
func (g *Gate) AuthorizeLive(statement []byte, binding string) (*LiveSession, error) {
	var st *consent.OwnerStatement
	var viewer string
	err := g.decide(rule{
		kind: consent.KindLive, refused: audit.KindLiveRefused, statement: statement,
		verify: func(d *decisionTx) (string, time.Time, error) {
			if len(d.owners) == 0 {
				return "", time.Time{}, ErrNotPaired
			}
			keys, grants, err := liveKeys(d)
			if err != nil {
				return "", time.Time{}, err
			}
			if st, err = consent.VerifyOwnerStatement(statement, consent.KindLive, keys, d.now, g.opts.DeviceID); err != nil {
				return "", time.Time{}, err
			}
			c := st.Claims.(*consent.LiveClaims)
			viewer = st.KeyID
			if gr, ok := grants[st.Signer.Name]; ok {
				viewer = st.Signer.Name
				switch {
				case !gr.Live:
					return c.ID, time.Time{}, &consent.Error{Reason: consent.ReasonLiveNotGranted, Detail: "grant " + gr.JTI + " does not include live view"}
				case !gr.LiveAt(d.now):
					return c.ID, time.Time{}, &consent.Error{Reason: consent.ReasonGrantInactive, Detail: "grant " + gr.JTI + " is revoked, expired, or its window does not cover now"}
				}
			}
			want := strings.ToLower(strings.TrimSpace(binding))
			if want == "" || subtle.ConstantTimeCompare([]byte(strings.ToLower(c.DTLSFingerprint)), []byte(want)) != 1 {
				return c.ID, time.Time{}, &consent.Error{Reason: consent.ReasonBindingMismatch, Detail: "the statement binds another offer's DTLS fingerprint"}
			}
			return c.ID, st.Expiry(), nil
		},
		apply: func(d *decisionTx) error {
			d.authority = viewer
			_, err := g.opts.Audit.AppendTx(d.tx, audit.Entry{Time: d.now, Kind: audit.KindLiveSession, Subject: []string{st.ID()},
				Details: map[string]string{"viewer": viewer, "signer": st.KeyID, "binding": binding}})
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	s := &liveSession{done: make(chan struct{})}
	s.pub = &LiveSession{ID: st.ID(), Viewer: viewer, Done: s.done}
	g.mu.Lock()
	g.live[s.pub.ID] = s
	g.mu.Unlock()
	g.pokeLive() // a revocation may have committed meanwhile
	return s.pub, nil
}

// liveKeys returns the keys that may sign a live statement: the owners'
// (named by kid) and every grantee's (named "grant:<jti>"), preferring for
// a grantee key used in several grants one that authorizes live view now.
func liveKeys(d *decisionTx) (consent.KeySet, map[string]Grant, error) {
	keys := consent.KeySet{}
	for kid, k := range d.keys {
		keys[kid] = k
	}
	grants := map[string]Grant{}
	all, err := list[Grant](d.tx, bucketGrants)
	if err != nil {
		return nil, nil, err
	}
	for _, gr := range all {
		pub, err := consent.ParseIssuerKey(gr.Grantee)
		if err != nil {
			continue
		}
		kid := consent.KeyID(pub)
		name := "grant:" + gr.JTI
		if prev, ok := keys[kid]; ok {
			if _, isOwner := d.keys[kid]; isOwner {
				continue // an owner's key is an owner's, whatever it was granted
			}
			if liveRank(grants[prev.Name], d.now) >= liveRank(gr, d.now) {
				continue
			}
		}
		keys[kid] = consent.KeyInfo{PublicKey: pub, Name: name}
		grants[name] = gr
	}
	return keys, grants, nil
}

// liveRank orders a grantee's grants for live view: one that authorizes
// it now, then one that includes it, then the others.
func liveRank(gr Grant, now time.Time) int {
	switch {
	case gr.LiveAt(now):
		return 2
	case gr.Live:
		return 1
	}
	return 0
}

// EndLive appends the session-end leaf and ends the session; it is
// idempotent.
func (g *Gate) EndLive(s *LiveSession, reason string) error {
	if s == nil {
		return nil
	}
	g.mu.Lock()
	ls := g.live[s.ID]
	delete(g.live, s.ID)
	g.mu.Unlock()
	if ls == nil {
		return nil // ended before
	}
	return g.endSession(ls, reason)
}

func (g *Gate) endSession(ls *liveSession, reason string) error {
	var err error
	ls.once.Do(func() {
		close(ls.done)
		_, err = g.opts.Audit.Append(audit.Entry{Time: g.clk.Now(), Kind: audit.KindLiveSessionEnd, Reason: reason,
			Subject: []string{ls.pub.ID}, Details: map[string]string{"viewer": ls.pub.Viewer}})
		if err != nil {
			g.log.Error("audit: recording the end of a live session", "err", err)
		}
	})
	return err
}

// endLive ends the sessions match selects.
func (g *Gate) endLive(match func(*LiveSession) bool, reason string) {
	g.mu.Lock()
	var ended []*liveSession
	for id, s := range g.live {
		if match(s.pub) {
			ended = append(ended, s)
			delete(g.live, id)
		}
	}
	g.mu.Unlock()
	for _, s := range ended {
		g.endSession(s, reason)
	}
}

func (g *Gate) endLiveOf(viewer, reason string) {
	g.endLive(func(s *LiveSession) bool { return s.Viewer == viewer }, reason)
}

func (g *Gate) endAllLive(reason string) { g.endLive(func(*LiveSession) bool { return true }, reason) }

func (g *Gate) pokeLive() {
	select {
	case g.liveWake <- struct{}{}:
	default:
	}
}

// watchLive ends sessions whose authority ended by itself, until ctx is
// done; then it ends them all.
func (g *Gate) watchLive(ctx context.Context) {
	defer g.endAllLive("device stopping")
	for {
		// Poll only while a session is open: an idle device keeps no
		// timer here. A new session pokes liveWake (AuthorizeLive).
		var tick <-chan time.Time
		g.mu.Lock()
		open := len(g.live)
		g.mu.Unlock()
		if open > 0 {
			tick = g.clk.After(liveCheck)
		}
		select {
		case <-ctx.Done():
			return
		case <-g.liveWake:
		case <-tick:
		}
		g.checkLive()
	}
}

// checkLive ends every session whose viewer no longer holds authority.
func (g *Gate) checkLive() {
	g.mu.Lock()
	n := len(g.live)
	g.mu.Unlock()
	if n == 0 {
		return
	}
	now := g.clk.Now()
	reasons := map[string]string{} // viewer → why it ended
	err := g.db.View(func(tx *bbolt.Tx) error {
		g.mu.Lock()
		var viewers []string
		for _, s := range g.live {
			viewers = append(viewers, s.pub.Viewer)
		}
		g.mu.Unlock()
		for _, v := range viewers {
			if jti, ok := strings.CutPrefix(v, "grant:"); ok {
				var gr Grant
				found, err := get(tx, bucketGrants, []byte(jti), &gr)
				switch {
				case err != nil || !found:
					reasons[v] = "grant not found"
				case !gr.Revoked.IsZero():
					reasons[v] = "grant revoked"
				case !gr.LiveAt(now):
					reasons[v] = "grant window over"
				}
				continue
			}
			if tx.Bucket(bucketOwner).Get([]byte(v)) == nil {
				reasons[v] = "owner removed"
			}
		}
		return nil
	})
	if err != nil {
		g.log.Error("checking live sessions", "err", err)
		return
	}
	for v, why := range reasons {
		g.endLiveOf(v, why)
	}
}
