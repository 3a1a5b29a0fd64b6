package auditlog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/device/clock/clocktest"

	"github.com/doorward/doorward/consent/audit"
)

type keySigner struct{ priv ed25519.PrivateKey }

func (k keySigner) Sign(msg []byte) []byte       { return ed25519.Sign(k.priv, msg) }
func (k keySigner) PublicKey() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

func newSigner(t testing.TB) keySigner {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keySigner{priv}
}

var start = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

type fixture struct {
	db   *bbolt.DB
	log  *Log
	clk  *clocktest.Fake
	sig  keySigner
	path string
}

func openDB(t testing.TB, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{clk: clocktest.New(start), sig: newSigner(t), path: filepath.Join(t.TempDir(), "state.db")}
	f.db = openDB(t, f.path)
	t.Cleanup(func() { f.db.Close() })
	var err error
	if f.log, err = Open(f.db, f.sig, f.clk); err != nil {
		t.Fatal(err)
	}
	return f
}

var sampleKinds = []audit.Kind{audit.KindPairing, audit.KindEnroll, audit.KindGrantAccepted, audit.KindGrantRefused, audit.KindRevoke,
	audit.KindTokenAccepted, audit.KindTokenRefused, audit.KindDisclosure, audit.KindPolicyChange, audit.KindLiveSession}

func sample(i int) audit.Entry {
	e := audit.Entry{
		Kind:    sampleKinds[i%len(sampleKinds)],
		Reason:  fmt.Sprintf("reason-%d", i),
		Subject: []string{fmt.Sprintf("jti-%d", i)},
	}
	if i%3 == 0 {
		e.Details = map[string]string{"segment": fmt.Sprintf("clip-%d/%06d.m4s", i, i), "issuer": "court <a&b>"}
	}
	return e
}

// appendN appends n sample entries, one second apart.
func (f *fixture) appendN(t testing.TB, n int) {
	t.Helper()
	for range n {
		size, _ := f.log.Size()
		if _, err := f.log.Append(sample(int(size))); err != nil {
			t.Fatalf("Append: %v", err)
		}
		f.clk.Advance(time.Second)
	}
}

func (f *fixture) checkpoint(t testing.TB) audit.SignedCheckpoint {
	t.Helper()
	cp, err := f.log.Checkpoint()
	if err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	return cp
}

func (f *fixture) all(t testing.TB, cp audit.SignedCheckpoint) []audit.Entry {
	t.Helper()
	es, err := f.log.Entries(0, cp.Size)
	if err != nil {
		t.Fatalf("Entries: %v", err)
	}
	return es
}

// verify is what "doorwardctl audit verify" does with what the device serves.
func (f *fixture) verify(t testing.TB, prev *audit.SignedCheckpoint) (audit.SignedCheckpoint, error) {
	t.Helper()
	cp := f.checkpoint(t)
	var cons [][]byte
	if prev != nil && prev.Size <= cp.Size {
		var err error
		if cons, err = f.log.ConsistencyProof(prev.Size, cp.Size); err != nil {
			t.Fatalf("ConsistencyProof: %v", err)
		}
	}
	return cp, audit.Verify(f.sig.PublicKey(), cp, f.all(t, cp), prev, cons)
}

