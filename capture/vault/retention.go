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
// many as needed to bring the store under MaxBytes. Segments of clips being
// recorded and segments on legal hold are kept. A clip whose last segment
// goes is removed whole. It returns the number of segments deleted, and
// ErrHeldOverLimit when held segments alone exceed MaxBytes.
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

	// Index first, files after: a crash in between leaves files that the
	// next Open removes as unindexed, never index entries without files.
	var files, dirs []string
	var freed int64
	err = v.opts.DB.Update(func(tx *bbolt.Tx) error {
		files, dirs, freed = nil, nil, 0
		for _, s := range doomed {
			c, err := deleteSegment(tx, s)
			if err != nil {
				return err
			}
			files = append(files, filepath.Join(v.opts.Dir, c.Dir, SegmentName(s.Seq)))
			freed += s.Size
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
	v.log.Info("retention deleted old footage", "segments", len(doomed), "clips", len(dirs), "bytes", freed)
	return len(doomed), overLimit
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
