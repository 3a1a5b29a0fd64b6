package gate

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

// VerifyFetch checks a grantee's fetch statement for request (the method
// and path it came with) under the grant grantJTI: signed by the key the
// grant names as its grantee, for this device, alive (at most
// consent.MaxLiveLifetime), naming this grant and exactly this request,
// never used before, while the grant is neither revoked nor expired. Each
// statement serves one request: its jti is recorded (pruned like logins
// once expired). A refusal that verified is an audit leaf (fetch-refused);
// unauthenticated ones are counted. It returns the grant.
func (g *Gate) VerifyFetch(statement []byte, grantJTI, request string) (Grant, error) {
	var grant Grant
	err := g.decide(rule{
		kind: consent.KindFetch, refused: audit.KindFetchRefused, statement: statement,
		verify: func(d *decisionTx) (string, time.Time, error) {
			if len(d.owners) == 0 {
				return "", time.Time{}, ErrNotPaired
			}
			found, err := get(d.tx, bucketGrants, []byte(grantJTI), &grant)
			if err != nil {
				return "", time.Time{}, err
			}
			if !found {
				return "", time.Time{}, &consent.Error{Reason: consent.ReasonUnknownGrant, Detail: "no grant " + shortJTI(grantJTI)}
			}
			pub, err := consent.ParseIssuerKey(grant.Grantee)
			if err != nil {
				return "", time.Time{}, fmt.Errorf("gate: stored grant %s: %w", grant.JTI, err)
			}
			keys := consent.KeySet{}
			keys.Add(consent.KeyInfo{PublicKey: pub, Name: "grant:" + grant.JTI})
			st, err := consent.VerifyOwnerStatement(statement, consent.KindFetch, keys, d.now, g.opts.DeviceID)
			if ce := (*consent.Error)(nil); errors.As(err, &ce) && ce.Reason == consent.ReasonUnknownKey {
				// The verifier speaks of owner keys; here the one key that
				// counts is the grantee's (an owner's key is refused too).
				return "", time.Time{}, &consent.Error{Reason: consent.ReasonUnknownKey, Detail: "the statement is not signed by the grantee key grant " + shortJTI(grant.JTI) + " names: fetch with the key of the contact the grant was made for"}
			}
			if err != nil {
				return "", time.Time{}, err
			}
			c := st.Claims.(*consent.FetchClaims)
			switch {
			case c.Grant != grant.JTI:
				return c.ID, time.Time{}, &consent.Error{Reason: consent.ReasonBindingMismatch, Detail: "the statement names grant " + shortJTI(c.Grant) + ", not " + grant.JTI}
			case c.Request != request:
				return c.ID, time.Time{}, &consent.Error{Reason: consent.ReasonBindingMismatch, Detail: "the statement is for another request"}
			case !grant.Revoked.IsZero():
				return c.ID, time.Time{}, &consent.Error{Reason: consent.ReasonGrantInactive, Detail: "grant " + grant.JTI + " was revoked"}
			case !d.now.Before(grant.Expires):
				return c.ID, time.Time{}, &consent.Error{Reason: consent.ReasonGrantInactive, Detail: "grant " + grant.JTI + " expired"}
			}
			d.authority = "grant:" + grant.JTI
			return c.ID, st.Expiry(), nil
		},
		apply: func(d *decisionTx) error { return nil },
	})
	if err != nil {
		return Grant{}, err
	}
	return grant, nil
}

func shortJTI(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// GrantJobs returns the delivered disclosure jobs of a grant, oldest
// first: what its grantee may fetch.
func (g *Gate) GrantJobs(grantJTI string) ([]Job, error) {
	var out []Job
	authority := "grant:" + grantJTI
	err := g.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			var j Job
			if err := unmarshalJob(k, v, &j); err != nil {
				return err
			}
			if j.Authority == authority && j.State == JobDelivered && !j.Delayed {
				out = append(out, j)
			}
			return nil
		})
	})
	return out, err
}
