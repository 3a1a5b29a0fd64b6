package main

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/doorward/doorward/consent"
)

// formatPolicy renders a trust policy for the owner to read: who may sign
// legal-process tokens, how many must, and the limits, with defaults
// applied (those are what the device enforces) and the hash the pairing
// transcript or the policy statement covers.
func formatPolicy(p consent.Policy) string {
	d := p.WithDefaults()
	var b strings.Builder
	if len(d.Issuers) == 0 {
		b.WriteString("issuers:            none: no legal-process token can be accepted\n")
	} else {
		b.WriteString("issuers:\n")
		issuers := slices.Clone(d.Issuers)
		slices.SortFunc(issuers, func(a, b consent.Issuer) int { return strings.Compare(a.Name, b.Name) })
		for _, is := range issuers {
			fmt.Fprintf(&b, "  %s (role %s)\n", printable(is.Name), printable(is.Role))
			for _, k := range is.Keys() {
				fmt.Fprintf(&b, "    key %s\n", printable(k))
			}
		}
	}
	roles := make([]string, 0, len(d.Quorum))
	for r := range d.Quorum {
		roles = append(roles, r)
	}
	slices.Sort(roles)
	var q []string
	for _, r := range roles {
		q = append(q, fmt.Sprintf("%d × %s", d.Quorum[r], printable(r)))
	}
	if len(q) == 0 {
		q = []string{"none named"}
	}
	fmt.Fprintf(&b, "quorum:             %s (and at least 2 distinct issuers in all)\n", strings.Join(q, ", "))
	fmt.Fprintf(&b, "max token lifetime: %s\n", fmtDur(d.MaxTokenLifetime))
	fmt.Fprintf(&b, "max scope span:     %s\n", fmtDur(d.MaxScopeSpan))
	fmt.Fprintf(&b, "max notice delay:   %s (you are told of every disclosure no later than this)\n", fmtDur(d.MaxNoticeDelay))
	fmt.Fprintf(&b, "emergency:          lifetime ≤ %s, scope ≤ %s, never a notice delay\n", fmtDur(d.Emergency.MaxLifetime), fmtDur(d.Emergency.MaxScopeSpan))
	if len(d.AllowedRecipients) == 0 {
		b.WriteString("recipients:         x25519 or hybrid\n")
	} else {
		fmt.Fprintf(&b, "recipients:         %s\n", printable(strings.Join(d.AllowedRecipients, " or ")))
	}
	for _, k := range d.RevokedKeys {
		fmt.Fprintf(&b, "revoked key:        %s\n", printable(k))
	}
	if err := p.Validate(); err != nil && len(p.Issuers) > 0 {
		// (No issuers at all is valid for the device: legal process off.)
		fmt.Fprintf(&b, "WARNING:            the policy does not validate: %s\n", printable(strings.ReplaceAll(err.Error(), "\n", "; ")))
	}
	h := p.Hash()
	fmt.Fprintf(&b, "policy hash:        %s\n", hex.EncodeToString(h[:]))
	return b.String()
}

func fmtDur(d consent.Duration) string {
	if time.Duration(d)%(24*time.Hour) == 0 {
		return d.String()
	}
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// diffLines shows the lines of b not in a with "+ " and those of a not in
// b with "- ", in order; good enough for two renderings of a policy.
func diffLines(a, b string) string {
	al, bl := strings.Split(strings.TrimRight(a, "\n"), "\n"), strings.Split(strings.TrimRight(b, "\n"), "\n")
	var out strings.Builder
	for _, l := range al {
		if !slices.Contains(bl, l) {
			out.WriteString("- " + l + "\n")
		}
	}
	for _, l := range bl {
		if !slices.Contains(al, l) {
			out.WriteString("+ " + l + "\n")
		}
	}
	return out.String()
}

// policyYAML writes p as a file "policy set" reads: the config's legal:
// block, exactly the policy the device holds (no defaults filled in, so
// sending it back unchanged is a no-op with the same hash).
func policyYAML(p consent.Policy, hash string) ([]byte, error) {
	if p.Issuers == nil {
		p.Issuers = []consent.Issuer{}
	}
	if p.Quorum == nil {
		p.Quorum = map[string]int{}
	}
	b, err := yaml.MarshalWithOptions(struct {
		Legal consent.Policy `yaml:"legal"`
	}{p}, yaml.Indent(2), yaml.IndentSequence(true))
	if err != nil {
		return nil, fmt.Errorf("policy show: %w", err)
	}
	head := fmt.Sprintf("# trust policy, hash %s\n# edit it and send it with: doorwardctl policy set -i owner.key FILE\n", hash)
	return append([]byte(head), b...), nil
}
