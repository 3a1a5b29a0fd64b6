package consent

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

func generate(t *testing.T, pq bool) *OwnerKey {
	t.Helper()
	k, err := GenerateOwnerKey(pq)
	if err != nil {
		t.Fatalf("GenerateOwnerKey(%v): %v", pq, err)
	}
	return k
}

func TestOwnerKeyRoundTrip(t *testing.T) {
	for _, pq := range []bool{false, true} {
		t.Run(map[bool]string{false: "classic", true: "pq"}[pq], func(t *testing.T) {
			k := generate(t, pq)
			if k.PostQuantum() != pq {
				t.Fatalf("PostQuantum() = %v, want %v", k.PostQuantum(), pq)
			}
			wantPrefix := map[bool]string{false: "age1", true: "age1pq1"}[pq]
			if !strings.HasPrefix(k.RecipientString(), wantPrefix) {
				t.Fatalf("RecipientString() = %.20q, want prefix %q", k.RecipientString(), wantPrefix)
			}
			var buf bytes.Buffer
			n, err := k.WriteTo(&buf)
			if err != nil || n != int64(buf.Len()) {
				t.Fatalf("WriteTo = %d, %v; wrote %d bytes", n, err, buf.Len())
			}
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[0], "# created: ") ||
				lines[1] != "# public key: "+k.RecipientString() || !strings.HasPrefix(lines[2], "AGE-SECRET-KEY-") {
				t.Fatalf("file layout differs from age-keygen's:\n%s", buf.String())
			}
			// Any age tool reads it.
			ids, err := age.ParseIdentities(bytes.NewReader(buf.Bytes()))
			if err != nil || len(ids) != 1 {
				t.Fatalf("age.ParseIdentities: %v, %d identities", err, len(ids))
			}

			k2, err := ParseOwnerKey(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatalf("ParseOwnerKey: %v", err)
			}
			if k2.RecipientString() != k.RecipientString() || k2.PostQuantum() != pq {
				t.Fatal("parsed key differs from written key")
			}
			if !k2.Created().Equal(k.Created()) {
				t.Fatalf("Created() = %v, want %v", k2.Created(), k.Created())
			}
			if !bytes.Equal(k2.SigningKey(), k.SigningKey()) {
				t.Fatal("signing key changed across a write and parse")
			}
			var buf2 bytes.Buffer
			if _, err := k2.WriteTo(&buf2); err != nil || buf2.String() != buf.String() {
				t.Fatalf("rewrite differs (%v):\n%s\nvs\n%s", err, buf2.String(), buf.String())
			}

			// Encrypt to the recipient, decrypt with the identity.
			var ct bytes.Buffer
			w, err := age.Encrypt(&ct, k.Recipient())
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(w, "hello")
			w.Close()
			r, err := age.Decrypt(&ct, k2.Identity())
			if err != nil {
				t.Fatalf("decrypt with parsed identity: %v", err)
			}
			if got, _ := io.ReadAll(r); string(got) != "hello" {
				t.Fatalf("decrypted %q", got)
			}
		})
	}
}

func TestSigningKey(t *testing.T) {
	a, b := generate(t, false), generate(t, false)
	p := generate(t, true)
	if !bytes.Equal(a.SigningKey(), a.SigningKey()) {
		t.Fatal("signing key not deterministic")
	}
	if bytes.Equal(a.SigningKey(), b.SigningKey()) || bytes.Equal(a.SigningKey(), p.SigningKey()) {
		t.Fatal("different identities gave the same signing key")
	}
	if !bytes.Equal(a.SigningPublicKey(), a.SigningKey().Public().(ed25519.PublicKey)) {
		t.Fatal("SigningPublicKey does not match SigningKey")
	}
	msg := []byte("grant")
	if !ed25519.Verify(p.SigningPublicKey(), msg, ed25519.Sign(p.SigningKey(), msg)) {
		t.Fatal("signature does not verify")
	}
	// The returned key is a copy.
	sk := a.SigningKey()
	sk[0] ^= 0xff
	if bytes.Equal(sk, a.SigningKey()) {
		t.Fatal("SigningKey returned internal state")
	}
}

