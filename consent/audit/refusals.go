package audit

// Detail keys of refusal leaves.
const (
	// DetailStatement is the lower-case hex SHA-256 of the refused
	// statement's signed payload (or "other").
	DetailStatement = "statement_sha256"
	// DetailRefused is, on an aggregate of authenticated refusals, the kind
	// of the leaf each repeat would have had (e.g. "token-refused").
	DetailRefused = "refused"
)
