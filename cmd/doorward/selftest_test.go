package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/uplink/mqtttest"
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

// checkOf returns the named check of a JSON report.
func (rep selftestReport) checkOf(t *testing.T, name string) (status, detail string) {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c.Status, c.Detail
		}
	}
	t.Fatalf("report lacks check %q", name)
	return "", ""
}

// runSelftestJSON runs selftest --json (the report on stdout) and returns
// the report, stderr and the exit code.
func runSelftestJSON(t *testing.T, args ...string) (selftestReport, string, int) {
	t.Helper()
	stdout, stderr, code := run(t, bins.doorward, append([]string{"selftest", "--json", "--frames", "30"}, args...)...)
	var rep selftestReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("selftest %v: exit %d, stdout is not a JSON report (%v):\n%s\n%s", args, code, err, stdout, stderr)
	}
	return rep, stderr, code
}

// A bad -o fails at once, before any check runs (no progress on stderr),
// and leaves an existing file as it was; --json -o - writes the JSON to
// standard output and no file named "-".
func TestSelftestOutput(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := t.TempDir()
	existing := filepath.Join(dir, "r.json")
	if err := os.WriteFile(existing, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		out, want string
	}{
		{existing, "-o " + existing + ": the file exists; choose another name, or pass --force to replace it"},
		{filepath.Join(dir, "no-such-dir", "r.json"), "-o " + filepath.Join(dir, "no-such-dir", "r.json") + ": cannot write there"},
		{"/proc/doorward-selftest.json", "-o /proc/doorward-selftest.json: cannot write there"},
		{"", "-o: empty (valid: a file name, or - for standard output)"},
	} {
		start := time.Now()
		stdout, stderr, code := run(t, bins.doorward, "selftest", "--board", "sim", "--state", filepath.Join(dir, "state"), "--json", "-o", tc.out)
		if code != 1 || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("-o %q: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.out, code, stdout, stderr, tc.want)
		}
		if strings.Contains(stderr, "board ...") || strings.Contains(stderr, "/17]") {
			t.Errorf("-o %q: checks ran before the bad -o was reported:\n%s", tc.out, stderr)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("-o %q: took %s to fail", tc.out, took)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me\n" {
		t.Errorf("the existing file was changed: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Errorf("a failed -o left a state directory (%v)", err)
	}

	// --force replaces it.
	mustRun(t, bins.doorward, "selftest", "--board", "sim", "--state", filepath.Join(dir, "state"), "--frames", "30", "--json", "-o", existing, "--force")
	var rep selftestReport
	if b, _ := os.ReadFile(existing); json.Unmarshal(b, &rep) != nil || rep.Board != "sim" {
		t.Errorf("--force did not replace the file with the report:\n%s", b)
	}

	// -o - is standard output.
	cmd := exec.Command(bins.doorward, "selftest", "--board", "sim", "--state", filepath.Join(dir, "state"), "--frames", "30", "--json", "-o", "-")
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("selftest --json -o -: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(out, &rep); err != nil || rep.Board != "sim" || !rep.OK {
		t.Errorf("--json -o -: stdout is not the JSON report (%v):\n%s", err, out)
	}
	if !strings.Contains(stderr.String(), "PASS: every required check passed") {
		t.Errorf("--json -o -: the table is not on stderr:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "-")); !os.IsNotExist(err) {
		t.Errorf("--json -o - wrote a file named - (%v)", err)
	}
}

// A camera that is not there fails the capture check at once, naming what
// is missing, rather than waiting while the V4L2 source retries it.
func TestSelftestMissingCamera(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := t.TempDir()
	dev := filepath.Join(dir, "video9")
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte("board: generic-linux\ncamera:\n  device: "+dev+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, stderr, code := runSelftestJSON(t, "--config", config, "--state", filepath.Join(dir, "state"))
	took := time.Since(start)
	if code != 1 || rep.OK {
		t.Errorf("exit %d, ok %v; want exit 1 with the camera missing\n%s", code, rep.OK, stderr)
	}
	want := "camera v4l2 " + dev + ": " + dev + " does not exist: is the camera connected and enabled? (ls /dev/video*; camera.device in the config names the device)"
	if status, detail := rep.checkOf(t, "camera capture"); status != "fail" || detail != want {
		t.Errorf("camera capture: %s %q\nwant fail %q", status, detail, want)
	}
	if status, detail := rep.checkOf(t, "camera formats"); status != "fail" || detail != want {
		t.Errorf("camera formats: %s %q\nwant fail %q", status, detail, want)
	}
	if !strings.Contains(stderr, "required checks failed: camera capture") {
		t.Errorf("the table does not name the failed camera:\n%s", stderr)
	}
	if strings.Contains(stderr, "camera unavailable; retrying") {
		t.Errorf("the capture retried a camera it found missing:\n%s", stderr)
	}
	// It took 16 s when it waited for the camera.
	if took > 8*time.Second {
		t.Errorf("selftest took %s with the camera missing", took)
	}
}

// The board check says where the board was chosen: --board, or board: in
// the config file.
func TestSelftestBoardMessage(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte("board: sim\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--board", "sim"}, "sim board chosen with --board sim, so no real camera or GPIO is used ("},
		{[]string{"--config", config}, "sim board chosen by board: sim in " + config + ", so no real camera or GPIO is used ("},
	} {
		rep, stderr, code := runSelftestJSON(t, append(tc.args, "--state", filepath.Join(dir, "state"))...)
		if code != 0 {
			t.Errorf("%v: exit %d\n%s", tc.args, code, stderr)
		}
		if status, detail := rep.checkOf(t, "board"); status != "overridden" || !strings.HasPrefix(detail, tc.want) {
			t.Errorf("%v: board %s %q, want overridden %q", tc.args, status, detail, tc.want)
		}
	}
}

// A state directory that does not exist yet (a fresh install) is measured
// where the agent will create it, and the selftest creates nothing.
func TestSelftestStateNotCreatedYet(t *testing.T) {
	skipShort(t)
	t.Parallel()
	root := t.TempDir()
	state := filepath.Join(root, "lib", "doorward")
	rep, stderr, code := runSelftestJSON(t, "--board", "sim", "--state", state)
	if code != 0 {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	want := state + " does not exist yet; measured " + root + ", where the agent will create it: "
	if status, detail := rep.checkOf(t, "storage"); (status != "pass" && status != "warn") || !strings.HasPrefix(detail, want) {
		t.Errorf("storage: %s %q, want %q", status, detail, want)
	}
	if left, _ := os.ReadDir(root); len(left) != 0 {
		t.Errorf("selftest created %v in %s", left, root)
	}
}

// The broker check connects to the config's broker: it passes with
// mosquitto there, and fails (without failing the selftest: it is not
// required) with nothing listening.
func TestSelftestBroker(t *testing.T) {
	skipShort(t)
	t.Parallel()
	b := mqtttest.Start(t, mqtttest.Options{TLS: true})
	cert, key := b.ClientCert("0123456789abcdef")
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	write := func(broker string) {
		t.Helper()
		yaml := fmt.Sprintf("board: sim\nmqtt:\n  broker: %s\n  ca: %s\n  cert: %s\n  key: %s\n  client_id: front-door\n", broker, b.CAFile, cert, key)
		if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(b.URL)
	rep, stderr, code := runSelftestJSON(t, "--config", config, "--state", filepath.Join(dir, "state"))
	if status, detail := rep.checkOf(t, "broker reachable"); code != 0 || status != "pass" || !strings.HasPrefix(detail, b.URL+" accepted client front-door-selftest-") {
		t.Errorf("broker: exit %d, %s %q\n%s", code, status, detail, stderr)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	write("tls://" + addr)
	rep, stderr, code = runSelftestJSON(t, "--config", config, "--state", filepath.Join(dir, "state"))
	want := "tls://" + addr + ": connection refused: nothing listens at " + addr
	if status, detail := rep.checkOf(t, "broker reachable"); code != 0 || status != "fail" || !strings.HasPrefix(detail, want) {
		t.Errorf("no broker: exit %d, %s %q, want exit 0 and fail %q\n%s", code, status, detail, want, stderr)
	}
}
