package device

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/pairing"
	"github.com/doorward/doorward/device/gate"
)

// The migration fixture is a state directory written by an earlier release
// (the one named in fixture.json), kept so that every later release proves
// it still opens it: its clips decrypt, its audit log extends the
// checkpoint the owner pinned then, and new clips record into it.
//
// Regenerating it with the current code defeats its purpose; do it only to
// add a fixture for a new release, into a new directory:
//
//	go test ./device -run TestWriteMigrationFixture -update-fixture=testdata/migration/vN
var updateFixture = flag.String("update-fixture", "", "write a migration fixture from the current code into this directory")

// migrationFixture is fixture.json: what the generator did, so the
// migration test knows what to expect. The keys in it are test-only.
type migrationFixture struct {
	Release  string    `json:"release"` // the commit the fixture was written by
	Written  time.Time `json:"written"`
	DeviceID string    `json:"device_id"`
	// Owner is the owner's age identity (owner.key); the owner's signing
	// key derives from it.
	Owner string `json:"owner"`
	// Agency opens the legal tokens' disclosures; Grantee the grant's.
	Agency  string `json:"agency"`
	Grantee string `json:"grantee"`
	// Issuers are the legal issuers' Ed25519 seeds (hex), in policy order.
	Issuers []string `json:"issuers"`
	Clips   []string `json:"clips"`
	Grant   string   `json:"grant"`         // the grant's jti
	Token   string   `json:"token"`         // a token with an immediate notice
	Delayed string   `json:"token_delayed"` // a token whose notice is delayed
	// NotifyAfter is when the delayed token's notice is due.
	NotifyAfter time.Time `json:"notify_after"`
	// Pinned is the checkpoint "doorwardctl audit verify" stored, in its
	// text form.
	Pinned string `json:"pinned_checkpoint"`
}

