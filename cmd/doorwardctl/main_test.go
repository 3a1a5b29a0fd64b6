package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/doorward/doorward/consent"
)

// buildCLI builds doorwardctl into a temporary directory with a stamped
// version, as a release build would be.
func buildCLI(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "doorwardctl")
	cmd := exec.Command("go", buildArgs("-ldflags", "-X main.version=v9.9.9-test", "-o", bin, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type result struct {
	stdout, stderr string
	code           int
}

// doorwardctl runs the binary in dir as a user would type the command.
func doorwardctl(t *testing.T, bin, dir string, args ...string) result {
	t.Helper()
	return runCtl(t, bin, dir, "", args...)
}

// runCtl runs doorwardctl in dir with stdin (may be empty) and returns what
// it printed and its exit code; it logs the exchange like a terminal.
func runCtl(t *testing.T, bin, dir, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout.String(), stderr.String(), 0}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run doorwardctl: %v", err)
	}
	t.Logf("$ doorwardctl %s\n%s%s[exit %d]", strings.Join(args, " "), r.stdout, r.stderr, r.code)
	return r
}

// wantFail checks the error contract: exit 1, one line on stderr naming
// the problem, no usage dump, no panic, nothing on stdout.
func wantFail(t *testing.T, r result, contains ...string) {
	t.Helper()
	if r.code != 1 {
		t.Errorf("exit code %d, want 1", r.code)
	}
	if r.stdout != "" {
		t.Errorf("stdout on error: %q", r.stdout)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "doorwardctl: ") {
		t.Errorf("stderr is not one \"doorwardctl: \" line: %q", r.stderr)
	}
	if strings.Contains(r.stderr, "Usage:") || strings.Contains(r.stderr, "panic") {
		t.Errorf("stderr has a usage dump or panic: %q", r.stderr)
	}
	for _, c := range contains {
		if !strings.Contains(r.stderr, c) {
			t.Errorf("stderr %q does not contain %q", r.stderr, c)
		}
	}
}

