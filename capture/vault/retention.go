package vault

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
)

// Enforce deletes the segments older than MaxAge and then, oldest first, as
// many as needed to bring the store under MaxBytes. The store is the clips
// and the state database (state.db: the index and the audit log), so
// whatever the log takes comes out of the oldest footage, never out of the
// free space recording needs. Segments of clips being recorded and segments
// on legal hold are kept; holds are checked again in the transaction that
// deletes, so a hold placed meanwhile wins. A clip whose last segment goes
// is removed whole. It returns the number of segments deleted, and
// ErrHeldOverLimit when held segments alone exceed MaxBytes (the database
// does not count there: the log never stops recording).
func (v *Vault) Enforce() (int, error) { return v.enforce(true) }

// EnforceSize applies MaxBytes alone: the agent uses it while the wall
// clock cannot be trusted, so that a clock set forward does not expire
// footage.
func (v *Vault) EnforceSize() (int, error) { return v.enforce(false) }

func (v *Vault) enforce(byAge bool) (int, error) {
	now := v.opts.Clock.Now()
	v.mu.Lock()
	activeIDs := map[string]bool{}
	for id := range v.active {
		activeIDs[id] = true
	}
	total := v.total
	v.mu.Unlock()
	total += v.dbBytes()

	var doomed []Segment
	var held int64
	err := v.opts.DB.View(func(tx *bbolt.Tx) error {
		return forEachSegment(tx, func(s Segment) error {
			if heldUntil(tx, s).After(now) {
				held += s.Size
				return nil
			}
			if activeIDs[s.Clip] {
				return nil
			}
			old := byAge && v.opts.MaxAge > 0 && now.Sub(s.End) > v.opts.MaxAge
			full := v.opts.MaxBytes > 0 && total > v.opts.MaxBytes
			if old || full {
				doomed = append(doomed, s)
				total -= s.Size
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	var overLimit error
	if v.opts.MaxBytes > 0 && held > v.opts.MaxBytes {
		overLimit = fmt.Errorf("%w (%d bytes held, limit %d)", ErrHeldOverLimit, held, v.opts.MaxBytes)
	}
	if len(doomed) == 0 {
		return 0, overLimit
	}

	if v.beforeDelete != nil {
		v.beforeDelete()
	}
	// Index first, files after: a crash in between leaves files that the
	// next Open removes as unindexed, never index entries without files.
	// The choice above was made in another transaction: each segment is
	// looked up and its hold checked again here.
	var files, dirs []string
	var freed int64
	var deleted int
	err = v.opts.DB.Update(func(tx *bbolt.Tx) error {
		files, dirs, freed, deleted = nil, nil, 0, 0
		for _, s := range doomed {
			cur, ok, err := getSegment(tx, s.Clip, s.Seq)
			if err != nil {
				return err
			}
			if !ok || heldUntil(tx, cur).After(now) {
				continue // gone meanwhile, or put on hold meanwhile
			}
			c, err := deleteSegment(tx, cur, now)
			if err != nil {
				return err
			}
			deleted++
			files = append(files, filepath.Join(v.opts.Dir, c.Dir, SegmentName(s.Seq)))
			freed += cur.Size
			if c.Segments == 0 {
				if err := deleteClip(tx, c.ID); err != nil {
					return err
				}
				dirs = append(dirs, filepath.Join(v.opts.Dir, c.Dir))
				freed += c.InitSize
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("vault: retention: %w", err)
	}
	v.mu.Lock()
	v.total -= freed
	v.mu.Unlock()
	for _, f := range files {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			v.log.Warn("retention could not remove a segment file", "file", f, "err", err)
		}
	}
	for _, d := range dirs {
		os.RemoveAll(d)
	}
	removeEmptyDirs(v.opts.Dir)
	if deleted > 0 {
		v.log.Info("retention deleted old footage", "segments", deleted, "clips", len(dirs), "bytes", freed)
	}
	return deleted, overLimit
}

// dbBytes is the size of the state database file (0 if it cannot be
// read: retention then falls back to counting the clips alone).
func (v *Vault) dbBytes() int64 {
	if v.opts.DB == nil || v.opts.DB.Path() == "" {
		return 0
	}
	st, err := os.Stat(v.opts.DB.Path())
	if err != nil {
		return 0
	}
	return st.Size()
}

// RunRetention enforces the limits now and then every interval until ctx is
// done, logging failures.
func (v *Vault) RunRetention(ctx context.Context, interval time.Duration) {
	for {
		if _, err := v.Enforce(); err != nil {
			v.log.Error("retention failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-v.opts.Clock.After(interval):
		}
	}
}
