package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

// sigSpec is one signature of a hand-made token.
type sigSpec struct {
	key ed25519.PrivateKey
	// kid overrides the kid of key.
	kid string
	// edit changes the protected header before signing.
	edit func(h map[string]any)
	// unprotected is sent as the signature's "header" member.
	unprotected map[string]any
	// forge flips a bit of the signature after signing.
	forge bool
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// rawToken builds a JWS JSON general serialization over payload, signing
// each signature itself so that each case reaches the check it is for.
func rawToken(t *testing.T, payload []byte, sigs ...sigSpec) []byte {
	t.Helper()
	p := b64(payload)
	var out []map[string]any
	for _, s := range sigs {
		kid := s.kid
		if kid == "" && s.key != nil {
			kid = consent.KeyID(s.key.Public().(ed25519.PublicKey))
		}
		h := map[string]any{"alg": "EdDSA", "typ": consent.TypeOf(consent.KindLegal), "kid": kid}
		if s.edit != nil {
			s.edit(h)
		}
		hb, _ := json.Marshal(h)
		prot := b64(hb)
		sig := ed25519.Sign(s.key, []byte(prot+"."+p))
		if s.forge {
			sig[5] ^= 1
		}
		m := map[string]any{"protected": prot, "signature": b64(sig)}
		if s.unprotected != nil {
			m["header"] = s.unprotected
		}
		out = append(out, m)
	}
	b, err := json.Marshal(map[string]any{"payload": p, "signatures": out})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type legalAnswer struct {
	status int
	reason string
	jti    string
}

func postLegal(t *testing.T, url string, body []byte) legalAnswer {
	t.Helper()
	resp, err := http.Post(url+"/api/v1/legal", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m struct {
		Reason string `json:"reason"`
		JTI    string `json:"jti"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Errorf("answer %d is not JSON: %q", resp.StatusCode, raw)
	}
	return legalAnswer{resp.StatusCode, m.Reason, m.JTI}
}

// refusalCount counts the refusals with reason the log holds or will
// hold: token-refused leaves, refusals-aggregate leaves (their counts) and
// the counts pending for this minute's aggregate.
func refusalCount(t *testing.T, d *device, h home, reason string) int {
	t.Helper()
	r := fetchAudit(t, d, h)
	n := int(r.PendingRefusals[reason])
	for _, e := range r.Entries {
		if e.Reason != reason {
			continue
		}
		switch e.Kind {
		case audit.KindTokenRefused:
			n++
		case audit.KindRefusalsAggregate:
			c, err := strconv.Atoi(e.Details["count"])
			if err != nil {
				t.Fatalf("aggregate leaf %d without a count: %+v", e.Seq, e)
			}
			n += c
		}
	}
	return n
}

// legalSetup is a device with a trust policy, a paired owner and the
// issuers' keys.
type legalSetup struct {
	b                                  e2eBins
	d                                  *device
	owner                              home
	dir, order, agencyKey, agencyRcpt  string
	courtA, courtA2, courtB, pros, old ed25519.PrivateKey
	courtAPath, courtBPath, prosPath   string
	devID                              string
	policyFile                         string
}

func newLegalSetup(t *testing.T) *legalSetup {
	b := e2e(t)
	s := &legalSetup{b: b, dir: t.TempDir()}
	var caPub, ca2Pub, cbPub, pPub, oldPub string
	s.courtAPath, caPub = issuerKey(t, b, s.dir, "court-a")
	_, ca2Pub = issuerKey(t, b, s.dir, "court-a2")
	s.courtBPath, cbPub = issuerKey(t, b, s.dir, "court-b")
	s.prosPath, pPub = issuerKey(t, b, s.dir, "prosecutor")
	_, oldPub = issuerKey(t, b, s.dir, "court-old")
	s.courtA, s.courtA2 = mustIssuerKey(t, s.courtAPath), mustIssuerKey(t, filepath.Join(s.dir, "court-a2.key"))
	s.courtB, s.pros, s.old = mustIssuerKey(t, s.courtBPath), mustIssuerKey(t, s.prosPath), mustIssuerKey(t, filepath.Join(s.dir, "court-old.key"))
	legal := fmt.Sprintf(`  issuers:
    - {name: court-a, role: court, public_key: "%s", public_keys: ["%s"]}
    - {name: court-b, role: court, public_key: "%s"}
    - {name: court-old, role: court, public_key: "%s"}
    - {name: prosecutor, role: prosecutor, public_key: "%s"}
  quorum: {court: 1, prosecutor: 1}
  max_token_lifetime: 10d
  max_scope_span: 2d
  max_notice_delay: 1h
  emergency: {max_lifetime: 24h, max_scope_span: 24h}
  allowed_recipients: [x25519]
  revoked_keys: ["%s"]
`, caPub, ca2Pub, cbPub, oldPub, pPub, oldPub)
	s.policyFile = filepath.Join(s.dir, "policy.yaml")
	os.WriteFile(s.policyFile, []byte(strings.ReplaceAll(legal, "\n  ", "\n")[2:]), 0o600)
	s.d = startDevice(t, b, s.dir+"/state", writeConfig(t, s.dir, "legal:\n"+legal))
	s.owner = newHome(t, b)
	pairOwner(t, b, s.d, s.owner)
	s.devID = s.d.info().DeviceID
	s.order = filepath.Join(s.dir, "order.pdf")
	os.WriteFile(s.order, []byte("%PDF-1.4 order of the court\n"), 0o600)
	s.agencyKey, s.agencyRcpt = ageIdentity(t, s.dir, "agency.txt")
	return s
}

func (s *legalSetup) claims(jti string) consent.TokenClaims {
	now := time.Now()
	sum := sha256.Sum256([]byte("order"))
	return consent.TokenClaims{
		Claims:    consent.Claims{ID: jti, Audience: s.devID, IssuedAt: consent.NewNumericDate(now.Add(-time.Minute)), Expiry: consent.NewNumericDate(now.Add(24 * time.Hour))},
		NotBefore: consent.NewNumericDate(now.Add(-time.Minute)),
		Basis:     consent.BasisWarrant, Case: "24-CR-0042", Jurisdiction: "US-CA",
		OrderSHA256: hex.EncodeToString(sum[:]),
		Scope:       consent.Scope{From: now.Add(-2 * time.Hour), Until: now.Add(-time.Minute), Media: []string{consent.MediaVideo}},
		Recipient:   s.agencyRcpt,
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHostileTokensE2E(t *testing.T) {
	s := newLegalSetup(t)
	b, d, owner := s.b, s.d, s.owner
	jti := newJTI()
	base := s.claims(jti)
	valid := func() []byte { return mustJSON(t, base) }
	with := func(edit func(c *consent.TokenClaims)) []byte {
		c := s.claims(jti)
		edit(&c)
		return mustJSON(t, c)
	}
	court := sigSpec{key: s.courtA}
	pros := sigSpec{key: s.pros}
	unknown := func() sigSpec {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		return sigSpec{key: k}
	}
	hybrid, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	validTok := rawToken(t, valid(), court, pros)

	cases := []struct {
		name   string
		body   []byte
		status int
		reason consent.Reason
	}{
		// Signatures and quorum.
		{"one signature", rawToken(t, valid(), court), 403, consent.ReasonQuorumNotMet},
		{"two courts, no prosecutor", rawToken(t, valid(), court, sigSpec{key: s.courtB}), 403, consent.ReasonQuorumNotMet},
		{"one issuer signing twice", rawToken(t, valid(), court, court), 403, consent.ReasonQuorumNotMet},
		{"one issuer with two keys", rawToken(t, valid(), court, sigSpec{key: s.courtA2}), 403, consent.ReasonQuorumNotMet},
		{"forged signature", rawToken(t, valid(), court, sigSpec{key: s.pros, forge: true}), 403, consent.ReasonBadSignature},
		{"kid of another issuer", rawToken(t, valid(), court, sigSpec{key: s.courtB, kid: consent.KeyID(s.pros.Public().(ed25519.PublicKey))}), 403, consent.ReasonBadSignature},
		{"signature over another payload", spliceSig(t, rawToken(t, valid(), court), rawToken(t, with(func(c *consent.TokenClaims) { c.Case = "other" }), pros)), 403, consent.ReasonBadSignature},
		{"unknown issuer and one court", rawToken(t, valid(), court, unknown()), 403, consent.ReasonQuorumNotMet},
		{"unknown issuers only", rawToken(t, valid(), unknown(), unknown()), 403, consent.ReasonUnknownKey},
		{"revoked key counts nothing", rawToken(t, valid(), sigSpec{key: s.old}, pros), 403, consent.ReasonQuorumNotMet},
		{"revoked and unknown only", rawToken(t, valid(), sigSpec{key: s.old}, unknown()), 403, consent.ReasonRevokedKey},
		{"nine signatures", rawToken(t, valid(), court, pros, sigSpec{key: s.courtB}, sigSpec{key: s.courtA2}, unknown(), unknown(), unknown(), unknown(), unknown()), 403, consent.ReasonTooManySignatures},
		{"no signatures", rawToken(t, valid()), 400, consent.ReasonMalformed},
		// Headers.
		{"alg none", rawToken(t, valid(), sigSpec{key: s.courtA, edit: func(h map[string]any) { h["alg"] = "none" }}, pros), 403, consent.ReasonBadAlg},
		{"alg HS256", rawToken(t, valid(), sigSpec{key: s.courtA, edit: func(h map[string]any) { h["alg"] = "HS256" }}, pros), 403, consent.ReasonBadAlg},
		{"alg ES256", rawToken(t, valid(), court, sigSpec{key: s.pros, edit: func(h map[string]any) { h["alg"] = "ES256" }}), 403, consent.ReasonBadAlg},
		{"jwk header", rawToken(t, valid(), court, sigSpec{key: s.pros, edit: func(h map[string]any) {
			h["jwk"] = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(s.pros.Public().(ed25519.PublicKey))}
		}}), 403, consent.ReasonForbiddenHeader},
		{"jku header", rawToken(t, valid(), court, sigSpec{key: s.pros, edit: func(h map[string]any) { h["jku"] = "https://evil.example/keys" }}), 403, consent.ReasonForbiddenHeader},
		{"crit header", rawToken(t, valid(), court, sigSpec{key: s.pros, edit: func(h map[string]any) { h["crit"] = []string{"exp"}; h["exp"] = 1 }}), 403, consent.ReasonForbiddenHeader},
		{"b64 false", rawToken(t, valid(), court, sigSpec{key: s.pros, edit: func(h map[string]any) { h["b64"] = false; h["crit"] = []string{"b64"} }}), 403, consent.ReasonForbiddenHeader},
		{"unprotected kid", rawToken(t, valid(), court, sigSpec{key: s.pros, edit: func(h map[string]any) { delete(h, "kid") }, unprotected: map[string]any{"kid": consent.KeyID(s.pros.Public().(ed25519.PublicKey))}}), 403, consent.ReasonUnprotectedHeader},
		{"wrong typ", rawToken(t, valid(), court, sigSpec{key: s.pros, edit: func(h map[string]any) { h["typ"] = consent.TypeOf(consent.KindGrant) }}), 403, consent.ReasonBadTyp},
		// Payload syntax.
		{"duplicate claim aud/AUD", rawToken(t, []byte(strings.Replace(string(valid()), `"aud":`, `"AUD":"someone-else","aud":`, 1)), court, pros), 403, consent.ReasonDuplicateKey},
		{"duplicate claim jti twice", rawToken(t, []byte(strings.Replace(string(valid()), `"aud":`, `"jti":"other","aud":`, 1)), court, pros), 403, consent.ReasonDuplicateKey},
		{"unknown claim", rawToken(t, []byte(strings.Replace(string(valid()), `"aud":`, `"role":"court","aud":`, 1)), court, pros), 403, consent.ReasonUnknownField},
		// Claims.
		{"wrong aud", rawToken(t, with(func(c *consent.TokenClaims) { c.Audience = "aaaaaaaaaaaaaaaa" }), court, pros), 403, consent.ReasonWrongAudience},
		{"expired", rawToken(t, with(func(c *consent.TokenClaims) {
			c.IssuedAt, c.NotBefore, c.Expiry = consent.NewNumericDate(time.Now().Add(-3*time.Hour)), consent.NewNumericDate(time.Now().Add(-3*time.Hour)), consent.NewNumericDate(time.Now().Add(-time.Hour))
		}), court, pros), 403, consent.ReasonExpired},
		{"not yet valid", rawToken(t, with(func(c *consent.TokenClaims) { c.NotBefore = consent.NewNumericDate(time.Now().Add(time.Hour)) }), court, pros), 403, consent.ReasonNotYetValid},
		{"lifetime over policy", rawToken(t, with(func(c *consent.TokenClaims) { c.Expiry = consent.NewNumericDate(time.Now().Add(11 * 24 * time.Hour)) }), court, pros), 403, consent.ReasonLifetimeExceedsPolicy},
		{"scope span over policy", rawToken(t, with(func(c *consent.TokenClaims) { c.Scope.From = time.Now().Add(-3 * 24 * time.Hour) }), court, pros), 403, consent.ReasonScopeSpanExceedsPolicy},
		{"scope in the future", rawToken(t, with(func(c *consent.TokenClaims) { c.Scope.Until = time.Now().Add(time.Hour) }), court, pros), 403, consent.ReasonScopeInFuture},
		{"live scope", rawToken(t, with(func(c *consent.TokenClaims) { c.Scope.Live = true }), court, pros), 403, consent.ReasonScopeInFuture},
		{"malformed recipient", rawToken(t, with(func(c *consent.TokenClaims) { c.Recipient = "age1notarecipient" }), court, pros), 403, consent.ReasonBadRecipient},
		{"ssh recipient", rawToken(t, with(func(c *consent.TokenClaims) {
			c.Recipient = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN"
		}), court, pros), 403, consent.ReasonBadRecipient},
		{"hybrid recipient where x25519 only", rawToken(t, with(func(c *consent.TokenClaims) { c.Recipient = hybrid.Recipient().String() }), court, pros), 403, consent.ReasonRecipientTypeNotAllowed},
		{"notice delay over cap", rawToken(t, with(func(c *consent.TokenClaims) { na := time.Now().Add(2 * time.Hour).UTC(); c.NotifyAfter = &na }), court, pros), 403, consent.ReasonNoticeDelayExceedsCap},
		{"emergency with delay", rawToken(t, with(func(c *consent.TokenClaims) {
			c.Basis = consent.BasisEmergency
			c.Expiry = consent.NewNumericDate(time.Now().Add(time.Hour))
			na := time.Now().Add(10 * time.Minute).UTC()
			c.NotifyAfter = &na
		}), court, pros), 403, consent.ReasonEmergencyDelay},
		{"emergency lifetime over policy", rawToken(t, with(func(c *consent.TokenClaims) {
			c.Basis = consent.BasisEmergency
			c.Expiry = consent.NewNumericDate(time.Now().Add(48 * time.Hour))
		}), court, pros), 403, consent.ReasonLifetimeExceedsPolicy},
		// Envelope.
		{"17 KiB body", append(append([]byte{}, validTok...), bytes.Repeat([]byte(" "), 17<<10)...), 400, consent.ReasonBodyTooLarge},
		{"truncated JSON", validTok[:len(validTok)/2], 400, consent.ReasonMalformed},
		{"garbage", []byte("\x00\xffnot a token at all"), 400, consent.ReasonMalformed},
		{"empty body", nil, 400, consent.ReasonMalformed},
		{"flattened serialization", flatten(t, rawToken(t, valid(), court)), 400, consent.ReasonMalformed},
		{"compact serialization", compact(t, rawToken(t, valid(), court)), 400, consent.ReasonMalformed},
		{"padded base64 payload", []byte(strings.Replace(string(validTok), `"payload":"`+b64(valid()), `"payload":"`+padded(valid()), 1)), 400, consent.ReasonMalformed},
		{"standard base64 payload", []byte(strings.Replace(string(validTok), `"payload":"`+b64(valid()), `"payload":"`+strings.ReplaceAll(strings.ReplaceAll(b64(valid()), "-", "+"), "_", "/")+`+`, 1)), 400, consent.ReasonMalformed},
	}
	// Known agent-side gaps that keep a refusal out of the audit log: logged,
	// not failed, until the agent is fixed; the test fails once a gap is
	// closed and its entry left behind.
	gaps := map[string]string{}
	if len(cases) < 30 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := refusalCount(t, d, owner, string(tc.reason))
			got := postLegal(t, d.url, tc.body)
			if got.status == http.StatusAccepted {
				t.Fatalf("accepted (jti %s): the case is not hostile, and the valid token's jti may be burned", got.jti)
			}
			if got.status != tc.status || got.reason != string(tc.reason) {
				t.Errorf("got %d %q, want %d %q", got.status, got.reason, tc.status, tc.reason)
			}
			after := refusalCount(t, d, owner, string(tc.reason))
			gap := gaps[tc.name]
			switch {
			case gap != "" && after == before:
				t.Logf("KNOWN GAP, not in the audit log: %s", gap)
			case gap != "":
				t.Errorf("the refusal reached the log now: remove the known gap %q", gap)
			case after != before+1:
				t.Errorf("the audit log holds %d refusals with reason %s, want %d: the refusal did not reach the log", after, tc.reason, before+1)
			}
		})
	}

	// A recipient type the policy disallows, with a policy changed by the
	// owner: hybrid only, then back.
	hybridOnly := filepath.Join(s.dir, "hybrid.yaml")
	pol, _ := os.ReadFile(s.policyFile)
	os.WriteFile(hybridOnly, bytes.Replace(pol, []byte("allowed_recipients: [x25519]"), []byte("allowed_recipients: [hybrid]"), 1), 0o600)
	r := ctl(t, b, owner.dir, "n\n", "policy", "set", "--device", d.url, "-i", owner.key, hybridOnly)
	refused(t, r, "not confirmed")
	if !strings.Contains(r.stdout, "- recipients:         x25519") || !strings.Contains(r.stdout, "+ recipients:         hybrid") {
		t.Errorf("policy set does not show the change:\n%s", r.stdout)
	}
	mustCtl(t, b, owner.dir, "policy", "set", "--yes", "--device", d.url, "-i", owner.key, hybridOnly)
	if out := mustCtl(t, b, owner.dir, "policy", "show", "--device", d.url); !strings.Contains(out, "recipients:         hybrid\n") {
		t.Errorf("policy show after set:\n%s", out)
	}
	before := refusalCount(t, d, owner, string(consent.ReasonRecipientTypeNotAllowed))
	if got := postLegal(t, d.url, validTok); got.status != 403 || got.reason != string(consent.ReasonRecipientTypeNotAllowed) {
		t.Errorf("classic recipient under a hybrid-only policy: %+v", got)
	}
	if after := refusalCount(t, d, owner, string(consent.ReasonRecipientTypeNotAllowed)); after != before+1 {
		t.Errorf("refusal not in the audit log")
	}
	mustCtl(t, b, owner.dir, "policy", "set", "--yes", "--device", d.url, "-i", owner.key, s.policyFile)

	// Nothing was burned: the valid token is accepted now, once.
	tokFile := filepath.Join(s.dir, "valid.json")
	os.WriteFile(tokFile, validTok, 0o600)
	if out := mustCtl(t, b, s.dir, "token", "submit", "--device", d.url, tokFile); out != jti+"\n" {
		t.Fatalf("valid token after the hostile ones: %q, want %s", out, jti)
	}
	wantFail(t, ctl(t, b, s.dir, "", "token", "submit", "--device", d.url, tokFile), "replayed")
	d.restart()
	if got := postLegal(t, d.url, validTok); got.status != 403 || got.reason != string(consent.ReasonReplayed) {
		t.Errorf("replay after a restart: %+v", got)
	}
	// Its cosigned twin with another jti still works: only the jti burns.
	twin := rawToken(t, with(func(c *consent.TokenClaims) { c.ID = newJTI() }), court, pros)
	if got := postLegal(t, d.url, twin); got.status != 202 {
		t.Errorf("a fresh token after the replay: %+v", got)
	}

	// An unsynchronized clock refuses every token, and burns nothing: the
	// sim board reports its clock unsynced when DOORWARD_SIM_CLOCK says so.
	unsynced := rawToken(t, with(func(c *consent.TokenClaims) { c.ID = newJTI() }), court, pros)
	d.env = []string{"DOORWARD_SIM_CLOCK=unsynced"}
	d.restart()
	before = refusalCount(t, d, owner, string(consent.ReasonClockUnsynced))
	if got := postLegal(t, d.url, unsynced); got.status != 403 || got.reason != string(consent.ReasonClockUnsynced) {
		t.Errorf("unsynced clock: %+v", got)
	}
	if after := refusalCount(t, d, owner, string(consent.ReasonClockUnsynced)); after != before+1 {
		t.Errorf("clock-unsynced refusal not in the audit log")
	}
	d.env = nil
	d.restart()
	if got := postLegal(t, d.url, unsynced); got.status != 202 {
		t.Errorf("the same token once the clock is synchronized: %+v", got)
	}

	// A token issued a little ahead of the device's clock (signers'
	// clocks drift) is accepted, and raises the time floor only to now,
	// never past it: the next token is not refused as clock-below-floor
	// (issue 8, finding 9). The clock set back below the floor is refused
	// in the gate's tests, on a fake clock.
	ahead := rawToken(t, with(func(c *consent.TokenClaims) {
		c.ID = newJTI()
		c.IssuedAt = consent.NewNumericDate(time.Now().Add(2 * time.Minute))
	}), court, pros)
	if got := postLegal(t, d.url, ahead); got.status != 202 {
		t.Fatalf("token issued 2 min ahead: %+v", got)
	}
	if got := postLegal(t, d.url, rawToken(t, with(func(c *consent.TokenClaims) { c.ID = newJTI() }), court, pros)); got.status != 202 {
		t.Errorf("a token after one issued ahead: %+v, want accepted", got)
	}
	mustCtl(t, b, owner.dir, "audit", "verify", "--device", d.url, "-i", owner.key)
}

// padded is base64url with "=" padding, never the canonical form.
func padded(b []byte) string {
	s := base64.URLEncoding.EncodeToString(b)
	if !strings.HasSuffix(s, "=") {
		s += "=="
	}
	return s
}

// spliceSig returns a with b's signatures appended (a signature made over
// another payload).
func spliceSig(t *testing.T, a, b []byte) []byte {
	t.Helper()
	var ja, jb map[string]json.RawMessage
	json.Unmarshal(a, &ja)
	json.Unmarshal(b, &jb)
	var sa, sb []json.RawMessage
	json.Unmarshal(ja["signatures"], &sa)
	json.Unmarshal(jb["signatures"], &sb)
	ja["signatures"] = mustJSON(t, append(sa, sb...))
	return mustJSON(t, ja)
}

// flatten turns a one-signature token into the flattened serialization.
func flatten(t *testing.T, tok []byte) []byte {
	t.Helper()
	var j struct {
		Payload    string              `json:"payload"`
		Signatures []map[string]string `json:"signatures"`
	}
	json.Unmarshal(tok, &j)
	return mustJSON(t, map[string]string{"payload": j.Payload, "protected": j.Signatures[0]["protected"], "signature": j.Signatures[0]["signature"]})
}

// compact turns a one-signature token into the compact serialization.
func compact(t *testing.T, tok []byte) []byte {
	t.Helper()
	var j struct {
		Payload    string              `json:"payload"`
		Signatures []map[string]string `json:"signatures"`
	}
	json.Unmarshal(tok, &j)
	return []byte(j.Signatures[0]["protected"] + "." + j.Payload + "." + j.Signatures[0]["signature"])
}
