package pairing_test

import (
	"strings"
	"testing"

	"github.com/doorward/doorward/consent/pairing"
)

func TestURIRoundTrip(t *testing.T) {
	s, _ := pairing.NewSecret()
	for _, dev := range []string{"https://192.168.1.20:8080", "http://127.0.0.1:8080", "https://[fe80::1%25eth0]:8080", "https://doorbell.local"} {
		uri := pairing.FormatURI(dev, s)
		if !strings.HasPrefix(uri, "doorward:pair?url=") {
			t.Fatalf("FormatURI = %q", uri)
		}
		got, err := pairing.ParseURI(uri)
		if err != nil || got.URL != dev || !got.Secret.Equal(s) {
			t.Fatalf("ParseURI(%q) = %+v, %v", uri, got.URL, err)
		}
		if qr, err := s.QRURI(dev); err != nil || qr == "" {
			t.Fatalf("QRURI: %v", err)
		}
	}
	// Case-insensitive scheme, parameters in any order, a trailing slash.
	code := strings.ReplaceAll(s.Reveal(), "-", "")
	if got, err := pairing.ParseURI(" DOORWARD:PAIR?code=" + s.Reveal() + "&url=https%3A%2F%2F10.0.0.2%3A8080%2F\n"); err != nil || got.URL != "https://10.0.0.2:8080" {
		t.Fatalf("variant: %+v %v", got.URL, err)
	}
	for _, bad := range []string{
		"",
		"https://192.168.1.20:8080",
		"doorward:pair",
		"doorward:other?url=http%3A%2F%2Fa&code=" + code,
		"doorward:pair?url=http%3A%2F%2Fa",
		"doorward:pair?code=" + code,
		"doorward:pair?url=http%3A%2F%2Fa&code=" + code + "&x=1",
		"doorward:pair?url=http%3A%2F%2Fa&url=http%3A%2F%2Fb&code=" + code,
		"doorward:pair?url=ftp%3A%2F%2Fa&code=" + code,
		"doorward:pair?url=http%3A%2F%2Fuser%40a&code=" + code,
		"doorward:pair?url=http%3A%2F%2Fa%2Fpath&code=" + code,
		"doorward:pair?url=http%3A%2F%2Fa&code=" + code[:27] + "A",
		"doorward:pair?url=http%3A%2F%2Fa&code=" + code + "#frag",
		"doorward:pair?url=%zz&code=" + code,
		"doorward:pair?url=http%3A%2F%2F%3A80&code=" + code,
	} {
		if _, err := pairing.ParseURI(bad); err == nil {
			t.Errorf("ParseURI(%q) accepted", bad)
		}
	}
}

// FuzzParseURI: whatever ParseURI accepts, FormatURI writes back to the
// same device URL and code; nothing panics.
func FuzzParseURI(f *testing.F) {
	s, _ := pairing.NewSecret()
	f.Add(pairing.FormatURI("https://192.168.1.20:8080", s))
	f.Add(pairing.FormatURI("http://[::1]:8080", s))
	f.Add("doorward:pair?url=http://a:1&code=" + s.Reveal())
	f.Fuzz(func(t *testing.T, in string) {
		got, err := pairing.ParseURI(in)
		if err != nil {
			if !got.Secret.IsZero() || got.URL != "" {
				t.Fatal("an error with a result")
			}
			return
		}
		again, err := pairing.ParseURI(pairing.FormatURI(got.URL, got.Secret))
		if err != nil || again.URL != got.URL || !again.Secret.Equal(got.Secret) {
			t.Fatalf("FormatURI(%q) does not round-trip: %v", got.URL, err)
		}
	})
}
