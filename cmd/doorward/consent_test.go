package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// An agent with no owner starts in pairing mode: pair-code prints the code
// alone on its first line; id, policy and audit answer.
func TestPairingModeCommands(t *testing.T) {
	skipShort(t)
	t.Parallel()
	state := filepath.Join(t.TempDir(), "state")
	a := startAgent(t, state, nil)
	out := mustRun(t, bins.doorward, "pair-code", "--state", state)
	first, rest, _ := strings.Cut(out, "\n")
	if !regexp.MustCompile(`^[A-Z2-7]{4}(-[A-Z2-7]{4}){6}$`).MatchString(first) || !strings.Contains(rest, "doorwardctl pair") {
		t.Errorf("pair-code printed %q", out)
	}
	if strings.Contains(a.output(), first) {
		// The banner on the terminal shows it; the log lines must not.
		for _, line := range strings.Split(a.output(), "\n") {
			if strings.Contains(line, first) && strings.Contains(line, "level=") {
				t.Errorf("the pairing code is in a log line: %q", line)
			}
		}
	}
	id := strings.TrimSpace(mustRun(t, bins.doorward, "id", "--state", state))
	if !regexp.MustCompile(`^[a-z2-7]{16}$`).MatchString(id) {
		t.Errorf("id printed %q", id)
	}
	if out := mustRun(t, bins.doorward, "policy", "--state", state); !strings.Contains(out, "proposed") || !strings.Contains(out, "no legal issuers") {
		t.Errorf("policy printed %q", out)
	}
	if out := mustRun(t, bins.doorward, "audit", "--state", state); !strings.Contains(out, "DECISION") || !strings.Contains(out, "doorward-audit/v1") {
		t.Errorf("audit printed %q", out)
	}
	a.stop()
	// With the agent stopped, id still answers from the key file.
	if got := strings.TrimSpace(mustRun(t, bins.doorward, "id", "--state", state)); got != id {
		t.Errorf("offline id %q, running id %q", got, id)
	}
	if _, stderr, code := run(t, bins.doorward, "pair-code", "--state", state); code == 0 || !strings.Contains(stderr, "no agent is running") {
		t.Errorf("pair-code without an agent: exit %d, %q", code, stderr)
	}
	// The audit log reads from the database of a stopped agent too.
	if out := mustRun(t, bins.doorward, "audit", "--state", state); !strings.Contains(out, "DECISION") || !strings.Contains(out, "no agent running") {
		t.Errorf("offline audit printed %q", out)
	}
}
