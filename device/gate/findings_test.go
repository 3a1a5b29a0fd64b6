package gate

// Regression tests for the findings of issue 8 that live in the gate. Each
// failed before its fix.

import (
	"context"
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

// Finding 3: until a delayed notice is released, neither the jobs listing
// (what GET /api/v1/disclosures serves) nor the agent's log shows more
// than the audit log's commitment: no authority, recipient, clip or count.
func TestFinding3DelayedDisclosureNotListedOrLogged(t *testing.T) {
	f := newFixture(t, false)
	log, logs := capturetest.NewLogger(slog.LevelDebug)
	f.gate.log = log
	agency, _ := age.GenerateX25519Identity()
	after := f.clk.Now().Add(10 * 24 * time.Hour)
	jti, err := f.gate.SubmitToken(f.token(agency.Recipient().String(), func(c *consent.TokenClaims) {
		c.NotifyAfter = &after
		c.Case = "2026-CR-SECRET"
	}))
	if err != nil {
		t.Fatal(err)
	}
	f.runJobs() // delivered, still under the delay
	for _, q := range []JobQuery{{}, {Unfinished: true}} {
		if jobs, _, err := f.gate.Jobs(q); err != nil || len(jobs) != 0 {
			t.Errorf("listing %+v shows the delayed disclosure: %+v, %v", q, jobs, err)
		}
	}
	for _, secret := range []string{jti, agency.Recipient().String(), "2026-CR-SECRET", "legal token accepted", "disclosures="} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log reveals %q before the notice:\n%s", secret, logs.String())
		}
	}
	f.clk.Advance(11 * 24 * time.Hour)
	if n, _ := f.gate.ReleaseNotices(); n != 1 {
		t.Fatal("notice not released")
	}
	if jobs, _, _ := f.gate.Jobs(JobQuery{}); len(jobs) != 1 || jobs[0].Authority != "legal:"+jti {
		t.Errorf("after the release: %+v", jobs)
	}
}

// Finding 4: the accumulated uptime that caps notice delays is persisted
// at least once a minute while the gate runs, not only on a clean stop: a
// power cut (the database read while Run still runs) loses at most a
// minute of it.
func TestFinding4UptimePersistedWhileRunning(t *testing.T) {
	f := newFixture(t, false)
	var mu sync.Mutex
	up := time.Duration(0)
	f.gate.opts.Uptime = func() time.Duration { mu.Lock(); defer mu.Unlock(); return up }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.gate.Run(ctx) }()
	defer func() { cancel(); <-done }()
	saved := func() time.Duration {
		var d time.Duration
		f.db.View(func(tx *bbolt.Tx) error {
			if v := tx.Bucket(bucketMeta).Get(keyUptime); len(v) == 8 {
				d = time.Duration(binary.BigEndian.Uint64(v))
			}
			return nil
		})
		return d
	}
	for i := 1; i <= 6; i++ { // three minutes in 30 s steps
		if !f.clk.BlockUntil(1, 5*time.Second) { // Run's wait (the live watcher keeps no timer while no session is open)
			t.Fatal("Run does not wait on the clock")
		}
		mu.Lock()
		up += 30 * time.Second
		mu.Unlock()
		f.clk.Advance(30 * time.Second)
	}
	deadline := time.Now().Add(5 * time.Second)
	for saved() < 2*time.Minute {
		if time.Now().After(deadline) {
			t.Fatalf("after 3 min of uptime, %v is persisted; a power cut would lose the rest", saved())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// blockingDeliverer writes each job's first piece into a directory, then
// waits until its context ends or release is closed.
type blockingDeliverer struct {
	*DirDeliverer
	started chan Job
	release chan struct{}
	after   func() // called once the pieces are written, before returning
}

func (b *blockingDeliverer) Deliver(ctx context.Context, d Delivery) error {
	first := d
	first.Pieces = d.Pieces[:1]
	if err := b.DirDeliverer.Deliver(ctx, first); err != nil {
		return err
	}
	b.started <- d.Job
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-b.release:
	}
	if err := b.DirDeliverer.Deliver(ctx, d); err != nil {
		return err
	}
	if b.after != nil {
		b.after()
	}
	return nil
}

// Finding 5: a grant revoked while its job is being delivered: the
// delivery is cancelled, what it wrote is removed, the job fails, and no
// disclosure is logged.
func TestFinding5RevokeCancelsJobInProgress(t *testing.T) {
	f := newFixture(t, false)
	dir := filepath.Join(f.dir, "disclosures")
	bd := &blockingDeliverer{DirDeliverer: &DirDeliverer{Dir: dir}, started: make(chan Job, 1), release: make(chan struct{})}
	f.gate.deliver = bd
	grantee, _ := age.GenerateX25519Identity()
	g, err := f.gate.SubmitGrant(f.grant(grantee.Recipient().String(), t0, t0.Add(time.Minute), nil))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := f.gate.runDue(context.Background()); done <- err }()
	j := <-bd.started
	if _, err := os.Stat(filepath.Join(dir, j.DirName())); err != nil {
		t.Fatalf("nothing written before the revocation: %v", err)
	}
	rev := f.ownerSigned(consent.KindRevoke, consent.RevokeClaims{Claims: f.baseClaims(), Grant: g.JTI})
	if _, err := f.gate.Revoke(rev); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the delivery was not cancelled by the revocation")
	}
	if _, err := os.Stat(filepath.Join(dir, j.DirName())); !os.IsNotExist(err) {
		t.Errorf("the revoked job's output is still there: %v", err)
	}
	if got := f.jobs()[0]; got.State != JobFailed || got.Error != "grant revoked" || len(got.Files) != 0 {
		t.Errorf("job after revocation: %+v", got)
	}
	for _, e := range f.entries() {
		if e.Kind == audit.KindDisclosure {
			t.Errorf("a disclosure was logged for a revoked grant: %+v", e)
		}
	}
	if n := f.pending(); n != 0 {
		t.Errorf("%d jobs still pending", n)
	}
}

