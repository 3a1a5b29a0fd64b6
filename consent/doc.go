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
// What is here: the owner keys ([OwnerKey], a standard age identity file
// from which the owner's Ed25519 signing key is derived; [ParseRecipients]
// keeps to one [RecipientFamily], since age refuses to mix post-quantum and
// classic recipients); signed statements ([ParseStatement], [Sign]: JWS JSON
// with EdDSA only, strict headers and strict payloads); owner statements
// ([VerifyOwnerStatement]: grants, revocations, policy changes, enrollment,
// reset, login); the trust [Policy]; and legal-process tokens
// ([VerifyToken], checking in the order DESIGN.md lists and recording
// nothing, so that a refusal burns nothing). Every refusal carries a stable
// [Reason]. Sub-packages hold pairing, the audit log and the header-only age
// re-wrap; device/gate records the decisions.
package consent
