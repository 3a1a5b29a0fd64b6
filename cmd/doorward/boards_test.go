package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestBoardsCommand runs `doorward boards` as a user would: the table shows
// each board's release builds (both 64- and 32-bit where the board runs
// either) and its GPIO lines with their 40-pin header pins; --json carries
// the same; --config shows the config's gpio: lines instead.
func TestBoardsCommand(t *testing.T) {
	skipShort(t)
	out, errOut, code := run(t, bins.doorward, "boards")
	if code != 0 {
		t.Fatalf("doorward boards: exit %d: %s", code, errOut)
	}
	// Columns are padded by tabwriter: compare with runs of spaces squeezed.
	squeeze := regexp.MustCompile(` {2,}`)
	lines := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines[f[0]] = squeeze.ReplaceAllString(strings.TrimSpace(l), " | ")
		}
	}
	pins := "GPIO17 (pin 11) | GPIO27 (pin 13) | GPIO22 (pin 15) | GPIO23 (pin 16)"
	for board, want := range map[string]string{
		"BOARD":         "BOARD | BUILDS | PIR | BUTTON | LED | RESET | CAMERA",
		"rpi5":          "rpi5 | arm64, armv7 | " + pins + " | exec rpicam-vid 1280x720@30",
		"rpi4":          "rpi4 | arm64, armv7 | " + pins + " | exec rpicam-vid 1280x720@30",
		"rpi3":          "rpi3 | arm64, armv7 | " + pins + " | exec rpicam-vid 1280x720@30",
		"rpi-zero2w":    "rpi-zero2w | arm64, armv7 | " + pins + " | exec rpicam-vid 1280x720@30",
		"rpi2":          "rpi2 | armv7 | " + pins + " | exec rpicam-vid 1280x720@30",
		"rpi1":          "rpi1 | armv6 | " + pins + " | exec rpicam-vid 1280x720@15",
		"rpi-zero":      "rpi-zero | armv6 | " + pins + " | exec rpicam-vid 1280x720@15",
		"sim":           "sim | any | - | - | - | - | file (built-in clip) 640x480@30",
		"generic-linux": "generic-linux | any | - | - | - | - | v4l2 /dev/video0 1280x720@30",
	} {
		if lines[board] != want {
			t.Errorf("doorward boards: row %q, want %q\n%s", lines[board], want, out)
		}
	}
	if !strings.Contains(out, "the recommended one first") || !strings.Contains(out, "--config FILE shows them") {
		t.Errorf("doorward boards: the notes under the table are missing:\n%s", out)
	}
	// The README's Raspberry Pi section shows the table as the binary prints it.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	table, _, _ := strings.Cut(out, "\n\n")
	if _, pi, ok := strings.Cut(string(readme), "\n## Raspberry Pi\n"); !ok || !strings.Contains(pi, "```\n"+table+"\n```\n") {
		t.Errorf("README.md's Raspberry Pi section does not show the doorward boards table verbatim; copy it in:\n%s", table)
	}

	out, errOut, code = run(t, bins.doorward, "boards", "--json")
	if code != 0 {
		t.Fatalf("doorward boards --json: exit %d: %s", code, errOut)
	}
	var rows []boardInfo
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	byName := map[string]boardInfo{}
	var names []string
	for _, r := range rows {
		byName[r.Name] = r
		names = append(names, r.Name)
	}
	if want := []string{"generic-linux", "rpi-zero", "rpi-zero2w", "rpi1", "rpi2", "rpi3", "rpi4", "rpi5", "sim"}; !slices.Equal(names, want) {
		t.Errorf("--json boards %q, want %q", names, want)
	}
	r := byName["rpi4"]
	if r.PIR == nil || *r.PIR != (pinInfo{Line: "GPIO17", HeaderPin: 11, Label: "GPIO17 (pin 11)"}) ||
		r.Reset == nil || *r.Reset != (pinInfo{Line: "GPIO23", HeaderPin: 16, Label: "GPIO23 (pin 16)"}) ||
		!slices.Equal(r.Builds, []string{"arm64", "armv7"}) || r.Header != "rpi40" ||
		r.Camera != "exec rpicam-vid" || len(r.Models) == 0 {
		t.Errorf("rpi4 row %+v", r)
	}
	if r := byName["rpi-zero"]; !slices.Equal(r.Builds, []string{"armv6"}) || r.FPS != 15 ||
		!slices.Equal(r.Models, []string{"Raspberry Pi Zero W", "Raspberry Pi Zero Rev"}) ||
		r.Button == nil || r.Button.HeaderPin != 13 {
		t.Errorf("rpi-zero row %+v", r)
	}
	if r := byName["rpi1"]; !slices.Equal(r.Builds, []string{"armv6"}) || r.LED == nil || r.LED.HeaderPin != 15 {
		t.Errorf("rpi1 row %+v", r)
	}
	if r := byName["sim"]; !r.Sim || r.PIR != nil || r.Header != "" || r.Camera != "file (built-in clip)" || !slices.Equal(r.Builds, []string{"any"}) {
		t.Errorf("sim row %+v", r)
	}
	if !strings.Contains(out, `"pir": null`) || !strings.Contains(out, `"header_pin": 11`) {
		t.Errorf("--json: no null for a missing line or no header_pin:\n%s", out)
	}

	// --config: the config's lines, with their pins; "none" disconnects.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("gpio:\n  pir: GPIO5\n  led: none\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = run(t, bins.doorward, "boards", "--config", cfg)
	if code != 0 {
		t.Fatalf("doorward boards --config: exit %d: %s", code, errOut)
	}
	row := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "rpi5 ") {
			row = squeeze.ReplaceAllString(l, " | ")
		}
	}
	if want := "rpi5 | arm64, armv7 | GPIO5 (pin 29) | GPIO27 (pin 13) | - | GPIO23 (pin 16) | exec rpicam-vid 1280x720@30"; row != want {
		t.Errorf("doorward boards --config: rpi5 row %q, want %q\n%s", row, want, out)
	}
	if !strings.Contains(out, "Lines: as "+cfg+"'s gpio: section sets them") || !strings.Contains(out, "\nsim ") {
		t.Errorf("doorward boards --config: output\n%s", out)
	}
	out, _, code = run(t, bins.doorward, "boards", "--json", "--config", cfg)
	if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil {
		t.Fatalf("doorward boards --json --config: exit %d, %v", code, err)
	}
	for _, r := range rows {
		if r.Name == "rpi1" && (r.PIR == nil || *r.PIR != (pinInfo{Line: "GPIO5", HeaderPin: 29, Label: "GPIO5 (pin 29)"}) || r.LED != nil) {
			t.Errorf("--json --config: rpi1 row %+v", r)
		}
	}
	// A config whose lines clash is refused, naming the file and the field.
	if err := os.WriteFile(cfg, []byte("gpio:\n  pir: GPIO27\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := run(t, bins.doorward, "boards", "--config", cfg); code != 1 ||
		!strings.Contains(errOut, cfg+": config: gpio.button: line GPIO27 is already the pir line") {
		t.Errorf("doorward boards --config (clash): exit %d, %s", code, errOut)
	}
	if _, errOut, code := run(t, bins.doorward, "boards", "--config", filepath.Join(dir, "missing.yaml")); code != 1 || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("doorward boards --config missing.yaml: exit %d, %s", code, errOut)
	}

	if _, errOut, code := run(t, bins.doorward, "boards", "extra"); code == 0 || !strings.Contains(errOut, "unknown command") && !strings.Contains(errOut, "accepts 0 arg") {
		t.Errorf("doorward boards extra: exit %d, %s", code, errOut)
	}
}

// TestSelftestHeaderPins: `doorward selftest` on a Raspberry Pi board names
// each GPIO line with its header pin, a line the config moved included.
// There are no GPIO lines here, so the line checks fail and it exits 1.
func TestSelftestHeaderPins(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("gpio:\n  pir: GPIO5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, bins.doorward, "selftest", "--board", "rpi-zero", "--config", cfg, "--state", filepath.Join(dir, "state"), "--frames", "2")
	if code != 1 {
		t.Fatalf("doorward selftest --board rpi-zero: exit %d, want 1 (no GPIO here)\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"PIR sensor GPIO5 (pin 29)", "doorbell button GPIO27 (pin 13)", "status LED GPIO22 (pin 15)", "internal reset switch GPIO23 (pin 16)"} {
		if !strings.Contains(out, want) {
			t.Errorf("doorward selftest output lacks %q:\n%s", want, out)
		}
	}
}
