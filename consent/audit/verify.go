package audit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// Errors of client-side verification.
var (
	// ErrBadSignature is returned when a checkpoint's signature does not
	// verify with the pinned device key.
	ErrBadSignature = errors.New("audit: checkpoint signature does not verify with the device key")
	// ErrRootMismatch is returned when the entries do not hash to the
	// checkpoint's root: an entry was changed, added, removed or reordered.
	ErrRootMismatch = errors.New("audit: entries do not match the checkpoint")
	// ErrRollback is returned when a checkpoint is older than the one the
	// verifier stored last time: a smaller tree, or an earlier time.
	ErrRollback = errors.New("audit: the log is smaller or older than at the last verification")
	// ErrInconsistent is returned when the new tree does not extend the
	// previous one: history was rewritten.
	ErrInconsistent = errors.New("audit: the log is not consistent with the last verified checkpoint")
)

// VerifyCheckpoint checks cp's signature with the device key pub.
func VerifyCheckpoint(pub ed25519.PublicKey, cp SignedCheckpoint) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("audit: device key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	if len(cp.Root) != hasher.Size() {
		return fmt.Errorf("%w: root is %d bytes", ErrBadCheckpoint, len(cp.Root))
	}
	if !ed25519.Verify(pub, cp.Body(), cp.Signature) {
		return ErrBadSignature
	}
	return nil
}

// Verify is the owner's check of a fetched log, done by "doorwardctl audit
// verify" with the device key pinned at pairing:
//
//  1. cp is signed by pub;
//  2. if prev (the checkpoint stored after the last successful
//     verification) is given: it is signed by pub too, cp is not smaller
//     or older (ErrRollback), and consistency proves that the tree of
//     prev.Size is a prefix of cp's (proof.VerifyConsistency;
//     ErrInconsistent) — or, when consistency is nil and entries is the
//     whole log, the first prev.Size entries give prev.Root;
//  3. entries are the whole log, in order, and their leaf hashes give
//     cp.Root (ErrRootMismatch);
//  4. every opening matches the commitment it names, and no commitment is
//     opened twice (ErrBadCommitment).
//
// On success the caller stores cp as the new prev.
func Verify(pub ed25519.PublicKey, cp SignedCheckpoint, entries []Entry, prev *SignedCheckpoint, consistency [][]byte) error {
	if err := VerifyCheckpoint(pub, cp); err != nil {
		return err
	}
	if prev != nil {
		if err := VerifyCheckpoint(pub, *prev); err != nil {
			return fmt.Errorf("previous checkpoint: %w", err)
		}
		switch {
		case cp.Size < prev.Size:
			return fmt.Errorf("%w: %d entries now, %d before", ErrRollback, cp.Size, prev.Size)
		case cp.Time.Before(prev.Time):
			return fmt.Errorf("%w: checkpoint time %v is before the last one's, %v", ErrRollback, cp.Time, prev.Time)
		case cp.Size == prev.Size:
			if !bytes.Equal(cp.Root, prev.Root) {
				return fmt.Errorf("%w: same size %d, different root", ErrInconsistent, cp.Size)
			}
		case consistency == nil && uint64(len(entries)) == cp.Size:
			// The whole log and no proof: the first prev.Size entries
			// must give prev's root.
			root, err := RootOf(entries[:prev.Size])
			if err != nil {
				return err
			}
			if !bytes.Equal(root, prev.Root) {
				return fmt.Errorf("%w: the first %d entries do not give the root verified before", ErrInconsistent, prev.Size)
			}
		default:
			if err := proof.VerifyConsistency(hasher, prev.Size, cp.Size, consistency, prev.Root, cp.Root); err != nil {
				return fmt.Errorf("%w: %w", ErrInconsistent, err)
			}
		}
	}
	root, err := RootOf(entries)
	if err != nil {
		return err
	}
	if uint64(len(entries)) != cp.Size {
		return fmt.Errorf("%w: %d entries for a checkpoint of %d", ErrRootMismatch, len(entries), cp.Size)
	}
	if !bytes.Equal(root, cp.Root) {
		return fmt.Errorf("%w: the entries' root differs from the signed root", ErrRootMismatch)
	}
	_, _, err = Commitments(entries)
	return err
}

// RootOf computes the RFC 6962 root of a whole log from its entries, which
// must be in order (entry i has Seq i).
func RootOf(entries []Entry) ([]byte, error) {
	if len(entries) == 0 {
		return hasher.EmptyRoot(), nil
	}
	rf := compact.RangeFactory{Hash: hasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for i, e := range entries {
		if e.Seq != uint64(i) {
			return nil, fmt.Errorf("%w: entry %d has seq %d", ErrRootMismatch, i, e.Seq)
		}
		leaf, err := e.Canonical()
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		if err := r.Append(hasher.HashLeaf(leaf), nil); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	return r.GetRootHash(nil)
}

// VerifyInclusion checks that e is leaf e.Seq of the tree cp commits to,
// for a verifier that fetched only some entries. cp's signature is checked
// separately (VerifyCheckpoint).
func VerifyInclusion(cp Checkpoint, e Entry, inclusion [][]byte) error {
	leaf, err := e.Canonical()
	if err != nil {
		return err
	}
	if err := proof.VerifyInclusion(hasher, e.Seq, cp.Size, hasher.HashLeaf(leaf), inclusion, cp.Root); err != nil {
		return fmt.Errorf("%w: entry %d: %w", ErrRootMismatch, e.Seq, err)
	}
	return nil
}

// Commitments checks every opening in a whole log (entry i has Seq i)
// against its commitment, and returns the verified openings and the
// indexes of commitments not opened yet (delayed notices still pending).
func Commitments(entries []Entry) (opened []Opening, unopened []uint64, err error) {
	openedBy := map[uint64]uint64{}
	for i, e := range entries {
		switch e.Kind {
		case KindCommitment:
			if _, err := committedHash(e); err != nil {
				return nil, nil, err
			}
		case KindOpening:
			o, err := checkOpening(e, entries[:i])
			if err != nil {
				return nil, nil, err
			}
			if prev, ok := openedBy[o.Commitment]; ok {
				return nil, nil, fmt.Errorf("%w: commitment %d opened twice, by %d and %d", ErrBadCommitment, o.Commitment, prev, o.Index)
			}
			openedBy[o.Commitment] = o.Index
			opened = append(opened, o)
		}
	}
	for i, e := range entries {
		if _, ok := openedBy[uint64(i)]; e.Kind == KindCommitment && !ok {
			unopened = append(unopened, uint64(i))
		}
	}
	return opened, unopened, nil
}
