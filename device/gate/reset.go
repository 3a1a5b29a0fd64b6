package gate

import (
	"time"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

// VerifyReset verifies an owner-signed reset statement and logs the
// factory reset; every live session ends. The agent then erases the
// device.
func (g *Gate) VerifyReset(data []byte) error {
	_, err := g.VerifyResetBy(data)
	return err
}

// VerifyResetBy is VerifyReset, returning the kid of the owner key that
// signed the reset (the agent's log names it).
func (g *Gate) VerifyResetBy(data []byte) (string, error) {
	var st *consent.OwnerStatement
	err := g.decide(rule{
		kind: consent.KindReset, refused: audit.KindResetRefused, statement: data,
		verify: func(d *decisionTx) (string, time.Time, error) {
			var err error
			if st, err = d.ownerStatement(data, consent.KindReset); err != nil {
				return "", time.Time{}, err
			}
			return st.ID(), st.Expiry(), nil
		},
		apply: func(d *decisionTx) error {
			d.authority = st.KeyID
			d.after = append(d.after, func() { g.endAllLive("factory reset") })
			_, err := g.opts.Audit.AppendTx(d.tx, audit.Entry{Time: d.now, Kind: audit.KindFactoryReset, Subject: []string{st.ID()},
				Details: map[string]string{"signer": st.KeyID}})
			return err
		},
	})
	if err != nil {
		return "", err
	}
	return st.KeyID, nil
}
