package main

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/consent"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"now":                       now,
		"NOW":                       now,
		"-10m":                      now.Add(-10 * time.Minute),
		"+1h30m":                    now.Add(90 * time.Minute),
		"-1d":                       now.Add(-24 * time.Hour),
		"2026-01-02T15:04:05Z":      time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		"2026-01-02T16:04:05+01:00": time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
	} {
		got, err := parseWhen("from", in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "-", "--5m", "-5x", "10m", "2026-01-02", "2026-01-02 15:04:05", "-\x1b[2J"} {
		_, err := parseWhen("from", in, now)
		if err == nil || !strings.HasPrefix(err.Error(), "--from: ") || strings.Contains(err.Error(), "\x1b") {
			t.Errorf("parseWhen(%q): %v; want a --from error without control characters", in, err)
		}
	}
	for in, want := range map[string]time.Duration{"24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := parseDuration("expires", in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0s", "-1h", "soon"} {
		if _, err := parseDuration("expires", in); err == nil {
			t.Errorf("parseDuration(%q) accepted", in)
		}
	}
	if m, err := parseMedia("video, audio"); err != nil || len(m) != 2 {
		t.Errorf("parseMedia: %v %v", m, err)
	}
	for _, in := range []string{"", "video,", "VIDEO", "smell"} {
		if _, err := parseMedia(in); err == nil {
			t.Errorf("parseMedia(%q) accepted", in)
		}
	}
}

