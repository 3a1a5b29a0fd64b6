package pairing

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
)

// Labels. They must never change: a new protocol needs new labels.
const (
	// keyLabel is the HKDF info that turns the secret into the pairing key.
	keyLabel = "doorward-pair-v1"
	// deviceKeyLabel and ownerKeyLabel derive one MAC key per direction.
	deviceKeyLabel = "doorward-pair-v1 device->owner"
	ownerKeyLabel  = "doorward-pair-v1 owner->device"
	// transcriptLabel opens every transcript (as its first field).
	transcriptLabel = "doorward-pair-v1"
	// SignatureContext is prefixed to the transcript for the owner's
	// Ed25519 signature: the owner signs SignatureContext ‖ transcript.
	SignatureContext = "doorward-pair-v1 transcript"
)

// Sizes of the fixed-length fields.
const (
	NonceSize = 32
	MACSize   = sha256.Size
)

// Limits on variable fields, which bound every message.
const (
	// MaxRecipients is the most owner age recipients a Hello may carry.
	MaxRecipients = 8
	// MaxRecipientLen bounds one recipient; a hybrid post-quantum one is
	// about 2,000 characters.
	MaxRecipientLen = 4096
	// MaxPolicySize bounds the proposed trust policy, like the 16 KiB bound
	// on signed statements.
	MaxPolicySize = 16 << 10
	// maxDeviceIDLen bounds the device ID; a real one is 16 characters.
	maxDeviceIDLen = 64
)

// keys are the two MAC keys derived from a secret.
type keys struct {
	device [32]byte // device -> owner: the device's MAC
	owner  [32]byte // owner -> device: the owner's MAC
}

// deriveKeys computes k = HKDF-SHA256(ikm = secret, salt = none,
// info = "doorward-pair-v1", 32 bytes), then k_device =
// HKDF-Expand(k, "doorward-pair-v1 device->owner", 32) and k_owner =
// HKDF-Expand(k, "doorward-pair-v1 owner->device", 32).
func deriveKeys(s Secret) (keys, error) {
	var ks keys
	k, err := hkdf.Key(sha256.New, s.b[:], nil, keyLabel, 32)
	if err != nil {
		return ks, fmt.Errorf("pairing: derive key: %w", err)
	}
	d, err := hkdf.Expand(sha256.New, k, deviceKeyLabel, 32)
	if err != nil {
		return ks, fmt.Errorf("pairing: derive key: %w", err)
	}
	o, err := hkdf.Expand(sha256.New, k, ownerKeyLabel, 32)
	if err != nil {
		return ks, fmt.Errorf("pairing: derive key: %w", err)
	}
	copy(ks.device[:], d)
	copy(ks.owner[:], o)
	return ks, nil
}

func mac(key [32]byte, transcript []byte) []byte {
	m := hmac.New(sha256.New, key[:])
	m.Write(transcript)
	return m.Sum(nil)
}

// TranscriptFields are the values a pairing transcript binds.
type TranscriptFields struct {
	OwnerNonce      []byte
	DeviceNonce     []byte
	OwnerKey        ed25519.PublicKey
	OwnerRecipients []string
	DeviceKey       ed25519.PublicKey
	DeviceID        string
	PolicyHash      [32]byte
}

// Transcript encodes f canonically. Every field is a 4-byte big-endian
// length followed by its bytes, in this fixed order:
//
//	"doorward-pair-v1"        version label
//	owner nonce               32 bytes
//	device nonce              32 bytes
//	owner signing key         32 bytes (Ed25519)
//	recipient count           the field is 4 bytes: a big-endian count n
//	recipient 1 ... n         each its UTF-8 string
//	device key                32 bytes (Ed25519)
//	device ID                 UTF-8
//	policy hash               32 bytes, as given to NewPairer
//
// Since every field carries its length, no two different sets of values
// encode to the same bytes. Both MACs are HMAC-SHA256 over these bytes; the
// owner signs SignatureContext ‖ these bytes.
func Transcript(f TranscriptFields) []byte {
	n := 4 + len(transcriptLabel) + 3*4 + len(f.OwnerNonce) + len(f.DeviceNonce) + len(f.OwnerKey) +
		8 + 4 + len(f.DeviceKey) + 4 + len(f.DeviceID) + 4 + 32
	for _, r := range f.OwnerRecipients {
		n += 4 + len(r)
	}
	b := make([]byte, 0, n)
	field := func(v []byte) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	field([]byte(transcriptLabel))
	field(f.OwnerNonce)
	field(f.DeviceNonce)
	field(f.OwnerKey)
	field(binary.BigEndian.AppendUint32(nil, uint32(len(f.OwnerRecipients))))
	for _, r := range f.OwnerRecipients {
		field([]byte(r))
	}
	field(f.DeviceKey)
	field([]byte(f.DeviceID))
	field(f.PolicyHash[:])
	return b
}

// PolicyHash is SHA-256 of a policy's exact bytes: the default
// PolicyHasher, for a policy without a canonical form. Doorward's trust
// policy has one (consent.Policy.Hash), which devices and clients use.
func PolicyHash(policy []byte) [32]byte { return sha256.Sum256(policy) }

// PolicyHasher computes the hash a device proposes for a policy from the
// policy bytes the client received, or refuses the policy. doorwardctl
// passes one that parses the bytes as a consent.Policy (the same parse it
// uses to show the policy to the owner) and returns its Hash, so the owner
// signs exactly what was shown.
type PolicyHasher func(policy []byte) ([32]byte, error)

// DeviceID derives a device ID from its Ed25519 public key as DESIGN.md
// "Keys and encryption" defines it: the lower-case base32 (no padding) of
// the first 10 bytes of SHA-256 of the key.
func DeviceID(key ed25519.PublicKey) string {
	sum := sha256.Sum256(key)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:10]))
}

// signedMessage is what the owner signs.
func signedMessage(transcript []byte) []byte {
	return append([]byte(SignatureContext), transcript...)
}
