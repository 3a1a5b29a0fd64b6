// Package schema is the one owner of the agent's state database layout:
// the name of every bbolt bucket, whichever package keeps its records
// there (the gate, the audit log, the vault, the uplink's outbox), and the
// schema version stored in the meta bucket. The agent calls Migrate right
// after opening state.db, before any package reads it; Migrate brings a
// database written by any earlier release to the current layout in one
// transaction, and refuses one written by a newer release.
//
// It is a leaf package: it imports no other package of this project, so
// the packages that own records can all import it.
package schema

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// Version is the layout this code reads and writes. A database without a
// version is version 0, the layout of the releases before schema versions.
//
//	0  the releases before schema versions (bf67351 and earlier)
//	1  meta holds schema_version; every bucket below exists
//	2  the vault's events bucket (sensor events without video)
//	3  replay is tracked one way: every accepted statement's jti is in
//	   StatementsSeen as "<kind>/<jti>" (legal tokens moved there from
//	   tokens_seen, grants recorded there); jobs have a state, and the
//	   unfinished ones are indexed in JobsPending
//	4  the notices not yet released are indexed in NoticesPending
const Version = 4

// Buckets of the agent's state database (DESIGN.md "State on the device").
var (
	// Meta holds small device-wide values: the schema version, the time
	// floor and the accumulated uptime.
	Meta = []byte("meta")

	// The gate's (device/gate).
	Owner  = []byte("owner")  // kid → enrolled owner
	Policy = []byte("policy") // "current" → trust policy the owner approved
	Grants = []byte("grants") // jti → accepted grant
	// StatementsSeen holds "<kind>/<jti>" of every accepted statement
	// (owner statements, legal tokens, logins, live statements), so that
	// none is accepted twice.
	StatementsSeen = []byte("statements_seen")
	Notices        = []byte("notices")         // u64 id → owner notice
	Jobs           = []byte("disclosure_jobs") // job id → disclosure job
	// NoticesPending indexes the notices not yet released: u64 id →
	// nothing.
	NoticesPending = []byte("notices_pending")
	// JobsPending indexes the unfinished jobs: u64 next attempt (Unix
	// nanoseconds) ‖ job id → nothing.
	JobsPending = []byte("jobs_pending")

	// The vault's (capture/vault).
	Clips    = []byte("clips")    // clip id → clip record
	Segments = []byte("segments") // "<clip>/<seq>" → segment record
	Holds    = []byte("holds")    // "<clip>/<seq>" → legal hold
	// Events holds the sensor events that have no video (the camera was
	// stalled): time ‖ sequence → event record.
	Events = []byte("events")

	// The audit log's (consent/audit).
	AuditLeaves   = []byte("audit_leaves")   // u64 index → canonical entry
	AuditNodes    = []byte("audit_nodes")    // level ‖ u64 index → hash
	AuditMeta     = []byte("audit_meta")     // tree size
	AuditRefusals = []byte("audit_refusals") // aggregated refusals
	AuditOpenings = []byte("audit_openings") // commitment index → opening index

	// The uplink's (uplink): messages stored before they are published.
	Outbox = []byte("outbox")
)

// All lists every bucket of the current layout.
func All() [][]byte {
	return [][]byte{
		Meta, Owner, Policy, Grants, StatementsSeen, Notices, NoticesPending, Jobs, JobsPending,
		Clips, Segments, Holds, Events,
		AuditLeaves, AuditNodes, AuditMeta, AuditRefusals, AuditOpenings,
		Outbox,
	}
}

// Retired buckets, named for the migrations that remove them.
var (
	// tokensSeen held the jti of every accepted legal token (version < 3).
	tokensSeen = []byte("tokens_seen")
)

// KeyVersion is the key of the schema version in Meta (8 bytes, big-endian).
var KeyVersion = []byte("schema_version")

// ErrNewer is returned (wrapped) for a database written by a newer release.
var ErrNewer = errors.New("schema: the state database was written by a newer release")

// step upgrades a database of version n-1 to version n (steps[n-1]).
type step func(tx *bbolt.Tx) error

var steps = []step{
	// 0 → 1: the layout did not change; create whatever bucket is
	// missing (an agent that never paired has no vault buckets).
	createAll,
	// 1 → 2: the events bucket.
	createAll,
	// 2 → 3: one replay record, job states and the pending index.
	oneReplayRecordAndJobStates,
	// 3 → 4: the index of notices not yet released.
	indexPendingNotices,
}

func createAll(tx *bbolt.Tx) error {
	for _, b := range All() {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("bucket %s: %w", b, err)
		}
	}
	return nil
}

// seenRecord is a StatementsSeen value.
type seenRecord struct {
	Accepted time.Time `json:"accepted"`
	Expires  time.Time `json:"expires,omitzero"`
}

