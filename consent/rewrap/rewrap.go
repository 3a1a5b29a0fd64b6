// Package rewrap hands one age-encrypted file to a new recipient without
// touching its payload.
//
// A Doorward segment is an age file encrypted to every owner recipient and to
// the device's vault recipient. To honour a grant or a legal-process token
// the device recovers the file key from the header with the vault identity,
// checks the header MAC, wraps the file key for the grantee alone, writes a
// new header (one stanza, new MAC) and streams the payload — the STREAM
// nonce and chunks — after it unchanged. The cost is O(header), not
// O(segment), and the result opens with stock "age -d" and the grantee's
// identity and with nothing else: neither the owners' nor the vault's keys
// appear in it.
//
// Only X25519 (age1...) and hybrid post-quantum (age1pq1...) recipients are
// accepted, and a file whose header is post-quantum is never re-wrapped for
// a classic recipient (ErrDowngrade). age's public API can unwrap a header
// (Identity.Unwrap) but cannot write one for an existing file key, so this
// package parses and writes the header itself, per the age v1 spec
// (https://age-encryption.org/v1), strictly and within fixed bounds.
package rewrap

import (
	"bufio"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
)

// Stanza types age v1.3 writes for the two recipient families.
const (
	x25519Type = "X25519"
	hybridType = "mlkem768x25519"
)

// fileKeySize is the age file key size.
const fileKeySize = 16

// minPayload is the smallest valid payload: the 16-byte STREAM nonce and
// one (empty, final) chunk of 16 bytes of Poly1305 tag.
const minPayload = 16 + 16

var (
	// ErrMalformedHeader is returned when the source is not a well-formed
	// age v1 header within MaxHeaderSize and MaxStanzas.
	ErrMalformedHeader = errors.New("rewrap: malformed age header")
	// ErrWrongIdentity is returned when the vault identity opens none of
	// the source file's stanzas (not encrypted to this device's vault, or
	// a strict-mode file).
	ErrWrongIdentity = errors.New("rewrap: the vault identity opens no stanza of this file")
	// ErrHeaderMAC is returned when the header MAC does not verify under
	// the recovered file key: the header was altered.
	ErrHeaderMAC = errors.New("rewrap: header MAC does not verify")
	// ErrRecipientType is returned for a recipient that is neither X25519
	// nor hybrid post-quantum (scrypt, SSH, plugins, anything else).
	ErrRecipientType = errors.New("rewrap: recipient must be X25519 (age1...) or hybrid post-quantum (age1pq1...)")
	// ErrDowngrade is returned when a post-quantum file would be re-wrapped
	// for a classic recipient.
	ErrDowngrade = errors.New("rewrap: refusing to re-wrap a post-quantum file for a classic (X25519) recipient")
	// ErrTruncatedPayload is returned when fewer bytes follow the header
	// than the smallest valid age payload.
	ErrTruncatedPayload = errors.New("rewrap: payload is truncated")
)

// Rewrap reads the age file src, recovers its file key with the vault
// identity, and writes to dst the same file re-encrypted to `to` alone: a
// new header with one stanza and a new MAC, followed by src's payload
// copied unchanged.
//
// Checks happen before anything is written: the recipient type, the header
// syntax, the downgrade rule, the unwrap and the header MAC. If the payload
// copy fails, dst holds a partial file; callers write to a temporary file
// and discard it on error. The file key is zeroed before Rewrap returns.
func Rewrap(dst io.Writer, src io.Reader, vault age.Identity, to age.Recipient) error {
	br := bufio.NewReader(src)
	header, _, err := newHeaderFor(br, vault, to)
	if err != nil {
		return err
	}
	if _, err := dst.Write(header); err != nil {
		return fmt.Errorf("rewrap: write header: %w", err)
	}
	n, err := io.Copy(dst, br)
	if err != nil {
		return fmt.Errorf("rewrap: copy payload: %w", err)
	}
	if n < minPayload {
		return fmt.Errorf("%w: %d bytes after the header, want at least %d", ErrTruncatedPayload, n, minPayload)
	}
	return nil
}

// NewHeader reads the header of the age file src and checks it as Rewrap
// does, and returns the header that re-wraps the file for `to` alone and
// the size of src's header. The re-wrapped file is the returned header
// followed by src's bytes from srcHeaderSize on, unchanged: a caller can
// stream it (and know its size) without writing it anywhere.
func NewHeader(src io.Reader, vault age.Identity, to age.Recipient) (header []byte, srcHeaderSize int, err error) {
	return newHeaderFor(bufio.NewReader(src), vault, to)
}

// NewHeaderMany is NewHeader for several recipients of one family (all
// X25519 or all hybrid, as age requires): the new header holds one stanza
// per recipient and nothing else. The owners' cloud backup uses it to
// drop the vault's stanza while keeping every owner's.
func NewHeaderMany(src io.Reader, vault age.Identity, to []age.Recipient) (header []byte, srcHeaderSize int, err error) {
	return newHeaderFor(bufio.NewReader(src), vault, to...)
}

