package auditlog

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/consent/audit"
)

// AppendCommitment logs, in tx, that a decision was made without revealing
// it: a "commitment" leaf holding SHA-256(nonce ‖ canonical e)
// (audit.CommitmentEntry). The caller keeps e (with its Time set: it is
// part of what is committed; its Seq is not interpreted) and the nonce with
// the delayed notice, and calls AppendOpening with both when the notice is
// released.
func (l *Log) AppendCommitment(tx *bbolt.Tx, e audit.Entry, nonce []byte) (uint64, error) {
	c, err := audit.CommitmentEntry(e, nonce)
	if err != nil {
		return 0, err
	}
	return l.appendTx(tx, c)
}

// AppendOpening logs, in tx, the opening of the commitment at index
// commitment: the entry and the nonce it was committed with. It checks
// that they hash to the committed value and that the commitment was not
// opened before, and refuses (audit.ErrBadCommitment) otherwise.
func (l *Log) AppendOpening(tx *bbolt.Tx, commitment uint64, e audit.Entry, nonce []byte) (uint64, error) {
	if tx == nil || !tx.Writable() {
		return 0, ErrReadOnlyTx
	}
	b, err := getBuckets(tx)
	if err != nil {
		return 0, err
	}
	raw := b.leaves.Get(u64(commitment))
	if raw == nil {
		return 0, fmt.Errorf("%w: no leaf %d", audit.ErrBadCommitment, commitment)
	}
	ce, err := audit.DecodeEntry(raw)
	if err != nil {
		return 0, fmt.Errorf("leaf %d: %w", commitment, err)
	}
	if prev := b.openings.Get(u64(commitment)); prev != nil {
		return 0, fmt.Errorf("%w: commitment %d was opened by leaf %d", audit.ErrBadCommitment, commitment, binary.BigEndian.Uint64(prev))
	}
	opening, err := audit.OpeningEntry(ce, commitment, e, nonce)
	if err != nil {
		return 0, err
	}
	idx, err := l.appendTx(tx, opening)
	if err != nil {
		return 0, err
	}
	if err := b.openings.Put(u64(commitment), u64(idx)); err != nil {
		return 0, fmt.Errorf("auditlog: record opening: %w", err)
	}
	return idx, nil
}
