package consent

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

func TestPolicyValidate(t *testing.T) {
	if err := testPolicy().Validate(); err != nil {
		t.Fatalf("fixture policy: %v", err)
	}
	k := func(name string) string { return FormatIssuerKey(pubOf(testKey(name))) }
	cases := []struct {
		name string
		edit func(p *Policy)
		want string // in the error, naming the field
	}{
		{"one issuer", func(p *Policy) { p.Issuers = p.Issuers[:1]; p.Quorum = map[string]int{"judge": 1} }, "issuers: 1 listed; at least 2"},
		{"no issuers", func(p *Policy) { p.Issuers = nil }, "issuers: 0 listed"},
		{"duplicate name", func(p *Policy) { p.Issuers[1].Name = "court-1" }, `issuers[1].name: "court-1" is listed twice`},
		{"empty name", func(p *Policy) { p.Issuers[1].Name = "" }, "issuers[1].name"},
		{"upper-case name", func(p *Policy) { p.Issuers[1].Name = "Court" }, "issuers[1].name"},
		{"bad role", func(p *Policy) { p.Issuers[2].Role = "Judge Dredd" }, "issuers[2].role"},
		{"duplicate key across issuers", func(p *Policy) { p.Issuers[1].PublicKey = p.Issuers[0].PublicKey }, "issuers[1].public_key: the key"},
		{"duplicate key within an issuer", func(p *Policy) { p.Issuers[1].PublicKeys = []string{p.Issuers[1].PublicKey} }, "keys must be unique"},
		{"missing key", func(p *Policy) { p.Issuers[1].PublicKey = "" }, "issuers[1].public_key: missing"},
		{"bad key prefix", func(p *Policy) { p.Issuers[1].PublicKey = "ssh-ed25519 AAAA" }, `issuers[1].public_key: key "ssh-ed25519 AAAA" does not start with "ed25519:"`},
		{"short key", func(p *Policy) { p.Issuers[1].PublicKey = "ed25519:AAAA" }, "issuers[1].public_key"},
		{"empty quorum", func(p *Policy) { p.Quorum = nil }, "quorum: empty"},
		{"quorum zero", func(p *Policy) { p.Quorum["judge"] = 0 }, "quorum.judge: 0"},
		{"quorum beyond issuers", func(p *Policy) { p.Quorum["prosecutor"] = 2 }, "quorum.prosecutor: 2 signers needed but only 1 issuers"},
		{"quorum met only with a revoked key", func(p *Policy) { p.Quorum["judge"] = 3 }, "quorum.judge: 3 signers needed but only 2 issuers with unrevoked keys"},
		{"quorum role whose only issuer is revoked", func(p *Policy) { p.RevokedKeys = append(p.RevokedKeys, p.Issuers[2].PublicKey) }, "quorum.prosecutor: 1 signers needed but only 0"},
		{"fewer than two issuers can sign", func(p *Policy) {
			p.Quorum = map[string]int{"judge": 1}
			p.RevokedKeys = []string{p.Issuers[0].PublicKey, p.Issuers[0].PublicKeys[0], p.Issuers[2].PublicKey, p.Issuers[3].PublicKey}
		}, "revoked_keys: only 1 issuer"},
		{"quorum role nobody has", func(p *Policy) { p.Quorum["oversight"] = 1 }, "quorum.oversight: 1 signers needed but only 0"},
		{"negative lifetime", func(p *Policy) { p.MaxTokenLifetime = -1 }, "max_token_lifetime"},
		{"emergency looser", func(p *Policy) { p.Emergency.MaxLifetime = Duration(30 * 24 * time.Hour) }, "emergency.max_lifetime"},
		{"emergency span looser", func(p *Policy) { p.Emergency.MaxScopeSpan = Duration(48 * time.Hour) }, "emergency.max_scope_span"},
		{"unknown recipient type", func(p *Policy) { p.AllowedRecipients = []string{"rsa"} }, "allowed_recipients[0]"},
		{"recipient type twice", func(p *Policy) { p.AllowedRecipients = []string{"hybrid", "hybrid"} }, "allowed_recipients[1]"},
		{"bad revoked key", func(p *Policy) { p.RevokedKeys = []string{k("x")[:20]} }, "revoked_keys[0]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy()
			tc.edit(p)
			err := p.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "consent: policy: ") {
				t.Fatalf("error %q lacks %q", err, tc.want)
			}
			if _, err := p.Keys(); err == nil {
				t.Error("Keys of an invalid policy")
			}
		})
	}
}

