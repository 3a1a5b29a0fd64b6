package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/device/schema"
)

var bucketHolds = schema.Holds

// Ref names one stored media segment and the clip it belongs to.
type Ref struct {
	Clip    Clip
	Segment Segment
}

// InitPath returns the encrypted init segment of the referenced clip.
func (v *Vault) InitPath(c Clip) string { return filepath.Join(v.opts.Dir, c.Dir, InitName) }

// SegmentPath returns the encrypted file of a segment.
func (v *Vault) SegmentPath(c Clip, seq int) string {
	return filepath.Join(v.opts.Dir, c.Dir, SegmentName(seq))
}

// OverlappingTx returns the segments whose time span overlaps [from, until),
// oldest first. Disclosure releases exactly these (plus their clips' init
// segments), never whole clips.
func OverlappingTx(tx *bbolt.Tx, from, until time.Time) ([]Ref, error) {
	var out []Ref
	clips := map[string]Clip{}
	err := forEachSegment(tx, func(s Segment) error {
		if !s.End.After(from) || !s.Start.Before(until) {
			return nil
		}
		c, ok := clips[s.Clip]
		if !ok {
			var err error
			if c, err = getClip(tx, s.Clip); err != nil {
				return err
			}
			clips[s.Clip] = c
		}
		out = append(out, Ref{Clip: c, Segment: s})
		return nil
	})
	return out, err
}

// Overlapping is OverlappingTx in its own read transaction.
func (v *Vault) Overlapping(from, until time.Time) ([]Ref, error) {
	var out []Ref
	err := v.opts.DB.View(func(tx *bbolt.Tx) error {
		var err error
		out, err = OverlappingTx(tx, from, until)
		return err
	})
	return out, err
}

type hold struct {
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

// PlaceHoldsTx puts segments on legal hold until the given time, in the
// caller's transaction (the one that accepts the token that asks for it).
// Retention never deletes a held segment; a later hold can only extend one.
func PlaceHoldsTx(tx *bbolt.Tx, refs []Ref, until time.Time, reason string) error {
	b, err := tx.CreateBucketIfNotExists(bucketHolds)
	if err != nil {
		return err
	}
	for _, r := range refs {
		key := segmentKey(r.Segment.Clip, r.Segment.Seq)
		if old := b.Get(key); old != nil {
			var h hold
			if json.Unmarshal(old, &h) != nil || h.Until.After(until) {
				continue // a longer hold, or a damaged record (held for good)
			}
		}
		data, err := json.Marshal(hold{Until: until, Reason: reason})
		if err != nil {
			return err
		}
		if err := b.Put(key, data); err != nil {
			return err
		}
	}
	return nil
}

// heldForever is what a hold record that does not parse counts as: held
// (fail closed: a damaged record must never free evidence).
var heldForever = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// heldUntil returns when the segment's hold ends (zero if none; far in
// the future for a record that does not parse).
func heldUntil(tx *bbolt.Tx, s Segment) time.Time {
	b := tx.Bucket(bucketHolds)
	if b == nil {
		return time.Time{}
	}
	data := b.Get(segmentKey(s.Clip, s.Seq))
	if data == nil {
		return time.Time{}
	}
	var h hold
	if err := json.Unmarshal(data, &h); err != nil || h.Until.IsZero() {
		return heldForever
	}
	return h.Until
}

// ErrHeldOverLimit is returned by Enforce when segments on legal hold alone
// take more than MaxBytes: evidence is never evicted, so the agent must stop
// recording rather than fill the disk.
var ErrHeldOverLimit = errors.New("vault: footage on legal hold alone exceeds retention.max_bytes")

// HeldBytes returns the size of the segments on hold at now.
func (v *Vault) HeldBytes(now time.Time) (int64, error) {
	var n int64
	err := v.opts.DB.View(func(tx *bbolt.Tx) error {
		return forEachSegment(tx, func(s Segment) error {
			if heldUntil(tx, s).After(now) {
				n += s.Size
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("vault: %w", err)
	}
	return n, nil
}
