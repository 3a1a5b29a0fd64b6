package gate

import (
	"fmt"
	"time"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

// Revoke verifies an owner's revocation and marks the grant revoked, in
// one transaction with its audit leaf: the grant's unfinished jobs fail
// (a delivery in progress is cancelled and its output removed), its live
// sessions end, and it discloses nothing more. A revocation that names no
// grant is refused (unknown-grant) and burns nothing. It returns the
// grant's jti.
func (g *Gate) Revoke(data []byte) (string, error) {
	var c *consent.RevokeClaims
	var st *consent.OwnerStatement
	var cancelled []Job
	err := g.decide(rule{
		kind: consent.KindRevoke, refused: audit.KindRevokeRefused, statement: data,
		verify: func(d *decisionTx) (string, time.Time, error) {
			var err error
			if st, err = d.ownerStatement(data, consent.KindRevoke); err != nil {
				return "", time.Time{}, err
			}
			c = st.Claims.(*consent.RevokeClaims)
			if d.tx.Bucket(bucketGrants).Get([]byte(c.Grant)) == nil {
				return c.ID, time.Time{}, &consent.Error{Reason: consent.ReasonUnknownGrant, Detail: "no grant " + c.Grant}
			}

			return c.ID, st.Expiry(), nil
		},
		apply: func(d *decisionTx) error {
			var grant Grant
			if _, err := get(d.tx, bucketGrants, []byte(c.Grant), &grant); err != nil {
				return err
			}
			if !grant.Revoked.IsZero() {
				// Rolled back: no leaf, the jti not burned.
				return fmt.Errorf("%w: %s was revoked at %s", ErrAlreadyRevoked, c.Grant, grant.Revoked.UTC().Format(time.RFC3339))
			}
			grant.Revoked = d.now
			if err := put(d.tx, bucketGrants, []byte(grant.JTI), grant); err != nil {
				return err
			}
			var err error
			if cancelled, err = g.failUnfinished(d.tx, "grant:"+grant.JTI, "grant revoked", d.now); err != nil {
				return err
			}
			d.authority = "grant:" + grant.JTI
			d.after = append(d.after, func() {
				g.withdraw(cancelled)
				g.endLiveOf("grant:"+grant.JTI, "grant revoked")
				g.log.Info("grant revoked", "jti", grant.JTI, "jobs_cancelled", len(cancelled))
			})
			_, err = g.opts.Audit.AppendTx(d.tx, audit.Entry{Time: d.now, Kind: audit.KindRevoke, Subject: []string{grant.JTI, c.ID},
				Details: map[string]string{"signer": st.KeyID}})
			return err
		},
	})
	if err != nil {
		return "", err
	}
	return c.Grant, nil
}

// IsUnknownGrant reports whether err refuses a revocation that names no
// grant.
func IsUnknownGrant(err error) bool { return consent.ReasonOf(err) == consent.ReasonUnknownGrant }
