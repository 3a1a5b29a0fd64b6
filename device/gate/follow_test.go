package gate

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/capture/record"
	"github.com/doorward/doorward/capture/simcam"
	"github.com/doorward/doorward/consent"
)

// recordAt records a clip of the sim camera whose frames run from start
// for d, and returns its ID.
func (f *fixture) recordAt(start time.Time, d time.Duration) string {
	f.t.Helper()
	before, _ := f.vault.Clips()
	r, err := record.New(record.DefaultConfig(), record.StoreOf(f.vault), slog.New(slog.DiscardHandler))
	if err != nil {
		f.t.Fatal(err)
	}
	defer r.Close()
	aus, err := capture.SplitAccessUnits(simcam.Clip())
	if err != nil {
		f.t.Fatal(err)
	}
	n := int(d.Seconds() * 30)
	frames := make(chan capture.Frame, n)
	for i := 0; i < n; i++ {
		pts := time.Duration(i) * time.Second / 30
		au := aus[i%len(aus)]
		frames <- capture.Frame{Data: au.Data, Key: au.Key, PTS: pts, Time: start.Add(pts)}
	}
	close(frames)
	r.Trigger(capture.Event{Kind: capture.Motion, Time: start})
	time.Sleep(10 * time.Millisecond)
	r.Run(context.Background(), frames)
	clips, _ := f.vault.Clips()
	if len(clips) != len(before)+1 {
		f.t.Fatalf("recorded clips: %+v", clips)
	}
	old := map[string]bool{}
	for _, c := range before {
		old[c.ID] = true
	}
	for _, c := range clips {
		if !old[c.ID] {
			return c.ID
		}
	}
	return ""
}

func (f *fixture) follow() int {
	f.t.Helper()
	n, err := f.gate.Follow()
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) grantRecord(jti string) Grant {
	f.t.Helper()
	gs, err := f.gate.Grants()
	if err != nil {
		f.t.Fatal(err)
	}
	for _, g := range gs {
		if g.JTI == jti {
			return g
		}
	}
	f.t.Fatalf("no grant %s", jti)
	return Grant{}
}

// TestGrantFollowsTheFuture: a grant whose window reaches past its
// acceptance discloses the segments committed later inside its window, in
// one directory per clip named after the grant and the clip, once each;
// a revocation stops it.
func TestGrantFollowsTheFuture(t *testing.T) {
	f := newFixture(t, false)
	grantee, _ := age.GenerateX25519Identity()
	now := f.clk.Now()
	g, err := f.gate.SubmitGrant(f.grant(grantee.Recipient().String(), now.Add(-time.Minute), now.Add(10*time.Minute), nil))
	if err != nil {
		t.Fatal(err)
	}
	if g.Disclosures != 0 || !g.Follow {
		t.Fatalf("grant %+v: want no disclosure yet, following", g)
	}
	if n := f.follow(); n != 0 {
		t.Fatalf("Follow started %d jobs with nothing new", n)
	}
	// A clip recorded 4 s later, inside the window.
	clip := f.recordAt(now.Add(4*time.Second), 9*time.Second)
	if n := f.follow(); n != 1 {
		t.Fatalf("Follow started %d jobs for a new clip in the window, want 1", n)
	}
	if n := f.follow(); n != 0 {
		t.Fatalf("Follow disclosed the same segments again (%d jobs)", n)
	}
	f.runJobs()
	jobs := f.jobs()
	j := jobs[len(jobs)-1]
	if j.Authority != "grant:"+g.JTI || j.Clip != clip || j.State != JobDelivered || j.Dir != g.JTI+"/"+clip || j.Notice != g.Notice {
		t.Fatalf("job %+v", j)
	}
	data, err := openDisclosure(t, filepath.Join(f.dir, "disclosures", g.JTI, clip), grantee)
	if err != nil {
		t.Fatal(err)
	}
	if p := capturetest.ProbeBytes(t, data, true); p.Codec != "h264" || p.Frames < 250 {
		t.Errorf("followed disclosure: %+v, want 9 s of h264", p)
	}
	if _, err := openDisclosure(t, filepath.Join(f.dir, "disclosures", g.JTI, clip), f.owner.Identity()); err == nil {
		t.Error("the owner key opens a grantee's disclosure")
	}
	if r := f.grantRecord(g.JTI); r.Followed != 1 || r.FollowedTo.IsZero() {
		t.Errorf("grant record %+v", r)
	}

	// Revoked: a clip recorded after that is not disclosed.
	if _, err := f.gate.Revoke(f.ownerSigned(consent.KindRevoke, consent.RevokeClaims{Claims: f.baseClaims(), Grant: g.JTI})); err != nil {
		t.Fatal(err)
	}
	f.recordAt(now.Add(30*time.Second), 5*time.Second)
	if n := f.follow(); n != 0 {
		t.Fatalf("a revoked grant disclosed %d more clips", n)
	}
}

