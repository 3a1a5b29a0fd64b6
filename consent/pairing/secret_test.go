package pairing_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/doorward/doorward/consent/pairing"
)

func mustSecret(t testing.TB) pairing.Secret {
	t.Helper()
	s, err := pairing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSecretRoundTrip(t *testing.T) {
	for range 200 {
		s := mustSecret(t)
		code := s.Reveal()
		if len(code) != 34 || strings.Count(code, "-") != 6 {
			t.Fatalf("code %q: want 7 groups of 4 joined by dashes", code)
		}
		for _, in := range []string{
			code,
			strings.ToLower(code),
			strings.ReplaceAll(code, "-", ""),
			strings.ReplaceAll(code, "-", " "),
			"  " + strings.ReplaceAll(strings.ToLower(code), "-", " - ") + "\t",
			pairing.URIScheme + strings.ReplaceAll(code, "-", ""),
			"doorward-pair:" + code,
		} {
			got, err := pairing.ParseSecret(in)
			if err != nil {
				t.Fatalf("ParseSecret(%q): %v", in, err)
			}
			if !got.Equal(s) {
				t.Fatalf("ParseSecret(%q) gave another secret", in)
			}
		}
	}
}

func TestSecretsDiffer(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		c := mustSecret(t).Reveal()
		if seen[c] {
			t.Fatalf("NewSecret repeated %q", c)
		}
		seen[c] = true
	}
}

func TestParseSecretRefuses(t *testing.T) {
	code := strings.ReplaceAll(mustSecret(t).Reveal(), "-", "")
	// flip one character to another valid one: the check must catch it
	// (it misses 1 in 4096; this fixed change is deterministic per code, so
	// try every position and require nearly all to be caught).
	caught := 0
	for i := range code {
		b := []byte(code)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		_, err := pairing.ParseSecret(string(b))
		if err != nil {
			if !errors.Is(err, pairing.ErrMalformedSecret) || !strings.Contains(err.Error(), "typo") {
				t.Fatalf("position %d: error %v, want a typo error", i, err)
			}
			caught++
		}
	}
	if caught < len(code)-1 {
		t.Fatalf("check caught only %d of %d one-character typos", caught, len(code))
	}
	// two adjacent characters swapped
	b := []byte(code)
	for i := 0; i+1 < len(b); i++ {
		if b[i] != b[i+1] {
			b[i], b[i+1] = b[i+1], b[i]
			break
		}
	}
	if _, err := pairing.ParseSecret(string(b)); err == nil {
		t.Log("transposition slipped through the 12-bit check (1 in 4096)")
	}

	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "0 letters"},
		{"short", code[:27], "27 letters"},
		{"long", code + "A", "29 letters"},
		{"zero", "0" + code[1:], "a zero"},
		{"one", code[:5] + "1" + code[6:], "character 6"},
		{"eight", code[:27] + "8", "an eight"},
		{"nine", "9" + code[1:], "no 9"},
		{"punctuation", code[:10] + "." + code[11:], `'.'`},
		{"underscore separator", code[:4] + "_" + code[4:], `'_'`},
		{"non-ascii", "É" + code[1:], `'É'`},
		{"fullwidth", "Ａ" + code[1:], "character 1"},
		{"newline inside", code[:4] + "\n" + code[4:], `'\n'`},
		{"wrong scheme", "doorward-pain:" + code, "character"},
		{"scheme twice", pairing.URIScheme + pairing.URIScheme + code, "character"},
		{"invalid utf8", "\xff" + code[1:], "character 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := pairing.ParseSecret(tt.in)
			if err == nil {
				t.Fatalf("ParseSecret(%q) succeeded", tt.in)
			}
			if !errors.Is(err, pairing.ErrMalformedSecret) {
				t.Errorf("error %v does not wrap ErrMalformedSecret", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name the problem (want %q)", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "pairing: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if len(code) > 8 && strings.Contains(err.Error(), code[8:20]) {
				t.Errorf("error %q repeats the code", err)
			}
			if !s.IsZero() {
				t.Error("a refused code gave a non-zero Secret")
			}
		})
	}
}

func TestSecretRedaction(t *testing.T) {
	s := mustSecret(t)
	code := s.Reveal()
	bare := strings.ReplaceAll(code, "-", "")
	leaks := func(what, out string) {
		t.Helper()
		for _, c := range []string{code, bare, strings.ToLower(bare), code[:9]} {
			if strings.Contains(out, c) {
				t.Errorf("%s leaks the code: %q", what, out)
			}
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("%s = %q, want [redacted]", what, out)
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v"} {
		leaks(verb, fmt.Sprintf(verb, s))
	}
	leaks("pointer %v", fmt.Sprintf("%v", &s))
	leaks("in a struct", fmt.Sprintf("%+v", struct{ Code pairing.Secret }{s}))
	leaks("String", s.String())
	leaks("error wrap", fmt.Errorf("pairing failed for %v", s).Error())

	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("pairing", "secret", s, "ptr", &s)
	log.Info("group", slog.Group("g", slog.Any("s", s)))
	log.Info("struct", "v", struct{ S pairing.Secret }{s})
	leaks("slog JSON", buf.String())

	buf.Reset()
	slog.New(slog.NewTextHandler(&buf, nil)).Info("pairing", "secret", s)
	leaks("slog text", buf.String())

	j, err := json.Marshal(map[string]any{"s": s})
	if err != nil {
		t.Fatal(err)
	}
	leaks("json", string(j))
}

func TestSecretZero(t *testing.T) {
	var z pairing.Secret
	if !z.IsZero() || z.Reveal() != "" {
		t.Fatal("zero Secret should be zero and reveal nothing")
	}
	if _, err := z.QR(); err == nil {
		t.Fatal("QR of the zero Secret succeeded")
	}
	if mustSecret(t).IsZero() {
		t.Fatal("NewSecret gave a zero Secret")
	}
	if z.Equal(mustSecret(t)) {
		t.Fatal("zero equals a real secret")
	}
}

func TestSecretQR(t *testing.T) {
	s := mustSecret(t)
	q, err := s.QR()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(q, "\n"), "\n")
	if len(lines) != 17 {
		t.Errorf("QR has %d lines, want 17 (version 2, half blocks)", len(lines))
	}
	for i, l := range lines {
		if n := len([]rune(l)); n != 33 {
			t.Errorf("QR line %d has %d columns, want 33", i, n)
		}
		if strings.Trim(l, " █▀▄") != "" {
			t.Errorf("QR line %d has characters other than half blocks: %q", i, l)
		}
	}
	q2, _ := s.QR()
	if q != q2 {
		t.Error("QR is not deterministic")
	}
	if q3, _ := mustSecret(t).QR(); q3 == q {
		t.Error("two secrets gave the same QR")
	}
}
