package auditlog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/device/clock"
	"github.com/doorward/doorward/device/schema"
)

// Buckets, all the package's own; device/schema names them.
var (
	bucketLeaves   = schema.AuditLeaves   // u64 index → canonical entry
	bucketNodes    = schema.AuditNodes    // level byte ‖ u64 index → hash
	bucketMeta     = schema.AuditMeta     // keySize → u64 tree size
	bucketRefusals = schema.AuditRefusals // reason → u64 minute ‖ u64 count
	bucketOpenings = schema.AuditOpenings // u64 commitment index → u64 opening index
	keySize        = []byte("size")
)

var (
	// ErrRange is returned for an index, size or range outside the log.
	ErrRange = errors.New("auditlog: out of range")
	// ErrCorrupt is returned when the stored tree is inconsistent (a node
	// or leaf missing where the size says it must be).
	ErrCorrupt = errors.New("auditlog: stored log is corrupt")
	// ErrReadOnlyTx is returned when AppendTx gets a read-only transaction.
	ErrReadOnlyTx = errors.New("auditlog: append needs a writable transaction")
)

var hasher = rfc6962.DefaultHasher

// Log is the device's audit log: an RFC 6962 Merkle tree whose leaves,
// nodes and size live in bbolt. It holds no tree state in memory, so an
// append in a transaction that rolls back leaves no trace. It is safe for
// concurrent use (bbolt serialises writers). Its methods other than AppendTx
// and the *Tx ones open their own transactions: do not call them while
// holding a write transaction on the same database.
type Log struct {
	db     *bbolt.DB
	signer audit.Signer
	clk    clock.Clock
	rf     compact.RangeFactory

	// refusals aggregates unauthenticated refusals; see refusals.go.
	refusals refusalCounter
}

