// Package auditlog is the device's audit log (the format is package
// audit): the leaves, the perfect-subtree nodes and the size of the RFC
// 6962 Merkle tree live in bbolt, in the buckets device/schema names
// "audit_*". AppendTx writes a leaf inside the caller's transaction, so
// that a decision and its audit leaf commit or roll back together; the log
// signs checkpoints with the device identity and serves inclusion and
// consistency proofs.
//
// A disclosure under a delayed notice is logged with AppendCommitment and
// revealed with AppendOpening when the notice is released. Unauthenticated
// refusals are counted per reason and minute and logged as one
// "refusals-aggregate" leaf per reason per minute, so a flood cannot bloat
// the log.
package auditlog
