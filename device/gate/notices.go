package gate

import (
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/device/events"
)

// commit logs e as a commitment (its content hidden until the notice is
// released) and returns what opening it takes.
func (g *Gate) commit(tx *bbolt.Tx, e audit.Entry) (PendingOpening, error) {
	n := nonce()
	idx, err := g.opts.Audit.AppendCommitment(tx, e, n)
	if err != nil {
		return PendingOpening{}, err
	}
	canon, err := e.Canonical()
	if err != nil {
		return PendingOpening{}, err
	}
	return PendingOpening{Index: idx, Entry: canon, Nonce: n}, nil
}

// commitToNotice logs e as a commitment owed to notice id.
func (g *Gate) commitToNotice(tx *bbolt.Tx, id uint64, e audit.Entry) error {
	var n Notice
	ok, err := get(tx, bucketNotices, u64key(id), &n)
	if err != nil {
		return err
	}
	if !ok || n.Released {
		// The notice went out meanwhile: log the disclosure in the open.
		_, err := g.opts.Audit.AppendTx(tx, e)
		return err
	}
	p, err := g.commit(tx, e)
	if err != nil {
		return err
	}
	n.Pending = append(n.Pending, p)
	return put(tx, bucketNotices, u64key(id), n)
}

// ReleaseNotices releases every delayed notice that is due, by the wall
// clock or by accumulated uptime (so a clock set back cannot hold one
// back), and opens its audit commitments. It returns how many it released.
func (g *Gate) ReleaseNotices() (int, error) {
	now, up := g.clk.Now(), g.uptime()
	due := func(n Notice) bool { return !n.Released && (!now.Before(n.ReleaseAt) || up >= n.ReleaseUptime) }
	// Look first: most calls find nothing due, and a write transaction
	// costs an fsync.
	anyDue := false
	if err := g.db.View(func(tx *bbolt.Tx) error {
		notices, err := unreleased(tx)
		for _, n := range notices {
			anyDue = anyDue || due(n)
		}
		return err
	}); err != nil || !anyDue {
		return 0, err
	}
	released := 0
	var ids []uint64
	var jobs []Job
	err := g.db.Update(func(tx *bbolt.Tx) error {
		released, ids, jobs = 0, nil, nil
		notices, err := unreleased(tx)
		if err != nil {
			return err
		}
		for _, n := range notices {
			if !due(n) {
				continue
			}
			for _, p := range n.Pending {
				e, err := audit.DecodeEntry(p.Entry)
				if err != nil {
					return fmt.Errorf("notice %d: %w", n.ID, err)
				}
				if _, err := g.opts.Audit.AppendOpening(tx, p.Index, e, p.Nonce); err != nil {
					return fmt.Errorf("notice %d: %w", n.ID, err)
				}
			}
			n.Released, n.Pending = true, nil
			if err := put(tx, bucketNotices, u64key(n.ID), n); err != nil {
				return err
			}
			if err := tx.Bucket(bucketNoticesDue).Delete(u64key(n.ID)); err != nil {
				return err
			}
			of := n.Jobs
			if of == nil {
				// A notice of an earlier release names no jobs: find them.
				all, err := list[Job](tx, bucketJobs)
				if err != nil {
					return err
				}
				for _, j := range all {
					if j.Notice == n.ID {
						of = append(of, j.ID)
					}
				}
			}
			for _, id := range of {
				j, ok, err := getJob(tx, id)
				if err != nil {
					return err
				}
				if ok && j.Delayed {
					old := j
					j.Delayed = false
					if err := putJob(tx, j, old); err != nil {
						return err
					}
					jobs = append(jobs, j)
				}
			}
			ids = append(ids, n.ID)
			released++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("gate: %w", err)
	}
	for _, id := range ids {
		g.publish(events.Event{Kind: events.NoticeReleased, Notice: id})
	}
	for _, j := range jobs {
		g.publishJob(j) // now with its authority
	}
	if released > 0 {
		g.log.Info("owner notices released", "count", released)
	}
	return released, nil
}

// unreleased returns the notices not yet released, from their index: a
// round of Run reads these, never the history.
func unreleased(tx *bbolt.Tx) ([]Notice, error) {
	var out []Notice
	c := tx.Bucket(bucketNoticesDue).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		var n Notice
		ok, err := get(tx, bucketNotices, k, &n)
		if err != nil {
			return nil, err
		}
		if ok && !n.Released {
			out = append(out, n)
		}
	}
	return out, nil
}

// Notices returns the notices the owners may read now (ciphertext).
func (g *Gate) Notices() ([]Notice, error) {
	var out []Notice
	err := g.db.View(func(tx *bbolt.Tx) error {
		all, err := list[Notice](tx, bucketNotices)
		for _, n := range all {
			if n.Released {
				out = append(out, n)
			}
		}
		return err
	})
	return out, err
}

// NotifyOwners records an immediate notice that is not about a disclosure
// (for example: recording stopped because footage on legal hold fills the
// store), with its audit leaf of the given kind, in one transaction.
func (g *Gate) NotifyOwners(body NoticeBody, kind audit.Kind, reason string) error {
	owners, err := g.OwnerRecipients()
	if err != nil || len(owners) == 0 {
		return err
	}
	now := g.clk.Now()
	body.Time = now
	ct, err := encryptNotice(body, owners)
	if err != nil {
		return err
	}
	return g.db.Update(func(tx *bbolt.Tx) error {
		id, err := tx.Bucket(bucketNotices).NextSequence()
		if err != nil {
			return err
		}
		if err := put(tx, bucketNotices, u64key(id), Notice{ID: id, Created: now, ReleaseAt: now, Released: true, Body: ct}); err != nil {
			return err
		}
		_, err = g.opts.Audit.AppendTx(tx, audit.Entry{Time: now, Kind: kind, Reason: reason, Details: map[string]string{"notice": body.Note}})
		return err
	})
}