func TestAppendAndVerify(t *testing.T) {
	f := newFixture(t)
	var prev *audit.SignedCheckpoint
	for _, n := range []int{0, 1, 1, 2, 5, 8, 16, 1, 30} {
		f.appendN(t, n)
		cp, err := f.verify(t, prev)
		if err != nil {
			t.Fatalf("after %d more: %v", n, err)
		}
		prev = &cp
	}
	size := prev.Size
	if size != 64 {
		t.Fatalf("size %d, want 64", size)
	}
	entries := f.all(t, *prev)
	for i, e := range entries {
		if e.Seq != uint64(i) || e.Kind != sample(i).Kind || e.Reason != sample(i).Reason {
			t.Fatalf("entry %d = %+v", i, e)
		}
		if want := start.Add(time.Duration(i) * time.Second); !e.Time.Equal(want) {
			t.Fatalf("entry %d time %v, want %v", i, e.Time, want)
		}
	}
	// Every inclusion proof, in every tree size, checks against the root
	// the entries give; and every consistency proof between sizes.
	roots := make([][]byte, size+1)
	for s := uint64(0); s <= size; s++ {
		r, err := audit.RootOf(entries[:s])
		if err != nil {
			t.Fatal(err)
		}
		roots[s] = r
	}
	for s := uint64(1); s <= size; s += 7 {
		for i := uint64(0); i < s; i++ {
			p, err := f.log.InclusionProof(i, s)
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", i, s, err)
			}
			if err := audit.VerifyInclusion(audit.Checkpoint{Size: s, Root: roots[s]}, entries[i], p); err != nil {
				t.Fatalf("inclusion %d in %d: %v", i, s, err)
			}
			// The proof is for this entry only.
			if err := audit.VerifyInclusion(audit.Checkpoint{Size: s, Root: roots[s]}, entries[(i+1)%s], p); s > 1 && err == nil {
				t.Fatalf("inclusion proof %d in %d verified another entry", i, s)
			}
		}
		for o := uint64(0); o <= s; o++ {
			p, err := f.log.ConsistencyProof(o, s)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", o, s, err)
			}
			a := audit.SignedCheckpoint{Checkpoint: audit.Checkpoint{Size: o, Root: roots[o], Time: start}}
			a.Signature = f.sig.Sign(a.Body())
			b := audit.SignedCheckpoint{Checkpoint: audit.Checkpoint{Size: s, Root: roots[s], Time: start}}
			b.Signature = f.sig.Sign(b.Body())
			if err := audit.Verify(f.sig.PublicKey(), b, entries[:s], &a, p); err != nil {
				t.Fatalf("consistency %d → %d: %v", o, s, err)
			}
		}
	}
	// Out of range.
	for _, c := range [][2]uint64{{size, size}, {0, size + 1}, {5, 3}} {
		if _, err := f.log.InclusionProof(c[0], c[1]); !errors.Is(err, ErrRange) {
			t.Errorf("InclusionProof(%d, %d) = %v, want ErrRange", c[0], c[1], err)
		}
	}
	for _, c := range [][2]uint64{{5, 3}, {3, size + 1}, {0, size + 1}} {
		if _, err := f.log.ConsistencyProof(c[0], c[1]); !errors.Is(err, ErrRange) {
			t.Errorf("ConsistencyProof(%d, %d) = %v, want ErrRange", c[0], c[1], err)
		}
	}
	if _, err := f.log.Entries(3, size+1); !errors.Is(err, ErrRange) {
		t.Errorf("Entries past the end: %v, want ErrRange", err)
	}
	if _, err := f.log.Entries(4, 3); !errors.Is(err, ErrRange) {
		t.Errorf("Entries backwards: %v, want ErrRange", err)
	}
}

// TestPersistence reopens the database: the log, its root and its proofs
// survive, and appending continues.
func TestPersistence(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, 9)
	cp1, err := f.verify(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.db.Close()
	f.db = openDB(t, f.path)
	if f.log, err = Open(f.db, f.sig, f.clk); err != nil {
		t.Fatal(err)
	}
	f.appendN(t, 4)
	if _, err := f.verify(t, &cp1); err != nil {
		t.Fatal(err)
	}
}

func TestTamperedLeaf(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, 12)
	prev, err := f.verify(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Change one stored leaf, keeping it canonical: a refused token now
	// reads as accepted.
	f.db.Close()
	db := openDB(t, f.path)
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLeaves)
		old := b.Get(u64(6))
		neu := bytes.Replace(old, []byte(`"token-refused"`), []byte(`"token-accepted"`), 1)
		if bytes.Equal(old, neu) {
			return fmt.Errorf("leaf 6 is not a refusal: %s", old)
		}
		return b.Put(u64(6), neu)
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	f.db = openDB(t, f.path)
	if f.log, err = Open(f.db, f.sig, f.clk); err != nil {
		t.Fatal(err)
	}
	if e, _ := f.log.Entries(6, 7); e[0].Kind != audit.KindTokenAccepted {
		t.Fatalf("tamper did not take: %+v", e[0])
	}
	// The device still signs the stored nodes' root: the entries disagree.
	if _, err := f.verify(t, &prev); !errors.Is(err, audit.ErrRootMismatch) {
		t.Fatalf("verify after tampering: %v, want audit.ErrRootMismatch", err)
	}
	// Without a previous checkpoint too.
	if _, err := f.verify(t, nil); !errors.Is(err, audit.ErrRootMismatch) {
		t.Fatalf("verify after tampering, no prev: %v, want audit.ErrRootMismatch", err)
	}

	// A device that rewrites its whole tree to match the tampered leaf
	// (a fresh log with the edited history) signs a consistent-looking
	// checkpoint, but not one consistent with what the owner stored.
	entries := f.all(t, prev)
	g := newFixture(t)
	g.sig = f.sig
	if g.log, err = Open(g.db, g.sig, g.clk); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, err := g.log.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	g.clk.Advance(time.Hour)
	if _, err := g.verify(t, nil); err != nil {
		t.Fatalf("the rewritten log verifies on its own: %v", err)
	}
	if _, err := g.verify(t, &prev); !errors.Is(err, audit.ErrInconsistent) {
		t.Fatalf("rewritten log against the stored checkpoint: %v, want audit.ErrInconsistent", err)
	}
	g.appendN(t, 3)
	if _, err := g.verify(t, &prev); !errors.Is(err, audit.ErrInconsistent) {
		t.Fatalf("grown rewritten log against the stored checkpoint: %v, want audit.ErrInconsistent", err)
	}
}

