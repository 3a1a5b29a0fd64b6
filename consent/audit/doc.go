// Package audit is the device's tamper-evident decision log and its
// verifier.
//
// Every authorization decision — pairing, enrollment, grants accepted or
// refused, revocations, legal tokens accepted or refused, each disclosed
// segment, policy changes, factory resets, live sessions — is a leaf of an
// RFC 6962 Merkle tree (github.com/transparency-dev/merkle computes proofs;
// the leaves, the perfect-subtree nodes and the size live in bbolt, in
// buckets named "audit_*"). A leaf is an Entry in one canonical JSON form,
// so one decision has exactly one leaf hash. AppendTx writes a leaf inside
// the caller's transaction, so that a decision and its audit leaf commit or
// roll back together.
//
// The device signs checkpoints (size, root, time) with its Ed25519 identity;
// Checkpoint.Body documents the exact signed bytes. The owner's client
// verifies with Verify: the signature with the device key pinned at pairing,
// the root recomputed from every entry, every commitment opening, and
// consistency with the checkpoint it stored last time (a smaller or older
// log is ErrRollback).
//
// A disclosure under a delayed notice is logged as a commitment,
// SHA-256(nonce ‖ canonical entry), so the owner's log shows that something
// happened without revealing what; AppendOpening reveals it when the notice
// is released, and the verifier checks that it matches. Unauthenticated
// refusals are counted per reason and minute and logged as one
// "refusals-aggregate" leaf per reason per minute, so a flood cannot bloat
// the log.
package audit
