package gate

import (
	"fmt"
	"time"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

// SetPolicy verifies an owner-signed policy statement and installs its
// policy, with its audit leaf, in one transaction.
func (g *Gate) SetPolicy(data []byte) (consent.Policy, error) {
	var c *consent.PolicyClaims
	var st *consent.OwnerStatement
	err := g.decide(rule{
		kind: consent.KindPolicy, refused: audit.KindPolicyRefused, statement: data,
		verify: func(d *decisionTx) (string, time.Time, error) {
			var err error
			if st, err = d.ownerStatement(data, consent.KindPolicy); err != nil {
				return "", time.Time{}, err
			}
			c = st.Claims.(*consent.PolicyClaims)
			return c.ID, st.Expiry(), nil
		},
		apply: func(d *decisionTx) error {
			if err := put(d.tx, bucketPolicy, keyPolicy, c.Policy); err != nil {
				return err
			}
			d.authority = st.KeyID
			_, err := g.opts.Audit.AppendTx(d.tx, audit.Entry{Time: d.now, Kind: audit.KindPolicyChange, Subject: []string{c.ID},
				Details: map[string]string{"signer": st.KeyID, "old_hash": fmt.Sprintf("%x", d.policy.Hash()), "new_hash": fmt.Sprintf("%x", c.Policy.Hash())}})
			return err
		},
	})
	if err != nil {
		return consent.Policy{}, err
	}
	return c.Policy, nil
}
