package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// selftestReport is the JSON report as a user's script reads it.
type selftestReport struct {
	Board   string `json:"board"`
	Version string `json:"version"`
	Time    string `json:"time"`
	OK      bool   `json:"ok"`
	Checks  []struct {
		Name     string             `json:"name"`
		Required bool               `json:"required"`
		Status   string             `json:"status"`
		Detail   string             `json:"detail"`
		Figures  map[string]float64 `json:"figures"`
	} `json:"checks"`
}

func TestSelftestSim(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	report := filepath.Join(dir, "r.json")
	stdout, stderr, code := run(t, bins.doorward, "selftest", "--board", "sim", "--state", filepath.Join(dir, "state"), "--json", "-o", report)
	if code != 0 {
		t.Fatalf("selftest on sim: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "[10/17] camera capture ...") {
		t.Errorf("no progress on stderr:\n%s", stderr)
	}
	if !strings.Contains(stdout, "PASS: every required check passed") || !strings.Contains(stdout, "CHECK") {
		t.Errorf("table:\n%s", stdout)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var rep selftestReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("report %s: %v\n%s", report, err, data)
	}
	if rep.Board != "sim" || rep.Version == "" || rep.Time == "" || !rep.OK {
		t.Errorf("report header: board %q version %q time %q ok %v", rep.Board, rep.Version, rep.Time, rep.OK)
	}
	byName := map[string]int{}
	for i, c := range rep.Checks {
		byName[c.Name] = i
		if c.Status == "skip" && c.Detail == "" {
			t.Errorf("%s is skipped without a reason", c.Name)
		}
		if !strings.Contains(stdout, c.Name) {
			t.Errorf("table lacks %s", c.Name)
		}
	}
	for _, name := range []string{"board", "gpio pir line", "gpio button line", "gpio led line", "gpio reset line",
		"pir reacts", "button reacts", "led blinks", "camera formats", "camera capture", "storage",
		"age encryption", "swap", "memlock limit", "core dumps", "clock synchronized", "broker reachable"} {
		if _, ok := byName[name]; !ok {
			t.Errorf("report lacks check %q", name)
		}
	}
	if len(rep.Checks) != 17 {
		t.Errorf("%d checks, want 17", len(rep.Checks))
	}
	get := func(name string) (string, map[string]float64) {
		i, ok := byName[name]
		if !ok {
			t.Fatalf("no check %q", name)
		}
		return rep.Checks[i].Status, rep.Checks[i].Figures
	}
	status, figs := get("camera capture")
	if status != "pass" || math.Abs(figs["fps"]-30) > 2 || figs["keyframe_interval_s"] != 1 || figs["frames"] != 90 || figs["bitrate_kbps"] <= 0 {
		t.Errorf("camera capture: %s %v, want pass at ~30 fps with a keyframe every 1 s", status, figs)
	}
	if status, _ := get("clock synchronized"); status != "overridden" {
		t.Errorf("clock on sim: %s, want overridden (never pass)", status)
	}
	if status, _ := get("board"); status != "overridden" {
		t.Errorf("board on sim: %s, want overridden", status)
	}
	if status, _ := get("broker reachable"); status != "skip" {
		t.Errorf("broker: %s, want skip", status)
	}
	for name, keys := range map[string][]string{
		"storage":        {"free_gib", "write_mb_per_s", "fsync_ms_p50", "fsync_ms_max"},
		"age encryption": {"mb_per_s"},
	} {
		status, figs := get(name)
		for _, k := range keys {
			if figs[k] <= 0 {
				t.Errorf("%s (%s): figure %s = %v, want > 0", name, status, k, figs[k])
			}
		}
	}
}

func TestSelftestBadInput(t *testing.T) {
	skipShort(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--frames", "1"}, "--frames 1 is out of range (valid: 2 to 10000)"},
		{[]string{"--board", "toaster"}, `unknown board "toaster" (valid:`},
		{[]string{"--config", "/nonexistent/doorward.yaml"}, "config"},
	} {
		_, stderr, code := run(t, bins.doorward, append([]string{"selftest", "--state", t.TempDir()}, tc.args...)...)
		if code != 1 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "panic") {
			t.Errorf("selftest %v: exit %d, stderr %q; want exit 1 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// A required check that fails makes the command exit 1 after the table:
// a config pointing the camera at a missing file does that on the sim board.
func TestSelftestFailureExitCode(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte("camera:\n  file: "+filepath.Join(dir, "missing.h264")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "r.json")
	stdout, stderr, code := run(t, bins.doorward, "selftest", "--board", "sim", "--config", config, "--state", filepath.Join(dir, "state"), "--json", "-o", report)
	if code != 1 || !strings.Contains(stdout, "FAIL: required checks failed: camera capture") || !strings.Contains(stderr, "required checks failed") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	var rep selftestReport
	data, _ := os.ReadFile(report)
	if err := json.Unmarshal(data, &rep); err != nil || rep.OK {
		t.Errorf("report after a failure: ok=%v err=%v", rep.OK, err)
	}
}
