package auditlog

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/consent/audit"
)

// Refusals that anyone can provoke in a loop are not one leaf each.
//
// Unauthenticated refusals — garbage tokens, bad signatures from nobody the
// device knows — are counted per reason and per clock minute, and one
// "refusals-aggregate" leaf per reason is appended once the minute is over.
//
// Authenticated refusals — a statement whose signature verified, refused
// as replayed, expired, quorum-not-met, wrong-audience, ... — are keyed by
// (kind, reason, statement): the first of a minute gets its own leaf at
// once, as any decision does; its repeats within that minute are counted
// and appended as one "refusals-aggregate" leaf (with the statement's hash
// and the count) when the minute is over. Replaying a statement someone
// once saw on the LAN thus adds at most two leaves a minute per statement
// and reason, however fast it is replayed.
const (
	// RefusalSyncInterval bounds how long a count may live only in memory.
	// The first refusal of each key and minute and every flush are
	// written at once; further increments are written at most this often,
	// so a flood costs at most one bbolt commit (fsync) per interval, and a
	// crash loses at most this much of a count, never the fact that a
	// reason was refused in a minute.
	RefusalSyncInterval = time.Second
	// maxReasons bounds the distinct unauthenticated reasons counted in
	// one minute; more are counted as "other".
	maxReasons = 32
	// maxStatements bounds the distinct (kind, reason, statement) keys of
	// authenticated refusals counted at once; beyond it a refusal is
	// counted under its kind and reason with the statement "other".
	maxStatements = 64
	// maxReason bounds a reason code's length.
	maxReason = 64
	// ReasonOther collects reasons beyond the distinct-reason limit.
	ReasonOther = "other"
	// ReasonInvalid replaces a reason that is not a well-formed code.
	ReasonInvalid = "invalid-reason"
)

// authPrefix starts the bucket keys of authenticated refusals:
// "a/<kind>/<reason>/<hex statement hash or other>". Reason codes cannot
// hold '/', so these never collide with the bare reasons of
// unauthenticated ones.
const authPrefix = "a/"

const otherStatement = "other"

// Refusal is an authenticated refusal: a statement whose signature
// verified was refused anyway.
type Refusal struct {
	// Kind is the leaf's kind, e.g. KindTokenRefused.
	Kind audit.Kind
	// Reason is the stable reason code, e.g. "replayed".
	Reason string
	// Subject names the statement (a token's jti), or is empty.
	Subject string
	// Statement is the SHA-256 of the statement's signed payload: replays
	// and re-encodings of one statement share it, whatever their bytes.
	Statement [32]byte
}

type refusalCount struct {
	minute int64  // Unix seconds of the minute's start
	count  uint64 // unauthenticated: refusals; authenticated: repeats after the first
	// authenticated refusals only
	auth      bool
	kind      audit.Kind
	reason    string
	statement string // hex, or otherStatement
	subject   string
}

// refusalCounter is the in-memory side of the aggregation; bucketRefusals
// is its durable copy.
type refusalCounter struct {
	mu       sync.Mutex
	pending  map[string]refusalCount
	lastSync time.Time
	dirty    bool // pending holds counts bbolt does not
}

func (l *Log) loadRefusals() error {
	l.refusals.pending = map[string]refusalCount{}
	return l.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRefusals).ForEach(func(k, v []byte) error {
			p, err := decodeRefusal(k, v)
			if err != nil {
				return err
			}
			l.refusals.pending[string(k)] = p
			return nil
		})
	})
}

