package gate

import (
	"encoding/json"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/consent/audit/auditlog"
	"github.com/doorward/doorward/consent/pairing"
	"github.com/doorward/doorward/device/events"
)

// InstallOwner records a completed pairing: the owner, the trust policy the
// owner approved (whose exact JSON the transcript's hash covers) and the
// audit leaf, in one transaction. It refuses when an owner exists.
func (g *Gate) InstallOwner(o pairing.Owner, policyJSON []byte) error {
	var policy consent.Policy
	if err := json.Unmarshal(policyJSON, &policy); err != nil {
		return fmt.Errorf("gate: approved policy: %w", err)
	}
	if policy.Hash() != o.PolicyHash {
		return errors.New("gate: the owner approved a different policy than the one proposed")
	}
	kid := consent.KeyID(o.SigningKey)
	now := g.clk.Now()
	err := g.db.Update(func(tx *bbolt.Tx) error {
		if k, _ := tx.Bucket(bucketOwner).Cursor().First(); k != nil {
			return pairing.ErrAlreadyPaired
		}
		owner := Owner{KeyID: kid, SigningKey: consent.FormatIssuerKey(o.SigningKey), Recipients: o.Recipients, Enrolled: now}
		if err := put(tx, bucketOwner, []byte(kid), owner); err != nil {
			return err
		}
		if err := put(tx, bucketPolicy, keyPolicy, policy); err != nil {
			return err
		}
		h := policy.Hash()
		_, err := g.opts.Audit.AppendTx(tx, audit.Entry{
			Time: now, Kind: audit.KindPairing, Subject: []string{kid},
			Details: map[string]string{
				"recipients":  fmt.Sprint(o.Recipients),
				"policy_hash": fmt.Sprintf("%x", h),
				"transcript":  fmt.Sprintf("%x", sha256Sum(o.Transcript)),
				"signature":   fmt.Sprintf("%x", o.Signature),
			},
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("gate: installing owner: %w", err)
	}
	g.publish(events.Event{Kind: events.Decision, Decision: "pairing", Outcome: "accepted", Authority: kid})
	g.log.Info("paired", "owner", kid, "recipients", len(o.Recipients))
	g.ownersChanged()
	return nil
}

// PairingRefused logs a refused pairing attempt. Failures anyone can
// provoke without the code (malformed messages, unknown sessions) are
// aggregated per minute like every unauthenticated refusal; a MAC or
// signature that does not check on a real session — someone holding a
// wrong or guessed code — gets a leaf of its own (pairing-refused).
func (g *Gate) PairingRefused(reason string, authenticated bool) {
	if reason == "" {
		reason = "refused"
	}
	g.publish(events.Event{Kind: events.Decision, Decision: "pairing", Outcome: reason})
	g.logRefusal(audit.KindPairingRefused, reason, "", authenticated)
	if !authenticated {
		if err := g.opts.Audit.RecordUnauthenticated("pairing-" + reason); err != nil {
			g.log.Error("audit: recording a refusal", "err", err)
		}
		return
	}
	// Sessions are cheap to open: these too are one leaf per reason and
	// minute, repeats counted.
	if err := g.opts.Audit.RecordRefusal(auditlog.Refusal{Kind: audit.KindPairingRefused, Reason: reason, Statement: sha256Sum([]byte("pairing/" + reason))}); err != nil {
		g.log.Error("audit: recording a refusal", "err", err)
	}
}