// Open creates the log's buckets if needed and returns the log.
func Open(db *bbolt.DB, signer audit.Signer, clk clock.Clock) (*Log, error) {
	if db == nil || signer == nil || clk == nil {
		return nil, errors.New("auditlog: Open needs a database, a signer and a clock")
	}
	if len(signer.PublicKey()) != ed25519.PublicKeySize {
		return nil, errors.New("auditlog: signer has no Ed25519 public key")
	}
	all := [][]byte{bucketLeaves, bucketNodes, bucketMeta, bucketRefusals, bucketOpenings}
	var err error
	if db.IsReadOnly() {
		// A reader of a stopped agent's database: the log must exist.
		err = db.View(func(tx *bbolt.Tx) error {
			for _, b := range all {
				if tx.Bucket(b) == nil {
					return fmt.Errorf("bucket %s missing: no audit log in this database yet", b)
				}
			}
			return nil
		})
	} else {
		err = db.Update(func(tx *bbolt.Tx) error {
			for _, b := range all {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("auditlog: opening the log: %w", err)
	}
	l := &Log{db: db, signer: signer, clk: clk, rf: compact.RangeFactory{Hash: hasher.HashChildren}}
	if err := l.loadRefusals(); err != nil {
		return nil, err
	}
	return l, nil
}

// PublicKey is the key that verifies this log's checkpoints.
func (l *Log) PublicKey() ed25519.PublicKey { return l.signer.PublicKey() }

type buckets struct {
	leaves, nodes, meta, refusals, openings *bbolt.Bucket
}

func getBuckets(tx *bbolt.Tx) (buckets, error) {
	b := buckets{tx.Bucket(bucketLeaves), tx.Bucket(bucketNodes), tx.Bucket(bucketMeta), tx.Bucket(bucketRefusals), tx.Bucket(bucketOpenings)}
	if b.leaves == nil || b.nodes == nil || b.meta == nil || b.refusals == nil || b.openings == nil {
		return b, fmt.Errorf("%w: buckets missing (was the database opened with audit.Open?)", ErrCorrupt)
	}
	return b, nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func nodeKey(id compact.NodeID) []byte {
	return binary.BigEndian.AppendUint64([]byte{byte(id.Level)}, id.Index)
}

func (b buckets) size() (uint64, error) {
	v := b.meta.Get(keySize)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: size is %d bytes", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// node returns a stored node hash.
func (b buckets) node(id compact.NodeID) ([]byte, error) {
	h := b.nodes.Get(nodeKey(id))
	if len(h) != hasher.Size() {
		return nil, fmt.Errorf("%w: node %d/%d missing", ErrCorrupt, id.Level, id.Index)
	}
	return bytes.Clone(h), nil
}

// rangeTo loads the compact range [0, size).
func (l *Log) rangeTo(b buckets, size uint64) (*compact.Range, error) {
	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := b.node(id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	r, err := l.rf.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return r, nil
}

// AppendTx appends e as the next leaf inside tx, which must be writable,
// and returns its index. It sets e.Seq to the index and e.Time to the clock
// when zero. The leaf, its Merkle nodes and the new size are written in tx
// alone, so the caller can record the decision and the audit leaf
// atomically: if tx rolls back, the leaf never existed.
func (l *Log) AppendTx(tx *bbolt.Tx, e audit.Entry) (uint64, error) {
	if !e.Kind.Known() {
		return 0, fmt.Errorf("%w: unknown kind %q", audit.ErrBadEntry, e.Kind)
	}
	return l.appendTx(tx, e)
}

func (l *Log) appendTx(tx *bbolt.Tx, e audit.Entry) (uint64, error) {
	if tx == nil || !tx.Writable() {
		return 0, ErrReadOnlyTx
	}
	b, err := getBuckets(tx)
	if err != nil {
		return 0, err
	}
	size, err := b.size()
	if err != nil {
		return 0, err
	}
	e.Seq = size
	if e.Time.IsZero() {
		e.Time = l.clk.Now()
	}
	leaf, err := e.Canonical()
	if err != nil {
		return 0, err
	}
	r, err := l.rangeTo(b, size)
	if err != nil {
		return 0, err
	}
	var putErr error
	visit := func(id compact.NodeID, h []byte) {
		if putErr == nil {
			putErr = b.nodes.Put(nodeKey(id), bytes.Clone(h))
		}
	}
	if err := r.Append(hasher.HashLeaf(leaf), visit); err != nil {
		return 0, fmt.Errorf("auditlog: append to the tree: %w", err)
	}
	if putErr != nil {
		return 0, fmt.Errorf("auditlog: store node: %w", putErr)
	}
	if err := b.leaves.Put(u64(size), leaf); err != nil {
		return 0, fmt.Errorf("auditlog: store leaf: %w", err)
	}
	if err := b.meta.Put(keySize, u64(size+1)); err != nil {
		return 0, fmt.Errorf("auditlog: store size: %w", err)
	}
	return size, nil
}

// Append appends e in a transaction of its own.
func (l *Log) Append(e audit.Entry) (uint64, error) {
	var idx uint64
	err := l.db.Update(func(tx *bbolt.Tx) error {
		var err error
		idx, err = l.AppendTx(tx, e)
		return err
	})
	return idx, err
}

// Size returns the number of leaves.
func (l *Log) Size() (uint64, error) {
	var size uint64
	err := l.db.View(func(tx *bbolt.Tx) error {
		b, err := getBuckets(tx)
		if err != nil {
			return err
		}
		size, err = b.size()
		return err
	})
	return size, err
}

// Checkpoint flushes refusal counts whose minute has ended (see
// RecordUnauthenticated), then returns the current size and root signed by
// the device with the clock's time.
func (l *Log) Checkpoint() (audit.SignedCheckpoint, error) {
	if err := l.FlushRefusals(); err != nil {
		return audit.SignedCheckpoint{}, err
	}
	var c audit.Checkpoint
	err := l.db.View(func(tx *bbolt.Tx) error {
		b, err := getBuckets(tx)
		if err != nil {
			return err
		}
		if c.Size, err = b.size(); err != nil {
			return err
		}
		c.Root, err = l.root(b, c.Size)
		return err
	})
	if err != nil {
		return audit.SignedCheckpoint{}, err
	}
	c.Time = time.Unix(l.clk.Now().Unix(), 0).UTC()
	sig := l.signer.Sign(c.Body())
	if !ed25519.Verify(l.signer.PublicKey(), c.Body(), sig) {
		return audit.SignedCheckpoint{}, errors.New("auditlog: the signer's signature does not verify with its own public key")
	}
	return audit.SignedCheckpoint{Checkpoint: c, Signature: sig}, nil
}

func (l *Log) root(b buckets, size uint64) ([]byte, error) {
	if size == 0 {
		return hasher.EmptyRoot(), nil
	}
	r, err := l.rangeTo(b, size)
	if err != nil {
		return nil, err
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return root, nil
}

// Entries returns the entries with indexes in [from, to). Each leaf is
// decoded strictly; a stored leaf that is not canonical is ErrBadEntry.
func (l *Log) Entries(from, to uint64) ([]audit.Entry, error) {
	var out []audit.Entry
	err := l.db.View(func(tx *bbolt.Tx) error {
		b, err := getBuckets(tx)
		if err != nil {
			return err
		}
		size, err := b.size()
		if err != nil {
			return err
		}
		if from > to || to > size {
			return fmt.Errorf("%w: entries [%d, %d) of a log of %d", ErrRange, from, to, size)
		}
		out = make([]audit.Entry, 0, to-from)
		for i := from; i < to; i++ {
			v := b.leaves.Get(u64(i))
			if v == nil {
				return fmt.Errorf("%w: leaf %d missing", ErrCorrupt, i)
			}
			e, err := audit.DecodeEntry(v)
			if err != nil {
				return fmt.Errorf("leaf %d: %w", i, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// InclusionProof returns the RFC 6962 proof that leaf index is in the tree
// of the given size (index < size <= Size()).
func (l *Log) InclusionProof(index, size uint64) ([][]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("%w: leaf %d is not in a tree of %d", ErrRange, index, size)
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRange, err)
	}
	return l.proof(nodes, size)
}

// ConsistencyProof returns the RFC 6962 proof that the tree of size old is
// a prefix of the tree of size new (old <= new <= Size()).
func (l *Log) ConsistencyProof(old, new uint64) ([][]byte, error) {
	if old > new {
		return nil, fmt.Errorf("%w: consistency from %d to the smaller %d", ErrRange, old, new)
	}
	if old == 0 || old == new {
		return [][]byte{}, l.checkSize(new)
	}
	nodes, err := proof.Consistency(old, new)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRange, err)
	}
	return l.proof(nodes, new)
}

func (l *Log) checkSize(size uint64) error {
	cur, err := l.Size()
	if err != nil {
		return err
	}
	if size > cur {
		return fmt.Errorf("%w: tree size %d, log has %d", ErrRange, size, cur)
	}
	return nil
}

func (l *Log) proof(nodes proof.Nodes, size uint64) ([][]byte, error) {
	var hashes [][]byte
	err := l.db.View(func(tx *bbolt.Tx) error {
		b, err := getBuckets(tx)
		if err != nil {
			return err
		}
		cur, err := b.size()
		if err != nil {
			return err
		}
		if size > cur {
			return fmt.Errorf("%w: tree size %d, log has %d", ErrRange, size, cur)
		}
		hashes = make([][]byte, len(nodes.IDs))
		for i, id := range nodes.IDs {
			if hashes[i], err = b.node(id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	p, err := nodes.Rehash(hashes, hasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return p, nil
}
