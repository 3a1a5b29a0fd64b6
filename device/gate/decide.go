package gate

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/consent/audit/auditlog"
	"github.com/doorward/doorward/device/events"
)

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

// ErrNotPaired is returned for statements that need an owner before one
// is installed.
var ErrNotPaired = errors.New("gate: the device is not paired")

// ErrAlreadyRevoked and ErrAlreadyEnrolled answer a valid statement that
// would change nothing: a revocation of a grant revoked before, an
// enrollment of a key already enrolled. The transaction is rolled back:
// no audit leaf, no refusal, the jti not burned.
var (
	ErrAlreadyRevoked  = errors.New("gate: the grant is already revoked")
	ErrAlreadyEnrolled = errors.New("gate: the key is already enrolled")
)

// rule is one kind of decision's part of the shared path (decide).
type rule struct {
	// kind is the statement kind: the replay namespace and the event's
	// Decision.
	kind string
	// refused is the leaf kind of an authenticated refusal.
	refused audit.Kind
	// statement is the statement decided on, as received.
	statement []byte
	// verify authenticates the statement against what d read in the
	// decision's transaction and makes every check that can refuse it. It
	// writes nothing. It returns the statement's jti (its replay key) and
	// its expiry.
	verify func(d *decisionTx) (jti string, exp time.Time, err error)
	// apply writes the accepted statement's consequences in d.tx. A
	// refusal (*consent.Error) from it rolls the whole transaction back.
	apply func(d *decisionTx) error
}

// decisionTx is what one decision reads and writes, inside its one write
// transaction.
type decisionTx struct {
	g          *Gate
	tx         *bbolt.Tx
	now        time.Time
	policy     consent.Policy
	hasPolicy  bool
	owners     []Owner
	keys       consent.KeySet // the owners' signing keys
	recipients []string       // the owners' age recipients
	// authority names what the decision is about in its event: empty
	// while an owner notice is delayed.
	authority string
	// after runs once the transaction committed: logs, events, wake-ups.
	after []func()
	// notice is the ID of the owner notice record wrote, if any.
	notice uint64
}

// errRolledBack rolls a decision's transaction back after a refusal.
var errRolledBack = errors.New("gate: decision refused")

// decide runs the shared path of every decision: in one write transaction
// it reads the policy and the owners, verifies the statement (r.verify),
// refuses a jti seen before, applies the decision (r.apply) and marks the
// jti seen. A refusal rolls everything back (nothing is burned) and is
// logged after (refused). It returns the refusal, or an internal error.
func (g *Gate) decide(r rule) error {
	var d *decisionTx
	var verr error
	var subject string
	err := g.db.Update(func(tx *bbolt.Tx) error {
		d = &decisionTx{g: g, tx: tx, now: g.clk.Now()}
		if err := d.load(); err != nil {
			return err
		}
		jti, exp, err := r.verify(d)
		subject = jti
		if err != nil {
			if consent.ReasonOf(err) == "" {
				return err
			}
			verr = err
			return errRolledBack
		}
		if seen(tx, r.kind, jti) {
			verr = consent.ErrReplayed
			return errRolledBack
		}
		if err := r.apply(d); err != nil {
			if consent.ReasonOf(err) == "" {
				return err
			}
			verr = err
			return errRolledBack
		}
		return markSeen(tx, r.kind, jti, d.now, exp)
	})
	if errors.Is(err, errRolledBack) {
		g.publish(events.Event{Kind: events.Decision, Decision: r.kind, Outcome: string(consent.ReasonOf(verr))})
		return g.refused(r.refused, subject, r.statement, verr)
	}
	if err != nil {
		if errors.Is(err, ErrNotPaired) || errors.Is(err, ErrAlreadyRevoked) || errors.Is(err, ErrAlreadyEnrolled) || errors.Is(err, ErrBackupUnchanged) {
			return err
		}
		return fmt.Errorf("gate: recording %s: %w", r.kind, err)
	}
	g.publish(events.Event{Kind: events.Decision, Decision: r.kind, Outcome: "accepted", Authority: d.authority})
	for _, fn := range d.after {
		fn()
	}
	return nil
}

