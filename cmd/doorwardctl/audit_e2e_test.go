package main

import (
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

// someDecisions adds audit leaves through the CLI: grants of an empty
// window are accepted and logged.
func someDecisions(t *testing.T, b e2eBins, d *device, h home, n int) {
	t.Helper()
	for range n {
		mustCtl(t, b, h.dir, "grant", "--device", d.url, "-i", h.key, "--to", h.recipient, "--from", "-10h", "--until", "-9h")
	}
}

// editDB stops the agent, edits its state.db with bbolt, and restarts it.
func editDB(t *testing.T, d *device, edit func(tx *bbolt.Tx) error) {
	t.Helper()
	d.stop()
	db, err := bbolt.Open(filepath.Join(d.state, "state.db"), 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(edit); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	d.start()
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func pinnedCheckpoint(t *testing.T, h home, d *device) string {
	t.Helper()
	pins, err := loadPins(pinPath(h.key))
	if err != nil {
		t.Fatal(err)
	}
	return pins[d.info().DeviceID].LastCheckpoint
}

func TestAuditVerifyE2E(t *testing.T) {
	b := e2e(t)
	newDevice := func(t *testing.T) (*device, home) {
		dir := t.TempDir()
		d := startDevice(t, b, dir+"/state", writeConfig(t, dir, ""))
		h := newHome(t, b)
		pairOwner(t, b, d, h)
		someDecisions(t, b, d, h, 3)
		out := mustCtl(t, b, h.dir, "audit", "verify", "--device", d.url, "-i", h.key)
		if !strings.Contains(out, "size:      4 entries") || !strings.Contains(out, "first verification") {
			t.Fatalf("first audit verify:\n%s", out)
		}
		return d, h
	}

	t.Run("extends and rollback", func(t *testing.T) {
		d, h := newDevice(t)
		// A proxy that will later serve this moment's answer again.
		p := newProxy(t, d.url)
		mustCtl(t, b, h.dir, "audit", "verify", "--device", p.URL, "-i", h.key)
		old := p.recorded("/api/v1/audit")
		someDecisions(t, b, d, h, 2)
		out := mustCtl(t, b, h.dir, "audit", "verify", "--device", d.url, "-i", h.key)
		if !strings.Contains(out, "size:      6 entries") || !strings.Contains(out, "extends:   the checkpoint verified before (size 4") ||
			!strings.Contains(out, "new:       2 entries since then (only these were fetched)") {
			t.Fatalf("second audit verify:\n%s", out)
		}
		// What the device sent for that verification: the two new leaves.
		var r struct {
			From    uint64            `json:"from"`
			Entries []json.RawMessage `json:"entries"`
		}
		mustCtl(t, b, h.dir, "audit", "verify", "--device", p.URL, "-i", h.key) // size 6: nothing new
		if err := json.Unmarshal(p.recorded("/api/v1/audit"), &r); err != nil || r.From != 6 || len(r.Entries) != 0 {
			t.Errorf("the device sent %d entries from %d (%v) for a verifier that had 6", len(r.Entries), r.From, err)
		}
		stored := pinnedCheckpoint(t, h, d)
		p.set(func(p *proxy) { p.replay["/api/v1/audit"] = old })
		wantFail(t, ctl(t, b, h.dir, "", "audit", "verify", "--device", p.URL, "-i", h.key), "FAILED", "smaller or older")
		if pinnedCheckpoint(t, h, d) != stored {
			t.Error("a failed verification changed the stored checkpoint")
		}
		// A checkpoint signed by another key is refused, whatever it says.
		other := startDevice(t, b, t.TempDir()+"/state", "")
		op := newProxy(t, other.url)
		wantFail(t, ctl(t, b, h.dir, "", "audit", "verify", "--device", op.URL, "-i", h.key)) // not pinned
		p.set(func(p *proxy) {
			resp := string(old)
			p.replay["/api/v1/audit"] = []byte(strings.Replace(resp, `"checkpoint":"doorward-audit/v1\n4\n`, `"checkpoint":"doorward-audit/v1\n7\n`, 1))
		})
		wantFail(t, ctl(t, b, h.dir, "", "audit", "verify", "--device", p.URL, "-i", h.key), "FAILED")
		// The real device still verifies afterwards.
		mustCtl(t, b, h.dir, "audit", "verify", "--device", d.url, "-i", h.key)
	})

	t.Run("tampered leaf", func(t *testing.T) {
		d, h := newDevice(t)
		stored := pinnedCheckpoint(t, h, d)
		editDB(t, d, func(tx *bbolt.Tx) error {
			leaves := tx.Bucket([]byte("audit_leaves"))
			e, err := audit.DecodeEntry(leaves.Get(u64(2)))
			if err != nil {
				return err
			}
			e.Details["recipient"] = "age1tampered"
			c, err := e.Canonical()
			if err != nil {
				return err
			}
			return leaves.Put(u64(2), c)
		})
		// The leaf was verified before and is not fetched again: only
		// --full reads the whole log and sees it no longer hashes to the
		// root verified then.
		wantFail(t, ctl(t, b, h.dir, "", "audit", "verify", "--full", "--device", d.url, "-i", h.key), "FAILED")
		if pinnedCheckpoint(t, h, d) != stored {
			t.Error("a failed verification changed the stored checkpoint")
		}
	})

	t.Run("last leaves deleted", func(t *testing.T) {
		d, h := newDevice(t)
		editDB(t, d, func(tx *bbolt.Tx) error {
			leaves := tx.Bucket([]byte("audit_leaves"))
			for i := uint64(2); i < 4; i++ {
				if err := leaves.Delete(u64(i)); err != nil {
					return err
				}
			}
			return tx.Bucket([]byte("audit_meta")).Put([]byte("size"), u64(2))
		})
		wantFail(t, ctl(t, b, h.dir, "", "audit", "verify", "--device", d.url, "-i", h.key), "FAILED", "smaller or older")
		// Even after new decisions grow the log past its old size, the
		// rewritten history does not verify.
		someDecisions(t, b, d, h, 3)
		wantFail(t, ctl(t, b, h.dir, "", "audit", "verify", "--device", d.url, "-i", h.key), "FAILED")
	})

	t.Run("damaged pin file", func(t *testing.T) {
		d, h := newDevice(t)
		os.WriteFile(pinPath(h.key), []byte("{not json"), 0o600)
		wantFail(t, ctl(t, b, h.dir, "", "audit", "verify", "--device", d.url, "-i", h.key), "damaged")
	})
}

// TestDelayedNoticeE2E: a token with notify_after shows only commitments in
// the owner's log until the notice is released, then verified openings,
// and the notice.
func TestDelayedNoticeE2E(t *testing.T) {
	s := newLegalSetup(t)
	b, d, owner := s.b, s.d, s.owner
	clip := d.recordClip(2)
	mustCtl(t, b, owner.dir, "audit", "verify", "--device", d.url, "-i", owner.key)

	tok := filepath.Join(s.dir, "token.json")
	notify := time.Now().Add(6 * time.Second).UTC()
	jti := strings.TrimSpace(mustCtl(t, b, s.dir, "token", "issue", "-i", s.courtAPath, "--device", s.devID,
		"--basis", "warrant", "--case", "24-CR-7", "--jurisdiction", "US-CA", "--order", s.order,
		"--from", clip.Start.Add(-time.Minute).UTC().Format(time.RFC3339), "--until", "now", "--media", "video",
		"--to", s.agencyRcpt, "--notify-after", notify.Format(time.RFC3339), "-o", tok))
	wantFail(t, ctl(t, b, s.dir, "", "token", "submit", "--device", d.url, tok), "quorum-not-met")
	out := mustCtl(t, b, s.dir, "token", "cosign", "-i", s.prosPath, tok)
	if !strings.Contains(out, "2 signatures") {
		t.Errorf("cosign printed %q", out)
	}
	out = mustCtl(t, b, s.dir, "token", "inspect", tok)
	for _, want := range []string{jti, "24-CR-7", "notify after", consent.KeyID(s.courtA.Public().(ed25519.PublicKey)), consent.KeyID(s.pros.Public().(ed25519.PublicKey)), "verifies nothing"} {
		if !strings.Contains(out, want) {
			t.Errorf("token inspect lacks %q:\n%s", want, out)
		}
	}
	if got := strings.TrimSpace(mustCtl(t, b, s.dir, "token", "submit", "--device", d.url, tok)); got != jti {
		t.Fatalf("submit printed %q, want %s", got, jti)
	}

	// Before release: no notice, and the log shows commitments only.
	if out := mustCtl(t, b, owner.dir, "notices", "--device", d.url, "-i", owner.key); strings.Contains(out, jti) {
		t.Errorf("the delayed notice is readable before its time:\n%s", out)
	}
	out = mustCtl(t, b, owner.dir, "audit", "verify", "--device", d.url, "-i", owner.key)
	if !strings.Contains(out, "delayed-notice commitments not yet opened") || strings.Contains(out, "token-accepted") {
		t.Errorf("before release the log should show commitments, not the decision:\n%s", out)
	}
	r := fetchAudit(t, d, owner)
	for _, e := range r.Entries {
		if e.Kind == audit.KindTokenRefused {
			continue // the one-signature attempt above
		}
		for _, sub := range e.Subject {
			if sub == jti {
				t.Errorf("leaf %d names the token before the notice is released: %+v", e.Seq, e)
			}
		}
	}

	// After release: the notice, and verified openings.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out = mustCtl(t, b, owner.dir, "notices", "--device", d.url, "-i", owner.key)
		if strings.Contains(out, jti) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the delayed notice was not released 30 s after notify_after:\n%s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, want := range []string{"legal " + jti, "warrant, case 24-CR-7", s.agencyRcpt, "court-a", "prosecutor"} {
		if !strings.Contains(out, want) {
			t.Errorf("notice lacks %q:\n%s", want, out)
		}
	}
	out = mustCtl(t, b, owner.dir, "audit", "verify", "--device", d.url, "-i", owner.key)
	if !strings.Contains(out, "pending:   no delayed notices") || strings.Contains(out, "openings:  0 verified") || !strings.Contains(out, "extends:") {
		t.Errorf("after release every commitment should be opened and verified:\n%s", out)
	}
	out = mustCtl(t, b, owner.dir, "notices", "--device", d.url, "-i", owner.key, "--json")
	if !strings.HasPrefix(out, "[") || !strings.Contains(out, `"authority": "`+jti+`"`) {
		t.Errorf("notices --json:\n%s", out)
	}
}