func oneReplayRecordAndJobStates(tx *bbolt.Tx) error {
	if err := createAll(tx); err != nil {
		return err
	}
	seen := tx.Bucket(StatementsSeen)
	// Earlier statement records held the acceptance time as text.
	var rewrite [][2][]byte
	if err := seen.ForEach(func(k, v []byte) error {
		var t time.Time
		if t.UnmarshalText(v) == nil {
			data, _ := json.Marshal(seenRecord{Accepted: t})
			rewrite = append(rewrite, [2][]byte{bytes.Clone(k), data})
		}
		return nil
	}); err != nil {
		return err
	}
	for _, kv := range rewrite {
		if err := seen.Put(kv[0], kv[1]); err != nil {
			return err
		}
	}
	if old := tx.Bucket(tokensSeen); old != nil {
		if err := old.ForEach(func(k, v []byte) error {
			var r seenRecord // {"accepted", "expires"}, as the gate wrote it
			json.Unmarshal(v, &r)
			data, _ := json.Marshal(r)
			return seen.Put(append([]byte("legal/"), k...), data)
		}); err != nil {
			return err
		}
		if err := tx.DeleteBucket(tokensSeen); err != nil {
			return err
		}
	}
	// A grant's jti was its record's key.
	if err := tx.Bucket(Grants).ForEach(func(k, v []byte) error {
		var g struct {
			Accepted time.Time `json:"accepted"`
			Expires  time.Time `json:"expires"`
		}
		json.Unmarshal(v, &g)
		data, _ := json.Marshal(seenRecord{Accepted: g.Accepted, Expires: g.Expires})
		return seen.Put(append([]byte("grant/"), k...), data)
	}); err != nil {
		return err
	}
	// Jobs: done ones were delivered (files written) or failed (none);
	// the others are pending and indexed, due at once.
	jobs, pending := tx.Bucket(Jobs), tx.Bucket(JobsPending)
	var updated [][2][]byte
	if err := jobs.ForEach(func(k, v []byte) error {
		var j map[string]any
		if err := json.Unmarshal(v, &j); err != nil {
			return fmt.Errorf("job %s: %w", k, err)
		}
		if _, ok := j["state"]; ok {
			return nil
		}
		done, _ := j["done"].(string)
		files, _ := j["files"].([]any)
		switch {
		case done == "":
			j["state"] = "pending"
			if err := pending.Put(append(binary.BigEndian.AppendUint64(nil, 0), k...), nil); err != nil {
				return err
			}
		case len(files) > 0:
			j["state"] = "delivered"
		default:
			j["state"] = "failed"
		}
		data, err := json.Marshal(j)
		if err != nil {
			return err
		}
		updated = append(updated, [2][]byte{bytes.Clone(k), data})
		return nil
	}); err != nil {
		return err
	}
	for _, kv := range updated {
		if err := jobs.Put(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

func indexPendingNotices(tx *bbolt.Tx) error {
	if err := createAll(tx); err != nil {
		return err
	}
	idx := tx.Bucket(NoticesPending)
	return tx.Bucket(Notices).ForEach(func(k, v []byte) error {
		var n struct {
			Released bool `json:"released"`
		}
		if err := json.Unmarshal(v, &n); err != nil {
			return fmt.Errorf("notice %x: %w", k, err)
		}
		if n.Released {
			return nil
		}
		return idx.Put(bytes.Clone(k), nil)
	})
}

// VersionOf returns the schema version of the database tx reads: 0 when
// none is recorded.
func VersionOf(tx *bbolt.Tx) (int, error) {
	b := tx.Bucket(Meta)
	if b == nil {
		return 0, nil
	}
	v := b.Get(KeyVersion)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("schema: %s in bucket %s is %d bytes, want 8", KeyVersion, Meta, len(v))
	}
	return int(binary.BigEndian.Uint64(v)), nil
}

// Migrate brings db to Version in one transaction and returns the version
// it found. A database of the current version is left as it is (no write
// transaction); one of a newer version is refused with ErrNewer.
func Migrate(db *bbolt.DB) (from int, err error) {
	if err := db.View(func(tx *bbolt.Tx) error {
		from, err = VersionOf(tx)
		return err
	}); err != nil {
		return 0, err
	}
	switch {
	case from > Version:
		return from, fmt.Errorf("%w (schema %d; this release reads up to %d): run the newer release, or restore a backup made for this one", ErrNewer, from, Version)
	case from == Version:
		return from, nil
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		from, err = VersionOf(tx) // again, under the write lock
		if err != nil || from >= Version {
			return err
		}
		for v := from; v < Version; v++ {
			if err := steps[v](tx); err != nil {
				return fmt.Errorf("schema: upgrading from version %d to %d: %w", v, v+1, err)
			}
		}
		return tx.Bucket(Meta).Put(KeyVersion, binary.BigEndian.AppendUint64(nil, Version))
	})
	return from, err
}

// Check refuses a database opened read-only (by a command reading a
// stopped agent's state) that a newer release wrote. The readers of a
// stopped agent (clips, the audit log) read every older layout too.
func Check(db *bbolt.DB) error {
	return db.View(func(tx *bbolt.Tx) error {
		v, err := VersionOf(tx)
		if err == nil && v > Version {
			err = fmt.Errorf("%w (schema %d; this release reads up to %d)", ErrNewer, v, Version)
		}
		return err
	})
}
