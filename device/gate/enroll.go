package gate

import (
	"fmt"
	"time"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

// Enroll verifies an enrollment signed by an enrolled owner and adds the
// new owner device, with its audit leaf, in one transaction. New clips are
// then encrypted to its recipient too (OnOwnersChanged).
func (g *Gate) Enroll(data []byte) (Owner, error) {
	var c *consent.EnrollClaims
	var st *consent.OwnerStatement
	var o Owner
	err := g.decide(rule{
		kind: consent.KindEnroll, refused: audit.KindEnrollRefused, statement: data,
		verify: func(d *decisionTx) (string, time.Time, error) {
			var err error
			if st, err = d.ownerStatement(data, consent.KindEnroll); err != nil {
				return "", time.Time{}, err
			}
			c = st.Claims.(*consent.EnrollClaims)
			if _, err := consent.ParseRecipients(append([]string{c.Recipient}, d.recipients...)); err != nil {
				return c.ID, time.Time{}, &consent.Error{Reason: consent.ReasonRecipientTypeNotAllowed, Detail: err.Error()}
			}
			return c.ID, st.Expiry(), nil
		},
		apply: func(d *decisionTx) error {
			pub, err := consent.ParseIssuerKey(c.Key)
			if err != nil {
				return &consent.Error{Reason: consent.ReasonMalformed, Detail: "key: " + err.Error()}
			}
			for _, e := range d.owners {
				if e.KeyID == consent.KeyID(pub) {
					// Rolled back: no leaf, the jti not burned.
					return fmt.Errorf("%w: %s, since %s", ErrAlreadyEnrolled, e.KeyID, e.Enrolled.UTC().Format(time.RFC3339))
				}
			}
			o = Owner{KeyID: consent.KeyID(pub), SigningKey: c.Key, Recipients: []string{c.Recipient}, Enrolled: d.now, EnrolledBy: st.KeyID}
			if err := put(d.tx, bucketOwner, []byte(o.KeyID), o); err != nil {
				return err
			}
			d.authority = st.KeyID
			d.after = append(d.after, g.ownersChanged)
			_, err = g.opts.Audit.AppendTx(d.tx, audit.Entry{Time: d.now, Kind: audit.KindEnroll, Subject: []string{o.KeyID, c.ID},
				Details: map[string]string{"signer": st.KeyID, "recipient": c.Recipient}})
			return err
		},
	})
	return o, err
}

// ownersChanged hands the current owner recipients to OnOwnersChanged.
// Reading them and applying them happen under one lock, so when two
// enrollments finish together the last set applied is the latest.
func (g *Gate) ownersChanged() {
	g.ownersMu.Lock()
	defer g.ownersMu.Unlock()
	g.mu.Lock()
	fn := g.onOwners
	g.mu.Unlock()
	if fn == nil {
		return
	}
	rs, err := g.OwnerRecipients()
	if err != nil {
		g.log.Error("reading the owners", "err", err)
		return
	}
	fn(rs)
}