func TestPolicyKeys(t *testing.T) {
	keys, err := testPolicy().Keys()
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := keys.ResolveKey(kidOf(judge1b)); !ok || k.Name != "court-1" || k.Role != "judge" || k.Revoked {
		t.Errorf("second key of court-1: %+v %v", k, ok)
	}
	if k, ok := keys.ResolveKey(kidOf(retired)); !ok || !k.Revoked {
		t.Errorf("retired key: %+v %v", k, ok)
	}
	if _, ok := keys.ResolveKey(kidOf(stranger)); ok {
		t.Error("stranger resolves")
	}
	// A revoked key no issuer lists still resolves, as revoked.
	p := testPolicy()
	p.RevokedKeys = append(p.RevokedKeys, FormatIssuerKey(pubOf(stranger)))
	keys, _ = p.Keys()
	if k, ok := keys.ResolveKey(kidOf(stranger)); !ok || !k.Revoked || k.Name != "" {
		t.Errorf("revoked unlisted key: %+v %v", k, ok)
	}
}

func TestPolicyHash(t *testing.T) {
	h := testPolicy().Hash()
	// Meaning-preserving edits hash the same.
	same := []func(p *Policy){
		func(p *Policy) { p.Issuers[0], p.Issuers[2] = p.Issuers[2], p.Issuers[0] },
		func(p *Policy) {
			p.Issuers[0].PublicKey, p.Issuers[0].PublicKeys = p.Issuers[0].PublicKeys[0], []string{p.Issuers[0].PublicKey}
		},
		func(p *Policy) { p.Issuers[1].PublicKey = " " + p.Issuers[1].PublicKey + " " },
		func(p *Policy) { p.MaxNoticeDelay = 0 }, // the default is 90 days
		func(p *Policy) { p.AllowedRecipients = []string{RecipientHybrid, RecipientX25519} },
	}
	for i, edit := range same {
		p := testPolicy()
		edit(p)
		if p.Hash() != h {
			t.Errorf("same-meaning edit %d changed the hash", i)
		}
	}
	differ := []func(p *Policy){
		func(p *Policy) { p.Quorum["judge"] = 2 },
		func(p *Policy) { p.Issuers[1].Role = "prosecutor" },
		func(p *Policy) { p.Issuers[1].Name = "court-9" },
		func(p *Policy) { p.Issuers[1].PublicKey = FormatIssuerKey(pubOf(stranger)) },
		func(p *Policy) { p.MaxTokenLifetime++ },
		func(p *Policy) { p.MaxScopeSpan++ },
		func(p *Policy) { p.MaxNoticeDelay++ },
		func(p *Policy) { p.Emergency.MaxLifetime++ },
		func(p *Policy) { p.Emergency.MaxScopeSpan++ },
		func(p *Policy) { p.AllowedRecipients = []string{RecipientHybrid} },
		func(p *Policy) { p.RevokedKeys = nil },
	}
	for i, edit := range differ {
		p := testPolicy()
		edit(p)
		if p.Hash() == h {
			t.Errorf("edit %d did not change the hash", i)
		}
	}
}

