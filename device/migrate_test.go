package device

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/capture/vault/clipfile"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/consent/audit/auditlog"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/clock/clocktest"
	"github.com/doorward/doorward/device/gate"
	"github.com/doorward/doorward/device/schema"
)

// A state directory written by an earlier release opens with this one:
// its clips decrypt, its disclosures still open for their recipients, its
// audit log extends the checkpoint the owner pinned then, its owner still
// signs, new clips record into it, and the notice it held back is
// released on time with its commitments opened.
func TestMigrateReleaseFixture(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent on a copy of each release fixture")
	}
	dirs, _ := filepath.Glob("testdata/migration/*")
	if len(dirs) == 0 {
		t.Fatal("no migration fixture in testdata/migration")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) { testMigrateFixture(t, dir) })
	}
}

func testMigrateFixture(t *testing.T, dir string) {
	var fx migrationFixture
	data, err := os.ReadFile(filepath.Join(dir, "fixture.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatal(err)
	}
	owner, err := consent.ParseOwnerKey(strings.NewReader(fx.Owner))
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := audit.ParseCheckpoint([]byte(fx.Pinned))
	if err != nil {
		t.Fatal(err)
	}
	opts := simOptions(t)
	opts.Config.OwnerRecipients = nil // the paired owner comes from the state
	if err := copyTree(filepath.Join(dir, "state"), opts.StateDir); err != nil {
		t.Fatal(err)
	}
	// A git checkout does not keep modes; the agent refuses a key file
	// others can read.
	if err := os.Chmod(filepath.Join(opts.StateDir, keyFileName), 0o600); err != nil {
		t.Fatal(err)
	}
	if v := schemaVersionOf(t, opts.StateDir); v != 0 {
		t.Fatalf("fixture %s has schema version %d; a release fixture predates versions", dir, v)
	}

	a, err := NewAgent(opts)
	if err != nil {
		t.Fatalf("the agent does not open a state directory of release %s: %v", fx.Release, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	if a.DeviceID() != fx.DeviceID {
		t.Fatalf("device id %s, fixture %s", a.DeviceID(), fx.DeviceID)
	}
	owners, err := a.gate.Owners()
	if err != nil || len(owners) != 1 || owners[0].KeyID != consent.KeyID(owner.SigningPublicKey()) {
		t.Fatalf("owners %+v, %v", owners, err)
	}

	// The old clips decrypt with the owner's key.
	v := a.currentVault()
	if v == nil {
		t.Fatal("no vault: the paired owner was not found")
	}
	clips, err := v.Clips()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range clips {
		ids = append(ids, c.ID)
	}
	if !slices.Equal(ids, fx.Clips) {
		t.Fatalf("clips %v, fixture %v", ids, fx.Clips)
	}
	for _, c := range clips {
		probeClip(t, c, owner.Identity())
	}
	// Its disclosures still open for their recipients, and the jobs
	// behind them are delivered; the delayed token's are not listed.
	jobs, _, err := a.gate.Jobs(gate.JobQuery{})
	if err != nil || len(jobs) != 3 {
		t.Fatalf("jobs %+v, %v", jobs, err)
	}
	keys := map[string]string{"grant:" + fx.Grant: fx.Grantee, "legal:" + fx.Token: fx.Agency, "legal:" + fx.Delayed: fx.Agency}
	for _, j := range jobs {
		if j.State != gate.JobDelivered || j.Done.IsZero() || len(j.Files) != 2 {
			t.Errorf("job %s of %s: done %v, files %v", j.ID, j.Authority, j.Done, j.Files)
			continue
		}
		id, err := age.ParseX25519Identity(keys[j.Authority])
		if err != nil {
			t.Fatalf("job %s: authority %s not in the fixture", j.ID, j.Authority)
		}
		var buf bytes.Buffer
		for _, f := range j.Files { // in playback order
			fh, err := os.Open(filepath.Join(opts.StateDir, disclosuresDir, j.ID, f))
			if err != nil {
				t.Fatal(err)
			}
			r, err := age.Decrypt(fh, id)
			if err == nil {
				_, err = buf.ReadFrom(r)
			}
			fh.Close()
			if err != nil {
				t.Errorf("disclosure %s/%s: %v", j.ID, f, err)
			}
		}
		if p := capturetest.ProbeBytes(t, buf.Bytes(), false); p.Codec != "h264" || !p.FirstKey {
			t.Errorf("disclosure %s: %+v", j.ID, p)
		}
	}
	// The two immediate notices are readable; the delayed one is not yet.
	notices, err := a.gate.Notices()
	if err != nil || len(notices) != 2 {
		t.Fatalf("notices %d, %v", len(notices), err)
	}
	for _, n := range notices {
		if b, err := api.DecryptNotice(n.Body, owner.Identity()); err != nil || (b.Authority != fx.Grant && b.Authority != fx.Token) {
			t.Errorf("notice %+v: %v", b, err)
		}
	}

	// The owner still signs: a new grant is accepted.
	grantee, _ := age.GenerateX25519Identity()
	now := time.Now()
	grant, err := consent.Sign(consent.KindGrant, consent.GrantClaims{
		Claims:  consent.Claims{ID: consent.NewJTI(), Audience: fx.DeviceID, IssuedAt: consent.NewNumericDate(now), Expiry: consent.NewNumericDate(now.Add(time.Hour))},
		Grantee: consent.FormatIssuerKey(owner.SigningPublicKey()), Recipient: grantee.Recipient().String(),
		Scope: consent.Scope{From: clips[1].Start, Until: clips[1].End, Media: []string{"video"}}, Uses: 1,
	}, owner.SigningKey(), consent.KeyID(owner.SigningPublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.gate.SubmitGrant(grant); err != nil {
		t.Fatalf("a grant signed by the fixture's owner: %v", err)
	}
	// What the old release accepted stays accepted once: its grant and
	// its tokens, signed again under the same jti, are replays.
	again, _ := consent.Sign(consent.KindGrant, consent.GrantClaims{
		Claims:  consent.Claims{ID: fx.Grant, Audience: fx.DeviceID, IssuedAt: consent.NewNumericDate(now), Expiry: consent.NewNumericDate(now.Add(time.Hour))},
		Grantee: consent.FormatIssuerKey(owner.SigningPublicKey()), Recipient: grantee.Recipient().String(),
		Scope: consent.Scope{From: clips[1].Start, Until: clips[1].End, Media: []string{"video"}}, Uses: 1,
	}, owner.SigningKey(), consent.KeyID(owner.SigningPublicKey()))
	if _, err := a.gate.SubmitGrant(again); !errors.Is(err, consent.ErrReplayed) {
		t.Errorf("the fixture's grant jti again: %v, want replayed", err)
	}
	for _, jti := range []string{fx.Token, fx.Delayed} {
		tok := fixtureToken(t, fx, jti, clips[0].Start, clips[0].End)
		if _, err := a.gate.SubmitToken(tok); !errors.Is(err, consent.ErrReplayed) {
			t.Errorf("the fixture's token %s again: %v, want replayed", jti, err)
		}
	}
	if _, err := a.gate.SubmitToken(fixtureToken(t, fx, consent.NewJTI(), clips[0].Start, clips[0].End)); err != nil {
		t.Errorf("a new token of the fixture's issuers: %v", err)
	}

	// New clips record into it.
	time.Sleep(1500 * time.Millisecond) // fill the pre-roll
	a.rec.Trigger(capture.Event{Kind: capture.Ring, Time: time.Now()})
	var fresh vault.Clip
	deadline := time.Now().Add(20 * time.Second)
	for fresh.ID == "" {
		clips, err := v.Clips()
		if err != nil {
			t.Fatal(err)
		}
		if len(clips) == len(fx.Clips)+1 && !clips[len(clips)-1].Recording {
			fresh = clips[len(clips)-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new clip: %+v", clips)
		}
		time.Sleep(100 * time.Millisecond)
	}
	probeClip(t, fresh, owner.Identity())

	// The log extends the checkpoint the owner pinned: what doorwardctl
	// audit verify checks.
	entries, cp, err := a.auditLog()
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size <= pinned.Size {
		t.Fatalf("log size %d, pinned %d: the new grant was not logged", cp.Size, pinned.Size)
	}
	proof, err := a.audit.ConsistencyProof(pinned.Size, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.Verify(a.id.PublicKey(), cp, entries, &pinned, proof); err != nil {
		t.Fatalf("the migrated log does not extend the pinned checkpoint: %v", err)
	}

	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v := schemaVersionOf(t, opts.StateDir); v != schema.Version {
		t.Errorf("schema version after the agent ran: %d, want %d", v, schema.Version)
	}

	// The notice the old release held back is released when due, and
	// opens the commitments logged for it.
	db, err := bbolt.Open(filepath.Join(opts.StateDir, dbName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id, _, err := LoadOrCreateIdentity(filepath.Join(opts.StateDir, keyFileName), consent.Classic)
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktest.New(fx.NotifyAfter.Add(time.Hour))
	log, err := auditlog.Open(db, id, clk)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gate.Open(gate.Options{DB: db, Audit: log, DeviceID: fx.DeviceID, Clock: clk, DisclosureDir: filepath.Join(opts.StateDir, disclosuresDir), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := g.ReleaseNotices(); err != nil || n != 1 {
		t.Fatalf("released %d notices, %v; want the delayed one", n, err)
	}
	size, _ := log.Size()
	all, err := log.Entries(0, size)
	if err != nil {
		t.Fatal(err)
	}
	if _, unopened, err := audit.Commitments(all); err != nil || len(unopened) != 0 {
		t.Fatalf("commitments left unopened after the release: %v, %v", unopened, err)
	}
	// Its jobs are listed now, delivered.
	jobs, _, err = g.Jobs(gate.JobQuery{})
	if err != nil {
		t.Fatal(err)
	}
	delivered := 0
	for _, j := range jobs {
		if j.Authority == "legal:"+fx.Delayed && j.State == gate.JobDelivered && len(j.Files) == 2 {
			delivered++
		}
	}
	if delivered != 2 {
		t.Errorf("after the release, %d delivered jobs of the delayed token are listed, want 2: %+v", delivered, jobs)
	}
	notices, _ = g.Notices()
	found := false
	for _, n := range notices {
		b, err := api.DecryptNotice(n.Body, owner.Identity())
		if err != nil {
			t.Fatal(err)
		}
		found = found || (b.Authority == fx.Delayed && b.Kind == "legal" && b.Preserve)
	}
	if !found {
		t.Error("the delayed notice is not readable after its release")
	}
}

// fixtureToken signs a legal token with the fixture's issuers.
func fixtureToken(t *testing.T, fx migrationFixture, jti string, from, until time.Time) []byte {
	t.Helper()
	return fixtureTokenFor(t, fx, jti, from, until, "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
}

// fixtureTokenFor is fixtureToken for a given agency recipient.
func fixtureTokenFor(t *testing.T, fx migrationFixture, jti string, from, until time.Time, recipient string) []byte {
	t.Helper()
	now := time.Now()
	var data []byte
	for i, seed := range fx.Issuers {
		b, err := hex.DecodeString(seed)
		if err != nil {
			t.Fatal(err)
		}
		key := ed25519.NewKeyFromSeed(b)
		kid := consent.KeyID(key.Public().(ed25519.PublicKey))
		if i == 0 {
			data, err = consent.IssueToken(consent.TokenClaims{
				Claims:    consent.Claims{ID: jti, Audience: fx.DeviceID, IssuedAt: consent.NewNumericDate(now.Add(-time.Minute)), Expiry: consent.NewNumericDate(now.Add(24 * time.Hour))},
				NotBefore: consent.NewNumericDate(now.Add(-time.Minute)), Basis: consent.BasisWarrant, Case: "2026-CR-0043",
				Jurisdiction: "Example County", OrderSHA256: strings.Repeat("ef", 32),
				Scope:     consent.Scope{From: from, Until: until, Media: []string{"video"}},
				Recipient: recipient,
			}, key, kid)
		} else {
			data, err = consent.CosignToken(data, key, kid)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return data
}

// probeClip decrypts a vault clip with ids and checks it plays.
func probeClip(t *testing.T, c vault.Clip, ids ...age.Identity) {
	t.Helper()
	var buf bytes.Buffer
	if err := clipfile.DecryptClip(c.Path, ids, &buf); err != nil {
		t.Fatalf("clip %s: %v", c.ID, err)
	}
	if p := capturetest.ProbeBytes(t, buf.Bytes(), false); p.Codec != "h264" || !p.FirstKey {
		t.Errorf("clip %s: %+v", c.ID, p)
	}
}

func schemaVersionOf(t *testing.T, stateDir string) int {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(stateDir, dbName), 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.View(func(tx *bbolt.Tx) error {
		v, err = schema.VersionOf(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}
