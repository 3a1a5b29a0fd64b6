// Package gate is where the device decides what may leave it. It verifies
// owner statements (grants, revocations, policy changes, enrollments,
// resets) and legal-process tokens with package consent, and records every
// decision with its consequences in ONE bbolt transaction: the token's jti,
// the audit leaf, the owner notice, the legal hold and the disclosure jobs.
// A refusal burns nothing. The disclosure jobs are then carried out by Run:
// each scoped segment of the vault is re-wrapped for the recipient alone
// (package rewrap) into <state>/disclosures/<id>/.
package gate

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"filippo.io/age"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/consent/audit/auditlog"
	"github.com/doorward/doorward/consent/pairing"
	"github.com/doorward/doorward/device/clock"
)

// Options wire a Gate to the agent.
type Options struct {
	DB       *bbolt.DB
	Vault    *vault.Vault // nil until the device records (unpaired)
	Audit    *auditlog.Log
	DeviceID string
	// VaultIdentity opens the vault's copies of segments for re-wrapping;
	// nil in strict mode (vault: none), where disclosures are ciphertext
	// only the owners can open.
	VaultIdentity age.Identity
	// DisclosureDir receives the re-wrapped pieces.
	DisclosureDir string
	// ClockSynced reports whether the kernel says the clock is
	// synchronized (the sim board may override it).
	ClockSynced func() bool
	// HoldMargin is how long past a preserving token's expiry its legal
	// hold lasts (retention.hold_margin).
	HoldMargin time.Duration
	Clock      clock.Clock
	// Uptime returns the monotonic time since the agent started; the
	// notice cap is also enforced on accumulated uptime.
	Uptime func() time.Duration
	Log    *slog.Logger
}

// Gate holds the device's consent state. It is safe for concurrent use.
type Gate struct {
	opts Options
	log  *slog.Logger
	db   *bbolt.DB
	clk  clock.Clock

	mu         sync.Mutex
	uptimeBase time.Duration // accumulated before this run
	vault      *vault.Vault
	wake       chan struct{}
	onOwners   func([]string)
	logins     map[string]time.Time // login jtis used, until they expire
}

