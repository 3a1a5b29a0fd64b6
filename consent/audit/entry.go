package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// Kind is what an entry records.
type Kind string

// The kinds of decision the device logs.
const (
	KindPairing       Kind = "pairing"
	KindEnroll        Kind = "enroll"
	KindGrantAccepted Kind = "grant-accepted"
	KindGrantRefused  Kind = "grant-refused"
	KindRevoke        Kind = "revoke"
	KindTokenAccepted Kind = "token-accepted"
	KindTokenRefused  Kind = "token-refused"
	KindDisclosure    Kind = "disclosure"
	KindPolicyChange  Kind = "policy-change"
	// KindBackupChange: an owner turned the cloud backup on or off.
	KindBackupChange      Kind = "backup-change"
	KindFactoryReset      Kind = "factory-reset"
	KindLiveSession       Kind = "live-session"
	KindRefusalsAggregate Kind = "refusals-aggregate"
	KindCommitment        Kind = "commitment"
	KindOpening           Kind = "opening"

	// Refusals of authenticated owner statements, one kind per statement
	// kind (grants and tokens have theirs above).
	KindRevokeRefused Kind = "revoke-refused"
	KindPolicyRefused Kind = "policy-refused"
	KindEnrollRefused Kind = "enroll-refused"
	KindResetRefused  Kind = "reset-refused"
	KindBackupRefused Kind = "backup-refused"
	KindLiveRefused   Kind = "live-refused"
	KindLoginRefused  Kind = "login-refused"
	// KindFetchRefused: a grantee's fetch statement that verified and was
	// refused (the grant revoked or expired, another request).
	KindFetchRefused   Kind = "fetch-refused"
	KindPairingRefused Kind = "pairing-refused"
	// KindLiveSessionEnd closes a KindLiveSession (same Subject).
	KindLiveSessionEnd Kind = "live-session-end"
	// KindRecordingStopped: footage on legal hold fills the store.
	KindRecordingStopped Kind = "recording-stopped"
)

var knownKinds = map[Kind]bool{
	KindPairing: true, KindEnroll: true, KindGrantAccepted: true, KindGrantRefused: true,
	KindRevoke: true, KindTokenAccepted: true, KindTokenRefused: true, KindDisclosure: true,
	KindPolicyChange: true, KindFactoryReset: true, KindLiveSession: true,
	KindRefusalsAggregate: true, KindCommitment: true, KindOpening: true,
	KindRevokeRefused: true, KindPolicyRefused: true, KindEnrollRefused: true, KindResetRefused: true,
	KindLiveRefused: true, KindLoginRefused: true, KindPairingRefused: true, KindLiveSessionEnd: true,
	KindRecordingStopped: true, KindBackupChange: true, KindBackupRefused: true, KindFetchRefused: true,
}

// Known reports whether k is one of the kinds this version logs. Decoding
// accepts any well-formed kind, so that an older verifier can still check
// a newer device's log.
func (k Kind) Known() bool { return knownKinds[k] }

// Limits on one entry. A leaf is at most MaxEntrySize bytes encoded; an
// entry that will be committed to is at most MaxCommittedSize, so that its
// opening (which carries it) still fits.
const (
	MaxEntrySize     = 32 << 10
	MaxCommittedSize = 16 << 10
	// MaxFieldSize bounds one string of an entry (a reason, a subject, a
	// detail value).
	MaxFieldSize = maxField
	maxSubjects  = 64
	maxDetails   = 64
	maxField     = 8 << 10
	maxKind      = 32
)

// Entry is one leaf of the log: one decision.
type Entry struct {
	// Seq is the entry's index in the log, set by AppendTx.
	Seq uint64
	// Time is when the decision was made (the device clock); AppendTx sets
	// it when zero. It is stored in UTC with nanoseconds.
	Time time.Time
	// Kind is what was decided.
	Kind Kind
	// Reason is the stable reason code of a refusal, or a short phrase.
	Reason string
	// Subject names what the decision is about: a jti, clip or segment IDs.
	Subject []string
	// Details holds anything else, as strings.
	Details map[string]string
}

// wireEntry is the canonical JSON form of an Entry: the leaf bytes. Field
// order is fixed by the struct, map keys are sorted by encoding/json, the
// time is RFC 3339 in UTC with trailing zeros trimmed.
type wireEntry struct {
	Seq     uint64            `json:"seq"`
	Time    string            `json:"time"`
	Kind    Kind              `json:"kind"`
	Reason  string            `json:"reason,omitempty"`
	Subject []string          `json:"subject,omitempty"`
	Details map[string]string `json:"details,omitempty"`
}