// Finding 5: the job's final transaction checks the authority again: a
// grant that expired while its pieces were delivered discloses nothing.
func TestFinding5FinalTransactionChecksAuthority(t *testing.T) {
	f := newFixture(t, false)
	dir := filepath.Join(f.dir, "disclosures")
	bd := &blockingDeliverer{DirDeliverer: &DirDeliverer{Dir: dir}, started: make(chan Job, 1), release: make(chan struct{})}
	f.gate.deliver = bd
	grantee, _ := age.GenerateX25519Identity()
	if _, err := f.gate.SubmitGrant(f.grant(grantee.Recipient().String(), t0, t0.Add(time.Minute), func(c *consent.GrantClaims) {
		c.Expiry = consent.NewNumericDate(f.clk.Now().Add(time.Minute))
	})); err != nil {
		t.Fatal(err)
	}
	bd.after = func() { f.clk.Advance(2 * time.Minute) } // expires during the delivery
	done := make(chan error, 1)
	go func() { _, err := f.gate.runDue(context.Background()); done <- err }()
	j := <-bd.started
	close(bd.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := f.jobs()[0]; got.State != JobFailed || got.Error != "grant expired" {
		t.Errorf("job of a grant that expired during delivery: %+v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, j.DirName())); !os.IsNotExist(err) {
		t.Errorf("the output of a job whose authority ended is still there: %v", err)
	}
	for _, e := range f.entries() {
		if e.Kind == audit.KindDisclosure {
			t.Errorf("a disclosure was logged after the grant expired: %+v", e)
		}
	}
}

// Finding 9: a token issued up to 5 minutes ahead of the device's clock
// raises the time floor to now, not to its iat: the next valid token is
// accepted. A clock set back below the floor still refuses.
func TestFinding9FutureIatRaisesFloorToNow(t *testing.T) {
	f := newFixture(t, false)
	agency, _ := age.GenerateX25519Identity()
	now := f.clk.Now()
	ahead := f.token(agency.Recipient().String(), func(c *consent.TokenClaims) {
		c.IssuedAt = consent.NewNumericDate(now.Add(4 * time.Minute))
	})
	if _, err := f.gate.SubmitToken(ahead); err != nil {
		t.Fatal(err)
	}
	var floor time.Time
	f.db.View(func(tx *bbolt.Tx) error { floor = timeFloor(tx); return nil })
	if floor.After(now) {
		t.Errorf("time floor %v is past now %v", floor, now)
	}
	if _, err := f.gate.SubmitToken(f.token(agency.Recipient().String(), nil)); err != nil {
		t.Errorf("the next token: %v", err)
	}
	f.clk.Advance(-time.Hour) // the clock set back
	if _, err := f.gate.SubmitToken(f.token(agency.Recipient().String(), nil)); consent.ReasonOf(err) != consent.ReasonClockBelowFloor {
		t.Errorf("clock set back below the floor: %v", err)
	}
}

// Finding 10: a login bearer serves one request, also across a restart.
func TestFinding10LoginSingleUseAcrossRestart(t *testing.T) {
	f := newFixture(t, false)
	login := f.ownerSigned(consent.KindLogin, consent.LoginClaims{Claims: f.baseClaims()})
	if _, err := f.gate.VerifyLogin(login); err != nil {
		t.Fatal(err)
	}
	restarted, err := Open(f.gate.opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.VerifyLogin(login); consent.ReasonOf(err) != consent.ReasonReplayed {
		t.Errorf("the login after a restart: %v, want replayed", err)
	}
}

// Finding 11: a revocation of an unknown grant is refused with a leaf of
// its own and burns nothing (the same statement works once the grant
// exists); "recording stopped" is not logged as a policy change; pairing
// refusals reach the audit log.
func TestFinding11RefusalsLoggedAndNothingBurned(t *testing.T) {
	f := newFixture(t, false)
	grantee, _ := age.GenerateX25519Identity()
	grant := f.grant(grantee.Recipient().String(), t0, t0.Add(time.Minute), nil)
	st, _ := consent.VerifyOwnerStatement(grant, consent.KindGrant, consent.KeySet{consent.KeyID(f.owner.SigningPublicKey()): {PublicKey: f.owner.SigningPublicKey()}}, f.clk.Now(), f.devID)
	grantJTI := st.ID()
	rev := f.ownerSigned(consent.KindRevoke, consent.RevokeClaims{Claims: f.baseClaims(), Grant: grantJTI})
	if _, err := f.gate.Revoke(rev); !IsUnknownGrant(err) {
		t.Fatalf("revoking an unknown grant: %v", err)
	}
	found := false
	for _, e := range f.entries() {
		found = found || (e.Kind == audit.KindRevokeRefused && e.Reason == string(consent.ReasonUnknownGrant))
	}
	if !found {
		t.Error("no revoke-refused leaf for the unknown grant")
	}
	if _, err := f.gate.SubmitGrant(grant); err != nil {
		t.Fatal(err)
	}
	if id, err := f.gate.Revoke(rev); err != nil || id != grantJTI {
		t.Errorf("the refused revocation, once its grant exists: %q, %v (it was burned)", id, err)
	}

	if err := f.gate.NotifyOwners(NoticeBody{Kind: "status", Note: "Recording stopped"}, audit.KindRecordingStopped, "legal-hold-fills-store"); err != nil {
		t.Fatal(err)
	}
	f.gate.PairingRefused("bad_mac", true)
	f.gate.PairingRefused("unknown_session", false)
	if err := f.log.FlushRefusals(); err != nil {
		t.Fatal(err)
	}
	var kinds []audit.Kind
	for _, e := range f.entries() {
		kinds = append(kinds, e.Kind)
	}
	if !slices.Contains(kinds, audit.KindRecordingStopped) || slices.Contains(kinds, audit.KindPolicyChange) {
		t.Errorf("recording stopped logged as %v", kinds)
	}
	if !slices.Contains(kinds, audit.KindPairingRefused) {
		t.Errorf("pairing refusal not in the log: %v", kinds)
	}
}

// Finding 12: when two enrollments finish together, the owner recipients
// applied last are the latest: new clips never miss the last owner.
func TestFinding12OwnerUpdatesApplyInOrder(t *testing.T) {
	f := newFixture(t, false)
	var mu sync.Mutex
	var applied []string
	started := make(chan struct{})
	var once sync.Once
	f.gate.OnOwnersChanged(func(rs []string) {
		if len(rs) == 2 {
			// The first enrollment's update is slow to apply; the second
			// enrollment finishes meanwhile.
			once.Do(func() { close(started) })
			time.Sleep(200 * time.Millisecond)
		}
		mu.Lock()
		applied = slices.Clone(rs)
		mu.Unlock()
	})
	enroll := func() []byte {
		k, _ := consent.GenerateOwnerKey(false)
		return f.ownerSigned(consent.KindEnroll, consent.EnrollClaims{Claims: f.baseClaims(), Key: consent.FormatIssuerKey(k.SigningPublicKey()), Recipient: k.RecipientString()})
	}
	first, second := enroll(), enroll()
	done := make(chan error, 1)
	go func() { _, err := f.gate.Enroll(first); done <- err }()
	<-started
	if _, err := f.gate.Enroll(second); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want, _ := f.gate.OwnerRecipients()
	mu.Lock()
	defer mu.Unlock()
	if len(want) != 3 || !slices.Equal(applied, want) {
		t.Errorf("applied last %v, the owners are %v", applied, want)
	}
}

// The replay records of logins (one per owner read) do not grow the
// database for good: a day past their expiry they are forgotten; a grant's
// record stays.
func TestExpiredLoginRecordsPruned(t *testing.T) {
	f := newFixture(t, false)
	login := f.ownerSigned(consent.KindLogin, consent.LoginClaims{Claims: f.baseClaims()})
	if _, err := f.gate.VerifyLogin(login); err != nil {
		t.Fatal(err)
	}
	grantee, _ := age.GenerateX25519Identity()
	if _, err := f.gate.SubmitGrant(f.grant(grantee.Recipient().String(), t0, t0.Add(time.Second), nil)); err != nil {
		t.Fatal(err)
	}
	count := func() (logins, grants int) {
		f.db.View(func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketStatements).ForEach(func(k, _ []byte) error {
				switch {
				case strings.HasPrefix(string(k), "login/"):
					logins++
				case strings.HasPrefix(string(k), "grant/"):
					grants++
				}
				return nil
			})
		})
		return
	}
	if n, _ := f.gate.pruneSeen(); n != 0 {
		t.Fatalf("pruned %d records of a login still valid", n)
	}
	f.clk.Advance(10*time.Minute + seenMargin + time.Second)
	if n, err := f.gate.pruneSeen(); n != 1 || err != nil {
		t.Fatalf("pruned %d, %v", n, err)
	}
	if l, g := count(); l != 0 || g != 1 {
		t.Errorf("after pruning: %d login and %d grant records", l, g)
	}
	// Past its expiry the login is refused anyway.
	if _, err := f.gate.VerifyLogin(login); consent.ReasonOf(err) != consent.ReasonExpired {
		t.Errorf("the pruned login: %v", err)
	}
}
