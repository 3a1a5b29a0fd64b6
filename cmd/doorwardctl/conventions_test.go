package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/doorward/doorward/cmd/clidoc"
)

// Every doorwardctl command keeps the flag conventions (clidoc.Check): one
// name per concept, --json a switch, -o an output with - and --force.
func TestFlagConventions(t *testing.T) {
	root := newRootCmd(io.Discard, io.Discard)
	for _, bad := range clidoc.Check(root) {
		t.Error(bad)
	}
}

// The checker itself catches each kind of break (it would pass vacuously
// otherwise).
func TestFlagConventionsCatch(t *testing.T) {
	root := newRootCmd(io.Discard, io.Discard)
	for _, c := range root.Commands() {
		if c.Name() == "notices" {
			c.Flags().String("key", "", "a key `FILE`")
			c.Flags().String("recipient", "", "who")
			c.Flags().String("expires", "", "when")
			c.Flags().StringP("out", "o", "", "out")
		}
		if c.Name() == "revoke" {
			c.Flags().String("json", "", "a file")
			c.Flags().StringP("output", "o", "", "a `FILE`")
		}
	}
	got := strings.Join(clidoc.Check(root), "\n")
	for _, want := range []string{"notices --key: a key file is -i/--identity", "notices --recipient: a recipient is --to",
		"notices --expires: how long something is valid is --valid-for", "notices --out: -o is the output flag",
		"revoke --json: --json must be a switch", "revoke --output: its help must say", "revoke --output: a command that writes a file takes --force"} {
		if !strings.Contains(got, want) {
			t.Errorf("Check did not report %q:\n%s", want, got)
		}
	}
}

// The conventions through the binary: old names still work as hidden,
// deprecated aliases; -o - is standard output; an existing -o file needs
// --force.
func TestFlagConventionsBinary(t *testing.T) {
	b := e2e(t)
	dir := t.TempDir()
	// keygen -o -: the key file on stdout, the recipient on stderr.
	r := ctl(t, b, dir, "", "keygen", "-o", "-")
	if r.code != 0 || !strings.Contains(r.stdout, "AGE-SECRET-KEY-") || !strings.HasPrefix(r.stderr, "age1") {
		t.Fatalf("keygen -o -: %+v", r)
	}
	mustCtl(t, b, dir, "keygen", "-o", "owner.key")
	key1, _ := os.ReadFile(filepath.Join(dir, "owner.key"))
	wantFail(t, ctl(t, b, dir, "", "keygen", "-o", "owner.key"), "owner.key", "--force")
	if again, _ := os.ReadFile(filepath.Join(dir, "owner.key")); string(again) != string(key1) {
		t.Fatal("keygen replaced a key without --force")
	}
	mustCtl(t, b, dir, "keygen", "-o", "owner.key", "--force")

	mustCtl(t, b, dir, "issuer", "keygen", "-o", "court.key")
	os.WriteFile(filepath.Join(dir, "order.pdf"), []byte("the order"), 0o600)
	issue := func(extra ...string) []string {
		return append([]string{"token", "issue", "--device", "abcdefghijklmnop", "--basis", "warrant", "--case", "C-1",
			"--jurisdiction", "US-CA", "--order", "order.pdf", "--from", "-1h", "--until", "now"}, extra...)
	}
	const rcpt = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	// Old names: --key and --recipient, with a deprecation note.
	r = ctl(t, b, dir, "", issue("--key", "court.key", "--recipient", rcpt, "-o", "old.json")...)
	if r.code != 0 || !strings.Contains(r.stderr, "--key is deprecated; use --identity") || !strings.Contains(r.stderr, "--recipient is deprecated; use --to") {
		t.Fatalf("old flag names: %+v", r)
	}
	// New names; -o - puts the token on stdout and the jti on stderr.
	r = ctl(t, b, dir, "", issue("-i", "court.key", "--to", rcpt, "-o", "-")...)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "{") || strings.TrimSpace(r.stderr) == "" || strings.Contains(r.stderr, "deprecated") {
		t.Fatalf("token issue -o -: %+v", r)
	}
	wantFail(t, ctl(t, b, dir, "", issue("-i", "court.key", "--to", rcpt, "-o", "old.json")...), "old.json", "exists", "--force")
	mustCtl(t, b, dir, issue("-i", "court.key", "--to", rcpt, "-o", "old.json", "--force")...)
	// Hidden: --help names none of the old flags.
	help := mustCtl(t, b, dir, "token", "issue", "--help")
	for _, old := range []string{"--key", "--recipient"} {
		if strings.Contains(help, old) {
			t.Errorf("token issue --help shows %s", old)
		}
	}
	if !strings.Contains(help, "-i, --identity") || !strings.Contains(help, "--to RECIPIENT") {
		t.Errorf("token issue --help:\n%s", help)
	}
	// grant's --expires is --valid-for now.
	help = mustCtl(t, b, dir, "grant", "--help")
	if !strings.Contains(help, "--valid-for DURATION") || strings.Contains(help, "--expires") {
		t.Errorf("grant --help:\n%s", help)
	}
}
