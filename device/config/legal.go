package config

import (
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

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

// ParsePolicy parses a trust-policy file, as doorwardctl policy set takes
// it: the config's legal: block, or its fields (issuers, quorum, ...) at
// the top level. JSON is YAML too. It is decoded as strictly as the config
// and checked with consent's rules once it names an issuer or a quorum; an
// empty policy accepts no legal process. Errors are *Error located in the
// file, with fields named as the file writes them.
func ParsePolicy(name string, data []byte) (consent.Policy, error) {
	var (
		pol     consent.Policy
		wrapped struct {
			Legal consent.Policy `yaml:"legal"`
		}
		at  map[string]*token.Token
		err error
	)
	block := legalBlock(data)
	if block {
		at, err = decode(name, data, &wrapped)
		pol = wrapped.Legal
	} else {
		at, err = decode(name, data, &pol)
	}
	if err != nil {
		return consent.Policy{}, err
	}
	p := legalProblems(pol)
	for _, e := range p {
		if !block { // the fields are at the top level
			e.Field = strings.TrimPrefix(strings.TrimPrefix(e.Field, "legal"), ".")
		}
	}
	if err := locate(name, p, at); err != nil {
		return consent.Policy{}, err
	}
	return pol, nil
}

// legalBlock reports whether the document's top level is a mapping with a
// legal: key, as in the config.
func legalBlock(data []byte) bool {
	file, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil || len(file.Docs) == 0 {
		return false
	}
	m, ok := unwrap(file.Docs[0].Body).(*ast.MappingNode)
	if !ok {
		return false
	}
	for _, mv := range m.Values {
		if key, ok := keyText(mv.Key); ok && key == "legal" {
			return true
		}
	}
	return false
}
