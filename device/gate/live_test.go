package gate

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

const offerFP = "sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"

// live signs a live statement for the offer fingerprint fp with key.
func (f *fixture) live(key ed25519.PrivateKey, fp string, mut func(*consent.LiveClaims)) []byte {
	f.t.Helper()
	c := consent.LiveClaims{Claims: f.baseClaims(), DTLSFingerprint: consent.LiveBinding(fp)}
	if mut != nil {
		mut(&c)
	}
	data, err := consent.Sign(consent.KindLive, c, key, consent.KeyID(key.Public().(ed25519.PublicKey)))
	if err != nil {
		f.t.Fatal(err)
	}
	return data
}

// liveGrant submits a grant whose grantee signs with the returned key.
func (f *fixture) liveGrant(live bool, from, until time.Time) (Grant, ed25519.PrivateKey) {
	f.t.Helper()
	key := newKey(f.t)
	r, _ := age.GenerateX25519Identity()
	g, err := f.gate.SubmitGrant(f.grant(r.Recipient().String(), from, until, func(c *consent.GrantClaims) {
		c.Grantee = consent.FormatIssuerKey(pubOf(key))
		c.Scope.Live = live
	}))
	if err != nil {
		f.t.Fatal(err)
	}
	return g, key
}

func closedWithin(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	default:
	}
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

func TestAuthorizeLiveOwnerAndGrantee(t *testing.T) {
	f := newFixture(t, false)
	binding := consent.LiveBinding(offerFP)
	st := f.live(f.owner.SigningKey(), offerFP, nil)
	s, err := f.gate.AuthorizeLive(st, binding)
	if err != nil {
		t.Fatal(err)
	}
	if s.Viewer != consent.KeyID(f.owner.SigningPublicKey()) || s.ID == "" {
		t.Errorf("session %+v", s)
	}
	// Two sessions in a row: each statement has its own jti.
	s2, err := f.gate.AuthorizeLive(f.live(f.owner.SigningKey(), offerFP, nil), binding)
	if err != nil || s2.ID == s.ID {
		t.Fatalf("second session: %+v, %v", s2, err)
	}
	now := f.clk.Now()
	g, key := f.liveGrant(true, now.Add(-time.Minute), now.Add(time.Hour))
	gs, err := f.gate.AuthorizeLive(f.live(key, offerFP, nil), binding)
	if err != nil || gs.Viewer != "grant:"+g.JTI {
		t.Fatalf("grantee session: %+v, %v", gs, err)
	}
	// EndLive appends one end leaf however often it is called.
	if err := f.gate.EndLive(s, "viewer left"); err != nil {
		t.Fatal(err)
	}
	f.gate.EndLive(s, "viewer left")
	if !closedWithin(s.Done, 0) {
		t.Error("Done open after EndLive")
	}
	starts, ends := 0, 0
	for _, e := range f.entries() {
		switch e.Kind {
		case audit.KindLiveSession:
			starts++
		case audit.KindLiveSessionEnd:
			ends++
			if e.Subject[0] != s.ID || e.Reason != "viewer left" {
				t.Errorf("end leaf %+v", e)
			}
		}
	}
	if starts != 3 || ends != 1 {
		t.Errorf("%d start and %d end leaves, want 3 and 1", starts, ends)
	}
	// A factory reset ends every session.
	if err := f.gate.VerifyReset(f.ownerSigned(consent.KindReset, consent.ResetClaims{Claims: f.baseClaims()})); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(s2.Done, time.Second) || !closedWithin(gs.Done, time.Second) {
		t.Error("a session outlived the factory reset")
	}
}

