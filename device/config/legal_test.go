package config

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"

	"github.com/doorward/doorward/consent"
)

func issuerKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return consent.FormatIssuerKey(pub)
}

// TestParsePolicy: a policy file is the config's legal: block or its
// fields, decoded as strictly as the config, errors located in the file.
func TestParsePolicy(t *testing.T) {
	k1, k2 := issuerKey(t), issuerKey(t)
	fields := "issuers:\n  - {name: court, role: court, public_key: \"" + k1 + "\"}\n  - {name: oversight, role: oversight, public_key: \"" + k2 + "\"}\nquorum: {court: 1, oversight: 1}\nmax_token_lifetime: 14d\n"
	block := "legal:\n" + "  " + strings.ReplaceAll(strings.TrimSuffix(fields, "\n"), "\n", "\n  ") + "\n"
	json := `{"issuers": [{"name": "court", "role": "court", "public_key": "` + k1 + `"}, {"name": "oversight", "role": "oversight", "public_key": "` + k2 + `"}], "quorum": {"court": 1, "oversight": 1}, "max_token_lifetime": "14d"}`
	var hashes [][32]byte
	for _, doc := range []string{fields, block, json} {
		p, err := ParsePolicy("policy.yaml", []byte(doc))
		if err != nil {
			t.Fatalf("ParsePolicy(%q): %v", doc, err)
		}
		if len(p.Issuers) != 2 || p.Quorum["court"] != 1 || p.MaxTokenLifetime.String() != "14d" {
			t.Errorf("ParsePolicy(%q) = %+v", doc, p)
		}
		hashes = append(hashes, p.Hash())
	}
	if hashes[0] != hashes[1] || hashes[0] != hashes[2] {
		t.Errorf("the three forms differ: %x", hashes)
	}
	if p, err := ParsePolicy("policy.yaml", []byte("legal: {}\n")); err != nil || len(p.Issuers) != 0 {
		t.Errorf("an empty policy: %+v, %v", p, err)
	}

	for _, tc := range []struct{ doc, want string }{
		{"issuers: []\nquorom: {court: 1}\n", `policy.yaml:2:1: quorom: unknown field (valid in the file: allowed_recipients, emergency, issuers, max_notice_delay, max_scope_span, max_token_lifetime, quorum, revoked_keys)`},
		{"legal:\n  quorom: {court: 1}\n", `policy.yaml:2:3: legal.quorom: unknown field (valid in legal: allowed_recipients, emergency, issuers, max_notice_delay, max_scope_span, max_token_lifetime, quorum, revoked_keys)`},
		{"legal: {}\nboard: sim\n", `policy.yaml:2:1: board: unknown field (valid in the file: legal)`},
		{"max_scope_span: forever\n", `policy.yaml:1:17: max_scope_span: duration "forever" is not valid; e.g. 90m, 72h or 90d`},
		{"quorum: {court: 1}\n", `policy.yaml: issuers: 0 listed; at least 2 are needed, since every token needs two distinct signers`},
		{"legal:\n  issuers:\n    - {name: Court, role: court, public_key: \"" + k1 + "\"}\n    - {name: b, role: court, public_key: \"" + k2 + "\"}\n  quorum: {court: 2}\n",
			`policy.yaml:3:14: legal.issuers[0].name: "Court" is not a name (1 to 64 of a-z, 0-9, '-', '_', '.', starting with a letter or digit)`},
	} {
		_, err := ParsePolicy("policy.yaml", []byte(tc.doc))
		if err == nil {
			t.Errorf("ParsePolicy(%q) succeeded", tc.doc)
			continue
		}
		if first, _, _ := strings.Cut(err.Error(), "\n"); first != tc.want {
			t.Errorf("ParsePolicy(%q):\n got %s\nwant %s", tc.doc, first, tc.want)
		}
	}
}

// FuzzParsePolicy: a policy file never panics the parser; whatever it
// accepts validates (or is empty) and hashes the same after a round trip
// through JSON, as the policy statement sends it.
func FuzzParsePolicy(f *testing.F) {
	for _, seed := range []string{
		"",
		"legal: {}\n",
		"issuers: []\nquorum: {court: 1}\n",
		"legal:\n  max_token_lifetime: 14d\n  emergency: {max_lifetime: 48h}\n  allowed_recipients: [hybrid]\n",
		`{"issuers": [{"name": "a", "role": "court", "public_key": "ed25519:AAAA"}], "quorum": {"court": 1}}`,
		"issuers: [{name: a, role: court, public_keys: [x, y]}]\nrevoked_keys: [z]\n",
		"legal: &l {quorum: {a: 1}}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy("policy.yaml", data)
		if err != nil {
			if len(Errors(err)) == 0 {
				t.Fatalf("error holds no *Error: %v", err)
			}
			return
		}
		if len(p.Issuers) > 0 || len(p.Quorum) > 0 {
			if err := p.Validate(); err != nil {
				t.Fatalf("ParsePolicy accepted a policy that does not validate: %v", err)
			}
		}
		b, err := json.Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		var back consent.Policy
		if err := json.Unmarshal(b, &back); err != nil || back.Hash() != p.Hash() {
			t.Fatalf("JSON round trip changed the policy: %s (%v)", b, err)
		}
	})
}
