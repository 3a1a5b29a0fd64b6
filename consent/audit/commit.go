package audit

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"

	"go.etcd.io/bbolt"
)

// Nonce sizes AppendCommitment accepts. The nonce hides the committed
// entry, whose content (a jti, a segment ID) may be guessable: at least
// 128 bits of it must be random.
const (
	MinNonce = 16
	MaxNonce = 64
)

// Detail keys of commitment and opening leaves.
const (
	detailCommitment = "commitment" // commitment leaf: hex SHA-256; opening: decimal index
	detailNonce      = "nonce"      // opening: hex nonce
	detailEntry      = "entry"      // opening: canonical JSON of the committed entry
)

// Commit returns SHA-256(nonce ‖ canonical entry), the value a commitment
// leaf records.
func Commit(e Entry, nonce []byte) ([]byte, error) {
	if len(nonce) < MinNonce || len(nonce) > MaxNonce {
		return nil, fmt.Errorf("%w: nonce is %d bytes, want %d to %d", ErrBadCommitment, len(nonce), MinNonce, MaxNonce)
	}
	if !e.Kind.Known() || e.Kind == KindCommitment || e.Kind == KindOpening {
		return nil, fmt.Errorf("%w: cannot commit to an entry of kind %q", ErrBadCommitment, e.Kind)
	}
	if e.Time.IsZero() {
		return nil, fmt.Errorf("%w: the committed entry needs a time", ErrBadCommitment)
	}
	c, err := e.Canonical()
	if err != nil {
		return nil, err
	}
	if len(c) > MaxCommittedSize {
		return nil, fmt.Errorf("%w: committed entry is %d bytes, limit %d", ErrBadCommitment, len(c), MaxCommittedSize)
	}
	h := sha256.New()
	h.Write(nonce)
	h.Write(c)
	return h.Sum(nil), nil
}

// AppendCommitment logs, in tx, that a decision was made without revealing
// it: a "commitment" leaf holding SHA-256(nonce ‖ canonical e). The caller
// keeps e (with its Time set: it is part of what is committed; its Seq is
// not interpreted) and the nonce with the delayed notice, and calls
// AppendOpening with both when the notice is released.
func (l *Log) AppendCommitment(tx *bbolt.Tx, e Entry, nonce []byte) (uint64, error) {
	c, err := Commit(e, nonce)
	if err != nil {
		return 0, err
	}
	return l.appendTx(tx, Entry{
		Kind:    KindCommitment,
		Reason:  "delayed-notice",
		Details: map[string]string{detailCommitment: hex.EncodeToString(c)},
	})
}

// AppendOpening logs, in tx, the opening of the commitment at index
// commitment: the entry and the nonce it was committed with. It checks
// that they hash to the committed value and that the commitment was not
// opened before, and refuses (ErrBadCommitment) otherwise.
func (l *Log) AppendOpening(tx *bbolt.Tx, commitment uint64, e Entry, nonce []byte) (uint64, error) {
	if tx == nil || !tx.Writable() {
		return 0, ErrReadOnlyTx
	}
	b, err := getBuckets(tx)
	if err != nil {
		return 0, err
	}
	raw := b.leaves.Get(u64(commitment))
	if raw == nil {
		return 0, fmt.Errorf("%w: no leaf %d", ErrBadCommitment, commitment)
	}
	ce, err := DecodeEntry(raw)
	if err != nil {
		return 0, fmt.Errorf("leaf %d: %w", commitment, err)
	}
	want, err := committedHash(ce)
	if err != nil {
		return 0, err
	}
	if prev := b.openings.Get(u64(commitment)); prev != nil {
		return 0, fmt.Errorf("%w: commitment %d was opened by leaf %d", ErrBadCommitment, commitment, binary.BigEndian.Uint64(prev))
	}
	got, err := Commit(e, nonce)
	if err != nil {
		return 0, err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return 0, fmt.Errorf("%w: entry and nonce do not match commitment %d", ErrBadCommitment, commitment)
	}
	canon, _ := e.Canonical() // cannot fail: Commit encoded it
	idx, err := l.appendTx(tx, Entry{
		Kind:   KindOpening,
		Reason: "notice-released",
		Details: map[string]string{
			detailCommitment: strconv.FormatUint(commitment, 10),
			detailNonce:      hex.EncodeToString(nonce),
			detailEntry:      string(canon),
		},
	})
	if err != nil {
		return 0, err
	}
	if err := b.openings.Put(u64(commitment), u64(idx)); err != nil {
		return 0, fmt.Errorf("audit: record opening: %w", err)
	}
	return idx, nil
}

// committedHash returns the hash a commitment leaf records.
func committedHash(e Entry) ([]byte, error) {
	if e.Kind != KindCommitment {
		return nil, fmt.Errorf("%w: leaf %d is a %q entry, not a commitment", ErrBadCommitment, e.Seq, e.Kind)
	}
	if len(e.Details) != 1 {
		return nil, fmt.Errorf("%w: commitment %d: want exactly the %q detail", ErrBadCommitment, e.Seq, detailCommitment)
	}
	h, err := hex.DecodeString(e.Details[detailCommitment])
	if err != nil || len(h) != sha256.Size || hex.EncodeToString(h) != e.Details[detailCommitment] {
		return nil, fmt.Errorf("%w: commitment %d: %q is not a lower-case hex SHA-256", ErrBadCommitment, e.Seq, detailCommitment)
	}
	return h, nil
}

// Opening is a verified opening: the entry that was committed to.
type Opening struct {
	// Commitment is the index of the commitment leaf, Index that of the
	// opening leaf.
	Commitment, Index uint64
	// Entry is the committed entry, now revealed.
	Entry Entry
}

// checkOpening checks an opening leaf against the entries before it and
// returns what it reveals.
func checkOpening(o Entry, entries []Entry) (Opening, error) {
	if len(o.Details) != 3 {
		return Opening{}, fmt.Errorf("%w: opening %d: want the details %q, %q and %q", ErrBadCommitment, o.Seq, detailCommitment, detailNonce, detailEntry)
	}
	ci, err := parseDecimal([]byte(o.Details[detailCommitment]))
	if err != nil || ci >= o.Seq || ci >= uint64(len(entries)) {
		return Opening{}, fmt.Errorf("%w: opening %d: commitment index %q is not an earlier leaf", ErrBadCommitment, o.Seq, o.Details[detailCommitment])
	}
	want, err := committedHash(entries[ci])
	if err != nil {
		return Opening{}, err
	}
	nonce, err := hex.DecodeString(o.Details[detailNonce])
	if err != nil || hex.EncodeToString(nonce) != o.Details[detailNonce] {
		return Opening{}, fmt.Errorf("%w: opening %d: nonce is not lower-case hex", ErrBadCommitment, o.Seq)
	}
	inner, err := DecodeEntry([]byte(o.Details[detailEntry]))
	if err != nil {
		return Opening{}, fmt.Errorf("%w: opening %d: entry: %w", ErrBadCommitment, o.Seq, err)
	}
	got, err := Commit(inner, nonce)
	if err != nil {
		return Opening{}, fmt.Errorf("opening %d: %w", o.Seq, err)
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return Opening{}, fmt.Errorf("%w: opening %d does not match commitment %d", ErrBadCommitment, o.Seq, ci)
	}
	return Opening{Commitment: ci, Index: o.Seq, Entry: inner}, nil
}