func TestAuthorizeLiveRefusals(t *testing.T) {
	f := newFixture(t, false)
	binding := consent.LiveBinding(offerFP)
	now := f.clk.Now()
	_, noLive := f.liveGrant(false, now.Add(-time.Minute), now.Add(time.Hour))
	_, over := f.liveGrant(true, now.Add(-2*time.Hour), now.Add(-time.Hour))
	stranger, _ := consent.GenerateOwnerKey(false)
	used := f.live(f.owner.SigningKey(), offerFP, nil)
	if _, err := f.gate.AuthorizeLive(used, binding); err != nil {
		t.Fatal(err)
	}
	agency, _ := age.GenerateX25519Identity()
	token := f.token(agency.Recipient().String(), nil)
	for name, c := range map[string]struct {
		statement []byte
		binding   string
		want      consent.Reason
	}{
		"no statement": {nil, binding, consent.ReasonMalformed},
		"expired": {f.live(f.owner.SigningKey(), offerFP, func(c *consent.LiveClaims) {
			c.IssuedAt = consent.NewNumericDate(now.Add(-20 * time.Minute))
			c.Expiry = consent.NewNumericDate(now.Add(-15 * time.Minute))
		}), binding, consent.ReasonExpired},
		"replayed jti":             {used, binding, consent.ReasonReplayed},
		"binding of another offer": {f.live(f.owner.SigningKey(), offerFP, nil), consent.LiveBinding("sha-256 00:11"), consent.ReasonBindingMismatch},
		"no binding":               {f.live(f.owner.SigningKey(), offerFP, nil), "", consent.ReasonBindingMismatch},
		"stranger's key":           {f.live(stranger.SigningKey(), offerFP, nil), binding, consent.ReasonUnknownKey},
		"grant window over":        {f.live(over, offerFP, nil), binding, consent.ReasonGrantInactive},
		"grant without live":       {f.live(noLive, offerFP, nil), binding, consent.ReasonLiveNotGranted},
		"legal token":              {token, binding, consent.ReasonBadTyp},
		"issuer signs":             {f.live(f.issuers[0].key, offerFP, nil), binding, consent.ReasonUnknownKey},
	} {
		s, err := f.gate.AuthorizeLive(c.statement, c.binding)
		if s != nil || consent.ReasonOf(err) != c.want {
			t.Errorf("%s: session %v, err %v; want %s", name, s, err, c.want)
		}
	}
	// A refusal burns nothing: the statement refused for another offer's
	// binding is accepted with its own.
	st := f.live(f.owner.SigningKey(), offerFP, nil)
	if _, err := f.gate.AuthorizeLive(st, consent.LiveBinding("sha-256 00:11")); consent.ReasonOf(err) != consent.ReasonBindingMismatch {
		t.Fatal(err)
	}
	if _, err := f.gate.AuthorizeLive(st, binding); err != nil {
		t.Errorf("after a refusal: %v", err)
	}
	refused := 0
	for _, e := range f.entries() {
		if e.Kind == audit.KindLiveRefused {
			refused++
		}
	}
	if refused < 5 { // the authenticated refusals: replay, bindings, window, live
		t.Errorf("%d live-refused leaves", refused)
	}
}

// Revoking a grant ends its sessions at once; a window that ends ends
// them within a second.
func TestLiveEndsWithItsAuthority(t *testing.T) {
	f := newFixture(t, false)
	binding := consent.LiveBinding(offerFP)
	now := f.clk.Now()
	g, key := f.liveGrant(true, now.Add(-time.Minute), now.Add(time.Hour))
	s, err := f.gate.AuthorizeLive(f.live(key, offerFP, nil), binding)
	if err != nil {
		t.Fatal(err)
	}
	rev := f.ownerSigned(consent.KindRevoke, consent.RevokeClaims{Claims: f.baseClaims(), Grant: g.JTI})
	start := time.Now()
	if _, err := f.gate.Revoke(rev); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(s.Done, time.Second) {
		t.Fatal("the session outlived its grant's revocation by a second")
	}
	t.Logf("revocation closed the session in %v", time.Since(start))

	// A window ending: the watcher notices.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.gate.watchLive(ctx) }()
	defer func() { cancel(); <-done }()
	g2, key2 := f.liveGrant(true, now.Add(-time.Minute), now.Add(10*time.Minute))
	s2, err := f.gate.AuthorizeLive(f.live(key2, offerFP, nil), binding)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := f.gate.AuthorizeLive(f.live(f.owner.SigningKey(), offerFP, nil), binding)
	if err != nil {
		t.Fatal(err)
	}
	if !f.clk.BlockUntil(1, 5*time.Second) {
		t.Fatal("the watcher does not wait on the clock")
	}
	// The watcher may still be taking the owner's wake-up and arm its
	// next check after this jump (slow under qemu): the fake clock then
	// moves on by one check interval at a time, as a real one would.
	f.clk.Advance(10*time.Minute + time.Second)
	for deadline := time.Now().Add(time.Second); !closedWithin(s2.Done, 20*time.Millisecond); f.clk.Advance(liveCheck) {
		if time.Now().After(deadline) {
			t.Fatalf("session of grant %s open after its window ended", g2.JTI)
		}
	}
	if closedWithin(owner.Done, 100*time.Millisecond) {
		t.Error("the owner's session ended with the grant's window")
	}
	cancel()
	<-done
	if !closedWithin(owner.Done, 0) {
		t.Error("sessions outlive the gate")
	}
}
