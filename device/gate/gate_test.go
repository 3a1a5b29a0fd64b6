package gate

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/capture/record"
	"github.com/doorward/doorward/capture/simcam"
	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/consent/audit/auditlog"
	"github.com/doorward/doorward/consent/pairing"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/clock/clocktest"
)

// t0 is when the test's clip starts; the fake clock starts later, when
// the footage is in the vault.
var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

type issuer struct {
	name, role string
	key        ed25519.PrivateKey
}

type fixture struct {
	t       testing.TB
	dir     string
	db      *bbolt.DB
	clk     *clocktest.Fake
	owner   *consent.OwnerKey
	vaultID age.Identity
	vaultR  age.Recipient
	devKey  ed25519.PrivateKey
	devID   string
	vault   *vault.Vault
	log     *auditlog.Log
	gate    *Gate
	issuers []issuer
	policy  consent.Policy
	synced  bool
}

type devSigner struct{ key ed25519.PrivateKey }

func (s devSigner) Sign(m []byte) []byte             { return ed25519.Sign(s.key, m) }
func (s devSigner) PublicKey() ed25519.PublicKey     { return s.key.Public().(ed25519.PublicKey) }
func newKey(t testing.TB) ed25519.PrivateKey         { _, k, _ := ed25519.GenerateKey(rand.Reader); return k }
func pubOf(k ed25519.PrivateKey) ed25519.PublicKey   { return k.Public().(ed25519.PublicKey) }
func (f *fixture) kidOf(k ed25519.PrivateKey) string { return consent.KeyID(pubOf(k)) }

// newFixture builds a paired device whose vault holds one real clip of
// the sim camera, 10:00:00 to about 10:00:20, in 4 s segments.
func newFixture(t testing.TB, strict bool) *fixture { return newFixtureOf(t, strict, false) }

// newFixtureOf is newFixture with post-quantum (hybrid) owners when pq.
func newFixtureOf(t testing.TB, strict, pq bool) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), clk: clocktest.New(t0.Add(time.Hour)), synced: true}
	var err error
	if f.db, err = bbolt.Open(filepath.Join(f.dir, "state.db"), 0o600, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.db.Close() })
	if f.owner, err = consent.GenerateOwnerKey(pq); err != nil {
		t.Fatal(err)
	}
	if pq {
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			t.Fatal(err)
		}
		f.vaultID, f.vaultR = id, id.Recipient()
	} else {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		f.vaultID, f.vaultR = id, id.Recipient()
	}
	f.devKey = newKey(t)
	f.devID = pairing.DeviceID(pubOf(f.devKey))
	recipients := []age.Recipient{f.owner.Recipient()}
	if !strict {
		recipients = append(recipients, f.vaultR)
	}
	if f.vault, err = vault.Open(vault.Options{Dir: filepath.Join(f.dir, "clips"), DB: f.db, Recipients: recipients, Clock: f.clk}); err != nil {
		t.Fatal(err)
	}
	f.recordClip()
	if f.log, err = auditlog.Open(f.db, devSigner{f.devKey}, f.clk); err != nil {
		t.Fatal(err)
	}
	opts := Options{
		DB: f.db, Vault: f.vault, Audit: f.log, DeviceID: f.devID, DisclosureDir: filepath.Join(f.dir, "disclosures"),
		ClockSynced: func() bool { return f.synced }, Clock: f.clk, Log: slog.New(slog.DiscardHandler),
	}
	if !strict {
		opts.VaultIdentity = f.vaultID
	}
	if f.gate, err = Open(opts); err != nil {
		t.Fatal(err)
	}
	for _, is := range []issuer{{"district-court", "court", newKey(t)}, {"oversight-board", "oversight", newKey(t)}, {"second-court", "court", newKey(t)}} {
		f.issuers = append(f.issuers, is)
		f.policy.Issuers = append(f.policy.Issuers, consent.Issuer{Name: is.name, Role: is.role, PublicKey: consent.FormatIssuerKey(pubOf(is.key))})
	}
	f.policy.Quorum = map[string]int{"court": 1, "oversight": 1}
	if err := f.policy.Validate(); err != nil {
		t.Fatal(err)
	}
	pj, _ := jsonMarshal(f.policy)
	err = f.gate.InstallOwner(pairing.Owner{
		SigningKey: f.owner.SigningPublicKey(), Recipients: []string{f.owner.RecipientString()},
		PolicyHash: f.policy.Hash(), Transcript: []byte("transcript"), Signature: []byte("sig"),
	}, pj)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) recordClip() {
	r, err := record.New(record.DefaultConfig(), record.StoreOf(f.vault), slog.New(slog.DiscardHandler))
	if err != nil {
		f.t.Fatal(err)
	}
	defer r.Close()
	aus, err := capture.SplitAccessUnits(simcam.Clip())
	if err != nil {
		f.t.Fatal(err)
	}
	frames := make(chan capture.Frame, 1000)
	for i := 0; i < 20*30; i++ {
		pts := time.Duration(i) * time.Second / 30
		au := aus[i%len(aus)]
		frames <- capture.Frame{Data: au.Data, Key: au.Key, PTS: pts, Time: t0.Add(pts)}
	}
	close(frames)
	r.Trigger(capture.Event{Kind: capture.Motion, Time: t0})
	time.Sleep(10 * time.Millisecond) // let the event be queued first
	r.Run(context.Background(), frames)
	clips, _ := f.vault.Clips()
	if len(clips) != 1 || clips[0].Segments != 3 {
		f.t.Fatalf("recorded clips: %+v", clips)
	}
}

