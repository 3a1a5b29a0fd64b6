package consent

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// owner is the fixture's enrolled owner: a classic owner key and the
// signing key derived from it.
func owner(t testing.TB) (*OwnerKey, KeySet) {
	t.Helper()
	k, err := GenerateOwnerKey(false)
	if err != nil {
		t.Fatal(err)
	}
	set := KeySet{}
	set.Add(KeyInfo{PublicKey: k.SigningPublicKey(), Name: "phone"})
	return k, set
}

func baseClaims(jti string, life time.Duration) Claims {
	return Claims{ID: jti, Audience: testDevice, IssuedAt: NewNumericDate(testNow.Add(-time.Minute)), Expiry: NewNumericDate(testNow.Add(life - time.Minute))}
}

func validGrant(o *OwnerKey) GrantClaims {
	return GrantClaims{
		Claims:    baseClaims("grant-1", 7*24*time.Hour),
		Grantee:   FormatIssuerKey(pubOf(stranger)),
		Recipient: testRecipient,
		Scope:     Scope{From: testNow.Add(-2 * time.Hour), Until: testNow.Add(-time.Hour), Media: []string{MediaVideo, MediaAudio}},
		Uses:      3,
	}
}

func signAs(t testing.TB, kind string, claims any, key ed25519.PrivateKey) []byte {
	t.Helper()
	b, err := Sign(kind, claims, key, kidOf(key))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyOwnerStatementKinds(t *testing.T) {
	o, owners := owner(t)
	sk := o.SigningKey()
	newOwner, _ := GenerateOwnerKey(true)
	cases := []struct {
		kind   string
		claims any
		check  func(t *testing.T, c any)
	}{
		{KindGrant, validGrant(o), func(t *testing.T, c any) {
			g := c.(*GrantClaims)
			if g.Uses != 3 || g.ID != "grant-1" || len(g.Scope.Media) != 2 {
				t.Errorf("%+v", g)
			}
		}},
		{KindRevoke, RevokeClaims{Claims: baseClaims("rev-1", time.Hour), Grant: "grant-1"}, func(t *testing.T, c any) {
			if c.(*RevokeClaims).Grant != "grant-1" {
				t.Errorf("%+v", c)
			}
		}},
		{KindPolicy, PolicyClaims{Claims: baseClaims("pol-1", time.Hour), Policy: *testPolicy()}, func(t *testing.T, c any) {
			if c.(*PolicyClaims).Policy.Hash() != testPolicy().Hash() {
				t.Error("policy changed in transit")
			}
		}},
		{KindReset, ResetClaims{Claims: baseClaims("reset-1", 10*time.Minute)}, nil},
		{KindBackup, BackupClaims{Claims: baseClaims("backup-1", 10*time.Minute), On: true, Media: []string{MediaVideo}}, func(t *testing.T, c any) {
			if b := c.(*BackupClaims); !b.On || len(b.Media) != 1 || b.Media[0] != MediaVideo {
				t.Errorf("%+v", b)
			}
		}},
		{KindBackup, BackupClaims{Claims: baseClaims("backup-2", 10*time.Minute)}, func(t *testing.T, c any) {
			if b := c.(*BackupClaims); b.On || len(b.Media) != 0 {
				t.Errorf("%+v", b)
			}
		}},
		{KindEnroll, EnrollClaims{Claims: baseClaims("enr-1", time.Hour), Key: FormatIssuerKey(newOwner.SigningPublicKey()), Recipient: newOwner.RecipientString()}, nil},
		{KindLive, LiveClaims{Claims: baseClaims("live-1", 2*time.Minute), DTLSFingerprint: "sha-256 AB:CD:EF"}, func(t *testing.T, c any) {
			if c.(*LiveClaims).DTLSFingerprint != "sha-256 AB:CD:EF" {
				t.Errorf("%+v", c)
			}
		}},
		{KindLogin, LoginClaims{Claims: baseClaims("login-1", 2*time.Minute)}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			data := signAs(t, tc.kind, tc.claims, sk)
			st, err := VerifyOwnerStatement(data, tc.kind, owners, testNow, testDevice)
			if err != nil {
				t.Fatal(err)
			}
			if st.Kind != tc.kind || st.Signer.Name != "phone" || st.KeyID != KeyID(o.SigningPublicKey()) {
				t.Errorf("statement %+v", st)
			}
			if tc.check != nil {
				tc.check(t, st.Claims)
			}
			// A statement of one kind is never accepted as another.
			other := KindRevoke
			if tc.kind == KindRevoke {
				other = KindGrant
			}
			if _, err := VerifyOwnerStatement(data, other, owners, testNow, testDevice); ReasonOf(err) != ReasonBadTyp {
				t.Errorf("as %s: %v", other, err)
			}
		})
	}
}

