package boards

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDetectRecordedModels detects each board from /proc/device-tree/model
// files as real boards report them (testdata/models, NUL byte included;
// named after the profile they must detect, or none-*).
func TestDetectRecordedModels(t *testing.T) {
	want := map[string]string{
		"rpi4-model-b-1.4":      "rpi4",
		"rpi4-model-b-1.5":      "rpi4",
		"rpi4-cm4-1.0":          "rpi4",
		"rpi4-400-1.0":          "rpi4",
		"rpi5-model-b-1.0":      "rpi5",
		"rpi5-500-1.0":          "rpi5",
		"rpi5-cm5-1.0":          "rpi5",
		"rpi3-model-b-plus-1.3": "rpi3",
		"rpi3-model-b-1.2":      "rpi3",
		"rpi3-model-a-plus-1.0": "rpi3",
		"rpi3-cm3-plus-1.0":     "rpi3",
		"rpi2-model-b-1.1":      "rpi2",
		"rpi2-model-b-1.2":      "rpi2",
		// "Raspberry Pi Zero 2 W" contains "Raspberry Pi Zero", and the
		// Zero W's "Raspberry Pi Zero W" differs from it by two characters:
		// each must find its own profile.
		"rpi-zero2w-1.0": "rpi-zero2w",
		"rpi-zero-w-1.1": "rpi-zero",
		"rpi-zero-1.3":   "rpi-zero",
		// "Raspberry Pi Model B" is not "Raspberry Pi 3 Model B" (above).
		"rpi1-model-b-2":        "rpi1",
		"rpi1-model-b-plus-1.2": "rpi1",
		"rpi1-model-a-plus-1.1": "rpi1",
		// A board without a profile: `--board auto` falls back to
		// generic-linux on it.
		"none-rockpro64": "",
	}
	files, err := filepath.Glob(filepath.Join("testdata", "models", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("%d recorded models, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		name := filepath.Base(f)
		exp, ok := want[name]
		if !ok {
			t.Errorf("%s: no expectation", name)
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(raw), "\x00") {
			t.Errorf("%s: a recorded model ends in a NUL byte", name)
		}
		p, err := DetectFromFile(f)
		switch {
		case exp == "" && !errors.Is(err, ErrNotDetected):
			t.Errorf("%s (%q): detected %q, %v; want ErrNotDetected", name, raw, p.Name, err)
		case exp != "" && (err != nil || p.Name != exp):
			t.Errorf("%s (%q): detected %q, %v; want %q", name, raw, p.Name, err, exp)
		}
	}
}

func TestRaspberryPiProfiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		builds []string
		fps    int
	}{
		{"rpi1", []string{"armv6"}, 15},
		{"rpi-zero", []string{"armv6"}, 15},
		{"rpi2", []string{"armv7"}, 30},
		{"rpi-zero2w", []string{"arm64", "armv7"}, 30},
		{"rpi3", []string{"arm64", "armv7"}, 30},
		{"rpi4", []string{"arm64", "armv7"}, 30},
		{"rpi5", []string{"arm64", "armv7"}, 30},
	} {
		p, err := Load(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if p.Pins != (Pins{PIR: "GPIO17", Button: "GPIO27", LED: "GPIO22", Reset: "GPIO23"}) {
			t.Errorf("%s: pins %+v", tc.name, p.Pins)
		}
		if !slices.Equal(p.Builds, tc.builds) {
			t.Errorf("%s: builds %q, want %q", tc.name, p.Builds, tc.builds)
		}
		if p.Header != HeaderRPi40 {
			t.Errorf("%s: header %q, want %q", tc.name, p.Header, HeaderRPi40)
		}
		if got := []string{p.PinLabel(p.Pins.PIR), p.PinLabel(p.Pins.Button), p.PinLabel(p.Pins.LED), p.PinLabel(p.Pins.Reset)}; !slices.Equal(got,
			[]string{"GPIO17 (pin 11)", "GPIO27 (pin 13)", "GPIO22 (pin 15)", "GPIO23 (pin 16)"}) {
			t.Errorf("%s: pin labels %q", tc.name, got)
		}
		if p.GPIOChip != "" {
			t.Errorf("%s: gpio_chip %q; lines are found by name", tc.name, p.GPIOChip)
		}
		c := p.Camera
		cmd := strings.Join(c.Command, " ")
		want := fmt.Sprintf("--intra %d --width 1280 --height 720 --framerate %d", tc.fps, tc.fps)
		if c.Source != SourceExec || c.Command[0] != "rpicam-vid" ||
			!strings.Contains(cmd, "--codec h264 --inline") || !strings.HasSuffix(cmd, "-o -") ||
			!strings.Contains(cmd, want) ||
			c.Width != 1280 || c.Height != 720 || c.FPS != tc.fps {
			t.Errorf("%s: camera %+v, want %s", tc.name, c, want)
		}
	}
}
