package consent

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"
)

// The fixture: a device, a trust policy with two judges, a prosecutor and
// a retired issuer whose key is revoked, and a valid token.

const (
	testDevice = "abcdefghijklmnop"
	// testRecipient is age's README example X25519 recipient.
	testRecipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	testOrder     = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// testKey derives a fixed Ed25519 key from a name, so fuzz seeds and
// signatures are reproducible.
func testKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("doorward test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func kidOf(k ed25519.PrivateKey) string { return KeyID(pubOf(k)) }

var (
	judge1    = testKey("judge1")
	judge1b   = testKey("judge1 second key")
	judge2    = testKey("judge2")
	prosecute = testKey("prosecutor")
	retired   = testKey("retired")
	stranger  = testKey("stranger")
)

func testPolicy() *Policy {
	return &Policy{
		Issuers: []Issuer{
			{Name: "court-1", Role: "judge", PublicKey: FormatIssuerKey(pubOf(judge1)), PublicKeys: []string{FormatIssuerKey(pubOf(judge1b))}},
			{Name: "court-2", Role: "judge", PublicKey: FormatIssuerKey(pubOf(judge2))},
			{Name: "da-office", Role: "prosecutor", PublicKey: FormatIssuerKey(pubOf(prosecute))},
			{Name: "retired-court", Role: "judge", PublicKey: FormatIssuerKey(pubOf(retired))},
		},
		Quorum:           map[string]int{"judge": 1, "prosecutor": 1},
		MaxTokenLifetime: Duration(7 * 24 * time.Hour),
		MaxScopeSpan:     Duration(24 * time.Hour),
		MaxNoticeDelay:   Duration(90 * 24 * time.Hour),
		Emergency:        EmergencyPolicy{MaxLifetime: Duration(24 * time.Hour), MaxScopeSpan: Duration(6 * time.Hour)},
		RevokedKeys:      []string{FormatIssuerKey(pubOf(retired))},
	}
}

func validClaims() TokenClaims {
	return TokenClaims{
		Claims: Claims{
			ID:       "tok-0001",
			Audience: testDevice,
			IssuedAt: NewNumericDate(testNow.Add(-time.Hour)),
			Expiry:   NewNumericDate(testNow.Add(24 * time.Hour)),
		},
		NotBefore:    NewNumericDate(testNow.Add(-time.Hour)),
		Basis:        BasisWarrant,
		Case:         "2026-CR-00042",
		Jurisdiction: "Example County Superior Court",
		OrderSHA256:  testOrder,
		Scope: Scope{
			From:  testNow.Add(-3 * time.Hour),
			Until: testNow.Add(-2 * time.Hour),
			Media: []string{MediaVideo},
		},
		Recipient: testRecipient,
	}
}

// seenSet is a replay store that VerifyToken may only read.
type seenSet map[string]bool

func (s seenSet) Seen(jti string) bool { return s[jti] }

func testInput(seen seenSet) VerifyInput {
	return VerifyInput{
		Policy:      testPolicy(),
		DeviceID:    testDevice,
		Now:         testNow,
		ClockSynced: true,
		TimeFloor:   testNow.Add(-24 * time.Hour),
		Seen:        seen.Seen,
	}
}

// issue signs claims with the first key and cosigns with the rest.
func issue(t testing.TB, c TokenClaims, keys ...ed25519.PrivateKey) []byte {
	t.Helper()
	tok, err := IssueToken(c, keys[0], kidOf(keys[0]))
	if err != nil {
		t.Fatalf("IssueToken: %v", err)
	}
	for _, k := range keys[1:] {
		if tok, err = CosignToken(tok, k, kidOf(k)); err != nil {
			t.Fatalf("CosignToken: %v", err)
		}
	}
	return tok
}

func validToken(t testing.TB) []byte {
	return issue(t, validClaims(), judge1, prosecute, judge2)
}

// rawSig describes one hand-made signature: any protected header, signed
// by key over exactly that header and the payload.
type rawSig struct {
	header string // protected header JSON
	key    ed25519.PrivateKey
	extra  string // extra JSON members for the signature object, e.g. `,"header":{}`
}

// stdHeader is the header Sign writes for key.
func stdHeader(key ed25519.PrivateKey) string {
	return `{"alg":"EdDSA","kid":"` + kidOf(key) + `","typ":"doorward-legal/1"}`
}

// rawToken builds a JWS JSON general serialization by hand, signing each
// header with ed25519 directly, so that tests reach the check they target
// with otherwise valid signatures.
func rawToken(payload []byte, sigs ...rawSig) []byte {
	p := b64.EncodeToString(payload)
	out := `{"payload":"` + p + `","signatures":[`
	for i, s := range sigs {
		h := b64.EncodeToString([]byte(s.header))
		sig := ed25519.Sign(s.key, []byte(h+"."+p))
		if i > 0 {
			out += ","
		}
		out += `{"protected":"` + h + `","signature":"` + b64.EncodeToString(sig) + `"` + s.extra + `}`
	}
	return []byte(out + "]}")
}

// validPayload is validClaims as JSON.
func validPayload(t testing.TB) []byte {
	b, err := json.Marshal(validClaims())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// std signs payload with the three standard signers.
func std(payload []byte) []byte {
	return rawToken(payload, rawSig{header: stdHeader(judge1), key: judge1}, rawSig{header: stdHeader(prosecute), key: prosecute})
}
