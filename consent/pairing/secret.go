package pairing

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/skip2/go-qrcode"
)

// SecretSize is the size of a pairing secret in bytes: 128 bits.
const SecretSize = 16

// Code layout. A code is 28 characters of the RFC 4648 base32 alphabet
// (A–Z and 2–7; it has no 0, 1, 8 or 9, so O/0, I/1 and B/8 cannot be
// confused): 140 bits, the 128 secret bits followed by a 12-bit check of
// them, shown as seven groups of four joined by dashes,
// e.g. "MFRG-GZDF-MZTW-Q2LK-NNWG-23TP-OBYX". The check catches typing
// mistakes (1 in 4096 slips through) before any network traffic, so that a
// typo is reported as a typo and not as "wrong code, or someone in between".
const (
	codeAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	codeChars    = 28
	checkBits    = codeChars*5 - SecretSize*8 // 12
	groupSize    = 4
	checkLabel   = "doorward-pair-v1 code check"
	// URIScheme prefixes the code in the QR code: "DOORWARD-PAIR:" + code.
	// It is upper case because URI schemes are case-insensitive and QR
	// alphanumeric mode (digits, A–Z, space, "$%*+-./:") packs upper-case
	// text densely, which keeps the code small on a terminal.
	URIScheme = "DOORWARD-PAIR:"
	redacted  = "[redacted]"
)

// ErrMalformedSecret is returned (wrapped, with the problem named) by
// ParseSecret for text that is not a pairing code.
var ErrMalformedSecret = errors.New("pairing: malformed pairing code")

// Secret is a one-time pairing secret of 128 bits from crypto/rand.
//
// It must never be logged. Every accidental way of printing it redacts:
// String, fmt verbs (%v, %s, %q, %x, %#v, ...), slog (LogValue) and JSON
// all give "[redacted]". The one place that shows the code to the owner
// (the terminal at start and the 0600 control socket behind
// "doorward pair-code") calls Reveal, so a reviewer can find every
// disclosure by searching for Reveal. The zero Secret is not valid.
type Secret struct {
	b   [SecretSize]byte
	set bool
}

// NewSecret returns a fresh secret from crypto/rand.
func NewSecret() (Secret, error) {
	var s Secret
	if _, err := rand.Read(s.b[:]); err != nil {
		return Secret{}, fmt.Errorf("pairing: generate secret: %w", err)
	}
	s.set = true
	return s, nil
}

// IsZero reports whether s is the zero Secret, which holds no secret.
func (s Secret) IsZero() bool { return !s.set }

// Equal reports whether s and t are the same secret, in constant time.
func (s Secret) Equal(t Secret) bool {
	return s.set == t.set && subtle.ConstantTimeCompare(s.b[:], t.b[:]) == 1
}