// TestWriteMigrationFixture writes a migration fixture with the code of
// this tree: a paired owner, two short clips, a grant disclosure, a legal
// token with an immediate notice and one whose notice is delayed, and the
// checkpoint the owner pinned. It runs only with -update-fixture.
func TestWriteMigrationFixture(t *testing.T) {
	if *updateFixture == "" {
		t.Skip("writes a fixture only with -update-fixture=DIR")
	}
	out, err := filepath.Abs(*updateFixture)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatalf("%s exists: a fixture of an earlier release is never overwritten", out)
	}
	var fx migrationFixture
	fx.Release = os.Getenv("FIXTURE_RELEASE")
	fx.Written = time.Now().UTC()

	// Legal issuers: a court and an oversight board, quorum 1 each.
	type issuerKey struct {
		name, role string
		key        ed25519.PrivateKey
	}
	var issuers []issuerKey
	var policy consent.Policy
	for _, is := range []struct{ name, role string }{{"district-court", "court"}, {"oversight-board", "oversight"}} {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		issuers = append(issuers, issuerKey{is.name, is.role, k})
		policy.Issuers = append(policy.Issuers, consent.Issuer{Name: is.name, Role: is.role, PublicKey: consent.FormatIssuerKey(k.Public().(ed25519.PublicKey))})
		fx.Issuers = append(fx.Issuers, hex.EncodeToString(k.Seed()))
	}
	policy.Quorum = map[string]int{"court": 1, "oversight": 1}

	opts := simOptions(t)
	opts.Config.OwnerRecipients = nil
	opts.Config.Legal = policy
	opts.StateDir = filepath.Join(t.TempDir(), "state")
	a, err := NewAgent(opts)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	fx.DeviceID = a.DeviceID()

	// Pair an owner, as doorwardctl pair does over the LAN API.
	owner, err := consent.GenerateOwnerKey(false)
	if err != nil {
		t.Fatal(err)
	}
	fx.Owner = owner.Identity().(*age.X25519Identity).String()
	a.mu.Lock()
	secret := a.secret
	a.mu.Unlock()
	c, err := pairing.NewClient(secret, owner, policyHasher)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := a.pairHello(c.Hello())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CheckReply(reply); err != nil {
		t.Fatal(err)
	}
	fin, err := c.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.pairFinish(fin); err != nil {
		t.Fatal(err)
	}

	// Two short clips.
	waitClips := func(n int) []vault.Clip {
		deadline := time.Now().Add(20 * time.Second)
		for {
			if v := a.currentVault(); v != nil {
				clips, err := v.Clips()
				if err != nil {
					t.Fatal(err)
				}
				done := 0
				for _, c := range clips {
					if !c.Recording {
						done++
					}
				}
				if done == n {
					return clips
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %d closed clips", n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(1500 * time.Millisecond) // fill the pre-roll
	a.rec.Trigger(capture.Event{Kind: capture.Motion, Time: time.Now()})
	waitClips(1)
	time.Sleep(1500 * time.Millisecond)
	a.rec.Trigger(capture.Event{Kind: capture.Ring, Time: time.Now()})
	clips := waitClips(2)
	for _, c := range clips {
		fx.Clips = append(fx.Clips, c.ID)
	}
	from, until := clips[0].Start.Add(-time.Second), clips[1].End.Add(time.Second)

	now := time.Now()
	claims := func() consent.Claims {
		return consent.Claims{ID: consent.NewJTI(), Audience: fx.DeviceID, IssuedAt: consent.NewNumericDate(now), Expiry: consent.NewNumericDate(now.Add(24 * time.Hour))}
	}
	// A grant of the first clip to a grantee.
	grantee, _ := age.GenerateX25519Identity()
	fx.Grantee = grantee.String()
	_, granteeKey, _ := ed25519.GenerateKey(rand.Reader)
	grant, err := consent.Sign(consent.KindGrant, consent.GrantClaims{
		Claims: claims(), Grantee: consent.FormatIssuerKey(granteeKey.Public().(ed25519.PublicKey)), Recipient: grantee.Recipient().String(),
		Scope: consent.Scope{From: from, Until: clips[0].End, Media: []string{"video"}}, Uses: 1,
	}, owner.SigningKey(), consent.KeyID(owner.SigningPublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	g, err := a.gate.SubmitGrant(grant)
	if err != nil {
		t.Fatal(err)
	}
	fx.Grant = g.JTI

	// Legal tokens for both clips: one notifies at once, one later.
	agency, _ := age.GenerateX25519Identity()
	fx.Agency = agency.String()
	token := func(notifyAfter *time.Time) string {
		tc := consent.TokenClaims{
			Claims:    consent.Claims{ID: consent.NewJTI(), Audience: fx.DeviceID, IssuedAt: consent.NewNumericDate(now.Add(-time.Minute)), Expiry: consent.NewNumericDate(now.Add(7 * 24 * time.Hour))},
			NotBefore: consent.NewNumericDate(now.Add(-time.Minute)), Basis: consent.BasisWarrant, Case: "2026-CR-0042",
			Jurisdiction: "Example County", OrderSHA256: strings.Repeat("cd", 32),
			Scope:     consent.Scope{From: from, Until: until, Media: []string{"video"}},
			Recipient: agency.Recipient().String(), NotifyAfter: notifyAfter, Preserve: notifyAfter != nil,
		}
		data, err := consent.IssueToken(tc, issuers[0].key, consent.KeyID(issuers[0].key.Public().(ed25519.PublicKey)))
		if err != nil {
			t.Fatal(err)
		}
		if data, err = consent.CosignToken(data, issuers[1].key, consent.KeyID(issuers[1].key.Public().(ed25519.PublicKey))); err != nil {
			t.Fatal(err)
		}
		jti, err := a.gate.SubmitToken(data)
		if err != nil {
			t.Fatal(err)
		}
		return jti
	}
	fx.Token = token(nil)
	fx.NotifyAfter = now.Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	fx.Delayed = token(&fx.NotifyAfter)

	// Wait until every job is done.
	deadline := time.Now().Add(20 * time.Second)
	for {
		jobs, _, err := a.gate.Jobs(gate.JobQuery{})
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, j := range jobs {
			if !j.Done.IsZero() {
				done++
			}
		}
		if len(jobs) == 5 && done == 5 { // grant: 1 clip; tokens: 2 clips each (release bf67351 listed delayed jobs too)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs not done: %+v", jobs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The checkpoint the owner pinned: what doorwardctl audit verify stores.
	entries, cp, err := a.auditLog()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("empty audit log")
	}
	fx.Pinned = string(cp.Marshal())

	// Stop the agent cleanly (as systemd would), then copy its state.
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := copyTree(opts.StateDir, filepath.Join(out, "state")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(out, "owner.key"), []byte(fx.Owner+"\n"), 0o600)
	data, _ := json.MarshalIndent(fx, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "fixture.json"), append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("fixture written to %s: %d clips, %d audit entries", out, len(fx.Clips), len(entries))
}

// copyTree copies a state directory (regular files and directories only;
// the control socket is gone once the agent stopped), keeping modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, info.Mode().Perm())
		}
		return nil
	})
}
