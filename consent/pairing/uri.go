package pairing

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/skip2/go-qrcode"
)

// A pairing URI carries everything "doorwardctl pair" needs: the device's
// LAN API URL and the one-time code,
//
//	doorward:pair?url=https%3A%2F%2F192.168.1.20%3A8080&code=MFRGGZDFMZTWQ2LKNNWG23TPOBYX
//
// The pairing QR code holds it; "doorwardctl pair --uri" takes it. Like the
// code, it is a secret until pairing is done: never log it.

// maxURI bounds what ParseURI reads.
const maxURI = 1024

// URI is a parsed pairing URI.
type URI struct {
	// URL is the device's LAN API, scheme://host[:port] (http or https).
	URL string
	// Secret is the one-time pairing code.
	Secret Secret
}

// FormatURI returns the pairing URI for the device at deviceURL.
func FormatURI(deviceURL string, s Secret) string {
	return "doorward:pair?url=" + url.QueryEscape(deviceURL) + "&code=" + string(s.chars())
}

// QRURI renders the QR code of FormatURI(deviceURL, s) as QR does. Like
// Reveal, it shows the secret: never log it.
func (s Secret) QRURI(deviceURL string) (string, error) {
	if !s.set {
		return "", errors.New("pairing: QR of the zero Secret")
	}
	q, err := qrcode.New(FormatURI(deviceURL, s), qrcode.Low)
	if err != nil {
		return "", fmt.Errorf("pairing: QR code: %w", err)
	}
	return q.ToSmallString(false), nil
}

// ParseURI parses a pairing URI. It accepts exactly the form FormatURI
// writes (scheme and "pair" in any case, the two parameters in any order)
// and refuses anything else: another parameter, a repeated one, a device
// URL that is not http(s)://host[:port], a code with a typo.
func ParseURI(text string) (URI, error) {
	t := strings.TrimSpace(text)
	if len(t) > maxURI {
		return URI{}, fmt.Errorf("pairing: URI: longer than %d bytes", maxURI)
	}
	u, err := url.Parse(t)
	if err != nil || !strings.EqualFold(u.Scheme, "doorward") || !strings.EqualFold(u.Opaque, "pair") || u.Fragment != "" {
		return URI{}, errors.New(`pairing: URI: not a pairing URI (want doorward:pair?url=...&code=..., as the device's QR code and "doorward pair-code --uri" give it)`)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return URI{}, fmt.Errorf("pairing: URI: its parameters do not parse: %v", err)
	}
	for k, v := range q {
		if k != "url" && k != "code" {
			return URI{}, fmt.Errorf("pairing: URI: unknown parameter %q (valid: url, code)", printableKey(k))
		}
		if len(v) != 1 {
			return URI{}, fmt.Errorf("pairing: URI: parameter %s given %d times", k, len(v))
		}
	}
	if _, ok := q["url"]; !ok {
		return URI{}, errors.New("pairing: URI: no url parameter (the device's LAN address)")
	}
	if _, ok := q["code"]; !ok {
		return URI{}, errors.New("pairing: URI: no code parameter")
	}
	dev, err := checkDeviceURL(q.Get("url"))
	if err != nil {
		return URI{}, err
	}
	s, err := ParseSecret(q.Get("code"))
	if err != nil {
		return URI{}, fmt.Errorf("pairing: URI: code: %w", err)
	}
	return URI{URL: dev, Secret: s}, nil
}

// checkDeviceURL accepts http(s)://host[:port] with an optional "/" path.
func checkDeviceURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || u.Opaque != "" || u.RawPath != "" {
		return "", errors.New("pairing: URI: url is not a device address (want http(s)://HOST[:PORT])")
	}
	if p := u.Port(); p != "" {
		for _, r := range p {
			if r < '0' || r > '9' {
				return "", errors.New("pairing: URI: url has a bad port")
			}
		}
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String(), nil
}

// printableKey keeps a parameter name from outside short and printable.
func printableKey(k string) string {
	if len(k) > 32 {
		k = k[:32] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, k)
}
