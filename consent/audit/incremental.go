package audit

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"maps"
	"slices"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// VerifierState is what the owner's verifier keeps between runs so that
// the next run fetches and checks only what is new: the size it verified,
// that tree's compact range (the roots of its perfect subtrees, at most 64
// hashes; they hash to the verified root) and the delayed-notice
// commitments not opened yet, with their committed hashes. Its size and
// memory are bounded by the log's height and the notices pending, never
// by the log's size.
type VerifierState struct {
	Size     uint64   `json:"size"`
	Frontier [][]byte `json:"frontier"`
	// Pending maps the index of each unopened commitment to its committed
	// SHA-256.
	Pending map[uint64][]byte `json:"pending,omitempty"`
}

// NewVerifierState builds the state of a whole log that Verify accepted
// (entry i has Seq i).
func NewVerifierState(entries []Entry) (VerifierState, error) {
	rf := compact.RangeFactory{Hash: hasher.HashChildren}
	r := rf.NewEmptyRange(0)
	st := VerifierState{Pending: map[uint64][]byte{}}
	for i, e := range entries {
		if e.Seq != uint64(i) {
			return VerifierState{}, fmt.Errorf("%w: entry %d has seq %d", ErrRootMismatch, i, e.Seq)
		}
		leaf, err := e.Canonical()
		if err != nil {
			return VerifierState{}, fmt.Errorf("entry %d: %w", i, err)
		}
		if err := r.Append(hasher.HashLeaf(leaf), nil); err != nil {
			return VerifierState{}, fmt.Errorf("audit: %w", err)
		}
	}
	_, unopened, err := Commitments(entries)
	if err != nil {
		return VerifierState{}, err
	}
	for _, i := range unopened {
		h, err := committedHash(entries[i])
		if err != nil {
			return VerifierState{}, err
		}
		st.Pending[i] = h
	}
	st.Size, st.Frontier = r.End(), slices.Clone(r.Hashes())
	return st, nil
}

// Unopened returns the indexes of the commitments not opened yet, in order.
func (st VerifierState) Unopened() []uint64 { return slices.Sorted(maps.Keys(st.Pending)) }

// VerifyNew is the owner's check of what a log added since the last
// verification, given only the new entries: it needs prev (the checkpoint
// stored then) and st (the state stored with it), and the device sends the
// new checkpoint cp, the RFC 6962 consistency proof from prev.Size to
// cp.Size and the entries [prev.Size, cp.Size). It checks:
//
//  1. cp and prev are signed by pub; cp is not smaller or older than prev
//     (ErrRollback); st is the state of prev (its compact range hashes to
//     prev.Root);
//  2. consistency proves that prev's tree is a prefix of cp's
//     (ErrInconsistent);
//  3. the new entries, appended to prev's compact range, give cp.Root
//     (ErrRootMismatch): they are exactly the leaves the checkpoint added;
//  4. every opening among them matches a commitment still pending (from
//     before or among them) and none is opened twice (ErrBadCommitment).
//
// It returns the state to store with cp, and the openings verified.
func VerifyNew(pub ed25519.PublicKey, cp, prev SignedCheckpoint, st VerifierState, consistency [][]byte, entries []Entry) (VerifierState, []Opening, error) {
	if err := VerifyCheckpoint(pub, cp); err != nil {
		return st, nil, err
	}
	if err := VerifyCheckpoint(pub, prev); err != nil {
		return st, nil, fmt.Errorf("previous checkpoint: %w", err)
	}
	switch {
	case cp.Size < prev.Size:
		return st, nil, fmt.Errorf("%w: %d entries now, %d before", ErrRollback, cp.Size, prev.Size)
	case cp.Time.Before(prev.Time):
		return st, nil, fmt.Errorf("%w: checkpoint time %v is before the last one's, %v", ErrRollback, cp.Time, prev.Time)
	}
	if st.Size != prev.Size {
		return st, nil, fmt.Errorf("audit: the stored verifier state is for size %d, the stored checkpoint for %d", st.Size, prev.Size)
	}
	rf := compact.RangeFactory{Hash: hasher.HashChildren}
	r, err := rf.NewRange(0, st.Size, slices.Clone(st.Frontier))
	if err != nil {
		return st, nil, fmt.Errorf("audit: the stored verifier state is damaged: %w", err)
	}
	root := hasher.EmptyRoot()
	if st.Size > 0 {
		if root, err = r.GetRootHash(nil); err != nil {
			return st, nil, fmt.Errorf("audit: the stored verifier state is damaged: %w", err)
		}
	}
	if !bytes.Equal(root, prev.Root) {
		return st, nil, fmt.Errorf("audit: the stored verifier state does not match the stored checkpoint")
	}
	if cp.Size == prev.Size {
		if !bytes.Equal(cp.Root, prev.Root) {
			return st, nil, fmt.Errorf("%w: same size %d, different root", ErrInconsistent, cp.Size)
		}
	} else if prev.Size > 0 {
		if err := proof.VerifyConsistency(hasher, prev.Size, cp.Size, consistency, prev.Root, cp.Root); err != nil {
			return st, nil, fmt.Errorf("%w: %w", ErrInconsistent, err)
		}
	}
	if uint64(len(entries)) != cp.Size-prev.Size {
		return st, nil, fmt.Errorf("%w: %d new entries for a log grown from %d to %d", ErrRootMismatch, len(entries), prev.Size, cp.Size)
	}
	pending := maps.Clone(st.Pending)
	if pending == nil {
		pending = map[uint64][]byte{}
	}
	var opened []Opening
	for i, e := range entries {
		if want := prev.Size + uint64(i); e.Seq != want {
			return st, nil, fmt.Errorf("%w: entry %d has seq %d", ErrRootMismatch, want, e.Seq)
		}
		leaf, err := e.Canonical()
		if err != nil {
			return st, nil, fmt.Errorf("entry %d: %w", e.Seq, err)
		}
		if err := r.Append(hasher.HashLeaf(leaf), nil); err != nil {
			return st, nil, fmt.Errorf("audit: %w", err)
		}
		switch e.Kind {
		case KindCommitment:
			h, err := committedHash(e)
			if err != nil {
				return st, nil, err
			}
			pending[e.Seq] = h
		case KindOpening:
			o, err := checkOpeningWith(e, func(ci uint64) ([]byte, error) {
				h, ok := pending[ci]
				if !ok {
					return nil, fmt.Errorf("%w: opening %d names leaf %d, which is not a commitment left to open", ErrBadCommitment, e.Seq, ci)
				}
				return h, nil
			})
			if err != nil {
				return st, nil, err
			}
			delete(pending, o.Commitment)
			opened = append(opened, o)
		}
	}
	newRoot := hasher.EmptyRoot()
	if r.End() > 0 {
		if newRoot, err = r.GetRootHash(nil); err != nil {
			return st, nil, fmt.Errorf("audit: %w", err)
		}
	}
	if !bytes.Equal(newRoot, cp.Root) {
		return st, nil, fmt.Errorf("%w: the new entries do not extend the verified log to the signed root", ErrRootMismatch)
	}
	return VerifierState{Size: r.End(), Frontier: slices.Clone(r.Hashes()), Pending: pending}, opened, nil
}
