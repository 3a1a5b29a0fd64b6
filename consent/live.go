package consent

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// LiveBinding returns what a live statement's dtls_fingerprint must hold
// for an offer whose a=fingerprint value is fingerprint: the lower-case hex
// SHA-256 of the value normalized as "<algorithm> <HEX:HEX:...>" (trimmed,
// the algorithm lower-case, the hex digits upper-case, one space between),
// so that the signer and the device agree however the offer spelled it.
func LiveBinding(fingerprint string) string {
	fields := strings.Fields(fingerprint)
	var norm string
	if len(fields) > 0 {
		norm = strings.ToLower(fields[0]) + " " + strings.ToUpper(strings.Join(fields[1:], ""))
	}
	sum := sha256.Sum256([]byte(norm))
	return hex.EncodeToString(sum[:])
}
