package pairing

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/backoff"
	"github.com/doorward/doorward/device/clock"
)

// Device-side limits.
const (
	// SessionTTL is how long a session opened by Hello stays usable.
	SessionTTL = 5 * time.Minute
	// MaxSessions is how many sessions may be open at once.
	MaxSessions = 4
	// FreeFailures is how many failed proofs — a bad MAC or a bad
	// signature on a real session — a Pairer answers at once. After that
	// it slows down: each further failure makes it wait before it checks
	// another proof, SlowDownMin at first, doubling up to SlowDownMax. It
	// never locks for good: the code has 128 bits, so guessing is hopeless
	// at any rate, and a lock would let anyone on the LAN keep the owner
	// from pairing.
	FreeFailures = 5
	// SlowDownMin and SlowDownMax bound the wait after a failed proof
	// beyond FreeFailures.
	SlowDownMin = time.Second
	SlowDownMax = time.Minute
)

// DeviceInfo is the device's identity as pairing shows it: its Ed25519
// public key and the device ID derived from it (see DeviceID).
type DeviceInfo struct {
	Key ed25519.PublicKey
	ID  string
}

// Owner is what a successful pairing installs: the owner's signing key and
// age recipients (canonical, one family), the hash of the trust policy the
// owner approved, and the transcript with the owner's signature over
// SignatureContext ‖ Transcript, which the device keeps as the proof of
// that approval (and for the audit log).
type Owner struct {
	SigningKey ed25519.PublicKey
	Recipients []string
	PolicyHash [32]byte
	Transcript []byte
	Signature  []byte
}

// Pairer is the device side of pairing. The agent makes one with the
// secret it shows, and its hello and finish endpoints call Hello and
// Finish. It pairs at most once, slows down after FreeFailures failed
// proofs (see FreeFailures), and is safe for concurrent use. It keeps only
// keys derived from the secret, not the secret.
type Pairer struct {
	keys       keys
	dev        DeviceInfo
	policy     []byte
	policyHash [32]byte
	clk        clock.Clock

	mu        sync.Mutex
	sessions  map[string]*session
	failures  int
	slow      *backoff.Backoff
	notBefore time.Time // no proof is checked before this
	paired    bool
}

type session struct {
	expires    time.Time
	ownerKey   ed25519.PublicKey
	recipients []string
	transcript []byte
}

// NewPairer returns a Pairer for secret, proposing policy (the trust
// policy's JSON, the exact bytes the client shows the owner) whose hash is
// policyHash: the caller computes it, normally consent.Policy.Hash of the
// parsed policy (PolicyHash, SHA-256 of the bytes, for a policy without a
// canonical form); the client must compute the same hash from the bytes
// (see PolicyHasher). The transcript covers policyHash, so the owner's
// signature is the approval of that policy. dev.ID must be
// DeviceID(dev.Key). It refuses a zero secret, a malformed device identity,
// and a policy that is empty, larger than MaxPolicySize or not valid JSON.
func NewPairer(secret Secret, dev DeviceInfo, policy []byte, policyHash [32]byte, clk clock.Clock) (*Pairer, error) {
	if secret.IsZero() {
		return nil, errors.New("pairing: no secret (the zero Secret); make one with NewSecret")
	}
	if len(dev.Key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("pairing: device key is %d bytes, want %d", len(dev.Key), ed25519.PublicKeySize)
	}
	if want := DeviceID(dev.Key); dev.ID != want {
		return nil, fmt.Errorf("pairing: device ID %q does not match the device key (want %q)", truncate(dev.ID), want)
	}
	if err := checkPolicy(policy); err != nil {
		return nil, err
	}
	if clk == nil {
		return nil, errors.New("pairing: no clock")
	}
	ks, err := deriveKeys(secret)
	if err != nil {
		return nil, err
	}
	return &Pairer{
		keys:       ks,
		dev:        DeviceInfo{Key: slices.Clone(dev.Key), ID: dev.ID},
		policy:     slices.Clone(policy),
		policyHash: policyHash,
		clk:        clk,
		sessions:   map[string]*session{},
		slow:       backoff.New(backoff.Policy{Min: SlowDownMin, Max: SlowDownMax, Clock: clk}),
	}, nil
}