// Reveal returns the code as the owner types it: 28 characters of A–Z and
// 2–7 in groups of four joined by dashes (34 characters in all). Call it
// only where the code is meant to be shown to the owner; never log it.
// The zero Secret reveals "".
func (s Secret) Reveal() string {
	if !s.set {
		return ""
	}
	chars := s.chars()
	var b strings.Builder
	for i, c := range chars {
		if i > 0 && i%groupSize == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// chars returns the 28 code characters without dashes.
func (s Secret) chars() []byte {
	var bits [codeChars * 5]byte // one bit per byte, simple and small
	for i := 0; i < SecretSize*8; i++ {
		bits[i] = s.b[i/8] >> (7 - i%8) & 1
	}
	check := codeCheck(s.b)
	for i := 0; i < checkBits; i++ {
		bits[SecretSize*8+i] = byte(check>>(checkBits-1-i)) & 1
	}
	out := make([]byte, codeChars)
	for i := range out {
		v := 0
		for _, bit := range bits[i*5 : i*5+5] {
			v = v<<1 | int(bit)
		}
		out[i] = codeAlphabet[v]
	}
	return out
}

// codeCheck is the 12-bit check of a secret: the top 12 bits of
// SHA-256(label ‖ secret).
func codeCheck(b [SecretSize]byte) uint16 {
	h := sha256.New()
	h.Write([]byte(checkLabel))
	h.Write(b[:])
	sum := h.Sum(nil)
	return (uint16(sum[0])<<8 | uint16(sum[1])) >> (16 - checkBits)
}

// ParseSecret parses a pairing code as the owner typed or scanned it. It is
// tolerant of case, spaces, tabs and dashes anywhere, and of the QR code's
// "DOORWARD-PAIR:" prefix (in any case); otherwise it is strict: exactly 28
// characters of A–Z and 2–7 whose check matches. Errors wrap
// ErrMalformedSecret and name the problem (a character and its position, the
// length, or a typo) without repeating the code.
func ParseSecret(text string) (Secret, error) {
	t := strings.TrimSpace(text)
	if len(t) >= len(URIScheme) && strings.EqualFold(t[:len(URIScheme)], URIScheme) {
		t = t[len(URIScheme):]
	}
	var chars []byte
	pos := 0 // position among code characters, for errors
	for _, r := range t {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		}
		pos++
		if r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		if r < 0x80 && strings.IndexByte(codeAlphabet, byte(r)) >= 0 {
			if len(chars) < codeChars {
				chars = append(chars, byte(r))
			}
			continue
		}
		hint := ""
		switch r {
		case '0':
			hint = " (a zero; the code uses the letter O)"
		case '1':
			hint = " (a one; the code uses the letters I and L)"
		case '8':
			hint = " (an eight; the code uses the letter B)"
		case '9':
			hint = " (the code has no 9)"
		}
		return Secret{}, fmt.Errorf("%w: character %d is %q%s; a code has only the letters A-Z and the digits 2-7, in groups of four", ErrMalformedSecret, pos, r, hint)
	}
	if pos != codeChars {
		return Secret{}, fmt.Errorf("%w: it has %d letters and digits, want %d (seven groups of four)", ErrMalformedSecret, pos, codeChars)
	}
	var bits [codeChars * 5]byte
	for i, c := range chars {
		v := strings.IndexByte(codeAlphabet, c)
		for j := 0; j < 5; j++ {
			bits[i*5+j] = byte(v>>(4-j)) & 1
		}
	}
	var s Secret
	for i := 0; i < SecretSize*8; i++ {
		s.b[i/8] |= bits[i] << (7 - i%8)
	}
	var check uint16
	for _, bit := range bits[SecretSize*8:] {
		check = check<<1 | uint16(bit)
	}
	if check != codeCheck(s.b) {
		return Secret{}, fmt.Errorf("%w: the code has a typo (its check does not match); compare it with the code the device shows", ErrMalformedSecret)
	}
	s.set = true
	return s, nil
}

// String returns "[redacted]", so that the code never reaches a log through
// a Stringer. Use Reveal to show the code.
func (s Secret) String() string { return redacted }

// GoString returns "[redacted]".
func (s Secret) GoString() string { return redacted }

// Format writes "[redacted]" for every verb, so that fmt.Sprintf("%v", s),
// %+v, %#v, %s, %q and %x never print the code.
func (s Secret) Format(f fmt.State, verb rune) { f.Write([]byte(redacted)) }

// LogValue redacts the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON encodes the secret as "[redacted]": a Secret inside a struct
// that is logged or sent as JSON does not leak.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// QR renders the QR code of URIScheme followed by the 28 code characters
// without dashes (for example "DOORWARD-PAIR:MFRGGZDF..."; ParseSecret
// accepts that text as it is) with half-block characters, two modules per
// character cell: a version 2 code at low error correction (a screen is not
// scratched), 33 columns by 17 lines including the 4-module quiet zone. It is drawn for a terminal with a dark background: light modules
// are printed as "█" in the terminal's (light) foreground colour. Like
// Reveal, it shows the secret: never log it.
func (s Secret) QR() (string, error) {
	if !s.set {
		return "", errors.New("pairing: QR of the zero Secret")
	}
	q, err := qrcode.New(URIScheme+string(s.chars()), qrcode.Low)
	if err != nil {
		return "", fmt.Errorf("pairing: QR code: %w", err)
	}
	return q.ToSmallString(false), nil
}
