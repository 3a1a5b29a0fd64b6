package consent_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log"
	"time"

	"github.com/doorward/doorward/consent"
)

// issuerKey stands in for "doorwardctl issuer keygen": a fixed key so the
// example's output does not change.
func issuerKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// A court and a prosecutor's office each sign a warrant; the device's
// owner-approved policy asks for one of each. A relay that strips one
// signature gets a refusal that burns nothing.
func ExampleVerifyToken() {
	court, da := issuerKey("court"), issuerKey("da")
	pub := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
	policy := &consent.Policy{
		Issuers: []consent.Issuer{
			{Name: "county-court", Role: "judge", PublicKey: consent.FormatIssuerKey(pub(court))},
			{Name: "da-office", Role: "prosecutor", PublicKey: consent.FormatIssuerKey(pub(da))},
		},
		Quorum: map[string]int{"judge": 1, "prosecutor": 1},
	}
	if err := policy.Validate(); err != nil {
		log.Fatal(err)
	}

	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	claims := consent.TokenClaims{
		Claims: consent.Claims{
			ID:       "w-2026-0042",
			Audience: "abcdefghijklmnop", // the device ID
			IssuedAt: consent.NewNumericDate(now.Add(-time.Hour)),
			Expiry:   consent.NewNumericDate(now.Add(48 * time.Hour)),
		},
		NotBefore:    consent.NewNumericDate(now.Add(-time.Hour)),
		Basis:        consent.BasisWarrant,
		Case:         "2026-CR-00042",
		Jurisdiction: "Example County",
		OrderSHA256:  fmt.Sprintf("%x", sha256.Sum256([]byte("the signed order, as a PDF"))),
		Scope: consent.Scope{
			From:  now.Add(-26 * time.Hour),
			Until: now.Add(-25 * time.Hour),
			Media: []string{consent.MediaVideo},
		},
		Recipient: "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
	}
	token, err := consent.IssueToken(claims, court, consent.KeyID(pub(court)))
	if err != nil {
		log.Fatal(err)
	}
	cosigned, err := consent.CosignToken(token, da, consent.KeyID(pub(da)))
	if err != nil {
		log.Fatal(err)
	}

	accepted := map[string]bool{} // the device's tokens_seen bucket
	in := consent.VerifyInput{
		Policy:      policy,
		DeviceID:    "abcdefghijklmnop",
		Now:         now,
		ClockSynced: true,
		TimeFloor:   now.Add(-24 * time.Hour),
		Seen:        func(jti string) bool { return accepted[jti] },
	}

	// Only the court's signature: refused, and nothing is recorded.
	_, err = consent.VerifyToken(token, in)
	fmt.Println(consent.ReasonOf(err), consent.Unauthenticated(err))

	tok, err := consent.VerifyToken(cosigned, in)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range tok.Signers {
		fmt.Println("signed by", s.Name, "as", s.Role)
	}
	accepted[tok.Claims.ID] = true // in the same transaction as audit, notice, jobs

	_, err = consent.VerifyToken(cosigned, in)
	fmt.Println(consent.ReasonOf(err))

	var w struct{ Signatures []json.RawMessage }
	json.Unmarshal(cosigned, &w)
	fmt.Println(len(w.Signatures), "signatures")
	// Output:
	// quorum-not-met false
	// signed by county-court as judge
	// signed by da-office as prosecutor
	// replayed
	// 2 signatures
}
