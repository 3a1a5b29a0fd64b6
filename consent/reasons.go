package consent

import (
	"errors"
	"fmt"
)

// Reason is the stable code of a refusal. It is what the LAN API returns in
// {"reason": ...}, what the audit log records, and what tests assert on; the
// strings never change meaning once released.
type Reason string

// Refusal reasons. The first group is decided before any signature is
// checked (see Reason.Unauthenticated).
const (
	// Envelope and header rules (DESIGN.md "Signed statements").
	ReasonBodyTooLarge        Reason = "body-too-large"
	ReasonMalformed           Reason = "malformed"
	ReasonTooManySignatures   Reason = "too-many-signatures"
	ReasonUnprotectedHeader   Reason = "unprotected-header"
	ReasonBadAlg              Reason = "bad-alg"
	ReasonForbiddenHeader     Reason = "forbidden-header"
	ReasonBadTyp              Reason = "bad-typ"
	ReasonDuplicateKey        Reason = "duplicate-key"
	ReasonUnknownField        Reason = "unknown-field"
	ReasonClockUnsynced       Reason = "clock-unsynced"
	ReasonClockBelowFloor     Reason = "clock-below-floor"
	ReasonUnknownKey          Reason = "unknown-key"
	ReasonRevokedKey          Reason = "revoked-key"
	ReasonBadSignature        Reason = "bad-signature"
	ReasonWrongSignatureCount Reason = "wrong-signature-count"

	// Reasons decided after at least one signature verified.
	ReasonQuorumNotMet            Reason = "quorum-not-met"
	ReasonWrongAudience           Reason = "wrong-audience"
	ReasonExpired                 Reason = "expired"
	ReasonNotYetValid             Reason = "not-yet-valid"
	ReasonLifetimeExceedsPolicy   Reason = "lifetime-exceeds-policy"
	ReasonScopeSpanExceedsPolicy  Reason = "scope-span-exceeds-policy"
	ReasonScopeInFuture           Reason = "scope-in-future"
	ReasonEmergencyDelay          Reason = "emergency-delay"
	ReasonNoticeDelayExceedsCap   Reason = "notice-delay-exceeds-cap"
	ReasonBadRecipient            Reason = "bad-recipient"
	ReasonRecipientTypeNotAllowed Reason = "recipient-type-not-allowed"
	ReasonReplayed                Reason = "replayed"
	// ReasonUnknownGrant: a revocation or live statement names no grant
	// the device holds.
	ReasonUnknownGrant Reason = "unknown-grant"
	// ReasonGrantInactive: the grant was revoked, expired, used up, or
	// its window does not cover now.
	ReasonGrantInactive Reason = "grant-inactive"
	// ReasonLiveNotGranted: a live statement signed by a grantee whose
	// grant does not include live view.
	ReasonLiveNotGranted Reason = "live-not-granted"
	// ReasonBindingMismatch: a live statement binds another offer's DTLS
	// fingerprint than the one it came with.
	ReasonBindingMismatch Reason = "binding-mismatch"
	// ReasonMediaNotRecorded: a grant asks for media the device does not
	// record (snapshots), which it could never disclose.
	ReasonMediaNotRecorded Reason = "media-not-recorded"
)

// Unauthenticated reports whether a refusal for r is decided before any
// signature by a trusted, unrevoked key has verified: anyone can provoke
// it, so the audit log aggregates these per minute instead of writing a
// leaf each. The clock refusals are among them: the clock is checked before
// the signatures (DESIGN.md order), so nothing is known about the signers.
// quorum-not-met is authenticated: at least one trusted signature verified.
func (r Reason) Unauthenticated() bool {
	switch r {
	case ReasonBodyTooLarge, ReasonMalformed, ReasonTooManySignatures,
		ReasonUnprotectedHeader, ReasonBadAlg, ReasonForbiddenHeader,
		ReasonBadTyp, ReasonDuplicateKey, ReasonUnknownField,
		ReasonClockUnsynced, ReasonClockBelowFloor, ReasonUnknownKey,
		ReasonRevokedKey, ReasonBadSignature, ReasonWrongSignatureCount:
		return true
	}
	return false
}

// Error is a refusal: a stable Reason and a human-readable detail. Its
// message is "consent: <reason>: <detail>". Detail may quote (shortened)
// parts of the refused input but never key material.
type Error struct {
	Reason Reason
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "consent: " + string(e.Reason)
	}
	return "consent: " + string(e.Reason) + ": " + e.Detail
}

// Is makes errors.Is(err, ErrReplayed) and the other sentinels match any
// refusal with the same reason, whatever its detail.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Detail == "" && t.Reason == e.Reason
}

// Sentinels for the refusals callers branch on; compare with errors.Is.
// Every refusal carries a Reason; use ReasonOf for the others.
var (
	ErrReplayed     = &Error{Reason: ReasonReplayed}
	ErrExpired      = &Error{Reason: ReasonExpired}
	ErrQuorumNotMet = &Error{Reason: ReasonQuorumNotMet}
	ErrBadSignature = &Error{Reason: ReasonBadSignature}
	ErrUnknownKey   = &Error{Reason: ReasonUnknownKey}
	ErrRevokedKey   = &Error{Reason: ReasonRevokedKey}
)

// ReasonOf returns the Reason of a refusal anywhere in err's chain, or ""
// when err is nil or not a refusal (an internal error, e.g. a nil policy).
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// Unauthenticated reports whether err is a refusal decided before any
// trusted signature verified (see Reason.Unauthenticated).
func Unauthenticated(err error) bool {
	r := ReasonOf(err)
	return r != "" && r.Unauthenticated()
}

// refuse builds a refusal.
func refuse(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// within prefixes a refusal's detail with where it was found ("payload",
// "signature 2"), keeping its reason; other errors are wrapped.
func within(where string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return &Error{Reason: e.Reason, Detail: where + ": " + e.Detail}
	}
	return fmt.Errorf("%s: %w", where, err)
}
