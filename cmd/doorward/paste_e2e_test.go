package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The commands the banner and pair-code print are ones a person can paste:
// each is run here with sh, as printed, and must do what it says.
func TestBannerCommandsPaste(t *testing.T) {
	skipShort(t)
	work := t.TempDir()
	path := filepath.Dir(bins.doorwardctl) + string(os.PathListSeparator) + os.Getenv("PATH")
	paste := func(line, stdin string) (string, int) {
		t.Helper()
		cmd := exec.Command("sh", "-c", line)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "PATH="+path)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		t.Logf("$ %s\n%s[exit %d]", line, out, code)
		return string(out), code
	}
	if _, code := paste("doorwardctl keygen -o owner.key", ""); code != 0 {
		t.Fatal("keygen")
	}
	banner := func(a *agent, want string) map[string]string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(a.output(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the banner:\n%s", want, a.output())
			}
			time.Sleep(50 * time.Millisecond)
		}
		lines := map[string]string{}
		for _, l := range strings.Split(a.output(), "\n") {
			if label, cmd, ok := strings.Cut(strings.TrimSpace(l), ": "); ok && !strings.Contains(label, " ") || label == "show code" || label == "list clips" {
				lines[label] = strings.TrimSpace(cmd)
			}
		}
		return lines
	}

	// Unpaired: the banner's "show code" and "pair" lines.
	state := filepath.Join(t.TempDir(), "state")
	a := startAgent(t, state, nil)
	lines := banner(a, "show code:")
	out, code := paste(lines["show code"], "")
	if code != 0 || len(strings.TrimSpace(strings.Split(out, "\n")[0])) < 28 {
		t.Errorf("show code: exit %d", code)
	}
	// doorwardctl by name on PATH, else the one built next to doorward.
	if f := strings.Fields(lines["pair"]); len(f) < 3 || filepath.Base(f[0]) != "doorwardctl" || f[1] != "pair" || f[2] != "--uri" {
		t.Fatalf("pair line: %q", lines["pair"])
	}
	if out, code := paste(lines["pair"], "y\n"); code != 0 || !strings.Contains(out, "paired with device") {
		t.Errorf("the banner's pair command: exit %d", code)
	}

	// pair-code's two commands, each on an unpaired agent of its own.
	for _, which := range []string{"pair with", "or"} {
		state := filepath.Join(t.TempDir(), "state")
		startAgent(t, state, nil)
		out := mustRun(t, bins.doorward, "pair-code", "--state", state)
		var line string
		for _, l := range strings.Split(out, "\n") {
			if label, cmd, ok := strings.Cut(strings.TrimSpace(l), ": "); ok && label == which {
				line = cmd
			}
		}
		if f := strings.Fields(line); len(f) < 3 || filepath.Base(f[0]) != "doorwardctl" || f[1] != "pair" || strings.Contains(line, "URL") || strings.Contains(line, "CODE") {
			t.Fatalf("pair-code's %q line: %q", which, line)
		}
		if out, code := paste(line, "y\n"); code != 0 || !strings.Contains(out, "paired with device") {
			t.Errorf("pair-code's %q command: exit %d", which, code)
		}
	}

	// Paired: the banner's record and list lines.
	key, rcpt := ownerKey(t)
	_ = key
	state = filepath.Join(t.TempDir(), "state")
	a = startAgent(t, state, nil, "--owner-recipient", rcpt)
	lines = banner(a, "list clips:")
	if out, code := paste(lines["record"], ""); code != 0 || !strings.Contains(out, "motion: recording") {
		t.Errorf("the banner's record command: exit %d", code)
	}
	if _, code := paste(lines["list clips"], ""); code != 0 {
		t.Errorf("the banner's list command: exit %d", code)
	}
}
