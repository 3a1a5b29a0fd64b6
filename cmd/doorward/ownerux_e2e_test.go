package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An unpaired agent records nothing: trigger says why and exits 1. With
// DOORWARD_SIM_CLOCK=unsynced its start log does not claim the clock is
// synchronized.
func TestTriggerUnpairedAndUnsyncedClock(t *testing.T) {
	skipShort(t)
	t.Parallel()
	state := filepath.Join(t.TempDir(), "state")
	a := startAgent(t, state, []string{"DOORWARD_SIM_CLOCK=unsynced"})
	stdout, stderr, code := run(t, bins.doorward, "trigger", "motion", "--state", state)
	if code != 1 || stdout != "" {
		t.Errorf("trigger on an unpaired agent: exit %d, stdout %q", code, stdout)
	}
	if !strings.Contains(stderr, "not paired") || !strings.Contains(stderr, "pair-code") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("trigger on an unpaired agent says %q, want one line on why nothing records", stderr)
	}
	time.Sleep(500 * time.Millisecond)
	if cs := clips(t, state); len(cs) != 0 {
		t.Errorf("clips after a refused trigger: %+v", cs)
	}
	a.stop()
	log := a.output()
	if strings.Contains(log, "as if synchronized") || !strings.Contains(log, "unsynchronized") {
		t.Errorf("start log with DOORWARD_SIM_CLOCK=unsynced:\n%s", log)
	}
}

// selftest --json writes the JSON report to stdout (and the table to
// stderr); -o - is stdout too, never a file named "-".
func TestSelftestJSONStdout(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(bins.doorward, "selftest", "--board", "sim", "--state", filepath.Join(dir, "state"), "--json", "--frames", "30")
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("selftest --json -: %v\n%s", err, stderr.String())
	}
	var rep selftestReport
	if err := json.Unmarshal(out, &rep); err != nil || rep.Board != "sim" || !rep.OK {
		t.Fatalf("stdout is not the JSON report (%v):\n%s", err, out)
	}
	if !strings.Contains(stderr.String(), "PASS: every required check passed") {
		t.Errorf("the table is not on stderr:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "-")); !os.IsNotExist(err) {
		t.Errorf("a file named - was written (%v)", err)
	}
}