func TestIssuerAndTokenCLI(t *testing.T) {
	b := e2e(t)
	dir := t.TempDir()

	// issuer keygen: the public key alone on the first line, mode 0600.
	out := mustCtl(t, b, dir, "issuer", "keygen", "-o", "court.key")
	pubLine, _, _ := strings.Cut(out, "\n")
	pub, err := consent.ParseIssuerKey(pubLine)
	if err != nil {
		t.Fatalf("issuer keygen first line %q: %v", pubLine, err)
	}
	st, err := os.Stat(filepath.Join(dir, "court.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("court.key: %v %v", err, st)
	}
	key := mustIssuerKey(t, filepath.Join(dir, "court.key"))
	if !key.Public().(ed25519.PublicKey).Equal(pub) {
		t.Fatal("the printed public key is not the file's")
	}
	keyFile, _ := os.ReadFile(filepath.Join(dir, "court.key"))
	wantFail(t, ctl(t, b, dir, "", "issuer", "keygen", "-o", "court.key"), "already exists", "--force")
	if again, _ := os.ReadFile(filepath.Join(dir, "court.key")); !bytes.Equal(again, keyFile) {
		t.Fatal("issuer keygen replaced a key without --force")
	}
	// -o - is standard output, as everywhere: the key file there, the
	// public key on stderr.
	if r := ctl(t, b, dir, "", "issuer", "keygen", "-o", "-"); r.code != 0 || !strings.HasPrefix(r.stdout, "# doorward issuer key") || !strings.Contains(r.stderr, "ed25519:") {
		t.Fatalf("issuer keygen -o -: %+v", r)
	}
	wantFail(t, ctl(t, b, dir, "", "issuer", "keygen"), `"output" not set`)
	mustCtl(t, b, dir, "issuer", "keygen", "-o", "pros.key")

	// Damaged key files.
	os.WriteFile(filepath.Join(dir, "bad1.key"), []byte("hello\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "bad2.key"), bytes.Replace(keyFile, []byte("# public key: ed25519:"), []byte("# public key: ed25519:A"), 1), 0o600)
	os.WriteFile(filepath.Join(dir, "bad3.key"), append(append([]byte{}, keyFile...), keyFile...), 0o600)
	os.WriteFile(filepath.Join(dir, "bad4.key"), []byte(issuerKeyPrefix+"AAAA\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "order.pdf"), []byte("the order"), 0o600)
	issue := func(keyFile string, extra ...string) []string {
		return append([]string{"token", "issue", "-i", keyFile, "--device", "abcdefghijklmnop", "--basis", "warrant",
			"--case", "24-CR-1", "--jurisdiction", "US-CA", "--order", "order.pdf", "--from", "-1h", "--until", "-1m",
			"--to", "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p", "-o", "tok.json"}, extra...)
	}
	for k, want := range map[string]string{"bad1.key": "line 1", "bad2.key": "does not match", "bad3.key": "more than one key", "bad4.key": "not a valid key", "none.key": "no such file"} {
		wantFail(t, ctl(t, b, dir, "", issue(k)...), k, want)
	}
	for _, tc := range []struct {
		extra []string
		want  string
	}{
		{[]string{"--basis", "hunch"}, "basis"},
		{[]string{"--order", "missing.pdf"}, "--order"},
		{[]string{"--from", "last week"}, "--from"},
		{[]string{"--valid-for", "0s"}, "--valid-for"},
		{[]string{"--notify-after", "later"}, "--notify-after"},
		{[]string{"--media", "smell"}, "--media"},
		{[]string{"--to", "not-a-recipient"}, "recipient"},
		{[]string{"--device", ""}, ""},
	} {
		wantFail(t, ctl(t, b, dir, "", issue("court.key", tc.extra...)...), tc.want)
	}
	wantFail(t, ctl(t, b, dir, "", "token", "issue", "-i", "court.key"), "not set")
	if _, err := os.Stat(filepath.Join(dir, "tok.json")); !os.IsNotExist(err) {
		t.Fatal("a refused token issue wrote tok.json")
	}

	// A token, cosigned, inspected.
	jti := strings.TrimSpace(mustCtl(t, b, dir, issue("court.key", "--notify-after", "+1h", "--preserve")...))
	mustCtl(t, b, dir, "token", "cosign", "-i", "pros.key", "tok.json", "-o", "tok2.json")
	one, _ := os.ReadFile(filepath.Join(dir, "tok.json"))
	if s, err := consent.InspectToken(one); err != nil || s.Claims.ID != jti || len(s.KeyIDs) != 1 {
		t.Fatalf("cosign -o changed the original: %v", err)
	}
	wantFail(t, ctl(t, b, dir, "", "token", "cosign", "-i", "pros.key", "tok2.json"), "already signed")
	mustCtl(t, b, dir, "token", "cosign", "-i", "pros.key", "tok.json")
	two, _ := os.ReadFile(filepath.Join(dir, "tok.json"))
	s, err := consent.InspectToken(two)
	if err != nil || len(s.KeyIDs) != 2 || s.KeyIDs[0] != consent.KeyID(pub) || !s.Claims.Preserve || s.Claims.NotifyAfter == nil {
		t.Fatalf("cosigned in place: %+v %v", s, err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "tok.json")); st.Mode().Perm() != 0o600 {
		t.Errorf("cosigned token mode %04o", st.Mode().Perm())
	}
	out = mustCtl(t, b, dir, "token", "inspect", "tok.json")
	for _, want := range []string{jti, "warrant", "24-CR-1", "US-CA", "signature 2:", "NOT verified", "verifies nothing"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect lacks %q:\n%s", want, out)
		}
	}
	os.WriteFile(filepath.Join(dir, "junk.json"), []byte(`{"payload":"e30","signatures":[]}`), 0o600)
	wantFail(t, ctl(t, b, dir, "", "token", "inspect", "junk.json"), "junk.json")
	wantFail(t, ctl(t, b, dir, "", "token", "cosign", "-i", "pros.key", "junk.json"), "junk.json")
	wantFail(t, ctl(t, b, dir, "", "token", "inspect"), "one token file")
	wantFail(t, ctl(t, b, dir, "", "token", "submit", "--device", "http://127.0.0.1:1", "tok.json"), "cannot reach")
	wantFail(t, ctl(t, b, dir, "", "token", "submit", "tok.json"), `"device" not set`)

	// Owner commands refuse before the network when the key is missing.
	wantFail(t, ctl(t, b, dir, "", "notices", "--device", "http://127.0.0.1:1", "-i", "nokey"), "nokey")
	wantFail(t, ctl(t, b, dir, "", "policy", "set", "--device", "http://127.0.0.1:1", "-i", "nokey", "nofile.yaml"), "nofile.yaml")
	os.WriteFile(filepath.Join(dir, "p.yaml"), []byte("issuers: []\nquorom: {}\n"), 0o600)
	wantFail(t, ctl(t, b, dir, "", "policy", "set", "--device", "http://127.0.0.1:1", "-i", "nokey", "p.yaml"), "p.yaml:2:1: quorom: unknown field")
}
