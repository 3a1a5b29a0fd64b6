package consent

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Policy defaults, applied by Policy.WithDefaults where a limit is zero.
const (
	DefaultMaxTokenLifetime      = 30 * 24 * time.Hour
	DefaultMaxScopeSpan          = 30 * 24 * time.Hour
	DefaultMaxNoticeDelay        = 90 * 24 * time.Hour
	DefaultEmergencyMaxLifetime  = 72 * time.Hour
	DefaultEmergencyMaxScopeSpan = 72 * time.Hour
)

// Recipient types a policy may allow for legal-process recipients.
const (
	RecipientX25519 = "x25519" // age1...
	RecipientHybrid = "hybrid" // age1pq1...
)

// Policy is the device's trust policy for legal-process tokens: who may
// sign them, how many must, and the limits a token must keep to. The config
// proposes it, the owner approves it at pairing (the transcript covers
// Hash) and changes it with an owner-signed policy statement. A signer's
// role comes from Issuers, never from a token.
type Policy struct {
	Issuers []Issuer `json:"issuers" yaml:"issuers"`
	// Quorum is the number of distinct issuers of each role that must
	// sign. Besides it, every token needs at least two distinct issuers.
	Quorum map[string]int `json:"quorum" yaml:"quorum"`
	// MaxTokenLifetime bounds exp - iat.
	MaxTokenLifetime Duration `json:"max_token_lifetime,omitempty" yaml:"max_token_lifetime,omitempty"`
	// MaxScopeSpan bounds scope.until - scope.from.
	MaxScopeSpan Duration `json:"max_scope_span,omitempty" yaml:"max_scope_span,omitempty"`
	// MaxNoticeDelay is the hard cap on notify_after - now: the owner is
	// told of a disclosure no later than this.
	MaxNoticeDelay Duration        `json:"max_notice_delay,omitempty" yaml:"max_notice_delay,omitempty"`
	Emergency      EmergencyPolicy `json:"emergency" yaml:"emergency"`
	// AllowedRecipients lists the recipient types a token may name:
	// "x25519", "hybrid". Empty allows both; ["hybrid"] is hybrid only.
	AllowedRecipients []string `json:"allowed_recipients,omitempty" yaml:"allowed_recipients,omitempty"`
	// RevokedKeys are issuer keys (in FormatIssuerKey form) known to be
	// compromised: their signatures count for nothing and are reported as
	// revoked-key. A key may be both listed under an issuer and revoked.
	RevokedKeys []string `json:"revoked_keys,omitempty" yaml:"revoked_keys,omitempty"`
}

// Issuer is one legal-process signer: a court, a prosecutor's office, an
// oversight body.
type Issuer struct {
	Name string `json:"name" yaml:"name"`
	Role string `json:"role" yaml:"role"`
	// PublicKey is the issuer's key as FormatIssuerKey writes it (what
	// "doorwardctl issuer keygen" prints).
	PublicKey string `json:"public_key,omitempty" yaml:"public_key,omitempty"`
	// PublicKeys are further keys of the same issuer (rotation). However
	// many of its keys sign, an issuer counts once.
	PublicKeys []string `json:"public_keys,omitempty" yaml:"public_keys,omitempty"`
}

// EmergencyPolicy holds the tighter limits of basis "emergency" tokens.
// They never carry a notice delay.
type EmergencyPolicy struct {
	MaxLifetime  Duration `json:"max_lifetime,omitempty" yaml:"max_lifetime,omitempty"`
	MaxScopeSpan Duration `json:"max_scope_span,omitempty" yaml:"max_scope_span,omitempty"`
}

// Keys returns the issuer's keys: PublicKey, then PublicKeys.
func (is Issuer) Keys() []string {
	var out []string
	if is.PublicKey != "" {
		out = append(out, is.PublicKey)
	}
	return append(out, is.PublicKeys...)
}

