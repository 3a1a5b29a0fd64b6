package gate

import (
	"time"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

// VerifyLogin checks an owner's login statement (the bearer of owner-only
// LAN API calls). Each login is good for one request: its jti is recorded
// in the state database, so a bearer sniffed on the LAN cannot be used
// again, not even after a restart. A login writes no audit leaf; a refused
// one that verified does (login-refused). It returns the key ID of the
// owner who signed it.
func (g *Gate) VerifyLogin(data []byte) (string, error) {
	var kid string
	err := g.decide(rule{
		kind: consent.KindLogin, refused: audit.KindLoginRefused, statement: data,
		verify: func(d *decisionTx) (string, time.Time, error) {
			st, err := d.ownerStatement(data, consent.KindLogin)
			if err != nil {
				return "", time.Time{}, err
			}
			d.authority = st.KeyID
			kid = st.KeyID
			return st.ID(), st.Expiry(), nil
		},
		apply: func(d *decisionTx) error { return nil },
	})
	if err != nil {
		return "", err
	}
	return kid, nil
}