func TestTamperedLeafNotCanonical(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, 4)
	err := f.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLeaves)
		return b.Put(u64(2), append([]byte(" "), b.Get(u64(2))...))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.log.Entries(0, 4); !errors.Is(err, audit.ErrBadEntry) {
		t.Fatalf("Entries with a non-canonical leaf: %v, want audit.ErrBadEntry", err)
	}
}

func TestDeletedLastLeaves(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, 10)
	prev, err := f.verify(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Delete the last three leaves and shrink the size, as someone hiding
	// the latest disclosures would.
	err = f.db.Update(func(tx *bbolt.Tx) error {
		for i := uint64(7); i < 10; i++ {
			if err := tx.Bucket(bucketLeaves).Delete(u64(i)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySize, u64(7))
	})
	if err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(time.Minute)
	cp, err := f.verify(t, &prev)
	if !errors.Is(err, audit.ErrRollback) {
		t.Fatalf("verify after deleting leaves: %v, want audit.ErrRollback", err)
	}
	if cp.Size != 7 {
		t.Fatalf("checkpoint size %d, want 7", cp.Size)
	}
	// Deleting leaves without fixing the size breaks the log outright.
	err = f.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketLeaves).Delete(u64(6))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.log.Entries(0, 7); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Entries with a leaf missing: %v, want ErrCorrupt", err)
	}
}

func TestOlderCheckpointIsRollback(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, 5)
	old := f.checkpoint(t)
	oldEntries := f.all(t, old)
	f.appendN(t, 5)
	cur, err := f.verify(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The device (or a relay) serves the older checkpoint and its entries:
	// valid signature, valid root, smaller tree.
	if err := audit.Verify(f.sig.PublicKey(), old, oldEntries, nil, nil); err != nil {
		t.Fatalf("the old checkpoint is valid on its own: %v", err)
	}
	if err := audit.Verify(f.sig.PublicKey(), old, oldEntries, &cur, nil); !errors.Is(err, audit.ErrRollback) {
		t.Fatalf("older checkpoint: %v, want audit.ErrRollback", err)
	}
	// Same size, earlier time: also a rollback.
	f.clk.Advance(time.Hour)
	later, err := f.verify(t, &cur)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.Verify(f.sig.PublicKey(), cur, f.all(t, cur), &later, nil); !errors.Is(err, audit.ErrRollback) {
		t.Fatalf("earlier checkpoint of the same size: %v, want audit.ErrRollback", err)
	}
	// Same size, other root.
	forged := later
	forged.Root = bytes.Clone(old.Root)
	forged.Signature = f.sig.Sign(forged.Body())
	if err := audit.Verify(f.sig.PublicKey(), forged, f.all(t, cur), &later, nil); !errors.Is(err, audit.ErrInconsistent) {
		t.Fatalf("same size, other root: %v, want audit.ErrInconsistent", err)
	}
	// A bigger tree: with the whole log and no proof, the prefix must give
	// the root verified before; with a wrong proof it fails.
	f.appendN(t, 3)
	cp := f.checkpoint(t)
	if err := audit.Verify(f.sig.PublicKey(), cp, f.all(t, cp), &later, nil); err != nil {
		t.Fatalf("whole log, no proof: %v", err)
	}
	rewritten := f.all(t, cp)
	rewritten[0].Reason = "rewritten"
	if err := audit.Verify(f.sig.PublicKey(), cp, rewritten, &later, nil); !errors.Is(err, audit.ErrInconsistent) {
		t.Fatalf("whole log with a rewritten prefix, no proof: %v, want audit.ErrInconsistent", err)
	}
	if err := audit.Verify(f.sig.PublicKey(), cp, f.all(t, cp)[1:], &later, nil); !errors.Is(err, audit.ErrInconsistent) {
		t.Fatalf("part of the log, no proof: %v, want audit.ErrInconsistent", err)
	}
	p, _ := f.log.ConsistencyProof(later.Size, cp.Size)
	p[0][0] ^= 1
	if err := audit.Verify(f.sig.PublicKey(), cp, f.all(t, cp), &later, p); !errors.Is(err, audit.ErrInconsistent) {
		t.Fatalf("bad consistency proof: %v, want audit.ErrInconsistent", err)
	}
}

