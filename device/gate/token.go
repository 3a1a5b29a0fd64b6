package gate

import (
	"fmt"
	"time"

	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

// SubmitToken verifies a legal-process token (DESIGN.md "Verifying a legal
// token") and, when it verifies, records in one transaction its jti, the
// audit leaf (a commitment while the owner notice is delayed), the notice,
// the legal hold and the disclosure jobs. A refusal records only the
// refusal in the audit log and burns nothing. It returns the token's jti.
func (g *Gate) SubmitToken(data []byte) (string, error) {
	var tok *consent.Token
	var jobs []Job
	var delayed bool
	err := g.decide(rule{
		kind: consent.KindLegal, refused: audit.KindTokenRefused, statement: data,
		verify: func(d *decisionTx) (string, time.Time, error) {
			if !d.hasPolicy {
				return "", time.Time{}, ErrNotPaired
			}
			var err error
			tok, err = consent.VerifyToken(data, consent.VerifyInput{
				Policy: &d.policy, DeviceID: g.opts.DeviceID, Now: d.now,
				ClockSynced: g.opts.ClockSynced(), TimeFloor: timeFloor(d.tx),
				Seen: func(jti string) bool { return seen(d.tx, consent.KindLegal, jti) },
			})
			if err != nil {
				return tokenJTI(data), time.Time{}, err
			}
			c := tok.Claims
			if err := checkRecipientFamily(c.Recipient, d.recipients); err != nil {
				return c.ID, time.Time{}, err
			}
			return c.ID, c.Expiry.Time(), nil
		},
		apply: func(d *decisionTx) error {
			c := tok.Claims
			if err := raiseTimeFloor(d.tx, c.IssuedAt.Time(), d.now); err != nil {
				return err
			}
			refs, err := g.scoped(d.tx, c.Scope)
			if err != nil {
				return err
			}
			if c.Preserve && len(refs) > 0 {
				until := c.Expiry.Time().Add(g.opts.HoldMargin)
				if err := vault.PlaceHoldsTx(d.tx, refs, until, "legal:"+c.ID); err != nil {
					return err
				}
			}
			var issuers []string
			for _, s := range tok.Signers {
				issuers = append(issuers, s.Name+" ("+s.Role+")")
			}
			releaseAt := d.now
			if c.NotifyAfter != nil && c.NotifyAfter.After(d.now) {
				releaseAt = *c.NotifyAfter
			}
			if cap := d.now.Add(time.Duration(d.policy.WithDefaults().MaxNoticeDelay)); releaseAt.After(cap) {
				releaseAt = cap // VerifyToken refuses this; the cap is enforced here as well
			}
			jobs, err = g.record(d, disclosure{
				authority: "legal:" + c.ID, recipient: c.Recipient, refs: refs, releaseAt: releaseAt,
				body: NoticeBody{
					Time: d.now, Kind: "legal", Authority: c.ID, Recipient: c.Recipient, Basis: c.Basis, Case: c.Case,
					Issuers: issuers, From: c.Scope.From, Until: c.Scope.Until, Segments: len(refs), Preserve: c.Preserve,
					Strict: g.vaultIdentity() == nil,
				},
				entry: audit.Entry{
					Time: d.now, Kind: audit.KindTokenAccepted, Subject: []string{c.ID},
					Details: map[string]string{
						"basis": c.Basis, "case": c.Case, "jurisdiction": c.Jurisdiction, "order_sha256": c.OrderSHA256,
						"recipient": c.Recipient, "issuers": fmt.Sprint(issuers), "segments": fmt.Sprint(len(refs)),
						"from": c.Scope.From.UTC().Format(time.RFC3339), "until": c.Scope.Until.UTC().Format(time.RFC3339),
						"preserve": fmt.Sprint(c.Preserve), "token_sha256": fmt.Sprintf("%x", tok.SHA256),
					},
				},
			})
			delayed = releaseAt.After(d.now)
			return err
		},
	})
	if err != nil {
		return "", err
	}
	if delayed {
		// Nothing more than the audit log's commitment shows.
		g.log.Info("decision committed; its owner notice is delayed")
	} else {
		g.log.Info("legal token accepted", "jti", tok.Claims.ID, "basis", tok.Claims.Basis, "disclosures", len(jobs))
	}
	return tok.Claims.ID, nil
}

// tokenJTI is the claimed jti of a refused token, for the audit leaf of an
// authenticated refusal (the signatures verified, so the jti is the
// issuers').
func tokenJTI(data []byte) string {
	s, err := consent.InspectToken(data)
	if err != nil {
		return ""
	}
	return s.Claims.ID
}

// checkRecipientFamily refuses a recipient that would downgrade the
// footage: clips of post-quantum (hybrid) owners are never re-wrapped for a
// classic X25519 recipient.
func checkRecipientFamily(recipient string, owners []string) error {
	to, err := consent.ParseRecipients([]string{recipient})
	if err != nil {
		return &consent.Error{Reason: consent.ReasonBadRecipient, Detail: err.Error()}
	}
	ownerRs, err := consent.ParseRecipients(owners)
	if err != nil || len(ownerRs) == 0 {
		return err
	}
	want, _ := consent.FamilyOf(ownerRs[0])
	got, _ := consent.FamilyOf(to[0])
	if want == consent.PostQuantum && got != consent.PostQuantum {
		return &consent.Error{Reason: consent.ReasonRecipientTypeNotAllowed,
			Detail: "the footage is encrypted post-quantum (hybrid); the recipient must be hybrid too (age1pq1...), never a classic X25519 key"}
	}
	return nil
}