// Canonical returns the entry's leaf bytes: compact JSON in one canonical
// form (fixed field order, sorted detail keys, UTC time). Two entries are
// equal exactly when their canonical forms are.
func (e Entry) Canonical() ([]byte, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	w := wireEntry{
		Seq:     e.Seq,
		Time:    e.Time.UTC().Format(time.RFC3339Nano),
		Kind:    e.Kind,
		Reason:  e.Reason,
		Subject: e.Subject,
		Details: e.Details,
	}
	if len(w.Subject) == 0 {
		w.Subject = nil
	}
	if len(w.Details) == 0 {
		w.Details = nil
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("audit: encode entry: %w", err)
	}
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("%w: entry is %d bytes encoded, limit %d", ErrBadEntry, len(b), MaxEntrySize)
	}
	return b, nil
}

// check validates what the canonical form cannot represent faithfully.
func (e Entry) check() error {
	if e.Kind == "" || len(e.Kind) > maxKind {
		return fmt.Errorf("%w: kind must be 1 to %d characters", ErrBadEntry, maxKind)
	}
	for _, c := range []byte(e.Kind) {
		if (c < 'a' || c > 'z') && c != '-' {
			return fmt.Errorf("%w: kind %q: only a-z and '-'", ErrBadEntry, e.Kind)
		}
	}
	if y := e.Time.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%w: time %v is outside years 1 to 9999", ErrBadEntry, e.Time)
	}
	if err := checkString("reason", e.Reason); err != nil {
		return err
	}
	if len(e.Subject) > maxSubjects {
		return fmt.Errorf("%w: %d subjects, limit %d", ErrBadEntry, len(e.Subject), maxSubjects)
	}
	for _, s := range e.Subject {
		if err := checkString("subject", s); err != nil {
			return err
		}
	}
	if len(e.Details) > maxDetails {
		return fmt.Errorf("%w: %d details, limit %d", ErrBadEntry, len(e.Details), maxDetails)
	}
	for k, v := range e.Details {
		if k == "" {
			return fmt.Errorf("%w: empty detail key", ErrBadEntry)
		}
		if err := checkString("detail key", k); err != nil {
			return err
		}
		if err := checkString("detail "+k, v); err != nil {
			return err
		}
	}
	return nil
}

func checkString(field, s string) error {
	if len(s) > maxField {
		return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrBadEntry, field, len(s), maxField)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrBadEntry, field)
	}
	return nil
}

// DecodeEntry decodes leaf bytes strictly: they must be exactly the
// canonical form of the entry they describe (no unknown fields, no
// duplicate or differently cased keys, no whitespace, no alternative
// escapes or time formats), so that one entry has one leaf hash.
func DecodeEntry(b []byte) (Entry, error) {
	if len(b) > MaxEntrySize {
		return Entry{}, fmt.Errorf("%w: %d bytes, limit %d", ErrBadEntry, len(b), MaxEntrySize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w wireEntry
	if err := dec.Decode(&w); err != nil {
		return Entry{}, fmt.Errorf("%w: %w", ErrBadEntry, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Entry{}, fmt.Errorf("%w: data after the entry", ErrBadEntry)
	}
	t, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: time: %w", ErrBadEntry, err)
	}
	e := Entry{Seq: w.Seq, Time: t.UTC(), Kind: w.Kind, Reason: w.Reason, Subject: w.Subject, Details: w.Details}
	c, err := e.Canonical()
	if err != nil {
		return Entry{}, err
	}
	if !bytes.Equal(c, b) {
		return Entry{}, fmt.Errorf("%w: not in canonical form", ErrBadEntry)
	}
	return e, nil
}

// MarshalJSON returns the canonical form.
func (e Entry) MarshalJSON() ([]byte, error) { return e.Canonical() }

// UnmarshalJSON decodes an entry strictly (see DecodeEntry); whitespace
// between tokens is allowed, as an enclosing document may be indented.
func (e *Entry) UnmarshalJSON(b []byte) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return fmt.Errorf("%w: %w", ErrBadEntry, err)
	}
	d, err := DecodeEntry(buf.Bytes())
	if err != nil {
		return err
	}
	*e = d
	return nil
}