// TestSigningKeyVector pins the derivation: if this fails, the label or the
// input changed, and every owner's signing key with it. The value was
// checked independently with Python's cryptography package.
func TestSigningKeyVector(t *testing.T) {
	const file = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX\n"
	k, err := ParseOwnerKey(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	const want = "b86bcd2d2ab9f8b68404a1b4afc391db0f2fc7c7dd5a6cf4efbbf60cc6fe2e0b"
	if got := hex.EncodeToString(k.SigningPublicKey()); got != want {
		t.Fatalf("SigningPublicKey = %s, want %s", got, want)
	}
}

func TestParseOwnerKeyErrors(t *testing.T) {
	k := generate(t, false)
	other := generate(t, false)
	secret := k.secret
	tests := []struct {
		name, file, want string
	}{
		{"empty", "", "no identity"},
		{"comments only", "# hello\n\n", "no identity"},
		{"two identities", secret + "\n" + other.secret + "\n", "more than one identity (lines 1 and 2)"},
		{"garbage", "# c\nAGE-SECRET-KEY-1NOTAKEY\n", "line 2: malformed age identity"},
		{"recipient not identity", k.RecipientString() + "\n", "line 1: not an age identity"},
		{"public key mismatch", "# public key: " + other.RecipientString() + "\n" + secret + "\n", "does not match"},
		{"too long", strings.Repeat("#", maxOwnerKeyFile+10), "larger than"},
		{"not utf8", "\xff\xfe\n", "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseOwnerKey(strings.NewReader(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "consent: ") {
				t.Fatalf("err %q lacks the package prefix", err)
			}
			if strings.Contains(err.Error(), "AGE-SECRET-KEY-1") && strings.Contains(err.Error(), secret[20:]) {
				t.Fatalf("error leaks the secret key: %v", err)
			}
		})
	}
}

func TestParseOwnerKeyLenient(t *testing.T) {
	k := generate(t, true)
	// CRLF line ends, indentation and a file without the created line.
	file := "\r\n# a note\r\n   " + k.secret + "  \r\n"
	k2, err := ParseOwnerKey(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if k2.RecipientString() != k.RecipientString() || !k2.Created().IsZero() {
		t.Fatal("parsed key differs")
	}
	var buf bytes.Buffer
	k2.WriteTo(&buf)
	if strings.Contains(buf.String(), "# created:") {
		t.Fatal("wrote a created line for a key with no known creation time")
	}
}

func TestParseRecipients(t *testing.T) {
	c1, c2 := generate(t, false), generate(t, false)
	p1 := generate(t, true)
	rs, err := ParseRecipients([]string{c1.RecipientString(), " " + c2.RecipientString() + "\n"})
	if err != nil || len(rs) != 2 {
		t.Fatalf("classic: %v", err)
	}
	if f, err := FamilyOf(rs[0]); err != nil || f != Classic {
		t.Fatalf("FamilyOf = %v, %v", f, err)
	}
	rs, err = ParseRecipients([]string{p1.RecipientString()})
	if err != nil || len(rs) != 1 {
		t.Fatalf("pq: %v", err)
	}
	if f, err := FamilyOf(rs[0]); err != nil || f != PostQuantum {
		t.Fatalf("FamilyOf = %v, %v", f, err)
	}
	if _, err := FamilyOf(&age.ScryptRecipient{}); err == nil {
		t.Fatal("FamilyOf(scrypt) succeeded")
	}

	pq := p1.RecipientString()
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"none", nil, []string{"no recipients"}},
		{"empty", []string{""}, []string{"recipient 1: empty", "age1pq1"}},
		{"mix", []string{c1.RecipientString(), pq}, []string{"mix classic", "post-quantum", "refuses", "only post-quantum"}},
		{"ssh", []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN"}, []string{"SSH key", "age1..."}},
		{"plugin", []string{"age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t"}, []string{"plugin", `"age1yubikey1qwt5`}},
		{"secret", []string{c1.secret}, []string{"secret key, not a recipient"}},
		{"bad classic", []string{"age1qqqq"}, []string{`"age1qqqq"`, "not a valid X25519"}},
		{"bad pq", []string{pq[:len(pq)-3] + "qqq"}, []string{"not a valid post-quantum", pq[:16] + "..."}},
		{"garbage", []string{"hello"}, []string{`"hello" is not an age recipient`}},
		{"second bad", []string{c1.RecipientString(), "nope"}, []string{"recipient 2:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRecipients(tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "consent: ") {
				t.Errorf("%q lacks the package prefix", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not contain %q", msg, w)
				}
			}
			if len(msg) > 400 {
				t.Errorf("error is %d bytes long; long keys must be shortened: %s", len(msg), msg)
			}
			if strings.Contains(msg, c1.secret) {
				t.Error("error leaks a secret key")
			}
		})
	}
}

