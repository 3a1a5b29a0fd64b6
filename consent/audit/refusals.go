package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// Unauthenticated refusals — garbage tokens, bad signatures from nobody the
// device knows — cost an attacker nothing, so they are not one leaf each:
// they are counted per reason and per clock minute, and one
// "refusals-aggregate" leaf per reason is appended once the minute is over.
const (
	// RefusalSyncInterval bounds how long a count may live only in memory.
	// The first refusal of each (reason, minute) and every flush are
	// written at once; further increments are written at most this often,
	// so a flood costs at most one bbolt commit (fsync) per interval, and a
	// crash loses at most this much of a count, never the fact that a
	// reason was refused in a minute.
	RefusalSyncInterval = time.Second
	// maxReasons bounds the distinct reasons counted in one minute; more
	// are counted as "other".
	maxReasons = 32
	// maxReason bounds a reason code's length.
	maxReason = 64
	// ReasonOther collects reasons beyond the distinct-reason limit.
	ReasonOther = "other"
	// ReasonInvalid replaces a reason that is not a well-formed code.
	ReasonInvalid = "invalid-reason"
)

type refusalCount struct {
	minute int64 // Unix seconds of the minute's start
	count  uint64
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
			if len(v) != 16 {
				return fmt.Errorf("%w: refusal count for %q is %d bytes", ErrCorrupt, k, len(v))
			}
			l.refusals.pending[string(k)] = refusalCount{
				minute: int64(binary.BigEndian.Uint64(v)),
				count:  binary.BigEndian.Uint64(v[8:]),
			}
			return nil
		})
	})
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
	c := &l.refusals
	c.mu.Lock()
	defer c.mu.Unlock()
	now := l.clk.Now()
	minute := now.Truncate(time.Minute).Unix()

	next := maps.Clone(c.pending)
	due := dueReasons(next, minute)
	for _, r := range due {
		delete(next, r)
	}
	if _, ok := next[reason]; !ok && len(next) >= maxReasons {
		reason = ReasonOther
	}
	p, ok := next[reason]
	if !ok {
		p = refusalCount{minute: minute}
	}
	p.count++
	next[reason] = p

	sync := len(due) > 0 || !ok || now.Sub(c.lastSync) >= RefusalSyncInterval || now.Before(c.lastSync)
	if !sync {
		c.pending, c.dirty = next, true
		return nil
	}
	if err := l.db.Update(func(tx *bbolt.Tx) error {
		return l.writeRefusals(tx, c.pending, due, next, now)
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
	due := dueReasons(next, now.Truncate(time.Minute).Unix())
	for _, r := range due {
		delete(next, r)
	}
	if len(due) == 0 && !c.dirty {
		return nil
	}
	if err := l.db.Update(func(tx *bbolt.Tx) error {
		return l.writeRefusals(tx, c.pending, due, next, now)
	}); err != nil {
		return err
	}
	c.pending, c.lastSync, c.dirty = next, now, false
	return nil
}

// dueReasons returns, sorted, the reasons whose minute ended before minute.
func dueReasons(p map[string]refusalCount, minute int64) []string {
	var due []string
	for r, c := range p {
		if c.minute < minute {
			due = append(due, r)
		}
	}
	slices.Sort(due)
	return due
}

// writeRefusals appends one leaf per due reason (with its count from
// before) and replaces the stored counts with next.
func (l *Log) writeRefusals(tx *bbolt.Tx, before map[string]refusalCount, due []string, next map[string]refusalCount, now time.Time) error {
	for _, r := range due {
		p := before[r]
		from := time.Unix(p.minute, 0).UTC()
		_, err := l.appendTx(tx, Entry{
			Time:   now,
			Kind:   KindRefusalsAggregate,
			Reason: r,
			Details: map[string]string{
				"count": strconv.FormatUint(p.count, 10),
				"from":  from.Format(time.RFC3339),
				"until": from.Add(time.Minute).Format(time.RFC3339),
			},
		})
		if err != nil {
			return err
		}
	}
	b := tx.Bucket(bucketRefusals)
	if b == nil {
		return errors.New("audit: refusals bucket missing")
	}
	var stale [][]byte
	if err := b.ForEach(func(k, _ []byte) error {
		if _, ok := next[string(k)]; !ok {
			stale = append(stale, append([]byte(nil), k...))
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
	for r, p := range next {
		v := binary.BigEndian.AppendUint64(nil, uint64(p.minute))
		v = binary.BigEndian.AppendUint64(v, p.count)
		if err := b.Put([]byte(r), v); err != nil {
			return err
		}
	}
	return nil
}

// PendingRefusals returns the counts not yet in the log, by reason.
func (l *Log) PendingRefusals() map[string]uint64 {
	c := &l.refusals
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.pending))
	for r, p := range c.pending {
		out[r] = p.count
	}
	return out
}