func TestBadSignature(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, 3)
	cp := f.checkpoint(t)
	entries := f.all(t, cp)
	pub := f.sig.PublicKey()
	bad := cp
	bad.Signature = bytes.Clone(cp.Signature)
	bad.Signature[10] ^= 1
	other := newSigner(t)
	for name, tc := range map[string]struct {
		pub  ed25519.PublicKey
		cp   audit.SignedCheckpoint
		prev *audit.SignedCheckpoint
	}{
		"flipped-bit":    {pub, bad, nil},
		"other-device":   {other.PublicKey(), cp, nil},
		"size-changed":   {pub, withSize(cp, cp.Size-1), nil},
		"time-changed":   {pub, withTime(cp, cp.Time.Add(time.Second)), nil},
		"no-signature":   {pub, audit.SignedCheckpoint{Checkpoint: cp.Checkpoint}, nil},
		"prev-forged":    {pub, cp, &bad},
		"prev-other-key": {pub, cp, signedBy(other, cp.Checkpoint)},
	} {
		t.Run(name, func(t *testing.T) {
			if err := audit.Verify(tc.pub, tc.cp, entries, tc.prev, nil); !errors.Is(err, audit.ErrBadSignature) {
				t.Fatalf("err = %v, want audit.ErrBadSignature", err)
			}
		})
	}
	if err := audit.Verify(pub[:31], cp, entries, nil, nil); err == nil {
		t.Fatal("short device key accepted")
	}
}

func withSize(c audit.SignedCheckpoint, s uint64) audit.SignedCheckpoint     { c.Size = s; return c }
func withTime(c audit.SignedCheckpoint, tm time.Time) audit.SignedCheckpoint { c.Time = tm; return c }
func signedBy(s audit.Signer, c audit.Checkpoint) *audit.SignedCheckpoint {
	return &audit.SignedCheckpoint{Checkpoint: c, Signature: s.Sign(c.Body())}
}

func TestEntriesTamperedInTransit(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, 6)
	cp := f.checkpoint(t)
	for name, edit := range map[string]func([]audit.Entry) []audit.Entry{
		"reason":   func(e []audit.Entry) []audit.Entry { e[2].Reason = "other"; return e },
		"subject":  func(e []audit.Entry) []audit.Entry { e[3].Subject = nil; return e },
		"detail":   func(e []audit.Entry) []audit.Entry { e[0].Details["segment"] = "x"; return e },
		"time":     func(e []audit.Entry) []audit.Entry { e[1].Time = e[1].Time.Add(time.Nanosecond); return e },
		"dropped":  func(e []audit.Entry) []audit.Entry { return append(e[:2], e[3:]...) },
		"last-cut": func(e []audit.Entry) []audit.Entry { return e[:5] },
		"swapped": func(e []audit.Entry) []audit.Entry {
			e[1], e[2] = e[2], e[1]
			e[1].Seq, e[2].Seq = 1, 2
			return e
		},
		"extra": func(e []audit.Entry) []audit.Entry {
			return append(e, audit.Entry{Seq: 6, Kind: audit.KindRevoke, Time: start})
		},
	} {
		t.Run(name, func(t *testing.T) {
			es := edit(f.all(t, cp))
			if err := audit.Verify(f.sig.PublicKey(), cp, es, nil, nil); !errors.Is(err, audit.ErrRootMismatch) {
				t.Fatalf("err = %v, want audit.ErrRootMismatch", err)
			}
		})
	}
}

