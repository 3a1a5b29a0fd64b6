package rewrap

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
)

// Limits on the header ParseHeader accepts. A Doorward segment header has
// one stanza per owner recipient plus the vault's: with hybrid recipients
// each stanza is about 1.6 KiB, so 64 stanzas fit well inside 64 KiB.
const (
	// MaxHeaderSize bounds the bytes read before the payload.
	MaxHeaderSize = 64 << 10
	// MaxStanzas bounds the recipient stanzas in one header.
	MaxStanzas = 64
	// maxArgs bounds the arguments of one stanza (age allows 128).
	maxArgs = 16
	// maxLine bounds one header line; the longest real line, a hybrid
	// stanza's opening line, is about 1.5 KiB.
	maxLine = 4 << 10
)

const (
	intro          = "age-encryption.org/v1\n"
	stanzaPrefix   = "-> "
	footerPrefix   = "---"
	columnsPerLine = 64
	bytesPerLine   = columnsPerLine / 4 * 3
	macSize        = 32
)

// b64 is the encoding of stanza bodies, arguments and the MAC: standard
// alphabet, no padding, and strict, so that unused trailing bits must be
// zero and every value has exactly one encoding.
var b64 = base64.RawStdEncoding.Strict()

// Header is a parsed age v1 header.
type Header struct {
	// Stanzas are the recipient stanzas in file order.
	Stanzas []*age.Stanza
	// MAC is the 32-byte header MAC from the "---" line.
	MAC []byte
	// Size is the header's length in bytes, up to and including the
	// newline that ends the "---" line; the payload starts there.
	Size int
	// signed is the header up to and including "---": the bytes the MAC
	// covers.
	signed []byte
}

// ParseHeader reads an age v1 header from r and leaves r positioned at the
// first payload byte. It is strict: every line must be in the one canonical
// form age writes (exact intro line, "-> " stanza lines with single spaces
// and printable arguments, bodies in 64-column canonical base64 ending with
// a short line, and a "--- " line with a 32-byte MAC). Errors wrap
// ErrMalformedHeader.
func ParseHeader(r *bufio.Reader) (*Header, error) {
	p := &parser{r: r}
	h, err := p.parse()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedHeader, err)
	}
	return h, nil
}

type parser struct {
	r    *bufio.Reader
	raw  []byte
	line int
}

// next returns the next line, newline included. It never returns a line
// that would take the header past MaxHeaderSize.
func (p *parser) next() ([]byte, error) {
	p.line++
	var line []byte
	for {
		frag, err := p.r.ReadSlice('\n')
		line = append(line, frag...)
		if len(p.raw)+len(line) > MaxHeaderSize {
			return nil, fmt.Errorf("header is longer than %d bytes", MaxHeaderSize)
		}
		if len(line) > maxLine {
			return nil, fmt.Errorf("line %d is longer than %d bytes", p.line, maxLine)
		}
		switch {
		case err == nil:
			p.raw = append(p.raw, line...)
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(p.raw)+len(line) == 0 {
				return nil, errors.New("file is empty")
			}
			return nil, fmt.Errorf("truncated at line %d: %w", p.line, io.ErrUnexpectedEOF)
		default:
			return nil, fmt.Errorf("read line %d: %w", p.line, err)
		}
	}
}