// FormatIssuerKey encodes an Ed25519 public key as "ed25519:" followed by
// its standard, padded base64 (44 characters): the form the config, the
// policy and "doorwardctl issuer keygen" use, and that grants use for a
// grantee's key.
func FormatIssuerKey(pub ed25519.PublicKey) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(pub)
}

// ParseIssuerKey decodes FormatIssuerKey's form.
func ParseIssuerKey(s string) (ed25519.PublicKey, error) {
	v, ok := strings.CutPrefix(strings.TrimSpace(s), "ed25519:")
	if !ok {
		return nil, fmt.Errorf("consent: key %s does not start with \"ed25519:\"; expected ed25519:<base64 of 32 bytes>", shorten(s))
	}
	b, err := base64.StdEncoding.Strict().DecodeString(v)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("consent: key %s is not ed25519:<base64 of 32 bytes>", shorten(s))
	}
	return ed25519.PublicKey(b), nil
}

// WithDefaults returns a copy of p with every zero limit set to its
// default. Validate, Keys and Hash work on this form.
func (p Policy) WithDefaults() Policy {
	def := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	def(&p.MaxTokenLifetime, DefaultMaxTokenLifetime)
	def(&p.MaxScopeSpan, DefaultMaxScopeSpan)
	def(&p.MaxNoticeDelay, DefaultMaxNoticeDelay)
	// Emergency defaults never exceed the ordinary limits.
	def(&p.Emergency.MaxLifetime, min(DefaultEmergencyMaxLifetime, time.Duration(p.MaxTokenLifetime)))
	def(&p.Emergency.MaxScopeSpan, min(DefaultEmergencyMaxScopeSpan, time.Duration(p.MaxScopeSpan)))
	if len(p.AllowedRecipients) == 0 {
		p.AllowedRecipients = []string{RecipientX25519, RecipientHybrid}
	}
	return p
}

// AcceptsNoLegalProcess reports whether p is the empty policy: no issuers
// and no quorum, so no legal-process token can ever verify.
func (p *Policy) AcceptsNoLegalProcess() bool {
	return len(p.Issuers) == 0 && len(p.Quorum) == 0
}