// TestStockAge checks that the stock age binary opens files encrypted to a
// written owner key, and that the key opens files stock age encrypted.
func TestStockAge(t *testing.T) {
	agePath, err := exec.LookPath("age")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("age binary not found; CI must have it")
		}
		t.Skip("age binary not found")
	}
	out, _ := exec.Command(agePath, "--version").Output()
	version := strings.TrimSpace(string(out))
	families := []bool{false}
	if stockAgeSupportsPQ(version) {
		families = append(families, true)
	}
	t.Logf("age %s; testing post-quantum: %v", version, len(families) == 2)

	for _, pq := range families {
		k := generate(t, pq)
		dir := t.TempDir()
		keyFile := filepath.Join(dir, "owner.key")
		f, err := os.OpenFile(keyFile, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.WriteTo(f); err != nil {
			t.Fatal(err)
		}
		f.Close()

		enc := filepath.Join(dir, "clip.age")
		ef, _ := os.Create(enc)
		w, err := age.Encrypt(ef, k.Recipient())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "doorward clip")
		w.Close()
		ef.Close()
		got, err := exec.Command(agePath, "-d", "-i", keyFile, enc).Output()
		if err != nil {
			t.Fatalf("stock age -d: %v: %s", err, stderrOf(err))
		}
		if string(got) != "doorward clip" {
			t.Fatalf("stock age decrypted %q", got)
		}

		cmd := exec.Command(agePath, "-e", "-r", k.RecipientString())
		cmd.Stdin = strings.NewReader("from stock age")
		ct, err := cmd.Output()
		if err != nil {
			t.Fatalf("stock age -e: %v: %s", err, stderrOf(err))
		}
		r, err := age.Decrypt(bytes.NewReader(ct), k.Identity())
		if err != nil {
			t.Fatal(err)
		}
		if pt, _ := io.ReadAll(r); string(pt) != "from stock age" {
			t.Fatalf("decrypted %q", pt)
		}
	}
}

// stockAgeSupportsPQ reports whether an "age --version" string is 1.3 or
// later, which reads hybrid keys.
func stockAgeSupportsPQ(v string) bool {
	v = strings.TrimPrefix(v, "v")
	var major, minor int
	for i, part := range strings.SplitN(v, ".", 3) {
		n := 0
		for _, c := range part {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int(c-'0')
		}
		switch i {
		case 0:
			major = n
		case 1:
			minor = n
		}
	}
	return major > 1 || major == 1 && minor >= 3
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func FuzzParseOwnerKey(f *testing.F) {
	f.Add("# created: 2026-01-02T15:04:05Z\n# public key: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\nAGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX\n")
	f.Add("AGE-SECRET-KEY-PQ-1XXXX\n")
	f.Add("\r\n#\n")
	f.Fuzz(func(t *testing.T, file string) {
		k, err := ParseOwnerKey(strings.NewReader(file))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if _, err := k.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		k2, err := ParseOwnerKey(&buf)
		if err != nil {
			t.Fatalf("reparse of written key: %v", err)
		}
		if k2.RecipientString() != k.RecipientString() {
			t.Fatal("round trip changed the key")
		}
	})
}

func FuzzParseRecipients(f *testing.F) {
	f.Add("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
	f.Add("age1pq1qqqq")
	f.Add("age1yubikey1qqqq")
	f.Add("ssh-ed25519 AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseRecipients(strings.Split(s, ","))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "consent: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		fam, err := FamilyOf(rs[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs[1:] {
			if f, _ := FamilyOf(r); f != fam {
				t.Fatal("mixed families accepted")
			}
		}
	})
}
