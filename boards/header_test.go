package boards

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestHeaderPin checks the 40-pin header table against the official
// Raspberry Pi pinout, written out here a second time by GPIO number.
func TestHeaderPin(t *testing.T) {
	official := map[int]int{ // BCM GPIO -> header pin
		2: 3, 3: 5, 4: 7, 17: 11, 27: 13, 22: 15, 23: 16, 24: 18, 10: 19, 9: 21,
		25: 22, 11: 23, 8: 24, 7: 26, 0: 27, 1: 28, 5: 29, 6: 31, 12: 32, 13: 33,
		19: 35, 16: 36, 26: 37, 20: 38, 21: 40, 14: 8, 15: 10, 18: 12,
	}
	if len(official) != 28 {
		t.Fatalf("%d GPIOs in the official table, want 28", len(official))
	}
	pi := Profile{Name: "pi", Header: HeaderRPi40}
	used := map[int]int{}
	for gpio := range 28 {
		line := fmt.Sprintf("GPIO%d", gpio)
		got := pi.HeaderPin(line)
		if got != official[gpio] {
			t.Errorf("HeaderPin(%s) = %d, want %d", line, got, official[gpio])
		}
		if other, ok := used[got]; ok {
			t.Errorf("pin %d carries both GPIO%d and GPIO%d", got, other, gpio)
		}
		used[got] = gpio
		if want := fmt.Sprintf("%s (pin %d)", line, official[gpio]); pi.PinLabel(line) != want {
			t.Errorf("PinLabel(%s) = %q, want %q", line, pi.PinLabel(line), want)
		}
	}
	// The other 12 pins are power and ground: 3V3 at 1 and 17, 5V at 2 and 4,
	// ground at 6, 9, 14, 20, 25, 30, 34 and 39.
	pins := rpi40Pins()
	for i, want := range map[int]string{1: "3V3", 17: "3V3", 2: "5V", 4: "5V", 6: "GND", 9: "GND", 14: "GND", 20: "GND", 25: "GND", 30: "GND", 34: "GND", 39: "GND"} {
		if pins[i-1] != want {
			t.Errorf("pin %d is %q, want %q", i, pins[i-1], want)
		}
	}
	for _, line := range []string{"GPIO28", "GPIO017", "gpio17", "GND", "3V3", "5V", "PIN_23", "", "GPIO"} {
		if n := pi.HeaderPin(line); n != 0 {
			t.Errorf("HeaderPin(%q) = %d, want 0 (not a header GPIO)", line, n)
		}
		if got := pi.PinLabel(line); got != line {
			t.Errorf("PinLabel(%q) = %q, want it unchanged", line, got)
		}
	}
	// Without a known header there are no pin numbers.
	for _, name := range []string{"generic-linux", "sim"} {
		p, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		if n, l := p.HeaderPin("GPIO17"), p.PinLabel("GPIO17"); n != 0 || l != "GPIO17" {
			t.Errorf("%s: HeaderPin(GPIO17) = %d, PinLabel = %q; want 0, GPIO17", name, n, l)
		}
	}
}

// TestReleaseBuildsMatchMakefile keeps the build names of the profiles the
// names the Makefile's cross and dist targets give the binaries.
func TestReleaseBuildsMatchMakefile(t *testing.T) {
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^PLATFORMS\s*:=\s*(.+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no PLATFORMS := line in the Makefile")
	}
	var names []string
	for _, p := range strings.Fields(string(m[1])) {
		names = append(names, strings.SplitN(p, "/", 2)[0])
	}
	if !slices.Equal(names, ReleaseBuilds()) {
		t.Errorf("Makefile PLATFORMS names %q, ReleaseBuilds() %q", names, ReleaseBuilds())
	}
	// Every release build runs on some board, and every ARM board has a
	// build.
	for _, b := range ReleaseBuilds() {
		found := false
		for _, p := range All() {
			found = found || slices.Contains(p.Builds, b) || slices.Equal(p.Builds, []string{BuildAny})
		}
		if !found {
			t.Errorf("no profile runs the %s build", b)
		}
	}
}

// TestDetectOverlaps: model strings that contain another profile's model
// string detect their own board.
func TestDetectOverlaps(t *testing.T) {
	for model, want := range map[string]string{
		"Raspberry Pi Zero 2 W Rev 1.0":         "rpi-zero2w",
		"Raspberry Pi Zero W Rev 1.1":           "rpi-zero",
		"Raspberry Pi Zero Rev 1.3":             "rpi-zero",
		"Raspberry Pi Model B Rev 2":            "rpi1",
		"Raspberry Pi Model B Plus Rev 1.2":     "rpi1",
		"Raspberry Pi Model A Rev 2":            "rpi1",
		"Raspberry Pi 3 Model B Rev 1.2":        "rpi3",
		"Raspberry Pi 3 Model A Plus Rev 1.0":   "rpi3",
		"Raspberry Pi 2 Model B Rev 1.1":        "rpi2",
		"Raspberry Pi 4 Model B Rev 1.4":        "rpi4",
		"Raspberry Pi Compute Module 3 Rev 1.0": "rpi3",
		"Raspberry Pi Compute Module 4 Rev 1.0": "rpi4",
		"Raspberry Pi Compute Module Rev 1.0":   "", // CM1: no header, no profile
		"Raspberry Pi 500 Rev 1.0":              "rpi5",
		"Raspberry Pi 400 Rev 1.0":              "rpi4",
	} {
		p, ok := Detect(model + "\x00")
		if got := map[bool]string{true: p.Name, false: ""}[ok]; got != want {
			t.Errorf("Detect(%q) = %q, want %q", model, got, want)
		}
	}
}

// FuzzDetect feeds arbitrary device-tree model contents to Detect: it never
// panics, a match is a profile with models, and trailing NULs and white space
// never change the answer.
func FuzzDetect(f *testing.F) {
	entries, err := os.ReadDir("testdata/models")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile("testdata/models/" + e.Name())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("")
	f.Add("\x00\x00")
	f.Add("Raspberry Pi Zero")
	profiles := All()
	f.Fuzz(func(t *testing.T, model string) {
		p, ok := detect(model, profiles)
		if ok && (len(p.Models) == 0 || p.Sim) {
			t.Fatalf("detect(%q) = %q, a profile that is never detected", model, p.Name)
		}
		q, ok2 := detect(model+"\x00 \n", profiles)
		if ok != ok2 || p.Name != q.Name {
			t.Fatalf("detect(%q) = %q, %v but with a trailing NUL %q, %v", model, p.Name, ok, q.Name, ok2)
		}
	})
}
