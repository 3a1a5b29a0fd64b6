// Package consent decides what may leave the device, and keeps the proof.
//
// Nothing leaves a Doorward device — a clip segment, a snapshot, a live
// stream — unless an authorization verifies: a grant signed by an enrolled
// owner key, or a legal-process token whose signers meet the device's
// owner-approved trust policy (quorum per role, lifetime and scope limits, a
// trusted clock, a jti never seen before). The package turns each such
// request into a decision; every decision, allowed or refused, is appended
// to a tamper-evident audit log (an RFC 6962 Merkle tree with device-signed
// checkpoints) that the owner verifies, and disclosures under a delayed
// notice are logged as commitments that are opened when the notice is
// released. The package is pure decision logic: it does no I/O but through
// its store.
//
// This change brings the owner keys on which the rest builds: [OwnerKey] is a
// standard age identity file (stock "age -d -i owner.key" opens the owner's
// clips) from which the owner's Ed25519 signing key is derived, and
// [ParseRecipients] checks the age recipients that clips are encrypted to,
// keeping to one [RecipientFamily] since age refuses to mix post-quantum and
// classic recipients. Grants, legal tokens, the trust policy and the audit log
// come in later changes and are signed and checked with these keys.
package consent