// makeClip writes a clip directory as the device's vault does: each piece
// its own age file, plus an unfinished one that must be ignored.
func makeClip(t *testing.T, dir string, pieces map[string]string, rs ...age.Recipient) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, plain := range pieces {
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, rs...)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(plain))
		w.Close()
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCLI(t *testing.T) {
	bin := buildCLI(t)
	home := t.TempDir()

	r := doorwardctl(t, bin, home, "version")
	if r.code != 0 || r.stdout != "doorwardctl v9.9.9-test\n" {
		t.Fatalf("version: %+v", r)
	}
	if r = doorwardctl(t, bin, home, "--version"); r.code != 0 || r.stdout != "doorwardctl v9.9.9-test\n" {
		t.Fatalf("--version: %+v", r)
	}
	if r = doorwardctl(t, bin, home, "completion", "bash"); r.code != 0 || !strings.Contains(r.stdout, "__start_doorwardctl") {
		t.Fatalf("completion bash: code %d, %d bytes", r.code, len(r.stdout))
	}
	man := filepath.Join(home, "man")
	if r = doorwardctl(t, bin, home, "man", man); r.code != 0 {
		t.Fatalf("man: %+v", r)
	}
	for _, page := range []string{"doorwardctl.1", "doorwardctl-grant.1", "doorwardctl-audit-verify.1"} {
		data, err := os.ReadFile(filepath.Join(man, page))
		if err != nil || !bytes.Contains(data, []byte(".TH")) {
			t.Errorf("man page %s: %v", page, err)
		}
	}

	// keygen: the recipient and the contact on stdout, the advice on stderr.
	r = doorwardctl(t, bin, home, "keygen", "-o", "owner.key")
	if r.code != 0 {
		t.Fatalf("keygen failed: %+v", r)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	recipient := lines[0]
	if len(lines) != 2 || !strings.HasPrefix(recipient, "age1") || strings.HasPrefix(recipient, "age1pq1") {
		t.Fatalf("keygen stdout = %q, want an age1 recipient line and a contact line", r.stdout)
	}
	contact, err := consent.ParseContact(lines[1])
	if err != nil || contact.Recipient != recipient || !strings.Contains(r.stderr, "contact") {
		t.Fatalf("keygen's second line %q is not the key's contact: %v", lines[1], err)
	}
	if !strings.Contains(r.stderr, "owner.key") || !strings.Contains(r.stderr, "Keep it private") {
		t.Errorf("keygen stderr lacks the safety note: %q", r.stderr)
	}
	keyPath := filepath.Join(home, "owner.key")
	st, err := os.Stat(keyPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("owner.key: %v, mode %v; want mode 0600", err, st.Mode())
	}
	keyFile, _ := os.ReadFile(keyPath)
	ids, err := age.ParseIdentities(bytes.NewReader(keyFile))
	if err != nil || len(ids) != 1 || ids[0].(*age.X25519Identity).Recipient().String() != recipient {
		t.Fatalf("owner.key is not an age identity for %s: %v", recipient, err)
	}
	if !strings.Contains(string(keyFile), "# public key: "+recipient+"\n") {
		t.Errorf("owner.key lacks the public key comment:\n%s", keyFile)
	}

	wantFail(t, doorwardctl(t, bin, home, "keygen", "-o", "owner.key"), "owner.key already exists", "--force")
	if again, _ := os.ReadFile(keyPath); !bytes.Equal(again, keyFile) {
		t.Fatal("keygen without --force changed an existing key")
	}
	wantFail(t, doorwardctl(t, bin, home, "keygen"), `"output" not set`)
	wantFail(t, doorwardctl(t, bin, home, "keygen", "-o", "x.key", "--frob"), "unknown flag: --frob", "keygen --help")

	r = doorwardctl(t, bin, home, "keygen", "-o", "spare.key")
	if r.code != 0 {
		t.Fatal("keygen spare.key failed")
	}
	r = doorwardctl(t, bin, home, "keygen", "-o", "spare.key", "--force")
	if r.code != 0 {
		t.Fatal("keygen --force failed")
	}
	if st, _ := os.Stat(filepath.Join(home, "spare.key")); st.Mode().Perm() != 0o600 {
		t.Fatalf("replaced key has mode %04o", st.Mode().Perm())
	}

	r = doorwardctl(t, bin, home, "keygen", "--pq", "-o", "pq.key")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "age1pq1") || strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stdout, "\n"+consent.ContactPrefix) {
		t.Fatalf("keygen --pq: %+v", r)
	}
	if !strings.Contains(r.stderr, "1.3") {
		t.Errorf("keygen --pq stderr does not mention age 1.3: %q", r.stderr)
	}

	// A clip recorded for this owner (and a device vault key).
	owner, err := age.ParseX25519Recipient(recipient)
	if err != nil {
		t.Fatal(err)
	}
	vaultKey, _ := age.GenerateX25519Identity()
	clip := filepath.Join(home, "clips", "2026", "11", "27", "c1")
	makeClip(t, clip, map[string]string{
		"init.mp4.age":           "ftyp+moov|",
		"000002.m4s.age":         "moof+mdat 2|",
		"000001.m4s.age":         "moof+mdat 1|",
		"000003.m4s.age.partial": "unfinished|",
	}, owner, vaultKey.Recipient())
	const want = "ftyp+moov|moof+mdat 1|moof+mdat 2|"

	r = doorwardctl(t, bin, home, "decrypt", "-i", "owner.key", clip, "-o", "out.mp4")
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("decrypt failed: %+v", r)
	}
	got, err := os.ReadFile(filepath.Join(home, "out.mp4"))
	if err != nil || string(got) != want {
		t.Fatalf("out.mp4 = %q, %v; want %q", got, err, want)
	}
	if st, _ := os.Stat(filepath.Join(home, "out.mp4")); st.Mode().Perm() != 0o600 {
		t.Errorf("out.mp4 has mode %04o, want 0600", st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(home, "out.mp4.partial")); !os.IsNotExist(err) {
		t.Error("out.mp4.partial left behind")
	}

	r = doorwardctl(t, bin, home, "decrypt", "-i", "owner.key", "-o", "-", clip)
	if r.code != 0 || r.stdout != want {
		t.Fatalf("decrypt -o -: %+v", r)
	}

	// Any age identity file works: several -i, the matching one last.
	r = doorwardctl(t, bin, home, "decrypt", "-i", "pq.key", "-i", "owner.key", clip, "-o", "-")
	if r.code != 0 || r.stdout != want {
		t.Fatalf("decrypt with two -i: %+v", r)
	}

	// Bad inputs.
	wantFail(t, doorwardctl(t, bin, home, "decrypt", "-i", "pq.key", clip, "-o", "wrong.mp4"),
		"no identity in pq.key matches clip "+clip, "X25519")
	for _, name := range []string{"wrong.mp4", "wrong.mp4.partial"} {
		if _, err := os.Stat(filepath.Join(home, name)); !os.IsNotExist(err) {
			t.Errorf("%s exists after a failed decrypt", name)
		}
	}
	wantFail(t, doorwardctl(t, bin, home, "decrypt", "-i", "missing.key", clip, "-o", "x.mp4"), "missing.key", "no such file")
	os.WriteFile(filepath.Join(home, "notakey"), []byte("hello\n"), 0o600)
	wantFail(t, doorwardctl(t, bin, home, "decrypt", "-i", "notakey", clip, "-o", "x.mp4"), "identity file notakey")
	wantFail(t, doorwardctl(t, bin, home, "decrypt", "-i", "owner.key", "no-such-clip", "-o", "x.mp4"), "no-such-clip")

	noInit := filepath.Join(home, "noinit")
	makeClip(t, noInit, map[string]string{"000001.m4s.age": "x", "init.mp4.age.partial": "y"}, owner)
	wantFail(t, doorwardctl(t, bin, home, "decrypt", "-i", "owner.key", noInit, "-o", "x.mp4"), "no init segment", noInit)

	noSegs := filepath.Join(home, "nosegs")
	makeClip(t, noSegs, map[string]string{"init.mp4.age": "x"}, owner)
	wantFail(t, doorwardctl(t, bin, home, "decrypt", "-i", "owner.key", noSegs, "-o", "x.mp4"), "clip has no complete segments")

	wantFail(t, doorwardctl(t, bin, home, "decrypt", "-i", "owner.key", "-o", "x.mp4"), "decrypt expects one clip directory")
	wantFail(t, doorwardctl(t, bin, home, "decrypt", clip, "-o", "x.mp4"), `"identity" not set`)
	wantFail(t, doorwardctl(t, bin, home, "frobnicate"), `unknown command "frobnicate"`)
	if _, err := os.Stat(filepath.Join(home, "x.mp4")); !os.IsNotExist(err) {
		t.Error("x.mp4 exists after failed decrypts")
	}

	// Stock age opens a piece with the key keygen wrote.
	if agePath, err := exec.LookPath("age"); err == nil {
		out, err := exec.Command(agePath, "-d", "-i", keyPath, filepath.Join(clip, "init.mp4.age")).Output()
		if err != nil || string(out) != "ftyp+moov|" {
			t.Errorf("stock age -d -i owner.key: %q, %v", out, err)
		}
	} else if os.Getenv("CI") == "true" {
		t.Error("age binary not found; CI must have it")
	}
}
