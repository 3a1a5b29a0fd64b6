// Package gate is where the device decides what may leave it. It verifies
// owner statements (grants, revocations, policy changes, enrollments,
// resets, logins, live statements), pairings and legal-process tokens with
// package consent. Every kind of decision has its file and goes through one
// shared path (decide.go): the policy and the owners are read inside the
// write transaction the decision is made in; a statement is marked seen
// only when it is accepted, in one replay record for every kind; and the
// decision's consequences (the audit leaf, or a `*-refused` leaf, the
// owner notice, the legal hold, the disclosure jobs) are written in that
// same transaction. A refusal burns nothing.
//
// Disclosure jobs are then carried out by Run: each scoped segment of the
// vault is re-wrapped for the recipient alone (package rewrap) and handed
// to a Deliverer — the disclosures/ directory by default, the uploader
// when there is an uplink. Jobs go pending → running → delivered, or →
// failed, with retries and backoff; the unfinished ones are indexed.
package gate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"filippo.io/age"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit/auditlog"
	"github.com/doorward/doorward/device/clock"
	"github.com/doorward/doorward/device/events"
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
	// DisclosureDir receives the re-wrapped pieces when Deliverer is nil.
	DisclosureDir string
	// Deliverer hands each job's pieces to where they go; nil writes them
	// into DisclosureDir (DirDeliverer).
	Deliverer Deliverer
	// Events receives decisions, job states and released notices; nil
	// publishes nothing.
	Events *events.Bus
	// CloudBackup is true when Deliverer uploads to the cloud (the
	// uplink is configured): only then does an owner's backup statement
	// make backup jobs, from the recorder's events on Events. Without it
	// nothing is ever backed up, whatever the stored state says.
	CloudBackup bool
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

	deliver Deliverer

	refusals refusalLog // refused statements in the log (refusallog.go)

	mu         sync.Mutex
	uptimeBase time.Duration // accumulated before this run
	vault      *vault.Vault
	wake       chan struct{}
	onOwners   func([]string)
	running    map[string]context.CancelFunc // jobs being delivered
	live       map[string]*liveSession       // by statement jti
	liveWake   chan struct{}
	// backupClips are the clips being backed up, by clip ID; backupSub
	// is the recorder's events (nil without CloudBackup).
	backupClips map[string]*backupClip
	backupSub   *events.Sub

	// ownersMu orders owner-recipient updates: the recipients handed to
	// OnOwnersChanged are read and applied under it, so two enrollments
	// finishing together cannot apply an older set last.
	ownersMu sync.Mutex
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
	g := &Gate{
		opts: opts, log: opts.Log, db: opts.DB, clk: opts.Clock, vault: opts.Vault, deliver: opts.Deliverer,
		wake: make(chan struct{}, 1), liveWake: make(chan struct{}, 1),
		running: map[string]context.CancelFunc{}, live: map[string]*liveSession{},
		backupClips: map[string]*backupClip{},
	}
	if opts.CloudBackup && opts.Events != nil {
		// Subscribed now, before anything records, so that no clip start
		// is missed; Run consumes it.
		g.backupSub = opts.Events.Subscribe("backup", 256, events.ClipStarted, events.SegmentCommitted, events.ClipClosed)
	}
	if g.deliver == nil {
		g.deliver = &DirDeliverer{Dir: opts.DisclosureDir}
	}
	err := g.db.Update(func(tx *bbolt.Tx) error {
		if err := createBuckets(tx); err != nil {
			return err
		}
		if v := tx.Bucket(bucketMeta).Get(keyUptime); len(v) == 8 {
			g.uptimeBase = time.Duration(binary.BigEndian.Uint64(v))
		}
		return requeueRunning(tx)
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
	return recipientsOf(owners), nil
}

func ownerKeysOf(owners []Owner) (consent.KeySet, error) {
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
		p, ok, err = policyTx(tx)
		return err
	})
	return p, ok, err
}

func policyTx(tx *bbolt.Tx) (consent.Policy, bool, error) {
	var p consent.Policy
	ok, err := get(tx, bucketPolicy, keyPolicy, &p)
	return p, ok, err
}

func recipientsOf(owners []Owner) []string {
	var out []string
	for _, o := range owners {
		for _, r := range o.Recipients {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
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