func TestVerifyOwnerStatementRefusals(t *testing.T) {
	o, owners := owner(t)
	sk := o.SigningKey()
	grant := func(edit func(g *GrantClaims)) []byte {
		g := validGrant(o)
		edit(&g)
		return signAs(t, KindGrant, g, sk)
	}
	valid := grant(func(*GrantClaims) {})
	revokedOwners := KeySet{}
	revokedOwners.Add(KeyInfo{PublicKey: o.SigningPublicKey(), Name: "phone", Revoked: true})
	cases := []struct {
		name   string
		data   []byte
		kind   string
		owners KeyResolver
		want   Reason
	}{
		{"two signatures", func() []byte {
			b, err := Cosign(valid, KindGrant, judge1, kidOf(judge1))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}(), KindGrant, owners, ReasonWrongSignatureCount},
		{"signed by a stranger", signAs(t, KindGrant, validGrant(o), stranger), KindGrant, owners, ReasonUnknownKey},
		{"revoked owner key", valid, KindGrant, revokedOwners, ReasonRevokedKey},
		{"kid of the owner, key of a stranger", signedWithHeader(mustJSON(t, validGrant(o)), `{"alg":"EdDSA","kid":"`+KeyID(o.SigningPublicKey())+`","typ":"doorward-grant/1"}`, stranger), KindGrant, owners, ReasonBadSignature},
		{"wrong aud", grant(func(g *GrantClaims) { g.Audience = "qqqqqqqqqqqqqqqq" }), KindGrant, owners, ReasonWrongAudience},
		{"expired", grant(func(g *GrantClaims) { g.Expiry = NewNumericDate(testNow) }), KindGrant, owners, ReasonExpired},
		{"issued in the future", grant(func(g *GrantClaims) { g.IssuedAt = NewNumericDate(testNow.Add(time.Hour)) }), KindGrant, owners, ReasonNotYetValid},
		{"bad recipient", grant(func(g *GrantClaims) { g.Recipient = "age1nope" }), KindGrant, owners, ReasonBadRecipient},
		{"bad grantee", grant(func(g *GrantClaims) { g.Grantee = "age1nope" }), KindGrant, owners, ReasonMalformed},
		{"zero uses", grant(func(g *GrantClaims) { g.Uses = 0 }), KindGrant, owners, ReasonMalformed},
		{"no media", grant(func(g *GrantClaims) { g.Scope.Media = nil }), KindGrant, owners, ReasonMalformed},
		{"unknown field", signedWithHeader([]byte(strings.Replace(string(mustJSON(t, validGrant(o))), `{`, `{"admin":true,`, 1)), `{"alg":"EdDSA","kid":"`+KeyID(o.SigningPublicKey())+`","typ":"doorward-grant/1"}`, sk), KindGrant, owners, ReasonUnknownField},
		{"duplicate uses/USES", signedWithHeader([]byte(strings.Replace(string(mustJSON(t, validGrant(o))), `{`, `{"USES":1000,`, 1)), `{"alg":"EdDSA","kid":"`+KeyID(o.SigningPublicKey())+`","typ":"doorward-grant/1"}`, sk), KindGrant, owners, ReasonDuplicateKey},
		{"live statement living an hour", signAs(t, KindLive, LiveClaims{Claims: baseClaims("l", time.Hour), DTLSFingerprint: "sha-256 AB"}, sk), KindLive, owners, ReasonLifetimeExceedsPolicy},
		{"login statement living an hour", signAs(t, KindLogin, LoginClaims{Claims: baseClaims("l", time.Hour)}, sk), KindLogin, owners, ReasonLifetimeExceedsPolicy},
		{"reset statement living a day", signAs(t, KindReset, ResetClaims{Claims: baseClaims("r", 24*time.Hour)}, sk), KindReset, owners, ReasonLifetimeExceedsPolicy},
		{"backup statement living a day", signAs(t, KindBackup, BackupClaims{Claims: baseClaims("b", 24*time.Hour), On: true, Media: []string{MediaVideo}}, sk), KindBackup, owners, ReasonLifetimeExceedsPolicy},
		{"backup on without media", signAs(t, KindBackup, BackupClaims{Claims: baseClaims("b", 5*time.Minute), On: true}, sk), KindBackup, owners, ReasonMalformed},
		{"backup of unknown media", signAs(t, KindBackup, BackupClaims{Claims: baseClaims("b", 5*time.Minute), On: true, Media: []string{"thumbnails"}}, sk), KindBackup, owners, ReasonMalformed},
		{"backup naming video twice", signAs(t, KindBackup, BackupClaims{Claims: baseClaims("b", 5*time.Minute), On: true, Media: []string{MediaVideo, MediaVideo}}, sk), KindBackup, owners, ReasonMalformed},
		{"backup signed by a stranger", signAs(t, KindBackup, BackupClaims{Claims: baseClaims("b", 5*time.Minute), On: true, Media: []string{MediaVideo}}, stranger), KindBackup, owners, ReasonUnknownKey},
		{"backup with on as a string", signedWithHeader([]byte(`{"jti":"b","aud":"`+testDevice+`","iat":`+fmt.Sprint(testNow.Unix())+`,"exp":`+fmt.Sprint(testNow.Unix()+60)+`,"on":"yes","media":["video"]}`), `{"alg":"EdDSA","kid":"`+KeyID(o.SigningPublicKey())+`","typ":"doorward-backup/1"}`, sk), KindBackup, owners, ReasonMalformed},
		{"grant presented as backup", valid, KindBackup, owners, ReasonBadTyp},
		{"live without fingerprint", signAs(t, KindLive, LiveClaims{Claims: baseClaims("l", 5*time.Minute)}, sk), KindLive, owners, ReasonMalformed},
		{"revoke naming no grant", signAs(t, KindRevoke, RevokeClaims{Claims: baseClaims("r", 5*time.Minute), Grant: "a b"}, sk), KindRevoke, owners, ReasonMalformed},
		{"policy statement with an invalid policy", signAs(t, KindPolicy, PolicyClaims{Claims: baseClaims("p", 5*time.Minute), Policy: Policy{Quorum: map[string]int{"judge": 1}}}, sk), KindPolicy, owners, ReasonMalformed},
		{"enroll with a bad key", signAs(t, KindEnroll, EnrollClaims{Claims: baseClaims("e", 5*time.Minute), Key: "ed25519:AAAA", Recipient: testRecipient}, sk), KindEnroll, owners, ReasonMalformed},
		{"enroll with a bad recipient", signAs(t, KindEnroll, EnrollClaims{Claims: baseClaims("e", 5*time.Minute), Key: FormatIssuerKey(pubOf(stranger)), Recipient: "x"}, sk), KindEnroll, owners, ReasonBadRecipient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyOwnerStatement(tc.data, tc.kind, tc.owners, testNow, testDevice)
			if got := ReasonOf(err); got != tc.want {
				t.Fatalf("reason %q, want %q (%v)", got, tc.want, err)
			}
			if _, err := VerifyOwnerStatement(valid, KindGrant, owners, testNow, testDevice); err != nil {
				t.Fatalf("valid grant refused afterwards: %v", err)
			}
		})
	}
	if _, err := VerifyOwnerStatement(valid, KindLegal, owners, testNow, testDevice); err == nil || ReasonOf(err) != "" {
		t.Errorf("legal as an owner kind: %v", err)
	}
	if _, err := VerifyOwnerStatement(valid, KindGrant, nil, testNow, testDevice); err == nil || ReasonOf(err) != "" {
		t.Errorf("nil owners: %v", err)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signedWithHeader signs payload under one hand-written header.
func signedWithHeader(payload []byte, header string, key ed25519.PrivateKey) []byte {
	return rawToken(payload, rawSig{header: header, key: key})
}