// TestGrantFollowStopsAtUntilAndExpiry: segments outside the window are
// never disclosed, and nothing is once the grant expired.
func TestGrantFollowStopsAtUntilAndExpiry(t *testing.T) {
	f := newFixture(t, false)
	grantee, _ := age.GenerateX25519Identity()
	now := f.clk.Now()
	g, err := f.gate.SubmitGrant(f.grant(grantee.Recipient().String(), now, now.Add(20*time.Second), nil))
	if err != nil {
		t.Fatal(err)
	}
	// A clip 30-40 s: after until.
	f.recordAt(now.Add(30*time.Second), 10*time.Second)
	if n := f.follow(); n != 0 {
		t.Fatalf("a clip after until was disclosed (%d jobs)", n)
	}
	// A clip 14-26 s overlapping until: only the segments that overlap
	// the window (4 s segments: 14-18, 18-22; not 22-26).
	clip := f.recordAt(now.Add(14*time.Second), 12*time.Second)
	if n := f.follow(); n != 1 {
		t.Fatalf("Follow started %d jobs for a clip across until, want 1", n)
	}
	jobs := f.jobs()
	if j := jobs[len(jobs)-1]; j.Clip != clip || len(j.Segments) != 2 {
		t.Fatalf("job %+v: want the 2 segments of %s inside the window", j, clip)
	}
	// After until (and its grace), nothing more is looked for.
	f.clk.Advance(time.Hour)
	f.recordAt(now.Add(15*time.Second), 3*time.Second) // inside the window, but committed too late
	if n := f.follow(); n != 0 {
		t.Fatalf("a grant past its until disclosed %d more clips", n)
	}
	_ = g

	// Expiry: a grant for the next hour that expires in 2 minutes.
	f2 := newFixture(t, false)
	now = f2.clk.Now()
	g2, err := f2.gate.SubmitGrant(f2.grant(grantee.Recipient().String(), now, now.Add(time.Hour), func(c *consent.GrantClaims) {
		c.Expiry = consent.NewNumericDate(now.Add(2 * time.Minute))
	}))
	if err != nil {
		t.Fatal(err)
	}
	f2.recordAt(now.Add(10*time.Second), 5*time.Second)
	if n := f2.follow(); n != 1 {
		t.Fatalf("before expiry: %d jobs, want 1", n)
	}
	f2.clk.Advance(3 * time.Minute)
	f2.recordAt(now.Add(4*time.Minute), 5*time.Second)
	if n := f2.follow(); n != 0 {
		t.Fatalf("an expired grant disclosed %d more clips", n)
	}
	if r := f2.grantRecord(g2.JTI); r.Followed != 1 {
		t.Errorf("grant record %+v", r)
	}
}

// TestLegalTokensStayRetrospective: a segment committed after a token's
// acceptance, even inside its window, is not disclosed under it.
func TestLegalTokensStayRetrospective(t *testing.T) {
	f := newFixture(t, false)
	agency, _ := age.GenerateX25519Identity()
	now := f.clk.Now()
	if _, err := f.gate.SubmitToken(f.token(agency.Recipient().String(), func(c *consent.TokenClaims) {
		c.Scope.From, c.Scope.Until = t0, now
	})); err != nil {
		t.Fatal(err)
	}
	before := len(f.jobs())
	f.recordAt(t0.Add(30*time.Minute), 5*time.Second) // inside the window, committed after
	if n := f.follow(); n != 0 || len(f.jobs()) != before {
		t.Fatalf("a legal token disclosed a segment committed after its acceptance (%d jobs)", n)
	}
}

// TestGrantForSnapshotsRefused: the device records no snapshots, so a
// grant asking for them is refused with a reason that says so, and burns
// nothing.
func TestGrantForSnapshotsRefused(t *testing.T) {
	f := newFixture(t, false)
	grantee, _ := age.GenerateX25519Identity()
	for _, media := range [][]string{{"snapshot"}, {"video", "snapshot"}} {
		_, err := f.gate.SubmitGrant(f.grant(grantee.Recipient().String(), t0, t0.Add(time.Minute), func(c *consent.GrantClaims) {
			c.Scope.Media = media
		}))
		var ce *consent.Error
		if !errors.As(err, &ce) || ce.Reason != consent.ReasonMediaNotRecorded {
			t.Fatalf("media %v: %v, want %s", media, err, consent.ReasonMediaNotRecorded)
		}
	}
	if gs, _ := f.gate.Grants(); len(gs) != 0 || len(f.jobs()) != 0 {
		t.Fatalf("a refused grant was recorded: %+v", gs)
	}
}
