package consent

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
)

// Bases of a legal-process token.
const (
	BasisWarrant    = "warrant"
	BasisCourtOrder = "court-order"
	BasisEmergency  = "emergency"
)

// TokenClaims are a legal-process token's payload (DESIGN.md "Signed
// statements"). Times in the scope and notify_after are RFC 3339.
type TokenClaims struct {
	Claims
	NotBefore NumericDate `json:"nbf"`
	// Basis is "warrant", "court-order" or "emergency".
	Basis        string `json:"basis"`
	Case         string `json:"case"`
	Jurisdiction string `json:"jurisdiction"`
	// OrderSHA256 is the lower-case hex SHA-256 of the order document.
	OrderSHA256 string `json:"order_sha256"`
	Scope       Scope  `json:"scope"`
	// Recipient is the requesting agency's age recipient; disclosed
	// segments are re-wrapped for it alone.
	Recipient string `json:"recipient"`
	// NotifyAfter delays the owner's notice, up to the policy's cap.
	NotifyAfter *time.Time `json:"notify_after,omitempty"`
	// Preserve places the scoped segments on legal hold.
	Preserve bool `json:"preserve"`
}

// check applies the structural rules (step 1: a claim of the wrong shape
// is malformed, whoever signed it).
func (c *TokenClaims) check() error {
	if err := c.Claims.check(); err != nil {
		return err
	}
	if c.NotBefore <= 0 {
		return refuse(ReasonMalformed, "nbf is required (seconds since 1970)")
	}
	switch c.Basis {
	case BasisWarrant, BasisCourtOrder, BasisEmergency:
	default:
		return refuse(ReasonMalformed, "basis %s; valid: warrant, court-order, emergency", shorten(c.Basis))
	}
	if err := text("case", c.Case, 256); err != nil {
		return err
	}
	if err := text("jurisdiction", c.Jurisdiction, 256); err != nil {
		return err
	}
	if !isLowerHex(c.OrderSHA256, sha256.Size) {
		return refuse(ReasonMalformed, "order_sha256 %s: expected 64 lower-case hex digits", shorten(c.OrderSHA256))
	}
	if err := c.Scope.check(); err != nil {
		return err
	}
	if c.Recipient == "" {
		return refuse(ReasonMalformed, "recipient is required (age1... or age1pq1...)")
	}
	return nil
}