// Validate checks the policy (with defaults applied) and returns every
// problem found, each naming its field. Rules: at least two issuers; names
// and roles are lower-case names and each issuer has at least one valid
// key; names and keys are unique across the policy; every quorum role is
// at least 1 and has enough distinct issuers with unrevoked keys to meet
// it; at least two issuers can sign in all; limits are positive and the emergency limits
// no looser than the ordinary ones. An empty policy (no issuers and no
// quorum: the device accepts no legal process) is valid; its limits and
// revoked keys are still checked.
func (p *Policy) Validate() error {
	q := p.WithDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("consent: policy: "+format, args...))
	}
	empty := p.AcceptsNoLegalProcess()
	if len(q.Issuers) < 2 && !empty {
		bad("issuers: %d listed; at least 2 are needed, since every token needs two distinct signers", len(q.Issuers))
	}
	revoked := map[string]bool{}
	for i, k := range q.RevokedKeys {
		pub, err := ParseIssuerKey(k)
		if err != nil {
			bad("revoked_keys[%d]: %v", i, strings.TrimPrefix(err.Error(), "consent: "))
			continue
		}
		revoked[KeyID(pub)] = true
	}
	names := map[string]bool{}
	keys := map[string]string{}
	perRole := map[string]int{} // issuers with a key that is not revoked
	able := 0
	for i, is := range q.Issuers {
		field := fmt.Sprintf("issuers[%d]", i)
		if !validName(is.Name) {
			bad("%s.name: %s is not a name (1 to 64 of a-z, 0-9, '-', '_', '.', starting with a letter or digit)", field, shorten(is.Name))
		} else if names[is.Name] {
			bad("%s.name: %q is listed twice; give an issuer's keys under one entry (public_keys)", field, is.Name)
		}
		names[is.Name] = true
		if !validName(is.Role) {
			bad("%s.role: %s is not a role name (1 to 64 of a-z, 0-9, '-', '_', '.')", field, shorten(is.Role))
		}
		if len(is.Keys()) == 0 {
			bad("%s.public_key: missing; expected ed25519:<base64>", field)
		}
		canSign := false
		for _, k := range is.Keys() {
			pub, err := ParseIssuerKey(k)
			if err != nil {
				bad("%s.public_key: %v", field, strings.TrimPrefix(err.Error(), "consent: "))
				continue
			}
			id := KeyID(pub)
			if other, dup := keys[id]; dup {
				bad("%s.public_key: the key %s is also listed for %q; keys must be unique", field, id, other)
			}
			keys[id] = is.Name
			canSign = canSign || !revoked[id]
		}
		if canSign {
			perRole[is.Role]++
			able++
		}
	}
	if len(q.Issuers) >= 2 && able < 2 {
		bad("revoked_keys: only %d issuer has a key that is not revoked; at least 2 are needed", able)
	}
	if len(q.Quorum) == 0 && !empty {
		bad("quorum: empty; name at least one role and how many of its issuers must sign")
	}
	for _, role := range sortedRoles(q.Quorum) {
		n := q.Quorum[role]
		switch {
		case n < 1:
			bad("quorum.%s: %d; each named role needs at least 1 signer", role, n)
		case perRole[role] < n:
			bad("quorum.%s: %d signers needed but only %d issuers with unrevoked keys have that role", role, n, perRole[role])
		}
	}
	pos := func(field string, d Duration) {
		if d <= 0 {
			bad("%s: %v; must be positive", field, d)
		}
	}
	pos("max_token_lifetime", q.MaxTokenLifetime)
	pos("max_scope_span", q.MaxScopeSpan)
	pos("max_notice_delay", q.MaxNoticeDelay)
	pos("emergency.max_lifetime", q.Emergency.MaxLifetime)
	pos("emergency.max_scope_span", q.Emergency.MaxScopeSpan)
	if q.Emergency.MaxLifetime > q.MaxTokenLifetime {
		bad("emergency.max_lifetime: %v is longer than max_token_lifetime %v; emergency limits must be tighter", q.Emergency.MaxLifetime, q.MaxTokenLifetime)
	}
	if q.Emergency.MaxScopeSpan > q.MaxScopeSpan {
		bad("emergency.max_scope_span: %v is longer than max_scope_span %v; emergency limits must be tighter", q.Emergency.MaxScopeSpan, q.MaxScopeSpan)
	}
	seen := map[string]bool{}
	for i, t := range q.AllowedRecipients {
		if t != RecipientX25519 && t != RecipientHybrid {
			bad("allowed_recipients[%d]: %s; valid: %q, %q", i, shorten(t), RecipientX25519, RecipientHybrid)
		} else if seen[t] {
			bad("allowed_recipients[%d]: %q listed twice", i, t)
		}
		seen[t] = true
	}
	return errors.Join(errs...)
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

