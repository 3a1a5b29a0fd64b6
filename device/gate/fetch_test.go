package gate

import (
	"errors"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

// TestVerifyFetch: a grantee's fetch statement serves one request under a
// live grant, signed by the grantee key the grant names; everything else
// is refused, and the refusals that verified are audit leaves.
func TestVerifyFetch(t *testing.T) {
	f := newFixture(t, false)
	grantee, err := consent.GenerateOwnerKey(false)
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := consent.GenerateOwnerKey(false)
	rcpt, _ := age.GenerateX25519Identity()
	g, err := f.gate.SubmitGrant(f.grant(rcpt.Recipient().String(), t0, t0.Add(time.Minute), func(c *consent.GrantClaims) {
		c.Grantee = consent.FormatIssuerKey(grantee.SigningPublicKey())
		c.Expiry = consent.NewNumericDate(f.clk.Now().Add(time.Hour))
	}))
	if err != nil {
		t.Fatal(err)
	}
	const req = "GET /api/v1/grants/x/disclosures"
	stmt := func(k *consent.OwnerKey, grant, request string) []byte {
		now := f.clk.Now()
		data, err := consent.Sign(consent.KindFetch, consent.FetchClaims{
			Claims: consent.Claims{ID: consent.NewJTI(), Audience: f.devID, IssuedAt: consent.NewNumericDate(now), Expiry: consent.NewNumericDate(now.Add(time.Minute))},
			Grant:  grant, Request: request,
		}, k.SigningKey(), consent.KeyID(k.SigningPublicKey()))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	reason := func(err error) consent.Reason { return consent.ReasonOf(err) }

	ok := stmt(grantee, g.JTI, req)
	if _, err := f.gate.VerifyFetch(ok, g.JTI, req); err != nil {
		t.Fatal(err)
	}
	if _, err := f.gate.VerifyFetch(ok, g.JTI, req); !errors.Is(err, consent.ErrReplayed) {
		t.Errorf("replay: %v", err)
	}
	if _, err := f.gate.VerifyFetch(stmt(grantee, g.JTI, req), g.JTI, req+"/c/p"); reason(err) != consent.ReasonBindingMismatch {
		t.Errorf("another request: %v", err)
	}
	if _, err := f.gate.VerifyFetch(stmt(stranger, g.JTI, req), g.JTI, req); reason(err) != consent.ReasonUnknownKey {
		t.Errorf("a stranger's key: %v", err)
	}
	if _, err := f.gate.VerifyFetch(stmt(grantee, g.JTI, req), "no-such-grant", req); reason(err) != consent.ReasonUnknownGrant {
		t.Errorf("an unknown grant: %v", err)
	}
	if _, err := f.gate.VerifyFetch(stmt(f.owner, g.JTI, req), g.JTI, req); reason(err) != consent.ReasonUnknownKey {
		t.Errorf("the owner's key under a grantee's grant: %v", err)
	}
	// Expired.
	f.clk.Advance(2 * time.Hour)
	if _, err := f.gate.VerifyFetch(stmt(grantee, g.JTI, req), g.JTI, req); reason(err) != consent.ReasonGrantInactive {
		t.Errorf("an expired grant: %v", err)
	}
	if err := f.log.FlushRefusals(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range f.entries() {
		if e.Kind == audit.KindFetchRefused {
			n++
		}
	}
	if n < 3 {
		t.Errorf("%d fetch-refused leaves, want the replay, the other request and the expired grant", n)
	}
}
