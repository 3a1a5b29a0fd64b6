package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strconv"
	"time"
)

// CheckpointOrigin is the first line of every checkpoint body. It names the
// format and keeps a checkpoint signature from being valid as any other
// message the device key signs.
const CheckpointOrigin = "doorward-audit/v1"

// maxCheckpoint bounds the encoded size ParseCheckpoint accepts.
const maxCheckpoint = 512

// Checkpoint is the state of the log at one moment: its size, its RFC 6962
// root hash, and the device time.
type Checkpoint struct {
	Size uint64
	Root []byte // 32 bytes
	Time time.Time
}

// Body returns the exact bytes the device signs:
//
//	doorward-audit/v1\n
//	<size in decimal>\n
//	<root, standard base64 with padding>\n
//	<time, Unix seconds in decimal>\n
//
// Time is truncated to whole seconds.
func (c Checkpoint) Body() []byte {
	var b bytes.Buffer
	b.WriteString(CheckpointOrigin)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatUint(c.Size, 10))
	b.WriteByte('\n')
	b.WriteString(base64.StdEncoding.EncodeToString(c.Root))
	b.WriteByte('\n')
	b.WriteString(strconv.FormatInt(c.Time.Unix(), 10))
	b.WriteByte('\n')
	return b.Bytes()
}

// SignedCheckpoint is a checkpoint with the device's Ed25519 signature over
// its Body.
type SignedCheckpoint struct {
	Checkpoint
	Signature []byte // 64 bytes
}

// Signer signs checkpoints with the device's Ed25519 identity key.
// *device.Identity satisfies it.
type Signer interface {
	Sign(msg []byte) []byte
	PublicKey() ed25519.PublicKey
}

// Marshal returns the checkpoint in its text form: the body, an empty line,
// and the signature in standard base64 on a line of its own.
func (s SignedCheckpoint) Marshal() []byte {
	b := s.Body()
	b = append(b, '\n')
	b = base64.StdEncoding.AppendEncode(b, s.Signature)
	return append(b, '\n')
}

// MarshalText is Marshal, so that a checkpoint travels in JSON as a string.
func (s SignedCheckpoint) MarshalText() ([]byte, error) { return s.Marshal(), nil }

// UnmarshalText is ParseCheckpoint.
func (s *SignedCheckpoint) UnmarshalText(b []byte) error {
	c, err := ParseCheckpoint(b)
	if err != nil {
		return err
	}
	*s = c
	return nil
}

// ParseCheckpoint decodes the text form written by Marshal. It is strict:
// exactly the lines Marshal writes, decimal numbers without sign or
// leading zeros, canonical base64, a 32-byte root and a 64-byte signature.
// It does not check the signature; Verify does.
func ParseCheckpoint(b []byte) (SignedCheckpoint, error) {
	if len(b) > maxCheckpoint {
		return SignedCheckpoint{}, fmt.Errorf("%w: %d bytes, limit %d", ErrBadCheckpoint, len(b), maxCheckpoint)
	}
	lines := bytes.Split(b, []byte("\n"))
	// origin, size, root, time, "", signature, "" (after the final newline)
	if len(lines) != 7 || len(lines[4]) != 0 || len(lines[6]) != 0 {
		return SignedCheckpoint{}, fmt.Errorf("%w: want 4 body lines, an empty line and a signature line, each ending in a newline", ErrBadCheckpoint)
	}
	if string(lines[0]) != CheckpointOrigin {
		return SignedCheckpoint{}, fmt.Errorf("%w: first line is not %q", ErrBadCheckpoint, CheckpointOrigin)
	}
	var s SignedCheckpoint
	size, err := parseDecimal(lines[1])
	if err != nil {
		return SignedCheckpoint{}, fmt.Errorf("%w: size: %w", ErrBadCheckpoint, err)
	}
	s.Size = size
	if s.Root, err = decodeB64(lines[2], 32); err != nil {
		return SignedCheckpoint{}, fmt.Errorf("%w: root: %w", ErrBadCheckpoint, err)
	}
	unix, err := parseDecimal(lines[3])
	if err != nil || unix > 253402300799 { // 9999-12-31T23:59:59Z
		return SignedCheckpoint{}, fmt.Errorf("%w: time: want Unix seconds between 0 and year 9999", ErrBadCheckpoint)
	}
	s.Time = time.Unix(int64(unix), 0).UTC()
	if s.Signature, err = decodeB64(lines[5], ed25519.SignatureSize); err != nil {
		return SignedCheckpoint{}, fmt.Errorf("%w: signature: %w", ErrBadCheckpoint, err)
	}
	return s, nil
}

func parseDecimal(b []byte) (uint64, error) {
	if len(b) == 0 || len(b) > 20 || (len(b) > 1 && b[0] == '0') {
		return 0, fmt.Errorf("%q is not a decimal number without leading zeros", b)
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", b)
		}
	}
	return strconv.ParseUint(string(b), 10, 64)
}

func decodeB64(b []byte, size int) ([]byte, error) {
	out, err := base64.StdEncoding.Strict().DecodeString(string(b))
	if err != nil || bytes.ContainsAny(b, "\r\n") {
		return nil, fmt.Errorf("not canonical base64")
	}
	if len(out) != size {
		return nil, fmt.Errorf("%d bytes, want %d", len(out), size)
	}
	return out, nil
}