func (p *parser) parse() (*Header, error) {
	line, err := p.next()
	if err != nil {
		return nil, err
	}
	if string(line) != intro {
		return nil, fmt.Errorf("not an age v1 file: first line is not %q", strings.TrimSuffix(intro, "\n"))
	}
	h := &Header{}
	for {
		line, err := p.next()
		if err != nil {
			return nil, err
		}
		if bytes.HasPrefix(line, []byte(footerPrefix)) {
			mac, ok := bytes.CutPrefix(line, []byte(footerPrefix+" "))
			if !ok {
				return nil, fmt.Errorf("line %d: malformed MAC line: want \"--- \" and the base64 MAC", p.line)
			}
			h.MAC, err = decodeLine(mac)
			if err != nil {
				return nil, fmt.Errorf("line %d: MAC: %w", p.line, err)
			}
			if len(h.MAC) != macSize {
				return nil, fmt.Errorf("line %d: MAC is %d bytes, want %d", p.line, len(h.MAC), macSize)
			}
			if len(h.Stanzas) == 0 {
				return nil, errors.New("header has no recipient stanzas")
			}
			h.Size = len(p.raw)
			// The MAC covers everything up to and including "---".
			h.signed = p.raw[:len(p.raw)-len(line)+len(footerPrefix)]
			return h, nil
		}
		if len(h.Stanzas) == MaxStanzas {
			return nil, fmt.Errorf("header has more than %d recipient stanzas", MaxStanzas)
		}
		s, err := p.stanza(line)
		if err != nil {
			return nil, err
		}
		h.Stanzas = append(h.Stanzas, s)
	}
}

func (p *parser) stanza(line []byte) (*age.Stanza, error) {
	rest, ok := bytes.CutPrefix(line, []byte(stanzaPrefix))
	if !ok {
		return nil, fmt.Errorf("line %d: want a stanza (\"-> \") or the MAC line (\"--- \")", p.line)
	}
	rest = bytes.TrimSuffix(rest, []byte("\n"))
	args := strings.Split(string(rest), " ")
	if len(args) > maxArgs+1 {
		return nil, fmt.Errorf("line %d: stanza has more than %d arguments", p.line, maxArgs)
	}
	for i, a := range args {
		if !validArg(a) {
			return nil, fmt.Errorf("line %d: stanza argument %d is empty or has a character outside printable ASCII", p.line, i)
		}
	}
	s := &age.Stanza{Type: args[0], Args: args[1:]}
	for {
		line, err := p.next()
		if err != nil {
			return nil, err
		}
		b, err := decodeLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: stanza body: %w", p.line, err)
		}
		if len(b) > bytesPerLine {
			return nil, fmt.Errorf("line %d: stanza body line is longer than %d columns", p.line, columnsPerLine)
		}
		s.Body = append(s.Body, b...)
		if len(b) < bytesPerLine {
			// A body always ends with a short (possibly empty) line.
			return s, nil
		}
	}
}

// decodeLine decodes one newline-terminated line of canonical unpadded
// base64.
func decodeLine(line []byte) ([]byte, error) {
	body, ok := bytes.CutSuffix(line, []byte("\n"))
	if !ok {
		return nil, errors.New("line does not end with a newline")
	}
	// The base64 decoder skips CR and LF; age does not allow them.
	if bytes.ContainsAny(body, "\r\n") {
		return nil, errors.New("carriage return in base64")
	}
	out := make([]byte, b64.DecodedLen(len(body)))
	n, err := b64.Decode(out, body)
	if err != nil {
		return nil, errors.New("not canonical unpadded base64")
	}
	return out[:n], nil
}

// validArg reports whether s is a non-empty string of printable ASCII
// without spaces, as the age spec requires of stanza types and arguments.
func validArg(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}

// marshalStanza appends s in canonical form: the "-> " line, then the body
// in 64-column lines ending with a short (possibly empty) one.
func marshalStanza(dst []byte, s *age.Stanza) ([]byte, error) {
	if !validArg(s.Type) {
		return nil, fmt.Errorf("invalid stanza type %q", s.Type)
	}
	dst = append(dst, stanzaPrefix...)
	dst = append(dst, s.Type...)
	for _, a := range s.Args {
		if !validArg(a) {
			return nil, fmt.Errorf("invalid stanza argument %q", a)
		}
		dst = append(dst, ' ')
		dst = append(dst, a...)
	}
	dst = append(dst, '\n')
	enc := b64.EncodeToString(s.Body)
	for len(enc) >= columnsPerLine {
		dst = append(dst, enc[:columnsPerLine]...)
		dst = append(dst, '\n')
		enc = enc[columnsPerLine:]
	}
	dst = append(dst, enc...)
	return append(dst, '\n'), nil
}
