package consent

import (
	"fmt"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"
)

// clockSkew is how far ahead of the device's clock an iat or the end of a
// scope may be: signers' clocks drift.
const clockSkew = 5 * time.Minute

// NumericDate is a time in whole seconds since the Unix epoch, as JWT's
// iat, nbf and exp are.
type NumericDate int64

// NewNumericDate truncates t to whole seconds.
func NewNumericDate(t time.Time) NumericDate { return NumericDate(t.Unix()) }

// Time returns d in UTC.
func (d NumericDate) Time() time.Time { return time.Unix(int64(d), 0).UTC() }

// Claims are the members every statement has.
type Claims struct {
	// ID is the statement's unique ID (jti): 1 to 128 of A-Z a-z 0-9 . _ ~ -.
	ID string `json:"jti"`
	// Audience is the device ID the statement is for.
	Audience string      `json:"aud"`
	IssuedAt NumericDate `json:"iat"`
	Expiry   NumericDate `json:"exp"`
}

func (c *Claims) check() error {
	if !validJTI(c.ID) {
		return refuse(ReasonMalformed, "jti %s: expected 1 to 128 of A-Z a-z 0-9 . _ ~ -", shorten(c.ID))
	}
	if c.Audience == "" || len(c.Audience) > 64 || !printable(c.Audience) {
		return refuse(ReasonMalformed, "aud %s: expected a device ID", shorten(c.Audience))
	}
	if c.IssuedAt <= 0 || c.Expiry <= 0 {
		return refuse(ReasonMalformed, "iat and exp are required (seconds since 1970)")
	}
	if c.Expiry <= c.IssuedAt {
		return refuse(ReasonMalformed, "exp %d is not after iat %d", c.Expiry, c.IssuedAt)
	}
	return nil
}

func validJTI(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '_' || c == '~' || c == '-':
		default:
			return false
		}
	}
	return true
}

// printable reports whether s is valid UTF-8 without control or format
// characters: statement text ends up in terminals, notices and logs, where
// an escape sequence or a bidi override could disguise it.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

// Media kinds a scope may name.
const (
	MediaVideo    = "video"
	MediaAudio    = "audio"
	MediaSnapshot = "snapshot"
)

// Scope is the footage a grant or token covers: what was recorded from
// From up to Until, of the named media; Live adds the live view (grants
// only).
type Scope struct {
	From  time.Time `json:"from"`
	Until time.Time `json:"until"`
	Media []string  `json:"media"`
	Live  bool      `json:"live"`
}

func (s *Scope) check() error {
	if s.From.IsZero() || s.Until.IsZero() {
		return refuse(ReasonMalformed, "scope.from and scope.until are required (RFC 3339)")
	}
	if !s.Until.After(s.From) {
		return refuse(ReasonMalformed, "scope.until %s is not after scope.from %s", s.Until.Format(time.RFC3339), s.From.Format(time.RFC3339))
	}
	if len(s.Media) == 0 && !s.Live {
		return refuse(ReasonMalformed, "scope.media is empty; name one or more of video, audio, snapshot (only a live-only grant, live: true, names none)")
	}
	for i, m := range s.Media {
		switch m {
		case MediaVideo, MediaAudio, MediaSnapshot:
		default:
			return refuse(ReasonMalformed, "scope.media[%d] %s; valid: video, audio, snapshot", i, shorten(m))
		}
		if slices.Contains(s.Media[:i], m) {
			return refuse(ReasonMalformed, "scope.media names %q twice", m)
		}
	}
	return nil
}

// text checks a required free-text claim.
func text(field, v string, max int) error {
	if v == "" || len(v) > max || !printable(v) {
		return refuse(ReasonMalformed, "%s %s: expected 1 to %d bytes of printable text", field, shorten(v), max)
	}
	return nil
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func fmtDur(d time.Duration) string { return fmt.Sprint(Duration(d)) }