func checkPolicy(policy []byte) error {
	switch {
	case len(policy) == 0:
		return errors.New("pairing: the trust policy is empty")
	case len(policy) > MaxPolicySize:
		return fmt.Errorf("pairing: the trust policy is %d bytes, at most %d", len(policy), MaxPolicySize)
	case !json.Valid(policy):
		return errors.New("pairing: the trust policy is not valid JSON")
	}
	return nil
}

// Hello answers a client's Hello: it checks the owner key's size and the
// owner recipients (valid age recipients of one family, as
// consent.ParseRecipients accepts them, in canonical form, no duplicates),
// opens a session with a fresh device nonce and returns the reply with the
// device's MAC over the transcript. It refuses with ErrAlreadyPaired or
// ErrMalformed; with MaxSessions open it evicts the oldest. A refused Hello
// does not count as a failure: it reveals nothing about the code.
func (p *Pairer) Hello(h Hello) (HelloReply, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.closedLocked(); err != nil {
		return HelloReply{}, err
	}
	if err := h.Validate(); err != nil {
		return HelloReply{}, err
	}
	if err := checkRecipients(h.OwnerRecipients); err != nil {
		return HelloReply{}, err
	}
	now := p.clk.Now()
	for id, s := range p.sessions {
		if !now.Before(s.expires) {
			delete(p.sessions, id)
		}
	}
	if len(p.sessions) >= MaxSessions {
		// Evict the oldest session rather than refuse: anyone on the LAN
		// can open sessions, and refusing would let a few Hellos every
		// SessionTTL block pairing. An owner's own exchange takes
		// milliseconds between Hello and Finish, so eviction costs it
		// nothing unless the flood is continuous; a failed Finish never
		// results from eviction alone (ErrUnknownSession, not counted).
		p.evictOldestLocked()
	}
	var rnd [NonceSize + 16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return HelloReply{}, fmt.Errorf("pairing: random: %w", err)
	}
	nonce := rnd[:NonceSize]
	id := base64.RawURLEncoding.EncodeToString(rnd[NonceSize:])
	s := &session{
		expires:    now.Add(SessionTTL),
		ownerKey:   slices.Clone(h.OwnerKey),
		recipients: slices.Clone(h.OwnerRecipients),
	}
	s.transcript = Transcript(TranscriptFields{
		OwnerNonce:      h.OwnerNonce,
		DeviceNonce:     nonce,
		OwnerKey:        s.ownerKey,
		OwnerRecipients: s.recipients,
		DeviceKey:       p.dev.Key,
		DeviceID:        p.dev.ID,
		PolicyHash:      p.policyHash,
	})
	p.sessions[id] = s
	return HelloReply{
		Session:     id,
		DeviceNonce: slices.Clone(nonce),
		DeviceKey:   slices.Clone(p.dev.Key),
		DeviceID:    p.dev.ID,
		Policy:      slices.Clone(p.policy),
		PolicyHash:  slices.Clone(p.policyHash[:]),
		DeviceMAC:   mac(p.keys.device, s.transcript),
	}, nil
}

// checkRecipients accepts what consent.ParseRecipients accepts, but only in
// canonical form (as age prints the key) and without duplicates, so that
// the transcript the owner signs holds exactly the strings the device
// installs.
func checkRecipients(strs []string) error {
	parsed, err := consent.ParseRecipients(strs)
	if err != nil {
		return fmt.Errorf("%w: owner_recipients: %w", ErrMalformed, err)
	}
	for i, r := range parsed {
		st, ok := r.(fmt.Stringer)
		if !ok || st.String() != strs[i] {
			return malformed("owner_recipients[%d] is not in canonical form (lower case, no spaces, as age prints it)", i)
		}
		if slices.Contains(strs[:i], strs[i]) {
			return malformed("owner_recipients[%d] repeats an earlier recipient", i)
		}
	}
	return nil
}

