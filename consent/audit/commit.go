package audit

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strconv"
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

// CommitmentEntry returns the leaf that logs a decision without revealing
// it: a "commitment" entry holding SHA-256(nonce ‖ canonical e). The caller
// keeps e (with its Time set: it is part of what is committed; its Seq is
// not interpreted) and the nonce with the delayed notice, and logs
// OpeningEntry with both when the notice is released.
func CommitmentEntry(e Entry, nonce []byte) (Entry, error) {
	c, err := Commit(e, nonce)
	if err != nil {
		return Entry{}, err
	}
	return Entry{
		Kind:    KindCommitment,
		Reason:  "delayed-notice",
		Details: map[string]string{detailCommitment: hex.EncodeToString(c)},
	}, nil
}

// OpeningEntry returns the leaf that opens commitment, the leaf logged at
// index commitment: the entry and the nonce it was committed with. It
// refuses (ErrBadCommitment) unless they hash to the committed value. That
// a commitment is opened only once is for the log to check.
func OpeningEntry(commitment Entry, index uint64, e Entry, nonce []byte) (Entry, error) {
	commitment.Seq = index
	want, err := committedHash(commitment)
	if err != nil {
		return Entry{}, err
	}
	got, err := Commit(e, nonce)
	if err != nil {
		return Entry{}, err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return Entry{}, fmt.Errorf("%w: entry and nonce do not match commitment %d", ErrBadCommitment, index)
	}
	canon, _ := e.Canonical() // cannot fail: Commit encoded it
	return Entry{
		Kind:   KindOpening,
		Reason: "notice-released",
		Details: map[string]string{
			detailCommitment: strconv.FormatUint(index, 10),
			detailNonce:      hex.EncodeToString(nonce),
			detailEntry:      string(canon),
		},
	}, nil
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
	return checkOpeningWith(o, func(ci uint64) ([]byte, error) {
		if ci >= uint64(len(entries)) {
			return nil, fmt.Errorf("%w: opening %d: commitment index %d is not an earlier leaf", ErrBadCommitment, o.Seq, ci)
		}
		return committedHash(entries[ci])
	})
}

// checkOpeningWith checks an opening leaf against the committed hash that
// committed returns for the index it names (an error when that index is
// not a commitment it may open).
func checkOpeningWith(o Entry, committed func(ci uint64) ([]byte, error)) (Opening, error) {
	if len(o.Details) != 3 {
		return Opening{}, fmt.Errorf("%w: opening %d: want the details %q, %q and %q", ErrBadCommitment, o.Seq, detailCommitment, detailNonce, detailEntry)
	}
	ci, err := parseDecimal([]byte(o.Details[detailCommitment]))
	if err != nil || ci >= o.Seq {
		return Opening{}, fmt.Errorf("%w: opening %d: commitment index %q is not an earlier leaf", ErrBadCommitment, o.Seq, o.Details[detailCommitment])
	}
	want, err := committed(ci)
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