// TestRolledBackTransaction: a leaf appended in a transaction that fails
// does not exist, and the tree goes on as if it had never been tried.
func TestRolledBackTransaction(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, 5)
	before := f.checkpoint(t)
	abort := errors.New("jti write failed")
	err := f.db.Update(func(tx *bbolt.Tx) error {
		if _, err := f.log.AppendTx(tx, audit.Entry{Kind: audit.KindTokenAccepted, Subject: []string{"jti-x"}}); err != nil {
			return err
		}
		if _, err := f.log.AppendCommitment(tx, audit.Entry{Kind: audit.KindDisclosure, Time: start}, make([]byte, 16)); err != nil {
			return err
		}
		return abort
	})
	if !errors.Is(err, abort) {
		t.Fatal(err)
	}
	after := f.checkpoint(t)
	if after.Size != before.Size || !bytes.Equal(after.Root, before.Root) {
		t.Fatalf("rolled-back append changed the log: %d → %d", before.Size, after.Size)
	}
	_ = f.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketLeaves).Get(u64(5)); v != nil {
			t.Errorf("leaf 5 exists: %s", v)
		}
		return nil
	})
	// And in the same transaction as other writes, both commit.
	err = f.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("tokens_seen"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("jti-y"), []byte{1}); err != nil {
			return err
		}
		idx, err := f.log.AppendTx(tx, audit.Entry{Kind: audit.KindTokenAccepted, Subject: []string{"jti-y"}})
		if idx != 5 {
			t.Errorf("index %d, want 5", idx)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.verify(t, &before); err != nil {
		t.Fatal(err)
	}
}

func TestAppendRefuses(t *testing.T) {
	f := newFixture(t)
	big := strings.Repeat("x", maxField)
	for name, e := range map[string]audit.Entry{
		"no-kind":         {},
		"unknown-kind":    {Kind: "exfiltration"},
		"bad-utf8":        {Kind: audit.KindRevoke, Reason: "\xff"},
		"bad-utf8-detail": {Kind: audit.KindRevoke, Details: map[string]string{"k": "\xc3"}},
		"empty-key":       {Kind: audit.KindRevoke, Details: map[string]string{"": "v"}},
		"long-field":      {Kind: audit.KindRevoke, Reason: big + "x"},
		"too-big":         {Kind: audit.KindRevoke, Subject: []string{big, big, big, big, big}},
		"many-subjects":   {Kind: audit.KindRevoke, Subject: make([]string, maxSubjects+1)},
		"year-10000":      {Kind: audit.KindRevoke, Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := f.log.Append(e); !errors.Is(err, audit.ErrBadEntry) {
				t.Fatalf("err = %v, want audit.ErrBadEntry", err)
			}
		})
	}
	if err := f.db.View(func(tx *bbolt.Tx) error {
		_, err := f.log.AppendTx(tx, sample(0))
		return err
	}); !errors.Is(err, ErrReadOnlyTx) {
		t.Fatalf("read-only tx: %v, want ErrReadOnlyTx", err)
	}
	if _, err := f.log.AppendTx(nil, sample(0)); !errors.Is(err, ErrReadOnlyTx) {
		t.Fatalf("nil tx: %v, want ErrReadOnlyTx", err)
	}
	if size, _ := f.log.Size(); size != 0 {
		t.Fatalf("refused appends left %d leaves", size)
	}
	if _, err := Open(nil, f.sig, f.clk); err == nil {
		t.Fatal("Open without a database")
	}
	if _, err := Open(f.db, noKey{}, f.clk); err == nil {
		t.Fatal("Open with a signer without a key")
	}
}

func TestCorruptStore(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, 4)
	// A node the size says exists is missing.
	if err := f.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketNodes).Delete(nodeKey2(2, 0))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.log.Checkpoint(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("audit.Checkpoint with a node missing: %v, want ErrCorrupt", err)
	}
	if _, err := f.log.Append(sample(4)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Append with a node missing: %v, want ErrCorrupt", err)
	}
	if err := f.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySize, []byte{1})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.log.Size(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Size with a bad size record: %v, want ErrCorrupt", err)
	}
}

type noKey struct{}

func (noKey) Sign([]byte) []byte           { return nil }
func (noKey) PublicKey() ed25519.PublicKey { return nil }

func nodeKey2(level byte, index uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{level}, index)
}

// audit's limits on one entry's fields.
const (
	maxField    = 8 << 10
	maxSubjects = 64
)
