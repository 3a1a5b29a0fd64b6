package selftest

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
)

// parseUnit reads a systemd unit file into section -> key -> values (a key
// may repeat, as DeviceAllow does).
func parseUnit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unit := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			unit[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: %q is not key=value in a section", path, n, line)
			}
			unit[section][k] = append(unit[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return unit
}

// The committed unit keeps its hardening, and the README shows it verbatim,
// so neither drifts silently.
func TestSystemdUnitHardening(t *testing.T) {
	const path = "../../init/doorward.service"
	svc := parseUnit(t, path)["Service"]
	if svc == nil {
		t.Fatalf("%s has no [Service] section", path)
	}
	for key, want := range map[string]string{
		"User":                "doorward",
		"SupplementaryGroups": "video gpio",
		"StateDirectory":      "doorward",
		"ReadWritePaths":      "/var/lib/doorward",
		"ProtectSystem":       "strict",
		"ProtectHome":         "yes",
		"PrivateTmp":          "yes",
		"NoNewPrivileges":     "yes",
		"LimitCORE":           "0",
		"LimitMEMLOCK":        "64M",
		"Restart":             "on-failure",
		// The agent tells systemd it is ready and pings the watchdog
		// only while frames flow and the recorder keeps up.
		"Type":         "notify",
		"NotifyAccess": "main",
		"WatchdogSec":  "30s",
	} {
		if got := svc[key]; len(got) != 1 || got[0] != want {
			t.Errorf("%s: %s=%q, want %q", path, key, got, want)
		}
	}
	for _, dev := range []string{"char-video4linux rw", "char-media rw", "char-dma_heap rw", "char-gpiochip rw"} {
		if !slices.Contains(svc["DeviceAllow"], dev) {
			t.Errorf("%s: no DeviceAllow=%s (have %q)", path, dev, svc["DeviceAllow"])
		}
	}
	if exec := svc["ExecStart"]; len(exec) != 1 || !strings.Contains(exec[0], "--state /var/lib/doorward") {
		t.Errorf("%s: ExecStart=%q does not use the state directory /var/lib/doorward", path, exec)
	}
	// What the config file decides, the unit must not pass: a flag would
	// override the file (issue 11, bug 5: --board auto overrode board:).
	for _, flag := range []string{"--board", "--listen", "--owner-recipient"} {
		if exec := svc["ExecStart"]; len(exec) == 1 && strings.Contains(exec[0], flag) {
			t.Errorf("%s: ExecStart=%q passes %s, which would override the config file", path, exec[0], flag)
		}
	}
	// 64M must hold the default pre-roll buffer (16 MiB) with headroom.
	if res := MemlockResult(64<<20, 16<<20); res.Status != Pass {
		t.Errorf("LimitMEMLOCK=64M against a 16 MiB buffer: %s", res.Detail)
	}

	unit, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rpi, ok := strings.Cut(string(readme), "\n## Raspberry Pi\n")
	if !ok {
		t.Fatal("README.md has no \"## Raspberry Pi\" section")
	}
	if !strings.Contains(rpi, "```ini\n"+string(unit)+"```") {
		t.Errorf("README.md's Raspberry Pi section does not show %s verbatim; copy it in", path)
	}
}
