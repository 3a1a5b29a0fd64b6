package config

import (
	"strings"

	"github.com/doorward/doorward/consent"
)

// legalProblems checks the proposed trust policy with consent's own rules
// once it names any issuer or quorum; an empty policy (no legal process at
// all) is valid. Each of consent's "field: message" lines becomes a
// problem with legal.field.
func legalProblems(pol consent.Policy) problems {
	var p problems
	if len(pol.Issuers) == 0 && len(pol.Quorum) == 0 {
		return p
	}
	err := pol.Validate()
	if err == nil {
		return p
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimPrefix(line, "consent: policy: ")
		field, msg, ok := strings.Cut(line, ": ")
		if !ok || strings.ContainsAny(field, " \"") {
			field, msg = "", line
		}
		if field == "" {
			p.add("legal", "%s", msg)
		} else {
			p.add("legal."+field, "%s", msg)
		}
	}
	return p
}