func sortedRoles(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Keys returns the policy's issuer keys by kid, each with its issuer's
// name and role, revoked when listed in RevokedKeys. It fails when the
// policy does not validate.
func (p *Policy) Keys() (KeySet, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	revoked := map[string]bool{}
	for _, k := range p.RevokedKeys {
		pub, _ := ParseIssuerKey(k)
		revoked[KeyID(pub)] = true
	}
	set := KeySet{}
	for _, is := range p.Issuers {
		for _, k := range is.Keys() {
			pub, _ := ParseIssuerKey(k)
			set[KeyID(pub)] = KeyInfo{PublicKey: pub, Name: is.Name, Role: is.Role, Revoked: revoked[KeyID(pub)]}
		}
	}
	for _, k := range p.RevokedKeys { // revoked keys no issuer lists any more
		pub, _ := ParseIssuerKey(k)
		if _, ok := set[KeyID(pub)]; !ok {
			set[KeyID(pub)] = KeyInfo{PublicKey: pub, Revoked: true}
		}
	}
	return set, nil
}

// Hash is SHA-256 over the policy's canonical encoding: the label
// "doorward-policy/1\n" then the JSON of the policy with defaults applied,
// issuers sorted by name, each issuer's keys re-encoded and sorted,
// allowed recipients and revoked keys sorted, durations in nanoseconds and
// quorum roles in sorted order. Two policies that mean the same hash the
// same; the pairing transcript and the policy statement cover it.
func (p *Policy) Hash() [32]byte {
	q := p.WithDefaults()
	type cIssuer struct {
		Name string   `json:"name"`
		Role string   `json:"role"`
		Keys []string `json:"keys"`
	}
	type cQuorum struct {
		Role string `json:"role"`
		N    int    `json:"n"`
	}
	c := struct {
		Issuers           []cIssuer `json:"issuers"`
		Quorum            []cQuorum `json:"quorum"`
		MaxTokenLifetime  int64     `json:"max_token_lifetime_ns"`
		MaxScopeSpan      int64     `json:"max_scope_span_ns"`
		MaxNoticeDelay    int64     `json:"max_notice_delay_ns"`
		EmergencyLifetime int64     `json:"emergency_max_lifetime_ns"`
		EmergencySpan     int64     `json:"emergency_max_scope_span_ns"`
		AllowedRecipients []string  `json:"allowed_recipients"`
		RevokedKeys       []string  `json:"revoked_keys"`
	}{
		MaxTokenLifetime:  int64(q.MaxTokenLifetime),
		MaxScopeSpan:      int64(q.MaxScopeSpan),
		MaxNoticeDelay:    int64(q.MaxNoticeDelay),
		EmergencyLifetime: int64(q.Emergency.MaxLifetime),
		EmergencySpan:     int64(q.Emergency.MaxScopeSpan),
		AllowedRecipients: canonicalSet(q.AllowedRecipients, func(s string) string { return s }),
		RevokedKeys:       canonicalSet(q.RevokedKeys, canonicalKey),
	}
	for _, is := range q.Issuers {
		c.Issuers = append(c.Issuers, cIssuer{Name: is.Name, Role: is.Role, Keys: canonicalSet(is.Keys(), canonicalKey)})
	}
	slices.SortFunc(c.Issuers, func(a, b cIssuer) int { return strings.Compare(a.Name, b.Name) })
	for _, r := range sortedRoles(q.Quorum) {
		c.Quorum = append(c.Quorum, cQuorum{Role: r, N: q.Quorum[r]})
	}
	b, _ := json.Marshal(c) // strings, ints and slices of them: cannot fail
	return sha256.Sum256(append([]byte("doorward-policy/1\n"), b...))
}

func canonicalKey(s string) string {
	if pub, err := ParseIssuerKey(s); err == nil {
		return FormatIssuerKey(pub)
	}
	return s
}

func canonicalSet(in []string, f func(string) string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		out = append(out, f(s))
	}
	slices.Sort(out)
	return out
}

// allowsRecipient reports whether the (defaulted) policy allows family.
func (p *Policy) allowsRecipient(f RecipientFamily) bool {
	want := RecipientX25519
	if f == PostQuantum {
		want = RecipientHybrid
	}
	return slices.Contains(p.AllowedRecipients, want)
}

// Duration is a time.Duration written as a string: Go's form ("90m",
// "72h") or whole days ("90d"). It marshals as text in JSON and YAML.
type Duration time.Duration

// String writes whole days as "Nd", other values in Go's form.
func (d Duration) String() string {
	const day = 24 * time.Hour
	td := time.Duration(d)
	if td > 0 && td%day == 0 {
		return strconv.FormatInt(int64(td/day), 10) + "d"
	}
	return td.String()
}

// MarshalText writes String.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads "90d" or a Go duration.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	if v, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 || n > 100*365 {
			return fmt.Errorf("consent: duration %s: whole days must be 0 to 36500, e.g. 90d", shorten(s))
		}
		*d = Duration(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("consent: duration %s is not valid; e.g. 90m, 72h or 90d", shorten(s))
	}
	*d = Duration(v)
	return nil
}