// closedLocked returns ErrAlreadyPaired when p accepts nothing more.
func (p *Pairer) closedLocked() error {
	if p.paired {
		return ErrAlreadyPaired
	}
	return nil
}

// Finish completes a session: the owner's MAC must check (hmac.Equal) and
// the owner's Ed25519 signature over SignatureContext ‖ transcript must
// verify; only then does it return the Owner to install, and the Pairer
// refuses everything afterwards (ErrAlreadyPaired). A session is used up
// by the first Finish that reaches its proof, whatever the outcome.
//
// Only a failed proof on a real session counts — a bad MAC or a bad
// signature: a malformed message, an unknown or expired session cost the
// sender nothing and tell nothing about the code, so anyone could send
// them, and they do not count. After FreeFailures failed proofs, Finish
// refuses with a *SlowDownError (ErrSlowDown) until the wait has passed,
// without using up the session: the client retries the same Finish later.
func (p *Pairer) Finish(f Finish) (Owner, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.closedLocked(); err != nil {
		return Owner{}, err
	}
	if err := f.Validate(); err != nil {
		return Owner{}, err
	}
	now := p.clk.Now()
	if now.Before(p.notBefore) {
		return Owner{}, &SlowDownError{Wait: p.notBefore.Sub(now)}
	}
	s, ok := p.sessions[f.Session]
	if !ok {
		return Owner{}, ErrUnknownSession
	}
	delete(p.sessions, f.Session)
	if !now.Before(s.expires) {
		return Owner{}, ErrExpired
	}
	if !hmac.Equal(f.OwnerMAC, mac(p.keys.owner, s.transcript)) {
		return Owner{}, p.failLocked(errOwnerMAC, now)
	}
	if !ed25519.Verify(s.ownerKey, signedMessage(s.transcript), f.Signature) {
		return Owner{}, p.failLocked(ErrBadSignature, now)
	}
	p.paired = true
	clear(p.sessions)
	return Owner{
		SigningKey: s.ownerKey,
		Recipients: s.recipients,
		PolicyHash: p.policyHash,
		Transcript: s.transcript,
		Signature:  slices.Clone(f.Signature),
	}, nil
}

// failLocked counts a failed proof and, beyond FreeFailures, sets the
// wait before the next one is checked.
func (p *Pairer) failLocked(err error, now time.Time) error {
	p.failures++
	if p.failures < FreeFailures {
		return fmt.Errorf("%w (failed attempt %d)", err, p.failures)
	}
	wait := p.slow.Next()
	p.notBefore = now.Add(wait)
	return fmt.Errorf("%w (failed attempt %d; the next proof is checked in %s)", err, p.failures, wait)
}

// SlowDownError is Finish's refusal while the Pairer waits after failed
// proofs. It matches ErrSlowDown.
type SlowDownError struct {
	// Wait is how long until a proof is checked again.
	Wait time.Duration
}

func (e *SlowDownError) Error() string {
	return fmt.Sprintf("%s; try again in %s", ErrSlowDown, e.Wait.Round(time.Second))
}

// Unwrap returns ErrSlowDown.
func (e *SlowDownError) Unwrap() error { return ErrSlowDown }

// Paired reports whether a Finish succeeded.
func (p *Pairer) Paired() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paired
}

// RetryAfter returns how long until Finish checks a proof again (0: now).
func (p *Pairer) RetryAfter() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return max(p.notBefore.Sub(p.clk.Now()), 0)
}

// Failures returns how many proofs failed (bad MAC or signature on a real
// session).
func (p *Pairer) Failures() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failures
}

// evictOldestLocked drops the session that expires first.
func (p *Pairer) evictOldestLocked() {
	var oldest string
	for id, s := range p.sessions {
		if oldest == "" || s.expires.Before(p.sessions[oldest].expires) {
			oldest = id
		}
	}
	delete(p.sessions, oldest)
}
