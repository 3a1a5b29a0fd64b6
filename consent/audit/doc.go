// Package audit is the format of the device's tamper-evident decision log
// and its verifier. It links no storage: the owner's tool imports it to
// verify, and the device's log (package auditlog, in bbolt) writes it.
//
// Every authorization decision — pairing, enrollment, grants accepted or
// refused, revocations, legal tokens accepted or refused, each disclosed
// segment, policy changes, factory resets, live sessions — is a leaf of an
// RFC 6962 Merkle tree (github.com/transparency-dev/merkle computes
// proofs). A leaf is an Entry in one canonical JSON form, so one decision
// has exactly one leaf hash.
//
// The device signs checkpoints (size, root, time) with its Ed25519 identity;
// Checkpoint.Body documents the exact signed bytes. The owner's client
// verifies with Verify: the signature with the device key pinned at pairing,
// the root recomputed from every entry, every commitment opening, and
// consistency with the checkpoint it stored last time (a smaller or older
// log is ErrRollback).
//
// A disclosure under a delayed notice is logged as a commitment
// (CommitmentEntry: SHA-256(nonce ‖ canonical entry)), so the owner's log
// shows that something happened without revealing what; the opening
// (OpeningEntry) reveals it when the notice is released, and the verifier
// checks that it matches.
package audit