func (f *fixture) grant(to string, from, until time.Time, mut func(*consent.GrantClaims)) []byte {
	now := f.clk.Now()
	c := consent.GrantClaims{
		Claims:    consent.Claims{ID: consent.NewJTI(), Audience: f.devID, IssuedAt: consent.NewNumericDate(now), Expiry: consent.NewNumericDate(now.Add(24 * time.Hour))},
		Grantee:   consent.FormatIssuerKey(pubOf(newKey(f.t))),
		Recipient: to, Scope: consent.Scope{From: from, Until: until, Media: []string{"video"}}, Uses: 1,
	}
	if mut != nil {
		mut(&c)
	}
	data, err := consent.Sign(consent.KindGrant, c, f.owner.SigningKey(), consent.KeyID(f.owner.SigningPublicKey()))
	if err != nil {
		f.t.Fatal(err)
	}
	return data
}

func (f *fixture) token(to string, mut func(*consent.TokenClaims), signers ...issuer) []byte {
	now := f.clk.Now()
	c := consent.TokenClaims{
		Claims:    consent.Claims{ID: consent.NewJTI(), Audience: f.devID, IssuedAt: consent.NewNumericDate(now.Add(-time.Minute)), Expiry: consent.NewNumericDate(now.Add(7 * 24 * time.Hour))},
		NotBefore: consent.NewNumericDate(now.Add(-time.Minute)), Basis: consent.BasisWarrant, Case: "2026-CR-1234",
		Jurisdiction: "Example County", OrderSHA256: strings.Repeat("ab", 32),
		Scope:     consent.Scope{From: t0.Add(5 * time.Second), Until: t0.Add(9 * time.Second), Media: []string{"video"}},
		Recipient: to,
	}
	if mut != nil {
		mut(&c)
	}
	if len(signers) == 0 {
		signers = f.issuers[:2]
	}
	data, err := consent.IssueToken(c, signers[0].key, f.kidOf(signers[0].key))
	if err != nil {
		f.t.Fatal(err)
	}
	for _, s := range signers[1:] {
		if data, err = consent.CosignToken(data, s.key, f.kidOf(s.key)); err != nil {
			f.t.Fatal(err)
		}
	}
	return data
}