func decodeRefusal(k, v []byte) (refusalCount, error) {
	if len(v) < 16 {
		return refusalCount{}, fmt.Errorf("%w: refusal count for %q is %d bytes", ErrCorrupt, k, len(v))
	}
	p := refusalCount{minute: int64(binary.BigEndian.Uint64(v)), count: binary.BigEndian.Uint64(v[8:16])}
	rest, auth := strings.CutPrefix(string(k), authPrefix)
	if !auth {
		if len(v) != 16 {
			return p, fmt.Errorf("%w: refusal count for %q is %d bytes", ErrCorrupt, k, len(v))
		}
		return p, nil
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || !audit.Kind(parts[0]).Known() || !validReason(parts[1]) || !validStatement(parts[2]) {
		return p, fmt.Errorf("%w: refusal key %q", ErrCorrupt, k)
	}
	p.auth, p.kind, p.reason, p.statement, p.subject = true, audit.Kind(parts[0]), parts[1], parts[2], string(v[16:])
	return p, nil
}

func (p refusalCount) value() []byte {
	v := binary.BigEndian.AppendUint64(nil, uint64(p.minute))
	v = binary.BigEndian.AppendUint64(v, p.count)
	if p.auth {
		v = append(v, p.subject...)
	}
	return v
}

func validStatement(s string) bool {
	if s == otherStatement {
		return true
	}
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32 && s == hex.EncodeToString(b)
}

// validReason reports whether r is a reason code: 1 to 64 of a-z, 0-9,
// '-', '_' and '.'.
func validReason(r string) bool {
	if r == "" || len(r) > maxReason {
		return false
	}
	for _, c := range []byte(r) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// RecordUnauthenticated counts one unauthenticated refusal with the given
// reason code. Counts of minutes that have ended are appended first, one
// leaf per reason, so however many refusals arrive, the log grows by at
// most one leaf per reason per minute (and at most 32 reasons a minute; the
// rest count as "other"). See RefusalSyncInterval for durability.
func (l *Log) RecordUnauthenticated(reason string) error {
	if !validReason(reason) {
		reason = ReasonInvalid
	}
	return l.record(func(next map[string]refusalCount) (string, refusalCount) {
		if _, ok := next[reason]; !ok && countKeys(next, false) >= maxReasons {
			reason = ReasonOther
		}
		return reason, refusalCount{}
	})
}

// RecordRefusal records an authenticated refusal. The first refusal of a
// (kind, reason, statement) in a clock minute is appended as a leaf at
// once (Kind, Reason, Subject, and the statement's hash in Details);
// further ones in the same minute are counted and appended as one
// "refusals-aggregate" leaf when the minute is over. Counts behave as in
// RecordUnauthenticated (RefusalSyncInterval).
func (l *Log) RecordRefusal(r Refusal) error {
	if !r.Kind.Known() || r.Kind == audit.KindRefusalsAggregate || r.Kind == audit.KindCommitment || r.Kind == audit.KindOpening {
		return fmt.Errorf("%w: refusal of kind %q", audit.ErrBadEntry, r.Kind)
	}
	if !validReason(r.Reason) {
		r.Reason = ReasonInvalid
	}
	if len(r.Subject) > audit.MaxFieldSize {
		r.Subject = r.Subject[:audit.MaxFieldSize]
	}
	stmt := hex.EncodeToString(r.Statement[:])
	return l.record(func(next map[string]refusalCount) (string, refusalCount) {
		key := authKey(r.Kind, r.Reason, stmt)
		p := refusalCount{auth: true, kind: r.Kind, reason: r.Reason, statement: stmt, subject: r.Subject}
		if _, ok := next[key]; !ok && countKeys(next, true) >= maxStatements {
			key, p.statement, p.subject = authKey(r.Kind, r.Reason, otherStatement), otherStatement, ""
		}
		return key, p
	})
}

func authKey(k audit.Kind, reason, statement string) string {
	return authPrefix + string(k) + "/" + reason + "/" + statement
}

func countKeys(p map[string]refusalCount, auth bool) int {
	n := 0
	for _, c := range p {
		if c.auth == auth {
			n++
		}
	}
	return n
}

// record counts one refusal under the key pick chooses (given the counts
// of the current minute, for the distinct-key limits).
func (l *Log) record(pick func(next map[string]refusalCount) (string, refusalCount)) error {
	c := &l.refusals
	c.mu.Lock()
	defer c.mu.Unlock()
	now := l.clk.Now()
	minute := now.Truncate(time.Minute).Unix()

	next := maps.Clone(c.pending)
	due := dueKeys(next, minute)
	for _, k := range due {
		delete(next, k)
	}
	key, fresh := pick(next)
	p, ok := next[key]
	var first *audit.Entry
	switch {
	case !ok && fresh.auth:
		p = fresh
		p.minute = minute
		first = &audit.Entry{Time: now, Kind: p.kind, Reason: p.reason, Details: map[string]string{audit.DetailStatement: p.statement}}
		if p.subject != "" {
			first.Subject = []string{p.subject}
		}
	case !ok:
		p = refusalCount{minute: minute, count: 1}
	default:
		p.count++
	}
	next[key] = p

	sync := len(due) > 0 || !ok || now.Sub(c.lastSync) >= RefusalSyncInterval || now.Before(c.lastSync)
	if !sync {
		c.pending, c.dirty = next, true
		return nil
	}
	if err := l.db.Update(func(tx *bbolt.Tx) error {
		return l.writeRefusals(tx, c.pending, due, next, now, first)
	}); err != nil {
		return err
	}
	c.pending, c.lastSync, c.dirty = next, now, false
	return nil
}

// FlushRefusals appends the counts of every minute that has ended and
// writes the current counts to bbolt. Checkpoint calls it; the agent calls
// it at shutdown (and may on a timer, so a quiet minute's counts do not
// wait for the next refusal or checkpoint).
func (l *Log) FlushRefusals() error {
	c := &l.refusals
	c.mu.Lock()
	defer c.mu.Unlock()
	now := l.clk.Now()
	next := maps.Clone(c.pending)
	due := dueKeys(next, now.Truncate(time.Minute).Unix())
	for _, r := range due {
		delete(next, r)
	}
	if len(due) == 0 && !c.dirty {
		return nil
	}
	if err := l.db.Update(func(tx *bbolt.Tx) error {
		return l.writeRefusals(tx, c.pending, due, next, now, nil)
	}); err != nil {
		return err
	}
	c.pending, c.lastSync, c.dirty = next, now, false
	return nil
}

// dueKeys returns, sorted, the keys whose minute ended before minute.
func dueKeys(p map[string]refusalCount, minute int64) []string {
	var due []string
	for r, c := range p {
		if c.minute < minute {
			due = append(due, r)
		}
	}
	slices.Sort(due)
	return due
}

// aggregate is the leaf of a due count, or nil when there is nothing to
// log (an authenticated refusal that was not repeated: its first leaf
// says it all).
func (p refusalCount) aggregate(key string, now time.Time) *audit.Entry {
	if p.auth && p.count == 0 {
		return nil
	}
	from := time.Unix(p.minute, 0).UTC()
	e := &audit.Entry{
		Time:   now,
		Kind:   audit.KindRefusalsAggregate,
		Reason: key,
		Details: map[string]string{
			"count": strconv.FormatUint(p.count, 10),
			"from":  from.Format(time.RFC3339),
			"until": from.Add(time.Minute).Format(time.RFC3339),
		},
	}
	if p.auth {
		e.Reason = p.reason
		e.Details[audit.DetailRefused] = string(p.kind)
		e.Details[audit.DetailStatement] = p.statement
		if p.subject != "" {
			e.Subject = []string{p.subject}
		}
	}
	return e
}

// writeRefusals appends one leaf per due key (with its count from before),
// then first (an authenticated refusal's own leaf) if given, and replaces
// the stored counts with next.
func (l *Log) writeRefusals(tx *bbolt.Tx, before map[string]refusalCount, due []string, next map[string]refusalCount, now time.Time, first *audit.Entry) error {
	for _, k := range due {
		if e := before[k].aggregate(k, now); e != nil {
			if _, err := l.appendTx(tx, *e); err != nil {
				return err
			}
		}
	}
	if first != nil {
		if _, err := l.appendTx(tx, *first); err != nil {
			return err
		}
	}
	b := tx.Bucket(bucketRefusals)
	if b == nil {
		return errors.New("auditlog: refusals bucket missing")
	}
	var stale [][]byte
	if err := b.ForEach(func(k, _ []byte) error {
		if _, ok := next[string(k)]; !ok {
			stale = append(stale, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range stale {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	for k, p := range next {
		if err := b.Put([]byte(k), p.value()); err != nil {
			return err
		}
	}
	return nil
}

// PendingRefusals returns the counts not yet in the log, by reason: the
// unauthenticated refusals of this minute, and the repeats of
// authenticated ones (their first is already a leaf).
func (l *Log) PendingRefusals() map[string]uint64 {
	c := &l.refusals
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.pending))
	for k, p := range c.pending {
		r := k
		if p.auth {
			if p.count == 0 {
				continue
			}
			r = p.reason
		}
		out[r] += p.count
	}
	return out
}
