package consent

import (
	"fmt"
	"slices"
	"time"
)

// Lifetime caps of owner statements that authorize one action now.
const (
	// MaxLiveLifetime bounds exp - iat of live and login statements: they
	// are bearer credentials, single use by jti, and should die quickly.
	MaxLiveLifetime = 10 * time.Minute
	// MaxResetLifetime bounds exp - iat of a reset statement.
	MaxResetLifetime = time.Hour
	// MaxBackupLifetime bounds exp - iat of a backup statement: it acts
	// once, when it arrives.
	MaxBackupLifetime = time.Hour
	// MaxGrantUses bounds a grant's uses.
	MaxGrantUses = 10000
)

// GrantClaims is an owner's grant: Grantee may fetch, re-wrapped for
// Recipient, the footage in Scope, at most Uses times, until exp.
type GrantClaims struct {
	Claims
	// Grantee is the grantee's Ed25519 key in FormatIssuerKey form; the
	// grantee proves possession of it when using the grant.
	Grantee string `json:"grantee"`
	// Recipient is the grantee's age recipient.
	Recipient string `json:"recipient"`
	Scope     Scope  `json:"scope"`
	// Uses is how many times the grant may be used, 1 to MaxGrantUses.
	Uses int `json:"uses"`
}

func (c *GrantClaims) check() error {
	if err := c.Claims.check(); err != nil {
		return err
	}
	if _, err := ParseIssuerKey(c.Grantee); err != nil {
		return refuse(ReasonMalformed, "grantee: expected ed25519:<base64 of 32 bytes>")
	}
	if c.Recipient == "" {
		return refuse(ReasonMalformed, "recipient is required (age1... or age1pq1...)")
	}
	if err := c.Scope.check(); err != nil {
		return err
	}
	if c.Uses < 1 || c.Uses > MaxGrantUses {
		return refuse(ReasonMalformed, "uses %d: expected 1 to %d", c.Uses, MaxGrantUses)
	}
	return nil
}

// RevokeClaims revokes the grant whose jti is Grant.
type RevokeClaims struct {
	Claims
	Grant string `json:"grant"`
}

func (c *RevokeClaims) check() error {
	if err := c.Claims.check(); err != nil {
		return err
	}
	if !validJTI(c.Grant) {
		return refuse(ReasonMalformed, "grant %s: expected the jti of a grant", shorten(c.Grant))
	}
	return nil
}

// PolicyClaims replaces the device's trust policy.
type PolicyClaims struct {
	Claims
	Policy Policy `json:"policy"`
}

func (c *PolicyClaims) check() error {
	if err := c.Claims.check(); err != nil {
		return err
	}
	if err := c.Policy.Validate(); err != nil {
		return refuse(ReasonMalformed, "policy: %v", err)
	}
	return nil
}

// ResetClaims orders a factory reset.
type ResetClaims struct {
	Claims
}

func (c *ResetClaims) check() error { return c.Claims.check() }

// BackupClaims turns the owner-consented cloud backup on or off. While
// it is on, every new clip's pieces of the named media are uploaded
// through the uplink, re-wrapped for the owner recipients alone.
type BackupClaims struct {
	Claims
	On bool `json:"on"`
	// Media is what is backed up (video; the device records nothing
	// else yet). Required when On; when off it must be empty or valid.
	Media []string `json:"media,omitempty"`
}

func (c *BackupClaims) check() error {
	if err := c.Claims.check(); err != nil {
		return err
	}
	if c.On && len(c.Media) == 0 {
		return refuse(ReasonMalformed, "media is empty; turning backup on names one or more of video, audio, snapshot")
	}
	for i, m := range c.Media {
		switch m {
		case MediaVideo, MediaAudio, MediaSnapshot:
		default:
			return refuse(ReasonMalformed, "media[%d] %s; valid: video, audio, snapshot", i, shorten(m))
		}
		if slices.Contains(c.Media[:i], m) {
			return refuse(ReasonMalformed, "media names %q twice", m)
		}
	}
	return nil
}

// EnrollClaims adds another owner device: its signing key and age
// recipient. It must be signed by an already enrolled owner key.
type EnrollClaims struct {
	Claims
	// Key is the new owner device's signing key in FormatIssuerKey form.
	Key       string `json:"key"`
	Recipient string `json:"recipient"`
}

func (c *EnrollClaims) check() error {
	if err := c.Claims.check(); err != nil {
		return err
	}
	if _, err := ParseIssuerKey(c.Key); err != nil {
		return refuse(ReasonMalformed, "key: expected ed25519:<base64 of 32 bytes>")
	}
	if c.Recipient == "" {
		return refuse(ReasonMalformed, "recipient is required (age1... or age1pq1...)")
	}
	return nil
}

// LiveClaims authorizes one live-view session: the bearer of a WHEP
// offer. DTLSFingerprint is the offer's a=fingerprint value (e.g.
// "sha-256 AB:CD:..."), so a sniffed statement is useless with another
// offer.
type LiveClaims struct {
	Claims
	DTLSFingerprint string `json:"dtls_fingerprint"`
}

func (c *LiveClaims) check() error {
	if err := c.Claims.check(); err != nil {
		return err
	}
	return text("dtls_fingerprint", c.DTLSFingerprint, 256)
}

// LoginClaims authorizes one owner session on the LAN API.
type LoginClaims struct {
	Claims
}

func (c *LoginClaims) check() error { return c.Claims.check() }

type ownerClaims interface {
	check() error
	base() *Claims
}

func (c *Claims) base() *Claims { return c }