func (f *fixture) runJobs() {
	f.t.Helper()
	if _, err := f.gate.runDue(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

// jobs lists every job, delayed ones included, oldest first.
func (f *fixture) jobs() []Job {
	f.t.Helper()
	var out []Job
	if err := f.db.View(func(tx *bbolt.Tx) error {
		var err error
		out, err = list[Job](tx, bucketJobs)
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// openDisclosure decrypts every file of a disclosure in order with ids and
// returns the concatenation; it fails if any file does not open.
func openDisclosure(t *testing.T, dir string, ids ...age.Identity) ([]byte, error) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var out bytes.Buffer
	for _, n := range names {
		fh, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		r, err := age.Decrypt(fh, ids...)
		if err == nil {
			_, err = io.Copy(&out, r)
		}
		fh.Close()
		if err != nil {
			return nil, err
		}
	}
	return out.Bytes(), nil
}

func TestGrantDisclosesScopedSegmentsToGranteeAlone(t *testing.T) {
	f := newFixture(t, false)
	grantee, _ := age.GenerateX25519Identity()
	g, err := f.gate.SubmitGrant(f.grant(grantee.Recipient().String(), t0.Add(5*time.Second), t0.Add(9*time.Second), nil))
	if err != nil {
		t.Fatal(err)
	}
	f.runJobs()
	jobs := f.jobs()
	if len(jobs) != 1 || jobs[0].Done.IsZero() || jobs[0].Authority != "grant:"+g.JTI {
		t.Fatalf("jobs %+v", jobs)
	}
	// The clip spans 0-10 s in segments 0-4, 4-8 and 8-10 s: 5 s to 9 s overlaps the last two.
	if got := jobs[0].Files; len(got) != 3 || !strings.HasSuffix(got[0], "init.mp4.age") {
		t.Fatalf("files %v, want init + 2 segments", got)
	}
	dir := filepath.Join(f.dir, "disclosures", jobs[0].DirName())
	data, err := openDisclosure(t, dir, grantee)
	if err != nil {
		t.Fatal(err)
	}
	p := capturetest.ProbeBytes(t, data, true)
	if p.Codec != "h264" || !p.FirstKey || p.Frames < 170 || p.Frames > 190 {
		t.Errorf("disclosed footage: %+v, want 6 s of h264 (4 s to 10 s)", p)
	}
	// Stock age with the grantee's key opens a file; nothing else does.
	ageBin := capturetest.Tool(t, "age")
	keyFile := filepath.Join(t.TempDir(), "grantee.key")
	os.WriteFile(keyFile, []byte(grantee.String()+"\n"), 0o600)
	if out, err := runCmd(ageBin, "-d", "-i", keyFile, filepath.Join(dir, jobs[0].Files[1])); err != nil || !bytes.Contains(out[:16], []byte("moof")) {
		t.Errorf("stock age -d: %v", err)
	}
	for name, id := range map[string]age.Identity{"owner": f.owner.Identity(), "vault": f.vaultID} {
		if _, err := openDisclosure(t, dir, id); err == nil {
			t.Errorf("the %s identity opens the disclosure", name)
		}
	}
	// The owner got a notice, readable with the owner key only.
	notices, _ := f.gate.Notices()
	if len(notices) != 1 {
		t.Fatalf("notices: %d", len(notices))
	}
	body, err := api.DecryptNotice(notices[0].Body, f.owner.Identity())
	if err != nil || body.Kind != "grant" || body.Authority != g.JTI || body.Recipient != grantee.Recipient().String() || body.Segments != 2 {
		t.Errorf("notice %+v, %v", body, err)
	}
	if _, err := api.DecryptNotice(notices[0].Body, grantee); err == nil {
		t.Error("the grantee can read the owner's notice")
	}
	// Replaying the same grant is refused.
	_ = g
}

func TestRevokedOrExpiredGrantDisclosesNothing(t *testing.T) {
	f := newFixture(t, false)
	grantee, _ := age.GenerateX25519Identity()
	g, err := f.gate.SubmitGrant(f.grant(grantee.Recipient().String(), t0, t0.Add(time.Minute), nil))
	if err != nil {
		t.Fatal(err)
	}
	rev, _ := consent.Sign(consent.KindRevoke, consent.RevokeClaims{
		Claims: consent.Claims{ID: consent.NewJTI(), Audience: f.devID, IssuedAt: consent.NewNumericDate(f.clk.Now()), Expiry: consent.NewNumericDate(f.clk.Now().Add(time.Hour))},
		Grant:  g.JTI,
	}, f.owner.SigningKey(), consent.KeyID(f.owner.SigningPublicKey()))
	if _, err := f.gate.Revoke(rev); err != nil {
		t.Fatal(err)
	}
	// An expiring grant: accepted, then its jobs run after it expired.
	g2, err := f.gate.SubmitGrant(f.grant(grantee.Recipient().String(), t0, t0.Add(time.Minute), func(c *consent.GrantClaims) {
		c.Expiry = consent.NewNumericDate(f.clk.Now().Add(time.Minute))
	}))
	if err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(2 * time.Minute)
	f.runJobs()
	jobs := f.jobs()
	for _, j := range jobs {
		if len(j.Files) != 0 || j.Error == "" {
			t.Errorf("job %s for %s wrote %v (error %q)", j.ID, j.Authority, j.Files, j.Error)
		}
		if _, err := os.Stat(filepath.Join(f.dir, "disclosures", j.DirName())); err == nil {
			t.Errorf("disclosure directory %s exists", j.ID)
		}
	}
	if len(jobs) != 2 || g2.JTI == "" {
		t.Errorf("jobs %+v", jobs)
	}
	// A grant signed by anyone but an owner is refused outright.
	stranger, _ := consent.GenerateOwnerKey(false)
	forged, _ := consent.Sign(consent.KindGrant, consent.GrantClaims{}, stranger.SigningKey(), consent.KeyID(stranger.SigningPublicKey()))
	if _, err := f.gate.SubmitGrant(forged); consent.ReasonOf(err) == "" {
		t.Errorf("forged grant: %v", err)
	}
}

func TestTokenAcceptedOnceAndRefusalsBurnNothing(t *testing.T) {
	f := newFixture(t, false)
	agency, _ := age.GenerateX25519Identity()
	valid := f.token(agency.Recipient().String(), nil)
	// A relay that strips a signature cannot use the token up.
	stripped := f.token(agency.Recipient().String(), func(c *consent.TokenClaims) {}, f.issuers[0])
	if _, err := f.gate.SubmitToken(stripped); consent.ReasonOf(err) != consent.ReasonQuorumNotMet {
		t.Fatalf("one signature: %v", err)
	}
	// An unsynced clock refuses, and burns nothing.
	f.synced = false
	if _, err := f.gate.SubmitToken(valid); consent.ReasonOf(err) != consent.ReasonClockUnsynced {
		t.Fatalf("unsynced: %v", err)
	}
	f.synced = true
	jti, err := f.gate.SubmitToken(valid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.gate.SubmitToken(valid); !errors.Is(err, consent.ErrReplayed) {
		t.Fatalf("replay: %v", err)
	}
	f.runJobs()
	jobs := f.jobs()
	if len(jobs) != 1 || jobs[0].Authority != "legal:"+jti || len(jobs[0].Files) != 3 {
		t.Fatalf("jobs %+v", jobs)
	}
	data, err := openDisclosure(t, filepath.Join(f.dir, "disclosures", jobs[0].DirName()), agency)
	if err != nil {
		t.Fatal(err)
	}
	if p := capturetest.ProbeBytes(t, data, false); p.Codec != "h264" || !p.FirstKey {
		t.Errorf("disclosed: %+v", p)
	}
	// Every decision reached the audit log.
	entries := f.entries()
	kinds := map[audit.Kind]int{}
	for _, e := range entries {
		kinds[e.Kind]++
	}
	if kinds[audit.KindTokenAccepted] != 1 || kinds[audit.KindDisclosure] != 1 || kinds[audit.KindTokenRefused] < 2 {
		t.Errorf("audit kinds %v", kinds)
	}
}

func TestDelayedNoticeCommitsThenOpens(t *testing.T) {
	f := newFixture(t, false)
	agency, _ := age.GenerateX25519Identity()
	after := f.clk.Now().Add(30 * 24 * time.Hour)
	tok := f.token(agency.Recipient().String(), func(c *consent.TokenClaims) {
		c.NotifyAfter = &after
		c.Preserve = true
	})
	if _, err := f.gate.SubmitToken(tok); err != nil {
		t.Fatal(err)
	}
	f.runJobs()
	if n, _ := f.gate.Notices(); len(n) != 0 {
		t.Fatalf("a delayed notice is visible: %+v", n)
	}
	_, unopened, err := audit.Commitments(f.entries())
	if err != nil || len(unopened) != 2 {
		t.Fatalf("commitments before release: %v unopened, %v", unopened, err)
	}
	for _, e := range f.entries() {
		if e.Kind == audit.KindTokenAccepted || e.Kind == audit.KindDisclosure {
			t.Fatalf("the log reveals the disclosure before the notice: %+v", e)
		}
	}
	// Preserved: retention cannot take the scoped segments.
	if held, _ := f.vault.HeldBytes(f.clk.Now()); held == 0 {
		t.Error("no legal hold placed")
	}
	f.clk.Advance(31 * 24 * time.Hour)
	if n, err := f.gate.ReleaseNotices(); err != nil || n != 1 {
		t.Fatalf("released %d, %v", n, err)
	}
	opened, unopened, err := audit.Commitments(f.entries())
	if err != nil || len(opened) != 2 || len(unopened) != 0 {
		t.Fatalf("after release: opened %d, unopened %v, %v", len(opened), unopened, err)
	}
	notices, _ := f.gate.Notices()
	if len(notices) != 1 {
		t.Fatalf("notices after release: %d", len(notices))
	}
	if body, err := api.DecryptNotice(notices[0].Body, f.owner.Identity()); err != nil || body.Kind != "legal" || body.Case != "2026-CR-1234" {
		t.Errorf("notice %+v %v", body, err)
	}
}

func TestNoticeCapHoldsOnUptimeWhenClockIsSetBack(t *testing.T) {
	f := newFixture(t, false)
	up := time.Duration(0)
	f.gate.opts.Uptime = func() time.Duration { return up }
	agency, _ := age.GenerateX25519Identity()
	after := f.clk.Now().Add(10 * 24 * time.Hour)
	if _, err := f.gate.SubmitToken(f.token(agency.Recipient().String(), func(c *consent.TokenClaims) { c.NotifyAfter = &after })); err != nil {
		t.Fatal(err)
	}
	// The wall clock is held back (or set back), but the device stays up.
	up = 10*24*time.Hour + time.Minute
	if n, _ := f.gate.ReleaseNotices(); n != 1 {
		t.Fatalf("released %d notices after 10 days of uptime", n)
	}
}

func TestStrictModeDisclosesOwnerOnlyCiphertext(t *testing.T) {
	f := newFixture(t, true)
	grantee, _ := age.GenerateX25519Identity()
	if _, err := f.gate.SubmitGrant(f.grant(grantee.Recipient().String(), t0, t0.Add(5*time.Second), nil)); err != nil {
		t.Fatal(err)
	}
	f.runJobs()
	jobs := f.jobs()
	dir := filepath.Join(f.dir, "disclosures", jobs[0].DirName())
	if _, err := openDisclosure(t, dir, grantee); err == nil {
		t.Error("strict mode: the grantee opens the footage")
	}
	if _, err := openDisclosure(t, dir, f.owner.Identity()); err != nil {
		t.Errorf("strict mode: the owner cannot open the released ciphertext: %v", err)
	}
}

func (f *fixture) entries() []audit.Entry {
	f.t.Helper()
	n, err := f.log.Size()
	if err != nil {
		f.t.Fatal(err)
	}
	es, err := f.log.Entries(0, n)
	if err != nil {
		f.t.Fatal(err)
	}
	return es
}

// Post-quantum footage is never re-wrapped for a classic recipient: the
// grant is refused at once; a hybrid recipient gets the footage.
func TestNoPostQuantumDowngrade(t *testing.T) {
	f := newFixtureOf(t, false, true)
	classic, _ := age.GenerateX25519Identity()
	_, err := f.gate.SubmitGrant(f.grant(classic.Recipient().String(), t0, t0.Add(5*time.Second), nil))
	if consent.ReasonOf(err) != consent.ReasonRecipientTypeNotAllowed {
		t.Fatalf("grant to a classic recipient of hybrid footage: %v", err)
	}
	hybrid, _ := age.GenerateHybridIdentity()
	if _, err := f.gate.SubmitGrant(f.grant(hybrid.Recipient().String(), t0, t0.Add(5*time.Second), nil)); err != nil {
		t.Fatal(err)
	}
	f.runJobs()
	jobs := f.jobs()
	if len(jobs) != 1 || len(jobs[0].Files) != 3 {
		t.Fatalf("jobs %+v", jobs)
	}
	data, err := openDisclosure(t, filepath.Join(f.dir, "disclosures", jobs[0].DirName()), hybrid)
	if err != nil {
		t.Fatal(err)
	}
	if p := capturetest.ProbeBytes(t, data, false); p.Codec != "h264" || !p.FirstKey {
		t.Errorf("disclosed: %+v", p)
	}
}

func (f *fixture) ownerSigned(kind string, claims any) []byte {
	f.t.Helper()
	data, err := consent.Sign(kind, claims, f.owner.SigningKey(), consent.KeyID(f.owner.SigningPublicKey()))
	if err != nil {
		f.t.Fatal(err)
	}
	return data
}

func (f *fixture) baseClaims() consent.Claims {
	now := f.clk.Now()
	return consent.Claims{ID: consent.NewJTI(), Audience: f.devID, IssuedAt: consent.NewNumericDate(now), Expiry: consent.NewNumericDate(now.Add(10 * time.Minute))}
}

// A sniffed owner statement cannot be replayed: an older policy statement
// cannot roll the policy back, and a login bearer serves one request.
func TestOwnerStatementsAreSingleUse(t *testing.T) {
	f := newFixture(t, false)
	strict := f.policy
	strict.MaxNoticeDelay = consent.Duration(24 * time.Hour)
	first := f.ownerSigned(consent.KindPolicy, consent.PolicyClaims{Claims: f.baseClaims(), Policy: strict})
	if _, err := f.gate.SetPolicy(first); err != nil {
		t.Fatal(err)
	}
	second := f.ownerSigned(consent.KindPolicy, consent.PolicyClaims{Claims: f.baseClaims(), Policy: f.policy})
	if _, err := f.gate.SetPolicy(second); err != nil {
		t.Fatal(err)
	}
	if _, err := f.gate.SetPolicy(first); !errors.Is(err, consent.ErrReplayed) {
		t.Fatalf("replayed policy statement: %v", err)
	}
	if p, _, _ := f.gate.Policy(); p.Hash() != f.policy.Hash() {
		t.Error("a replayed statement rolled the policy back")
	}
	login := f.ownerSigned(consent.KindLogin, consent.LoginClaims{Claims: f.baseClaims()})
	if kid, err := f.gate.VerifyLogin(login); err != nil || kid != consent.KeyID(f.owner.SigningPublicKey()) {
		t.Fatalf("login: owner %q, %v; want the owner's key ID %s", kid, err, consent.KeyID(f.owner.SigningPublicKey()))
	}
	if kid, err := f.gate.VerifyLogin(login); !errors.Is(err, consent.ErrReplayed) || kid != "" {
		t.Fatalf("login used twice: %v", err)
	}
	stranger, _ := consent.GenerateOwnerKey(false)
	forged, _ := consent.Sign(consent.KindLogin, consent.LoginClaims{Claims: f.baseClaims()}, stranger.SigningKey(), consent.KeyID(stranger.SigningPublicKey()))
	if _, err := f.gate.VerifyLogin(forged); consent.ReasonOf(err) == "" {
		t.Errorf("a stranger's login: %v", err)
	}
	reset := f.ownerSigned(consent.KindReset, consent.ResetClaims{Claims: f.baseClaims()})
	if err := f.gate.VerifyReset(reset); err != nil {
		t.Fatal(err)
	}
	if err := f.gate.VerifyReset(reset); !errors.Is(err, consent.ErrReplayed) {
		t.Fatalf("replayed reset: %v", err)
	}
}

// Enrollment adds an owner device only when an enrolled owner signs it,
// once, and never mixes classic and post-quantum owners.
func TestEnrollRefusals(t *testing.T) {
	f := newFixture(t, false)
	phone, _ := consent.GenerateOwnerKey(false)
	enroll := func(rcpt string) []byte {
		return f.ownerSigned(consent.KindEnroll, consent.EnrollClaims{
			Claims: f.baseClaims(), Key: consent.FormatIssuerKey(phone.SigningPublicKey()), Recipient: rcpt,
		})
	}
	pq, _ := consent.GenerateOwnerKey(true)
	if _, err := f.gate.Enroll(enroll(pq.RecipientString())); consent.ReasonOf(err) != consent.ReasonRecipientTypeNotAllowed {
		t.Fatalf("post-quantum phone beside a classic owner: %v", err)
	}
	stranger, _ := consent.GenerateOwnerKey(false)
	forged, _ := consent.Sign(consent.KindEnroll, consent.EnrollClaims{
		Claims: f.baseClaims(), Key: consent.FormatIssuerKey(stranger.SigningPublicKey()), Recipient: stranger.RecipientString(),
	}, stranger.SigningKey(), consent.KeyID(stranger.SigningPublicKey()))
	if _, err := f.gate.Enroll(forged); consent.ReasonOf(err) == "" {
		t.Fatalf("self-signed enrollment: %v", err)
	}
	ok := enroll(phone.RecipientString())
	o, err := f.gate.Enroll(ok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.gate.Enroll(ok); !errors.Is(err, consent.ErrReplayed) {
		t.Fatalf("replayed enrollment: %v", err)
	}
	owners, _ := f.gate.Owners()
	if len(owners) != 2 || o.KeyID != consent.KeyID(phone.SigningPublicKey()) {
		t.Fatalf("owners %+v", owners)
	}
	// The enrolled phone can now sign, and its recipient gets notices.
	grantee, _ := age.GenerateX25519Identity()
	g, err := consent.Sign(consent.KindGrant, consent.GrantClaims{
		Claims: f.baseClaims(), Grantee: consent.FormatIssuerKey(pubOf(newKey(t))), Recipient: grantee.Recipient().String(),
		Scope: consent.Scope{From: t0, Until: t0.Add(time.Second), Media: []string{"video"}}, Uses: 1,
	}, phone.SigningKey(), consent.KeyID(phone.SigningPublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.gate.SubmitGrant(g); err != nil {
		t.Fatalf("grant signed by the enrolled phone: %v", err)
	}
	notices, _ := f.gate.Notices()
	if _, err := api.DecryptNotice(notices[len(notices)-1].Body, phone.Identity()); err != nil {
		t.Errorf("the enrolled phone cannot read the notice: %v", err)
	}
}
