package audit

import (
	"errors"

	"github.com/transparency-dev/merkle/rfc6962"
)

var (
	// ErrBadEntry is returned for an entry that cannot be logged or leaf
	// bytes that do not decode to an entry in canonical form.
	ErrBadEntry = errors.New("audit: bad entry")
	// ErrBadCheckpoint is returned for checkpoint text that does not parse.
	ErrBadCheckpoint = errors.New("audit: bad checkpoint")
	// ErrBadCommitment is returned for a commitment that cannot be logged,
	// or an opening that does not match its commitment.
	ErrBadCommitment = errors.New("audit: commitment")
)

// hasher is RFC 6962's: SHA-256 with 0x00 leaf and 0x01 node prefixes.
var hasher = rfc6962.DefaultHasher
