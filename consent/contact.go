package consent

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	"github.com/doorward/doorward/consent/internal/bech32"
)

// A contact is one string a person hands to an owner who shares footage
// with them: their age recipient (what disclosures are re-wrapped for) and
// their Ed25519 signing key (what they prove themselves with when they
// fetch or watch). doorwardctl keygen prints it.
//
// Format: bech32 (BIP 173's checksum and charset, without its length
// limit, as age writes post-quantum recipients) with the human-readable
// part "doorward-contact", so a contact reads doorward-contact1...; the
// data is
//
//	version (1 byte, 0) ‖ Ed25519 public key (32 bytes) ‖ age recipient (ASCII)
//
// The recipient is an X25519 (age1...) or hybrid (age1pq1...) recipient in
// its own encoding. A typo anywhere fails the checksum.
const (
	ContactPrefix = "doorward-contact1"
	contactHRP    = "doorward-contact"
	// MaxContactSize bounds a contact's length (a hybrid recipient is
	// about 2,000 characters).
	MaxContactSize = 8 << 10
)

// Contact is a parsed contact.
type Contact struct {
	// Recipient is the age recipient, as a string.
	Recipient string
	// SigningKey is the Ed25519 public key.
	SigningKey ed25519.PublicKey
}

// Grantee is the signing key in the form a grant's grantee takes.
func (c Contact) Grantee() string { return FormatIssuerKey(c.SigningKey) }

// String is the contact's encoding.
func (c Contact) String() string {
	s, err := FormatContact(c.Recipient, c.SigningKey)
	if err != nil {
		return ""
	}
	return s
}

// FormatContact encodes a contact.
func FormatContact(recipient string, signing ed25519.PublicKey) (string, error) {
	if len(signing) != ed25519.PublicKeySize {
		return "", errors.New("consent: contact: the signing key is not an Ed25519 public key")
	}
	if _, err := ParseRecipients([]string{recipient}); err != nil {
		return "", fmt.Errorf("consent: contact: %w", err)
	}
	data := make([]byte, 0, 1+len(signing)+len(recipient))
	data = append(data, 0)
	data = append(data, signing...)
	data = append(data, recipient...)
	return bech32.Encode(contactHRP, data)
}

// IsContact reports whether s looks like a contact (its prefix), so a
// caller can tell a contact from a plain age recipient before parsing.
func IsContact(s string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(s)), ContactPrefix)
}

// ParseContact decodes a contact; every error says what is wrong with it.
func ParseContact(s string) (Contact, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxContactSize {
		return Contact{}, fmt.Errorf("consent: contact: %d characters, at most %d", len(s), MaxContactSize)
	}
	if !IsContact(s) {
		return Contact{}, fmt.Errorf("consent: contact: does not start with %s", ContactPrefix)
	}
	hrp, data, err := bech32.Decode(s)
	if err != nil {
		return Contact{}, fmt.Errorf("consent: contact: %w (copy it again, whole)", err)
	}
	if hrp != contactHRP {
		return Contact{}, fmt.Errorf("consent: contact: does not start with %s", ContactPrefix)
	}
	if len(data) < 1+ed25519.PublicKeySize+1 {
		return Contact{}, errors.New("consent: contact: too short for a signing key and a recipient")
	}
	if data[0] != 0 {
		return Contact{}, fmt.Errorf("consent: contact: version %d is not known (this doorwardctl reads version 0)", data[0])
	}
	c := Contact{SigningKey: ed25519.PublicKey(data[1 : 1+ed25519.PublicKeySize]), Recipient: string(data[1+ed25519.PublicKeySize:])}
	if _, err := ParseRecipients([]string{c.Recipient}); err != nil {
		return Contact{}, fmt.Errorf("consent: contact: its recipient: %w", err)
	}
	return c, nil
}

// Contact returns the owner key's contact: its age recipient and its
// signing key.
func (k *OwnerKey) Contact() (string, error) {
	return FormatContact(k.RecipientString(), k.SigningPublicKey())
}