// Open creates the gate's buckets and loads its accumulated uptime.
func Open(opts Options) (*Gate, error) {
	if opts.DB == nil || opts.Audit == nil || opts.DeviceID == "" {
		return nil, errors.New("gate: DB, Audit and DeviceID are required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.ClockSynced == nil {
		opts.ClockSynced = func() bool { return false }
	}
	if opts.Uptime == nil {
		start := time.Now()
		opts.Uptime = func() time.Duration { return time.Since(start) }
	}
	g := &Gate{opts: opts, log: opts.Log, db: opts.DB, clk: opts.Clock, vault: opts.Vault, wake: make(chan struct{}, 1)}
	err := g.db.Update(func(tx *bbolt.Tx) error {
		if err := createBuckets(tx); err != nil {
			return err
		}
		if v := tx.Bucket(bucketMeta).Get(keyUptime); len(v) == 8 {
			g.uptimeBase = time.Duration(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gate: %w", err)
	}
	return g, nil
}

// SetVault attaches the vault once the device records.
func (g *Gate) SetVault(v *vault.Vault) {
	g.mu.Lock()
	g.vault = v
	g.mu.Unlock()
}

// SetVaultIdentity sets the identity that opens the vault's copies (nil in
// strict mode).
func (g *Gate) SetVaultIdentity(id age.Identity) {
	g.mu.Lock()
	g.opts.VaultIdentity = id
	g.mu.Unlock()
}

func (g *Gate) vaultIdentity() age.Identity {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.opts.VaultIdentity
}

// OnOwnersChanged registers fn, called with the owner recipients after a
// pairing or an enrollment changed them.
func (g *Gate) OnOwnersChanged(fn func(recipients []string)) {
	g.mu.Lock()
	g.onOwners = fn
	g.mu.Unlock()
}

// uptime is the agent's accumulated uptime across runs.
func (g *Gate) uptime() time.Duration { return g.uptimeBase + g.opts.Uptime() }

// SaveUptime persists the accumulated uptime; the agent calls it
// periodically and on shutdown.
func (g *Gate) SaveUptime() error {
	return g.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyUptime, u64key(uint64(g.uptime())))
	})
}

// Paired reports whether an owner is installed.
func (g *Gate) Paired() (bool, error) {
	owners, err := g.Owners()
	return len(owners) > 0, err
}

// Owners returns the enrolled owners.
func (g *Gate) Owners() ([]Owner, error) {
	var out []Owner
	err := g.db.View(func(tx *bbolt.Tx) error {
		var err error
		out, err = list[Owner](tx, bucketOwner)
		return err
	})
	return out, err
}

// OwnerRecipients returns every owner's age recipients, deduplicated.
func (g *Gate) OwnerRecipients() ([]string, error) {
	owners, err := g.Owners()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range owners {
		for _, r := range o.Recipients {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

func (g *Gate) ownerKeys(tx *bbolt.Tx) (consent.KeySet, error) {
	owners, err := list[Owner](tx, bucketOwner)
	if err != nil {
		return nil, err
	}
	set := consent.KeySet{}
	for _, o := range owners {
		pub, err := consent.ParseIssuerKey(o.SigningKey)
		if err != nil {
			return nil, fmt.Errorf("gate: stored owner %s: %w", o.KeyID, err)
		}
		set.Add(consent.KeyInfo{PublicKey: pub, Name: o.KeyID})
	}
	return set, nil
}

// Policy returns the trust policy the owner approved, and false when there
// is none yet (unpaired).
func (g *Gate) Policy() (consent.Policy, bool, error) {
	var p consent.Policy
	var ok bool
	err := g.db.View(func(tx *bbolt.Tx) error {
		var err error
		ok, err = get(tx, bucketPolicy, keyPolicy, &p)
		return err
	})
	return p, ok, err
}

// InstallOwner records a completed pairing: the owner, the trust policy the
// owner approved (whose exact JSON the transcript's hash covers) and the
// audit leaf, in one transaction. It refuses when an owner exists.
func (g *Gate) InstallOwner(o pairing.Owner, policyJSON []byte) error {
	var policy consent.Policy
	if err := json.Unmarshal(policyJSON, &policy); err != nil {
		return fmt.Errorf("gate: approved policy: %w", err)
	}
	if policy.Hash() != o.PolicyHash {
		return errors.New("gate: the owner approved a different policy than the one proposed")
	}
	kid := consent.KeyID(o.SigningKey)
	now := g.clk.Now()
	err := g.db.Update(func(tx *bbolt.Tx) error {
		if k, _ := tx.Bucket(bucketOwner).Cursor().First(); k != nil {
			return pairing.ErrAlreadyPaired
		}
		owner := Owner{KeyID: kid, SigningKey: consent.FormatIssuerKey(o.SigningKey), Recipients: o.Recipients, Enrolled: now}
		if err := put(tx, bucketOwner, []byte(kid), owner); err != nil {
			return err
		}
		if err := put(tx, bucketPolicy, keyPolicy, policy); err != nil {
			return err
		}
		h := policy.Hash()
		_, err := g.opts.Audit.AppendTx(tx, audit.Entry{
			Time: now, Kind: audit.KindPairing, Subject: []string{kid},
			Details: map[string]string{
				"recipients":  fmt.Sprint(o.Recipients),
				"policy_hash": fmt.Sprintf("%x", h),
				"transcript":  fmt.Sprintf("%x", sha256Sum(o.Transcript)),
				"signature":   fmt.Sprintf("%x", o.Signature),
			},
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("gate: installing owner: %w", err)
	}
	g.log.Info("paired", "owner", kid, "recipients", len(o.Recipients))
	g.ownersChanged()
	return nil
}

func (g *Gate) ownersChanged() {
	g.mu.Lock()
	fn := g.onOwners
	g.mu.Unlock()
	if fn == nil {
		return
	}
	if rs, err := g.OwnerRecipients(); err == nil {
		fn(rs)
	}
}

// refused records a refusal of the statement data in the audit log and
// returns err. Neither kind is one leaf per attempt, since both can be
// replayed in a loop by anyone on the LAN: unauthenticated refusals are
// counted per reason and minute; authenticated ones (a signature verified)
// get one leaf per (reason, statement) and minute, repeats counted (see
// audit.Log.RecordRefusal).
func (g *Gate) refused(kind audit.Kind, subject string, data []byte, err error) error {
	reason := string(consent.ReasonOf(err))
	if reason == "" {
		return err // an internal error, not a decision
	}
	var aerr error
	if consent.Unauthenticated(err) {
		aerr = g.opts.Audit.RecordUnauthenticated(reason)
	} else {
		aerr = g.opts.Audit.RecordRefusal(auditlog.Refusal{Kind: kind, Reason: reason, Subject: subject, Statement: statementHash(data)})
	}
	if aerr != nil {
		g.log.Error("audit: recording a refusal", "err", aerr)
	}
	return err
}

// statementHash is the SHA-256 of a statement's signed payload, which
// every replay and re-encoding of the statement shares (the payload's
// base64url is strict, so one payload has one encoding). Data that is not
// a JWS (it verified, so this does not happen) hashes whole.
func statementHash(data []byte) [32]byte {
	var env struct {
		Payload string `json:"payload"`
	}
	if json.Unmarshal(data, &env) == nil {
		if p, err := base64.RawURLEncoding.DecodeString(env.Payload); err == nil && len(p) > 0 {
			return sha256.Sum256(p)
		}
	}
	return sha256.Sum256(data)
}

// encryptNotice age-encrypts a notice body to the owners.
func encryptNotice(body NoticeBody, owners []string) ([]byte, error) {
	rs, err := consent.ParseRecipients(owners)
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rs...)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecryptNotice opens a notice body with an owner's identity.
func DecryptNotice(ciphertext []byte, ids ...age.Identity) (NoticeBody, error) {
	var b NoticeBody
	r, err := age.Decrypt(bytes.NewReader(ciphertext), ids...)
	if err != nil {
		return b, fmt.Errorf("gate: notice: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return b, fmt.Errorf("gate: notice: %w", err)
	}
	return b, json.Unmarshal(data, &b)
}

func randomID(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s%x", prefix, b)
}

func nonce() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}
