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
	"github.com/doorward/doorward/device/clock"
)

// Device-side limits.
const (
	// SessionTTL is how long a session opened by Hello stays usable.
	SessionTTL = 5 * time.Minute
	// MaxSessions is how many sessions may be open at once.
	MaxSessions = 4
	// MaxFailures is how many failed Finish calls lock a Pairer.
	MaxFailures = 5
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
// Finish. It pairs at most once, locks after MaxFailures failed Finish
// calls, and is safe for concurrent use. It keeps only keys derived from
// the secret, not the secret.
type Pairer struct {
	keys       keys
	dev        DeviceInfo
	policy     []byte
	policyHash [32]byte
	clk        clock.Clock

	mu       sync.Mutex
	sessions map[string]*session
	failures int
	paired   bool
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
// device's MAC over the transcript. It refuses with ErrAlreadyPaired,
// ErrLocked or ErrMalformed; with MaxSessions open it evicts the oldest. A refused Hello
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

// closedLocked returns ErrAlreadyPaired or ErrLocked when p accepts nothing
// more.
func (p *Pairer) closedLocked() error {
	if p.paired {
		return ErrAlreadyPaired
	}
	if p.failures >= MaxFailures {
		return ErrLocked
	}
	return nil
}

// Finish completes a session: the owner's MAC must check (hmac.Equal) and
// the owner's Ed25519 signature over SignatureContext ‖ transcript must
// verify; only then does it return the Owner to install, and the Pairer
// refuses everything afterwards (ErrAlreadyPaired). A session is used up
// by its first Finish, whatever the outcome. Every failed Finish — a
// malformed message, an unknown or expired session, a bad MAC or a bad
// signature — counts; the MaxFailures-th failure also wraps ErrLocked, and
// then every call is refused with ErrLocked, a correct code included.
func (p *Pairer) Finish(f Finish) (Owner, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.closedLocked(); err != nil {
		return Owner{}, err
	}
	if err := f.Validate(); err != nil {
		return Owner{}, p.failLocked(err)
	}
	s, ok := p.sessions[f.Session]
	if !ok {
		return Owner{}, p.failLocked(ErrUnknownSession)
	}
	delete(p.sessions, f.Session)
	if !p.clk.Now().Before(s.expires) {
		return Owner{}, p.failLocked(ErrExpired)
	}
	if !hmac.Equal(f.OwnerMAC, mac(p.keys.owner, s.transcript)) {
		return Owner{}, p.failLocked(errOwnerMAC)
	}
	if !ed25519.Verify(s.ownerKey, signedMessage(s.transcript), f.Signature) {
		return Owner{}, p.failLocked(ErrBadSignature)
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

// failLocked counts a failed Finish.
func (p *Pairer) failLocked(err error) error {
	p.failures++
	if p.failures >= MaxFailures {
		clear(p.sessions)
		return fmt.Errorf("%w (failure %d of %d); %w", err, p.failures, MaxFailures, ErrLocked)
	}
	return fmt.Errorf("%w (failure %d of %d)", err, p.failures, MaxFailures)
}

// Paired reports whether a Finish succeeded.
func (p *Pairer) Paired() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paired
}

// Locked reports whether MaxFailures Finish calls failed.
func (p *Pairer) Locked() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failures >= MaxFailures
}

// Failures returns how many Finish calls failed.
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