func newHeaderFor(br *bufio.Reader, vault age.Identity, to ...age.Recipient) ([]byte, int, error) {
	if len(to) == 0 {
		return nil, 0, fmt.Errorf("%w: no recipient", ErrRecipientType)
	}
	toPQ, err := recipientFamily(to[0])
	if err != nil {
		return nil, 0, err
	}
	for _, r := range to[1:] {
		pq, err := recipientFamily(r)
		if err != nil {
			return nil, 0, err
		}
		if pq != toPQ {
			return nil, 0, fmt.Errorf("%w: X25519 and hybrid recipients cannot share one file", ErrRecipientType)
		}
	}
	switch v := vault.(type) {
	case nil:
		return nil, 0, errors.New("rewrap: no vault identity")
	case *age.X25519Identity:
		if v == nil {
			return nil, 0, errors.New("rewrap: no vault identity")
		}
	case *age.HybridIdentity:
		if v == nil {
			return nil, 0, errors.New("rewrap: no vault identity")
		}
	}
	h, err := ParseHeader(br)
	if err != nil {
		return nil, 0, err
	}
	if h.postQuantum() && !toPQ {
		return nil, 0, ErrDowngrade
	}
	fileKey, err := vault.Unwrap(h.Stanzas)
	defer clear(fileKey)
	if errors.Is(err, age.ErrIncorrectIdentity) {
		return nil, 0, ErrWrongIdentity
	}
	if err != nil {
		return nil, 0, fmt.Errorf("rewrap: unwrap the file key: %w", err)
	}
	if len(fileKey) != fileKeySize {
		return nil, 0, fmt.Errorf("rewrap: unwrapped file key is %d bytes, want %d", len(fileKey), fileKeySize)
	}
	mac, err := headerMAC(fileKey, h.signed)
	if err != nil {
		return nil, 0, err
	}
	if !hmac.Equal(mac, h.MAC) {
		return nil, 0, ErrHeaderMAC
	}
	header, err := newHeader(fileKey, to, toPQ)
	if err != nil {
		return nil, 0, err
	}
	return header, h.Size, nil
}

// MinPayload is the smallest valid age payload, in bytes: a file whose
// payload is shorter is truncated.
const MinPayload = minPayload

// recipientFamily reports whether r is post-quantum, refusing recipients
// that are neither X25519 nor hybrid.
func recipientFamily(r age.Recipient) (postQuantum bool, err error) {
	switch r := r.(type) {
	case *age.X25519Recipient:
		if r == nil {
			return false, fmt.Errorf("%w: nil X25519 recipient", ErrRecipientType)
		}
		return false, nil
	case *age.HybridRecipient:
		if r == nil {
			return false, fmt.Errorf("%w: nil hybrid recipient", ErrRecipientType)
		}
		return true, nil
	case nil:
		return false, fmt.Errorf("%w: no recipient", ErrRecipientType)
	default:
		return false, fmt.Errorf("%w: got %T", ErrRecipientType, r)
	}
}

// postQuantum reports whether any stanza is a hybrid post-quantum one. age
// refuses to mix families in one file, so one such stanza makes the whole
// file post-quantum.
func (h *Header) postQuantum() bool {
	for _, s := range h.Stanzas {
		if s.Type == hybridType {
			return true
		}
	}
	return false
}

// newHeader wraps fileKey for each recipient and returns the complete
// header: intro, one stanza per recipient, and the "---" line with the
// MAC.
func newHeader(fileKey []byte, to []age.Recipient, toPQ bool) ([]byte, error) {
	want := x25519Type
	if toPQ {
		want = hybridType
	}
	buf := make([]byte, 0, 2048)
	buf = append(buf, intro...)
	for _, r := range to {
		stanzas, err := r.Wrap(fileKey)
		if err != nil {
			return nil, fmt.Errorf("rewrap: wrap the file key: %w", err)
		}
		if len(stanzas) != 1 || stanzas[0].Type != want {
			return nil, fmt.Errorf("rewrap: recipient produced %d stanzas, want one %s stanza", len(stanzas), want)
		}
		if buf, err = marshalStanza(buf, stanzas[0]); err != nil {
			return nil, fmt.Errorf("rewrap: %w", err)
		}
	}
	buf = append(buf, footerPrefix...)
	mac, err := headerMAC(fileKey, buf)
	if err != nil {
		return nil, err
	}
	buf = append(buf, ' ')
	buf = b64.AppendEncode(buf, mac)
	return append(buf, '\n'), nil
}

// headerMAC is HMAC-SHA-256 under HKDF-SHA-256(file key, no salt,
// "header") over the header up to and including "---", per the age spec.
func headerMAC(fileKey, signed []byte) ([]byte, error) {
	key, err := hkdf.Key(sha256.New, fileKey, nil, "header", sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("rewrap: derive the header MAC key: %w", err)
	}
	defer clear(key)
	m := hmac.New(sha256.New, key)
	m.Write(signed)
	return m.Sum(nil), nil
}
