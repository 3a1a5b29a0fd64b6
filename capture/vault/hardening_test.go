package vault

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
	"go.etcd.io/bbolt"
)

// TestRetentionRechecksHolds (issue 8, finding 6): a legal hold placed
// between retention's choice (a read transaction) and its deletion (a
// later write transaction) wins: the segment and its hold record stay.
func TestRetentionRechecksHolds(t *testing.T) {
	f := newFixture(t)
	v := f.open(t, time.Hour, 0)
	writeClip(t, v, t0, 3, 1000, true)
	f.clk.Advance(2 * time.Hour) // every segment is past max age
	refs, _ := v.Overlapping(t0, t0.Add(1500*time.Millisecond))
	until := f.clk.Now().Add(48 * time.Hour)
	v.beforeDelete = func() {
		if err := f.db.Update(func(tx *bbolt.Tx) error { return PlaceHoldsTx(tx, refs, until, "legal:jti-race") }); err != nil {
			t.Error(err)
		}
	}
	n, err := v.Enforce()
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("retention deleted %d segments, want only the one never held", n)
	}
	clips, _ := v.Clips()
	if len(clips) != 1 || clips[0].Segments != 2 {
		t.Fatalf("held segments deleted: %+v", clips)
	}
	for _, r := range refs {
		if _, err := os.Stat(v.SegmentPath(clips[0], r.Segment.Seq)); err != nil {
			t.Errorf("held segment %d: %v", r.Segment.Seq, err)
		}
	}
	if held, _ := v.HeldBytes(f.clk.Now()); held != refs[0].Segment.Size+refs[1].Segment.Size {
		t.Errorf("held bytes %d: the hold records were lost", held)
	}
}

// TestCorruptHoldCountsAsHeld (issue 8, finding 6): a hold record that
// does not parse keeps its segment (fail closed), and a later hold does
// not replace it.
func TestCorruptHoldCountsAsHeld(t *testing.T) {
	f := newFixture(t)
	v := f.open(t, time.Hour, 0)
	writeClip(t, v, t0, 2, 1000, true)
	refs, _ := v.Overlapping(t0, t0.Add(500*time.Millisecond)) // segment 1
	if err := f.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketHolds)
		if err != nil {
			return err
		}
		return b.Put(segmentKey(refs[0].Segment.Clip, refs[0].Segment.Seq), []byte(`{"until":"not a time"`))
	}); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(100 * 24 * time.Hour)
	if err := f.db.Update(func(tx *bbolt.Tx) error {
		return PlaceHoldsTx(tx, refs, f.clk.Now().Add(-time.Hour), "legal:expired")
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := v.Enforce(); err != nil || n != 1 {
		t.Fatalf("deleted %d, %v: want only the segment without a hold record", n, err)
	}
	clips, _ := v.Clips()
	if len(clips) != 1 || clips[0].Segments != 1 {
		t.Fatalf("the segment with a damaged hold record was deleted: %+v", clips)
	}
	if held, _ := v.HeldBytes(f.clk.Now()); held == 0 {
		t.Error("a damaged hold record does not count as held")
	}
}

// TestRecoveryKeepsHoldsInForce (issue 8, finding 6): crash recovery drops
// the index entry of a segment whose file is gone, but not the hold an
// authority placed on it; an ended hold goes with its segment.
func TestRecoveryKeepsHoldsInForce(t *testing.T) {
	f := newFixture(t)
	v := f.open(t, 0, 0)
	writeClip(t, v, t0, 3, 100, true)
	refs, _ := v.Overlapping(t0, t0.Add(2500*time.Millisecond)) // segments 1, 2, 3
	if err := f.db.Update(func(tx *bbolt.Tx) error {
		if err := PlaceHoldsTx(tx, refs[:1], f.clk.Now().Add(time.Hour), "legal:a"); err != nil {
			return err
		}
		return PlaceHoldsTx(tx, refs[1:2], f.clk.Now().Add(-time.Hour), "legal:b")
	}); err != nil {
		t.Fatal(err)
	}
	clips, _ := v.Clips()
	os.Remove(v.SegmentPath(clips[0], 1))
	os.Remove(v.SegmentPath(clips[0], 2))
	f.reopenDB(t)
	f.open(t, 0, 0)
	f.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketHolds)
		if b.Get(segmentKey(refs[0].Segment.Clip, 1)) == nil {
			t.Error("recovery deleted a hold in force")
		}
		if b.Get(segmentKey(refs[1].Segment.Clip, 2)) != nil {
			t.Error("recovery kept an ended hold of a deleted segment")
		}
		return nil
	})
}

// TestRecoveryRemovesFilesAfterCommit (issue 8, finding 7): when crash
// recovery's repair transaction rolls back, no file was removed, so the
// index never names missing files; the next recovery does the repair.
func TestRecoveryRemovesFilesAfterCommit(t *testing.T) {
	f := newFixture(t)
	v := f.open(t, 0, 0)
	writeClip(t, v, t0, 2, 100, true)
	clips, _ := v.Clips()
	dir := clips[0].Path
	// Both segment files are lost: the clip is left with no segments.
	os.Remove(v.SegmentPath(clips[0], 1))
	os.Remove(v.SegmentPath(clips[0], 2))
	f.reopenDB(t)
	fail := errors.New("disk full")
	_, err := Open(Options{
		Dir: filepath.Join(f.dir, "clips"), DB: f.db, Recipients: []age.Recipient{f.owner.Recipient()},
		Clock: f.clk, Log: slog.New(slog.DiscardHandler), repairHook: func() error { return fail },
	})
	if !errors.Is(err, fail) {
		t.Fatalf("Open: %v, want the repair's failure", err)
	}
	if _, err := os.Stat(filepath.Join(dir, InitName)); err != nil {
		t.Fatalf("a rolled-back repair removed the clip's files: %v", err)
	}
	// The repair, done for real.
	v2 := f.open(t, 0, 0)
	if clips, _ := v2.Clips(); len(clips) != 0 {
		t.Fatalf("clips after repair: %+v", clips)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the clip's directory is left after the repair committed: %v", err)
	}
}

// TestRetentionCountsStateDB (issue 8, finding 1): max_bytes caps the
// clips and state.db together, so a database that grows (the audit log)
// takes the oldest footage, not the free space recording needs.
func TestRetentionCountsStateDB(t *testing.T) {
	f := newFixture(t)
	v := f.open(t, 0, 0)
	writeClip(t, v, t0, 4, 10_000, true)
	writeClip(t, v, t0.Add(time.Hour), 4, 10_000, true)
	// The database grows by 2 MiB.
	if err := f.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("bulk"))
		if err != nil {
			return err
		}
		for i := range 64 {
			if err := b.Put([]byte{byte(i)}, bytes.Repeat([]byte{1}, 32<<10)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(f.db.Path())
	v.opts.MaxBytes = st.Size() + v.TotalBytes()*3/4
	n, err := v.Enforce()
	if err != nil {
		t.Fatal(err)
	}
	st, _ = os.Stat(f.db.Path())
	if n == 0 || v.TotalBytes()+st.Size() > v.opts.MaxBytes {
		t.Fatalf("deleted %d segments; clips %d + state.db %d > max_bytes %d", n, v.TotalBytes(), st.Size(), v.opts.MaxBytes)
	}
}
