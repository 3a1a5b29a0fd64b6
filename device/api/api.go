package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"filippo.io/age"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

// MaxBody bounds every request body the LAN API reads: a statement is at
// most consent.MaxStatementSize bytes.
const MaxBody = consent.MaxStatementSize

// LoginScheme is the Authorization scheme of the owner reads: the header is
// LoginScheme, a space, and the login statement (its JWS JSON, or
// base64url of it).
const LoginScheme = "Doorward"

// OwnerReply is the answer of GET /api/v1/owner: the login in the
// request's Authorization is an enrolled owner's valid, unused login, and
// Owner is that owner's key ID (the kid the login names). Nothing else:
// the relay asks it before serving the owners' backup, and must learn no
// more than whether the login is good.
type OwnerReply struct {
	Owner string `json:"owner"`
}

// Error is the body of every refusal or failure: a stable reason code (a
// consent reason such as "bad-signature", "not-paired", "unknown-grant",
// "malformed", "internal") and the agent's human text.
type Error struct {
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// Info is GET /api/v1/info. It is unauthenticated: an owner compares
// DeviceKey with the key pinned at pairing before trusting anything else.
type Info struct {
	DeviceID string `json:"device_id"`
	// DeviceKey is the device's Ed25519 identity key in
	// consent.FormatIssuerKey form ("ed25519:...").
	DeviceKey string `json:"device_key"`
	Paired    bool   `json:"paired"`
	Version   string `json:"version"`
}

// GrantReply answers an accepted grant: its jti and how many disclosures
// (one per clip) it started.
type GrantReply struct {
	JTI         string `json:"jti"`
	Disclosures int    `json:"disclosures"`
	// Follows is true when the grant's window reaches into the future:
	// segments committed inside it keep being disclosed until its until,
	// its expiry or its revocation.
	Follows bool `json:"follows,omitempty"`
	// Where says where the disclosures go: the device's disclosure
	// directory for the grant ("<state>/disclosures/<jti>", one
	// subdirectory per clip), or the relay's store when an uplink
	// delivers them.
	Where string `json:"where,omitempty"`
}

// RevokeReply answers an accepted revocation with the revoked grant's jti.
type RevokeReply struct {
	Grant string `json:"grant"`
}

// LegalReply answers an accepted legal-process token with its jti.
type LegalReply struct {
	JTI string `json:"jti"`
}

// PolicyReply answers an accepted policy statement with the new policy's
// hash (lower-case hex SHA-256, consent.Policy.Hash).
type PolicyReply struct {
	Hash string `json:"hash"`
}

// BackupReply answers an accepted backup statement with the cloud
// backup's new state. Uplink is false when the device has no uplink
// (mqtt.broker is empty): the owner's choice is recorded, but nothing is
// uploaded until an uplink is configured.
type BackupReply struct {
	On     bool     `json:"on"`
	Media  []string `json:"media,omitempty"`
	JTI    string   `json:"jti"`
	Uplink bool     `json:"uplink"`
}

// EnrollReply answers an accepted enrollment with the new key's kid.
type EnrollReply struct {
	KID string `json:"kid"`
}

// PolicyInfo is the trust policy in force, or the one the device proposes
// before pairing (Approved false), with its hash.
type PolicyInfo struct {
	Policy   consent.Policy `json:"policy"`
	Hash     string         `json:"hash"`
	Approved bool           `json:"approved"`
}

// Notice is one owner notice as the API returns it: the body stays
// age-encrypted to the owners (DecryptNotice opens it).
type Notice struct {
	ID        uint64    `json:"id"`
	Created   time.Time `json:"created"`
	ReleaseAt time.Time `json:"release_at"`
	Body      []byte    `json:"body"`
}

// NoticeBody is what a notice says once decrypted: a disclosure (Kind
// "grant" or "legal") or a status change of the device ("status").
type NoticeBody struct {
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`      // "grant", "legal" or "status"
	Authority string    `json:"authority"` // the grant's or token's jti
	Recipient string    `json:"recipient"` // who receives the footage
	Basis     string    `json:"basis,omitempty"`
	Case      string    `json:"case,omitempty"`
	Issuers   []string  `json:"issuers,omitempty"`
	From      time.Time `json:"from"`
	Until     time.Time `json:"until"`
	Segments  int       `json:"segments"`
	Clips     []string  `json:"clips,omitempty"`
	Preserve  bool      `json:"preserve,omitempty"`
	Strict    bool      `json:"strict,omitempty"` // vault: none, ciphertext only the owners can open
	Note      string    `json:"note,omitempty"`
}

// maxNoticeBody bounds a decrypted notice body.
const maxNoticeBody = 1 << 20

// DecryptNotice opens a notice body with the owner's identities.
func DecryptNotice(ciphertext []byte, ids ...age.Identity) (NoticeBody, error) {
	var b NoticeBody
	r, err := age.Decrypt(bytes.NewReader(ciphertext), ids...)
	if err != nil {
		return b, fmt.Errorf("api: notice: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(r, maxNoticeBody))
	if err != nil {
		return b, fmt.Errorf("api: notice: %w", err)
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return b, fmt.Errorf("api: notice: %w", err)
	}
	return b, nil
}

// Disclosure is one disclosure job as the owner sees it: the pieces of one
// clip re-wrapped for one recipient and delivered. A job whose owner
// notice is still delayed is not listed.
type Disclosure struct {
	ID        string    `json:"id"`
	Authority string    `json:"authority"` // "grant:<jti>" or "legal:<jti>"
	Recipient string    `json:"recipient"`
	Clip      string    `json:"clip"`
	ClipDir   string    `json:"clip_dir"` // relative to the clips directory
	Segments  []int     `json:"segments"`
	Created   time.Time `json:"created"`
	// State is pending, running, delivered or failed.
	State string `json:"state"`
	// Attempts counts the deliveries tried; NextAttempt is when a pending
	// job is due.
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	Done        time.Time `json:"done,omitzero"` // delivered or failed
	Files       []string  `json:"files,omitempty"`
	Strict      bool      `json:"strict,omitempty"`
	// Error says why a job failed, or what a delivered one lacks.
	Error string `json:"error,omitempty"`
	// Delayed is true while the owner notice for this disclosure is held
	// back: the audit log then shows commitments, not the disclosure.
	Delayed bool   `json:"delayed,omitempty"`
	Notice  uint64 `json:"notice"`
	// Dir is the job's directory under the device's disclosures
	// directory: "<jti>/<clip>" (jobs of earlier releases: the job ID).
	Dir string `json:"dir,omitempty"`
	// Uploaded is true for a delivered job whose pieces went to the
	// relay's store (the uplink) rather than into Dir on the device.
	Uploaded bool `json:"uploaded,omitempty"`
}

// GET /api/v1/disclosures is paged: ?after=ID (the last job of the previous
// page), ?limit=N (1 to MaxDisclosurePage), ?unfinished=1 (pending and
// running jobs only); the NextHeader of the answer names the next page's
// after.
const (
	MaxDisclosurePage = 1000
	NextHeader        = "Doorward-Next"
)

// AuditReply is GET /api/v1/audit[?since=N]: a signed checkpoint, the
// entries from From on (From is N, or 0 for the whole log), the RFC 6962
// consistency proof from the tree of size N to the checkpoint's, and the
// refusals counted but not yet logged. With since the download is bounded
// by what the log added since the owner's last verification.
type AuditReply struct {
	Checkpoint audit.SignedCheckpoint `json:"checkpoint"`
	// From is the index of Entries[0]: the since asked for (0: the whole
	// log).
	From        uint64        `json:"from"`
	Entries     []audit.Entry `json:"entries"`
	Consistency [][]byte      `json:"consistency,omitempty"`
	// PendingRefusals are unauthenticated refusals counted but not yet
	// flushed into the log, by reason.
	PendingRefusals map[string]uint64 `json:"pending_refusals,omitempty"`
}
