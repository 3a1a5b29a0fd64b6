package schema

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"
)

func openDB(t *testing.T) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "state.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrateCreatesEveryBucketAndRecordsTheVersion(t *testing.T) {
	db := openDB(t)
	// A database of a release before versions: some buckets, data in them.
	db.Update(func(tx *bbolt.Tx) error {
		b, _ := tx.CreateBucket(Meta)
		b.Put([]byte("uptime_ns"), []byte("12345678"))
		return nil
	})
	from, err := Migrate(db)
	if err != nil || from != 0 {
		t.Fatalf("Migrate: from %d, %v", from, err)
	}
	db.View(func(tx *bbolt.Tx) error {
		for _, b := range All() {
			if tx.Bucket(b) == nil {
				t.Errorf("bucket %s missing", b)
			}
		}
		if v, err := VersionOf(tx); v != Version || err != nil {
			t.Errorf("version %d, %v", v, err)
		}
		if string(tx.Bucket(Meta).Get([]byte("uptime_ns"))) != "12345678" {
			t.Error("Migrate lost a value")
		}
		return nil
	})
	// Again: nothing to do.
	if from, err := Migrate(db); err != nil || from != Version {
		t.Fatalf("second Migrate: from %d, %v", from, err)
	}
	if err := Check(db); err != nil {
		t.Error(err)
	}
}

func TestNewerOrDamagedVersionRefused(t *testing.T) {
	db := openDB(t)
	db.Update(func(tx *bbolt.Tx) error {
		b, _ := tx.CreateBucket(Meta)
		return b.Put(KeyVersion, binary.BigEndian.AppendUint64(nil, Version+1))
	})
	if _, err := Migrate(db); !errors.Is(err, ErrNewer) {
		t.Errorf("Migrate of a newer database: %v", err)
	}
	if err := Check(db); !errors.Is(err, ErrNewer) {
		t.Errorf("Check of a newer database: %v", err)
	}
	db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(Meta).Put(KeyVersion, []byte{1}) })
	if _, err := Migrate(db); err == nil {
		t.Error("Migrate accepted a 1-byte version")
	}
}

func TestBucketNamesAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range All() {
		if seen[string(b)] {
			t.Errorf("bucket %s named twice", b)
		}
		seen[string(b)] = true
	}
}