func isLowerHex(s string, n int) bool {
	if len(s) != 2*n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// VerifyInput is what VerifyToken checks a token against.
type VerifyInput struct {
	// Policy is the device's owner-approved trust policy.
	Policy *Policy
	// DeviceID is this device's ID; the token's aud must equal it.
	DeviceID string
	// Now is the device's clock.
	Now time.Time
	// ClockSynced is the kernel's report that the clock is synchronized.
	ClockSynced bool
	// TimeFloor is the persisted time floor (see CheckClock).
	TimeFloor time.Time
	// Seen reports whether a jti was ever accepted before.
	Seen func(jti string) bool
}

// Signer is an issuer whose signature counted towards the quorum.
type Signer struct {
	KeyID string
	Name  string
	Role  string
}

// Token is a legal-process token that verified.
type Token struct {
	Claims TokenClaims
	// Recipient is Claims.Recipient parsed; Family its type.
	Recipient age.Recipient
	Family    RecipientFamily
	// Signers are the distinct issuers that counted, one entry per valid
	// signature by an unrevoked policy key (an issuer may appear twice).
	Signers []Signer
	// Ignored lists the kids whose signatures counted for nothing:
	// unknown or revoked keys.
	Ignored []string
	// SHA256 is the hash of the token as received, for the audit log.
	SHA256 [32]byte
}

// VerifyToken verifies a legal-process token in exactly the order of
// DESIGN.md "Verifying a legal token":
//
//  1. size, envelope, header and strict decoding rules (ParseStatement),
//     then the claims' shape;
//  2. the clock is trusted (CheckClock);
//  3. each signature alone against the key its kid names in the policy:
//     a signature by a policy key that does not verify refuses the token
//     (bad-signature); unknown and revoked keys count for nothing; then
//     distinct issuers are counted per role (an issuer signing twice, or
//     with two keys, counts once) and the quorum must be met, with at least
//     two distinct issuers in all; a signer's role is the policy's;
//  4. the claims: aud; nbf <= now < exp (and iat not ahead of now by more
//     than a few minutes, since it becomes the time floor); exp - iat and
//     the scope's span within the policy; the scope not in the future (and
//     not live); for basis emergency the tighter emergency limits and no
//     notify_after; notify_after within the policy's cap; the recipient
//     parses and its type is allowed;
//  5. the jti was never accepted before (in.Seen).
//
// It records nothing: the caller records the jti, the audit leaf, the
// notice and the disclosure jobs in one transaction, so a refusal burns
// nothing. Refusals are *Error values with a Reason; other errors (a nil
// or invalid policy, a nil Seen) are the caller's bugs.
func VerifyToken(data []byte, in VerifyInput) (*Token, error) {
	if in.Policy == nil || in.Seen == nil {
		return nil, errors.New("consent: VerifyToken needs a Policy and a Seen function")
	}
	keys, err := in.Policy.Keys()
	if err != nil {
		return nil, fmt.Errorf("consent: the device's trust policy is invalid: %w", err)
	}
	pol := in.Policy.WithDefaults()
	if in.Policy.AcceptsNoLegalProcess() {
		return nil, refuse(ReasonUnknownKey, "the device's trust policy lists no issuers: it accepts no legal process")
	}

	// 1. Size, header, strict decoding.
	st, err := ParseStatement(data, KindLegal)
	if err != nil {
		return nil, err
	}
	tok := &Token{SHA256: sha256.Sum256(data)}
	if err := st.Decode(&tok.Claims); err != nil {
		return nil, err
	}
	c := &tok.Claims
	if err := c.check(); err != nil {
		return nil, err
	}

	// 2. Clock.
	now := in.Now
	if err := CheckClock(now, in.ClockSynced, in.TimeFloor); err != nil {
		return nil, err
	}

	// 3. Signatures and quorum.
	if err := countSigners(st, keys, tok); err != nil {
		return nil, err
	}
	if err := checkQuorum(&pol, tok); err != nil {
		return nil, err
	}

	// 4. Claims.
	if err := checkTokenClaims(c, &pol, in.DeviceID, now, tok); err != nil {
		return nil, err
	}

	// 5. Replay.
	if in.Seen(c.ID) {
		return nil, refuse(ReasonReplayed, "jti %s was accepted before", c.ID)
	}
	return tok, nil
}

// countSigners verifies each signature alone and records who counted.
func countSigners(st *Statement, keys KeyResolver, tok *Token) error {
	var unknown, revoked int
	for i, kid := range st.KeyIDs {
		k, ok := keys.ResolveKey(kid)
		switch {
		case !ok:
			unknown++
			tok.Ignored = append(tok.Ignored, kid)
			continue
		case k.Revoked:
			revoked++
			tok.Ignored = append(tok.Ignored, kid)
			continue
		}
		if err := st.VerifySignature(i, k.PublicKey); err != nil {
			return err
		}
		tok.Signers = append(tok.Signers, Signer{KeyID: kid, Name: k.Name, Role: k.Role})
	}
	if len(tok.Signers) == 0 {
		if revoked > 0 {
			return refuse(ReasonRevokedKey, "no signature counts: %d by revoked keys, %d by keys the policy does not know", revoked, unknown)
		}
		return refuse(ReasonUnknownKey, "no signature is by a key the trust policy knows (kids %s)", strings.Join(tok.Ignored, ", "))
	}
	return nil
}

// checkQuorum counts distinct issuers per role.
func checkQuorum(pol *Policy, tok *Token) error {
	names := map[string]bool{}
	perRole := map[string]map[string]bool{}
	for _, s := range tok.Signers {
		names[s.Name] = true
		if perRole[s.Role] == nil {
			perRole[s.Role] = map[string]bool{}
		}
		perRole[s.Role][s.Name] = true
	}
	var short []string
	for _, role := range sortedRoles(pol.Quorum) {
		if got, want := len(perRole[role]), pol.Quorum[role]; got < want {
			short = append(short, fmt.Sprintf("%s: %d of %d", role, got, want))
		}
	}
	if len(short) > 0 {
		return refuse(ReasonQuorumNotMet, "distinct issuers per role below the policy's quorum (%s)", strings.Join(short, "; "))
	}
	if len(names) < 2 {
		return refuse(ReasonQuorumNotMet, "%d distinct issuer signed; at least 2 are needed", len(names))
	}
	return nil
}

// checkTokenClaims is step 4, in DESIGN.md's order.
func checkTokenClaims(c *TokenClaims, pol *Policy, deviceID string, now time.Time, tok *Token) error {
	if c.Audience != deviceID {
		return refuse(ReasonWrongAudience, "aud %s is not this device (%s)", shorten(c.Audience), deviceID)
	}
	if now.Before(c.NotBefore.Time()) {
		return refuse(ReasonNotYetValid, "nbf %s is after now (%s)", fmtTime(c.NotBefore.Time()), fmtTime(now))
	}
	if c.IssuedAt.Time().After(now.Add(clockSkew)) {
		return refuse(ReasonNotYetValid, "iat %s is ahead of now (%s)", fmtTime(c.IssuedAt.Time()), fmtTime(now))
	}
	if !now.Before(c.Expiry.Time()) {
		return refuse(ReasonExpired, "exp %s is not after now (%s)", fmtTime(c.Expiry.Time()), fmtTime(now))
	}
	life := c.Expiry.Time().Sub(c.IssuedAt.Time())
	if life > time.Duration(pol.MaxTokenLifetime) {
		return refuse(ReasonLifetimeExceedsPolicy, "exp - iat is %s; the policy allows %s", fmtDur(life), pol.MaxTokenLifetime)
	}
	span := c.Scope.Until.Sub(c.Scope.From)
	if span > time.Duration(pol.MaxScopeSpan) {
		return refuse(ReasonScopeSpanExceedsPolicy, "the scope spans %s; the policy allows %s", fmtDur(span), pol.MaxScopeSpan)
	}
	if c.Scope.Until.After(now.Add(clockSkew)) {
		return refuse(ReasonScopeInFuture, "scope.until %s is in the future (now %s); a token covers footage already recorded", fmtTime(c.Scope.Until), fmtTime(now))
	}
	if c.Scope.Live {
		return refuse(ReasonScopeInFuture, "scope.live: a legal token covers footage already recorded, not the live view")
	}
	if c.Basis == BasisEmergency {
		if life > time.Duration(pol.Emergency.MaxLifetime) {
			return refuse(ReasonLifetimeExceedsPolicy, "emergency token: exp - iat is %s; the policy allows %s", fmtDur(life), pol.Emergency.MaxLifetime)
		}
		if span > time.Duration(pol.Emergency.MaxScopeSpan) {
			return refuse(ReasonScopeSpanExceedsPolicy, "emergency token: the scope spans %s; the policy allows %s", fmtDur(span), pol.Emergency.MaxScopeSpan)
		}
		if c.NotifyAfter != nil {
			return refuse(ReasonEmergencyDelay, "an emergency token cannot delay the owner's notice")
		}
	}
	if c.NotifyAfter != nil {
		if limit := now.Add(time.Duration(pol.MaxNoticeDelay)); c.NotifyAfter.After(limit) {
			return refuse(ReasonNoticeDelayExceedsCap, "notify_after %s is beyond the policy's cap of %s from now (%s)", fmtTime(*c.NotifyAfter), pol.MaxNoticeDelay, fmtTime(limit))
		}
	}
	rs, err := ParseRecipients([]string{c.Recipient})
	if err != nil || strings.TrimSpace(c.Recipient) != c.Recipient {
		return refuse(ReasonBadRecipient, "recipient %s is not an age X25519 (age1...) or hybrid (age1pq1...) recipient", shorten(c.Recipient))
	}
	fam, err := FamilyOf(rs[0])
	if err != nil {
		return refuse(ReasonBadRecipient, "%v", err)
	}
	if !pol.allowsRecipient(fam) {
		return refuse(ReasonRecipientTypeNotAllowed, "the recipient is %s; the policy allows only %s recipients", fam, strings.Join(pol.AllowedRecipients, ", "))
	}
	tok.Recipient, tok.Family = rs[0], fam
	return nil
}

// NewJTI returns a fresh random statement ID (128 bits, base32).
func NewJTI() string { return strings.ToLower(rand.Text()) }

// IssueToken signs a legal-process token with an issuer key; kid must be
// KeyID of its public half. The claims must be well formed (the checks of
// VerifyToken's step 1); the policy checks happen on the device.
func IssueToken(claims TokenClaims, key ed25519.PrivateKey, kid string) ([]byte, error) {
	if err := claims.check(); err != nil {
		return nil, err
	}
	return Sign(KindLegal, &claims, key, kid)
}

// CosignToken adds an issuer's signature to a token over the same payload,
// refusing a token that kid already signed or that is not well formed.
func CosignToken(token []byte, key ed25519.PrivateKey, kid string) ([]byte, error) {
	if _, err := InspectToken(token); err != nil {
		return nil, err
	}
	return Cosign(token, KindLegal, key, kid)
}

// TokenSummary is what "doorwardctl token inspect" shows: the claims and
// the kids of the signatures, NOT verified (inspect has no policy).
type TokenSummary struct {
	Claims TokenClaims
	KeyIDs []string
}

// InspectToken parses a token and its claims without verifying any
// signature. Use it to show a token, never to act on one.
func InspectToken(data []byte) (*TokenSummary, error) {
	st, err := ParseStatement(data, KindLegal)
	if err != nil {
		return nil, err
	}
	s := &TokenSummary{KeyIDs: slices.Clone(st.KeyIDs)}
	if err := st.Decode(&s.Claims); err != nil {
		return nil, err
	}
	if err := s.Claims.check(); err != nil {
		return nil, err
	}
	return s, nil
}

// String renders the summary for a terminal. Free text was checked to
// hold no control characters.
func (s *TokenSummary) String() string {
	c := &s.Claims
	var b strings.Builder
	fmt.Fprintf(&b, "legal-process token (signatures NOT verified)\n")
	fmt.Fprintf(&b, "jti:          %s\n", c.ID)
	fmt.Fprintf(&b, "device:       %s\n", c.Audience)
	fmt.Fprintf(&b, "basis:        %s\n", c.Basis)
	fmt.Fprintf(&b, "case:         %s\n", c.Case)
	fmt.Fprintf(&b, "jurisdiction: %s\n", c.Jurisdiction)
	fmt.Fprintf(&b, "order sha256: %s\n", c.OrderSHA256)
	fmt.Fprintf(&b, "issued:       %s\n", fmtTime(c.IssuedAt.Time()))
	fmt.Fprintf(&b, "valid:        %s to %s\n", fmtTime(c.NotBefore.Time()), fmtTime(c.Expiry.Time()))
	fmt.Fprintf(&b, "scope:        %s to %s, %s\n", fmtTime(c.Scope.From), fmtTime(c.Scope.Until), strings.Join(c.Scope.Media, ", "))
	fmt.Fprintf(&b, "recipient:    %s\n", c.Recipient)
	if c.NotifyAfter != nil {
		fmt.Fprintf(&b, "notify after: %s\n", fmtTime(*c.NotifyAfter))
	} else {
		fmt.Fprintf(&b, "notify after: immediately\n")
	}
	fmt.Fprintf(&b, "preserve:     %t\n", c.Preserve)
	for i, k := range s.KeyIDs {
		fmt.Fprintf(&b, "signature %d:  kid %s\n", i+1, k)
	}
	return b.String()
}