// load reads the policy and the owners in the decision's transaction.
func (d *decisionTx) load() error {
	var err error
	if d.policy, d.hasPolicy, err = policyTx(d.tx); err != nil {
		return err
	}
	if d.owners, err = list[Owner](d.tx, bucketOwner); err != nil {
		return err
	}
	if d.keys, err = ownerKeysOf(d.owners); err != nil {
		return err
	}
	d.recipients = recipientsOf(d.owners)
	return nil
}

// ownerStatement verifies an owner-signed statement of kind; it refuses
// with ErrNotPaired before any owner is enrolled.
func (d *decisionTx) ownerStatement(data []byte, kind string) (*consent.OwnerStatement, error) {
	if len(d.owners) == 0 {
		return nil, ErrNotPaired
	}
	return consent.VerifyOwnerStatement(data, kind, d.keys, d.now, d.g.opts.DeviceID)
}

// seenRecord is a replay record: one per accepted statement of any kind.
type seenRecord struct {
	Accepted time.Time `json:"accepted"`
	Expires  time.Time `json:"expires,omitzero"`
}

func seenKey(kind, jti string) []byte { return []byte(kind + "/" + jti) }

// seen reports whether a statement of kind with this jti was accepted
// before. It is the one replay check of every kind.
func seen(tx *bbolt.Tx, kind, jti string) bool {
	return tx.Bucket(bucketStatements).Get(seenKey(kind, jti)) != nil
}

func markSeen(tx *bbolt.Tx, kind, jti string, now, exp time.Time) error {
	data, err := json.Marshal(seenRecord{Accepted: now.UTC(), Expires: exp.UTC()})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketStatements).Put(seenKey(kind, jti), data)
}

// seenMargin is how long past its exp the replay record of a login or
// live statement is kept: past exp the statement is refused as expired,
// and the margin covers a clock that was ahead and is set right.
const seenMargin = 24 * time.Hour

// pruneSeen forgets the replay records of logins, live and fetch statements that
// expired more than seenMargin ago: every owner read and every live
// session adds one, and they would otherwise grow the database for good.
// Other statements (grants, tokens, revocations, policies, enrollments,
// resets) are remembered for good. It returns how many it removed.
func (g *Gate) pruneSeen() (int, error) {
	cutoff := g.clk.Now().Add(-seenMargin)
	n := 0
	err := g.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketStatements)
		for _, kind := range []string{consent.KindLogin, consent.KindLive, consent.KindFetch} {
			prefix := []byte(kind + "/")
			var old [][]byte
			c := b.Cursor()
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				var r seenRecord
				if json.Unmarshal(v, &r) == nil && !r.Expires.IsZero() && r.Expires.Before(cutoff) {
					old = append(old, bytes.Clone(k))
				}
			}
			for _, k := range old {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n += len(old)
		}
		return nil
	})
	return n, err
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
	g.logRefusal(kind, reason, subject, !consent.Unauthenticated(err))
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

// publish sends e on the event bus (a nil bus drops it).
func (g *Gate) publish(e events.Event) {
	if e.Time.IsZero() {
		e.Time = g.clk.Now()
	}
	g.opts.Events.Publish(e)
}

// timeFloor is the latest min(accepted iat, acceptance time): the clock
// must never be below it.
func timeFloor(tx *bbolt.Tx) time.Time {
	var t time.Time
	if v := tx.Bucket(bucketMeta).Get(keyTimeFloor); v != nil {
		t.UnmarshalText(v)
	}
	return t
}

// raiseTimeFloor raises the floor to min(t, now): a token issued a few
// minutes ahead of the device's clock must not lift the floor above now,
// or every token would be refused until the clock caught up.
func raiseTimeFloor(tx *bbolt.Tx, t, now time.Time) error {
	if t.After(now) {
		t = now
	}
	if !t.After(timeFloor(tx)) {
		return nil
	}
	v, _ := t.UTC().MarshalText()
	return tx.Bucket(bucketMeta).Put(keyTimeFloor, v)
}