func TestPolicyHashGolden(t *testing.T) {
	p := &Policy{
		Issuers: []Issuer{
			{Name: "a", Role: "judge", PublicKey: "ed25519:" + strings.Repeat("A", 43) + "="},
			{Name: "b", Role: "clerk", PublicKey: "ed25519:" + strings.Repeat("B", 43) + "="},
		},
		Quorum: map[string]int{"judge": 1},
	}
	got := p.Hash()
	// Pinned: the pairing transcript covers this hash, so the canonical
	// encoding must not change by accident.
	const want = "fbc1c242d0f5a427d9ed3e08584e0d4e68ff626675c1b425360411b06f1f26a0"
	if hex.EncodeToString(got[:]) != want {
		t.Errorf("policy hash %x; the canonical encoding changed (pairing transcripts cover it)", got)
	}
}

func TestPolicyConfigForms(t *testing.T) {
	const y = `
issuers:
  - name: county-court
    role: judge
    public_key: ed25519:` + "PLACEHOLDER1" + `
  - name: da-office
    role: prosecutor
    public_key: ed25519:` + "PLACEHOLDER2" + `
quorum: {judge: 1, prosecutor: 1}
max_token_lifetime: 14d
max_scope_span: 36h
emergency: {max_lifetime: 48h}
allowed_recipients: [hybrid]
`
	doc := strings.Replace(y, "ed25519:PLACEHOLDER1", FormatIssuerKey(pubOf(judge1)), 1)
	doc = strings.Replace(doc, "ed25519:PLACEHOLDER2", FormatIssuerKey(pubOf(prosecute)), 1)
	var p Policy
	if err := yaml.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if time.Duration(p.MaxTokenLifetime) != 14*24*time.Hour || time.Duration(p.MaxScopeSpan) != 36*time.Hour || time.Duration(p.Emergency.MaxLifetime) != 48*time.Hour {
		t.Errorf("durations %v %v %v", p.MaxTokenLifetime, p.MaxScopeSpan, p.Emergency.MaxLifetime)
	}
	d := p.WithDefaults()
	if time.Duration(d.MaxNoticeDelay) != 90*24*time.Hour {
		t.Errorf("default notice cap %v", d.MaxNoticeDelay)
	}
	// JSON round trip keeps the meaning.
	b, err := json.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	var q Policy
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	if q.Hash() != p.Hash() {
		t.Errorf("JSON round trip changed the policy: %s", b)
	}
	if !strings.Contains(string(b), `"max_token_lifetime":"14d"`) {
		t.Errorf("durations not written as text: %s", b)
	}
	var bad Policy
	if err := yaml.Unmarshal([]byte("max_scope_span: forever"), &bad); err == nil || !strings.Contains(err.Error(), "e.g. 90m, 72h or 90d") {
		t.Errorf("bad duration: %v", err)
	}
}

func TestIssuerKeyForm(t *testing.T) {
	pub := pubOf(judge1)
	s := FormatIssuerKey(pub)
	if !strings.HasPrefix(s, "ed25519:") || len(s) != len("ed25519:")+44 {
		t.Errorf("form %q", s)
	}
	got, err := ParseIssuerKey(s)
	if err != nil || !got.Equal(pub) {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"", "ed25519:", "ed25519:" + s[8:len(s)-1], "ED25519:" + s[8:], "ed25519:" + strings.Repeat("A", 44), "x25519:" + s[8:], "ed25519:" + s[8:] + "AAAA"} {
		if _, err := ParseIssuerKey(bad); err == nil || !strings.HasPrefix(err.Error(), "consent: key ") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestDurationText(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "0d": 0, "36h": 36 * time.Hour, "1h30m": 90 * time.Minute} {
		var d Duration
		if err := d.UnmarshalText([]byte(in)); err != nil || time.Duration(d) != want {
			t.Errorf("%q: %v %v", in, time.Duration(d), err)
		}
	}
	for _, bad := range []string{"", "d", "-1d", "1.5d", "99999999d", "soon"} {
		var d Duration
		if err := d.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if s := Duration(48 * time.Hour).String(); s != "2d" {
		t.Errorf("48h is %q", s)
	}
	if s := Duration(25 * time.Hour).String(); s != "25h0m0s" {
		t.Errorf("25h is %q", s)
	}
}
