package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMakeRunTakesArgs: the README's first command, make run, passes
// ARGS=... on to doorward run after the sim board and the demo key (make
// -n shows the commands without running them).
func TestMakeRunTakesArgs(t *testing.T) {
	makeBin, err := exec.LookPath("make")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("make is missing: .ci/run installs it")
		}
		t.Skip("no make")
	}
	cmd := exec.Command(makeBin, "-n", "run", "ARGS=--listen 127.0.0.1:8081")
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n run: %v\n%s", err, out)
	}
	var run string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "/doorward run ") {
			run = l
		}
	}
	if !strings.Contains(run, "run --board sim --demo-owner-key ") || !strings.HasSuffix(strings.TrimSpace(run), "--listen 127.0.0.1:8081") {
		t.Errorf("make run ARGS=... runs %q, want doorward run --board sim --demo-owner-key KEY --listen 127.0.0.1:8081\n%s", run, out)
	}
}