// OwnerStatement is an owner-signed statement that verified.
type OwnerStatement struct {
	Kind string
	// KeyID and Signer name the enrolled owner key that signed.
	KeyID  string
	Signer KeyInfo
	// Claims is *GrantClaims, *RevokeClaims, *PolicyClaims, *ResetClaims,
	// *BackupClaims, *EnrollClaims, *LiveClaims, *LoginClaims or
	// *FetchClaims, following Kind.
	Claims any
}

// VerifyOwnerStatement verifies a statement of an owner-signed kind
// (grant, revoke, policy, reset, backup, enroll, live, login): ParseStatement's
// rules; strict decoding and well-formed claims; exactly one signature
// (wrong-signature-count); by a key owners knows (unknown-key) and has not
// revoked (revoked-key); that verifies (bad-signature); aud equal to the
// device ID (wrong-audience); iat not ahead of now by more than a few
// minutes and now before exp (not-yet-valid, expired); live and login
// within MaxLiveLifetime, reset within MaxResetLifetime, backup within
// MaxBackupLifetime
// (lifetime-exceeds-policy); a grant's or enrollment's recipient parses
// (bad-recipient). Replay (jti) and revocation of grants are the caller's:
// they need the store.
func VerifyOwnerStatement(data []byte, kind string, owners KeyResolver, now time.Time, aud string) (*OwnerStatement, error) {
	var c ownerClaims
	var maxLife time.Duration
	var recipient *string
	switch kind {
	case KindGrant:
		g := &GrantClaims{}
		c, recipient = g, &g.Recipient
	case KindRevoke:
		c = &RevokeClaims{}
	case KindPolicy:
		c = &PolicyClaims{}
	case KindReset:
		c, maxLife = &ResetClaims{}, MaxResetLifetime
	case KindBackup:
		c, maxLife = &BackupClaims{}, MaxBackupLifetime
	case KindEnroll:
		e := &EnrollClaims{}
		c, recipient = e, &e.Recipient
	case KindLive:
		c, maxLife = &LiveClaims{}, MaxLiveLifetime
	case KindLogin:
		c, maxLife = &LoginClaims{}, MaxLiveLifetime
	case KindFetch:
		c, maxLife = &FetchClaims{}, MaxLiveLifetime
	default:
		return nil, fmt.Errorf("consent: %q is not an owner-signed statement kind", kind)
	}
	if owners == nil {
		return nil, fmt.Errorf("consent: VerifyOwnerStatement needs the owner keys")
	}
	st, err := ParseStatement(data, kind)
	if err != nil {
		return nil, err
	}
	if err := st.Decode(c); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	if len(st.KeyIDs) != 1 {
		return nil, refuse(ReasonWrongSignatureCount, "an owner statement has exactly one signature; this one has %d", len(st.KeyIDs))
	}
	kid := st.KeyIDs[0]
	k, ok := owners.ResolveKey(kid)
	switch {
	case !ok:
		return nil, refuse(ReasonUnknownKey, "key %s is not an enrolled owner key", kid)
	case k.Revoked:
		return nil, refuse(ReasonRevokedKey, "owner key %s was revoked", kid)
	}
	if err := st.VerifySignature(0, k.PublicKey); err != nil {
		return nil, err
	}
	b := c.base()
	if b.Audience != aud {
		return nil, refuse(ReasonWrongAudience, "aud %s is not this device (%s)", shorten(b.Audience), aud)
	}
	if b.IssuedAt.Time().After(now.Add(clockSkew)) {
		return nil, refuse(ReasonNotYetValid, "iat %s is ahead of now (%s)", fmtTime(b.IssuedAt.Time()), fmtTime(now))
	}
	if !now.Before(b.Expiry.Time()) {
		return nil, refuse(ReasonExpired, "exp %s is not after now (%s)", fmtTime(b.Expiry.Time()), fmtTime(now))
	}
	if life := b.Expiry.Time().Sub(b.IssuedAt.Time()); maxLife > 0 && life > maxLife {
		return nil, refuse(ReasonLifetimeExceedsPolicy, "a %s statement may live %s; this one %s", kind, fmtDur(maxLife), fmtDur(life))
	}
	if recipient != nil {
		if _, err := ParseRecipients([]string{*recipient}); err != nil {
			return nil, refuse(ReasonBadRecipient, "recipient %s is not an age X25519 (age1...) or hybrid (age1pq1...) recipient", shorten(*recipient))
		}
	}
	return &OwnerStatement{Kind: kind, KeyID: kid, Signer: k, Claims: c}, nil
}

// ID returns the statement's jti, whatever its kind: the key the device
// records it under once accepted, so that it is never accepted twice.
func (s *OwnerStatement) ID() string {
	if c, ok := s.Claims.(ownerClaims); ok {
		return c.base().ID
	}
	return ""
}

// Expiry returns the statement's exp.
func (s *OwnerStatement) Expiry() time.Time {
	if c, ok := s.Claims.(ownerClaims); ok {
		return c.base().Expiry.Time()
	}
	return time.Time{}
}

// FetchClaims authorizes one request of a grantee for what their grant
// disclosed: signed by the grant's grantee key, single use by jti, and
// bound to the request (method and path) it comes with, so that a
// statement seen on the wire fetches nothing else.
type FetchClaims struct {
	Claims
	// Grant is the jti of the grant the grantee fetches under.
	Grant string `json:"grant"`
	// Request is "GET /api/v1/grants/<jti>/disclosures[/<clip>/<piece>]".
	Request string `json:"request"`
}

func (c *FetchClaims) check() error {
	if err := c.Claims.check(); err != nil {
		return err
	}
	if !validJTI(c.Grant) {
		return refuse(ReasonMalformed, "grant %s: expected the jti of a grant", shorten(c.Grant))
	}
	return text("request", c.Request, 512)
}
